"""Benchmark: `maskkit proxy` under load — N concurrent streaming clients for a fixed time, 1 and 2 workers.

Everything is a separate process on 127.0.0.1: the stand-in model (`python -m mktests.standin_model --port 0
--port-file F`, an echo that streams its answer in 1-3 character deltas, as Claude Code sees them), and each
worker (`python -m maskkit proxy`, all sharing one embedded vault in a temporary MASKKIT_HOME, or `--cluster`: a
local 3-master Redis Cluster). With 2 workers the client spreads its requests round-robin over them (what a load
balancer does). Phases, each `--duration` seconds with the same N clients:

  direct   N clients straight to the stand-in: the baseline of this run, on this box, at this load
  1w, 2w   N clients through 1 (2) workers
  idle     one client, requests alternating direct / through one worker: what the proxy adds when not queueing

Every request carries its client's own instance id, an id shared by every client (a known mapping) and a fresh id
(a mint under load); the stand-in echoes it. A request counts as an error unless the client gets back exactly what
it sent (restored); cross-talk is any answer holding another client's id. Added latency under load is proxy minus
direct at the same percentile (on a saturated box that is mostly queueing: N / rps). RSS of each worker before
and after its phase (psutil, else /proc/PID/status VmRSS). Prints machine, Python, commit and a table; the last
line is one JSON object.

    uv run python bench/load.py                 # 200 clients, 20 s per phase (~75 s)
    uv run python bench/load.py --quick         # 50 clients, 4 s per phase
    uv run python bench/load.py --cluster       # the vault on a local Redis Cluster instead
    uv run python bench/load.py --burst 10000   # N small requests at once at one worker: how they are answered

The burst (issue 13 item 11) counts answers by kind: 200, 529 (overloaded: retry; the connection cap and a
saturated vault pool answer this), 503 (the vault is down: must be 0 while Redis is healthy), anything else.

Bounded: every child runs under `timeout`, every loop has a deadline, everything started is stopped in `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

CLIENT_KEY = "mk-bench-client-key"
UPSTREAM_KEY = "sk-ant-bench-upstream-key"
MODEL = "claude-sonnet-4-5"
CHILD_LIFETIME_S = 600  # every child stops by itself after this, even if this script is killed
REQUEST_TIMEOUT_S = 60.0
_INSTANCE = re.compile(r"i-[0-9a-f]{17}")


# --------------------------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        """The server's own pid (the child of `timeout`)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError, ValueError):
            return int(children.read_text().split()[0])
        return self.process.pid


def start_child(name: str, command: list[str], workdir: Path, env: dict[str, str], ready: str) -> Child:
    port_file = workdir / f"{name}.port"
    log_path = workdir / f"{name}.log"
    wrapper = ["timeout", "-s", "TERM", "-k", "5", str(CHILD_LIFETIME_S)] if shutil.which("timeout") else []
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*wrapper, *command, "--port", "0", "--port-file", str(port_file)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        if port_file.exists() and port_file.read_text().strip():
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready, timeout=1, trust_env=False).status_code < 500:
                    return Child(name, process, url, log_path)
        time.sleep(0.05)
    stop_child_process(process)
    raise RuntimeError(f"{name} did not become ready in 30 s")


def stop_child_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (psutil, else /proc/PID/stat)."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], upstream: str, workdir: Path) -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        for index in range(count):
            command = [sys.executable, "-m", "maskkit", "proxy", "--upstream", upstream]
            started.append(start_child(f"worker{count}-{index}", command, workdir, env, "/health"))
        yield started
    finally:
        for child in started:
            stop_child_process(child.process)


# --------------------------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------------------------


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, to the last byte, successful requests only
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    crosstalk: int = 0
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds spent during the phase

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def cpu_ms_per_request(self, who: str) -> float:
        return 1000 * self.cpu.get(who, float("nan")) / len(self.latencies) if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


class Connection:
    """A minimal HTTP/1.1 keep-alive client (POST, Content-Length or chunked answers) on asyncio streams.

    httpx spends ~6 ms of CPU per streamed answer of ~100 small chunks; on a 2-core box that would make the load
    generator, not the proxy, the bottleneck. This reads the same bytes for a fraction of that.
    """

    IDLE_S = 4.0  # uvicorn closes a keep-alive connection idle for 5 s: do not reuse one that old

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = head.encode() + b"\r\n" + body
        for attempt in range(2):  # a reused connection the server closed meanwhile answers nothing: retry once
            reused = self.writer is not None and time.monotonic() - self.last_used < self.IDLE_S
            if not reused:
                await self.close()
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None and self.writer is not None
            self.writer.write(request)
            try:
                status_line = await self.reader.readline()
                if not status_line and reused and attempt == 0:
                    await self.close()
                    continue
                answer = await self._answer(status_line, self.reader)
            except BaseException:
                await self.close()
                raise
            self.last_used = time.monotonic()
            return answer
        raise ConnectionResetError("the server closed the connection without answering")

    async def _answer(self, status_line: bytes, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        status = int(status_line.split()[1])
        length, chunked, close = -1, False, False
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            parts = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                parts.append((await reader.readexactly(size + 2))[:-2])
            while (await reader.readline()) not in (b"\r\n", b""):  # trailers
                pass
            data = b"".join(parts)
        elif length >= 0:
            data = await reader.readexactly(length)
        else:
            data, close = await reader.read(), True
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None


def prompt(client: int, request: int, own: str, shared: str) -> str:
    return (
        f"client {client} request {request}: why can {own} not reach {shared}? "
        f"a new one, {instance_id()}, was started from the same launch template."
    )


def streamed_text(raw: bytes) -> str | None:
    """The text deltas of an SSE answer joined; None if the stream is incomplete or carries an error."""
    parts: list[str] = []
    stopped = False
    for line in raw.decode("utf-8").splitlines():
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:])
        kind = event.get("type")
        if kind == "error":
            return None
        if kind == "content_block_delta" and event["delta"].get("type") == "text_delta":
            parts.append(event["delta"]["text"])
        elif kind == "message_stop":
            stopped = True
    return "".join(parts) if stopped else None


async def run_phase(name: str, targets: list[str], clients: int, duration: float) -> Phase:
    """`clients` closed-loop clients for `duration` seconds; client c's k-th request goes to targets[(c+k) % n]."""
    phase = Phase(name)
    owns = [instance_id() for _ in range(clients)]
    shared = instance_id()
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    start = time.monotonic()
    deadline = start + duration

    async def client(index: int) -> None:
        connections = {target: Connection(target) for target in targets}
        count = 0
        try:
            while time.monotonic() < deadline:
                text = prompt(index, count, owns[index], shared)
                body = json.dumps({"model": MODEL, "max_tokens": 512, "stream": True,
                                   "messages": [{"role": "user", "content": text}]}).encode()
                connection = connections[targets[(index + count) % len(targets)]]
                count += 1
                began = time.perf_counter()
                try:
                    status, raw = await asyncio.wait_for(
                        connection.post("/v1/messages", body, headers), REQUEST_TIMEOUT_S
                    )
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    phase.error(type(exc).__name__)
                    continue
                took = time.perf_counter() - began
                if status != 200:
                    phase.error(f"HTTP {status}")
                    continue
                answer = streamed_text(raw)
                if answer is None:
                    phase.error("broken stream")
                    continue
                if any(found != owns[index] and found in owns for found in _INSTANCE.findall(answer)):
                    phase.crosstalk += 1
                if answer != "You said: " + text:
                    phase.error("answer not restored exactly")
                    continue
                phase.latencies.append(took)
        finally:
            for connection in connections.values():
                await connection.close()

    await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(clients))), duration + 2 * REQUEST_TIMEOUT_S)
    phase.elapsed = time.monotonic() - start
    return phase


async def burst(url: str, requests: int) -> tuple[dict[str, int], Phase]:
    """`requests` small non-streaming requests sent at once, each on its own connection: answers by status."""
    phase = Phase("burst")
    counts: dict[str, int] = {}
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}

    async def one(index: int) -> None:
        body = json.dumps({"model": MODEL, "max_tokens": 16, "messages": [
            {"role": "user", "content": f"burst {index}: {instance_id()}"}]}).encode()
        connection = Connection(url)
        began = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(connection.post("/v1/messages", body, headers), REQUEST_TIMEOUT_S)
            key = str(status)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
            key = type(exc).__name__
        finally:
            await connection.close()
        counts[key] = counts.get(key, 0) + 1
        if key == "200":
            phase.latencies.append(time.perf_counter() - began)

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(requests)))
    phase.elapsed = time.monotonic() - start
    return counts, phase


def run_burst(requests: int, max_connections: int) -> int:
    """One worker in front of the stand-in, one burst; prints the answers by kind and p99 of the 200s."""
    from maskkit.vault import generate_key, stop_embedded_redis

    workdir = Path(tempfile.mkdtemp(prefix="mkburst", dir="/tmp"))
    home = workdir / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))}
    env |= {"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": generate_key(), "MASKKIT_API_KEY": CLIENT_KEY,
            "ANTHROPIC_API_KEY": UPSTREAM_KEY, "MASKKIT_LOG_LEVEL": "ERROR",
            "MASKKIT_MAX_CONNECTIONS": str(max_connections)}
    standin: Child | None = None
    try:
        standin = start_child("standin", [sys.executable, "-m", "mktests.standin_model"], workdir, env, "/")
        with workers(1, env, standin.url, workdir) as started:
            counts, phase = asyncio.run(burst(started[0].url, requests))
            health = httpx.get(started[0].url + "/health", timeout=10, trust_env=False).status_code
    finally:
        if standin is not None:
            stop_child_process(standin.process)
        stop_embedded_redis(home)
        shutil.rmtree(workdir, ignore_errors=True)
    ok = counts.get("200", 0)
    print(f"burst:   {requests} requests at once, 1 worker (MASKKIT_MAX_CONNECTIONS={max_connections}), "
          f"embedded Redis, in {phase.elapsed:.1f} s")
    print(f"answers: {dict(sorted(counts.items()))}")
    print(f"success: {100 * ok / requests:.1f} %   p50 {phase.pct(50):.0f} ms   p99 {phase.pct(99):.0f} ms (200s only)")
    print(f"false 'vault down' (503): {counts.get('503', 0)}   /health after: {health}")
    print(json.dumps({"burst": requests, "answers": counts, "p99_ms": round(phase.pct(99), 1), "health": health}))
    return 0


async def idle_probe(direct: str, proxy: str, requests: int) -> tuple[Phase, Phase]:
    """One client, alternating direct / proxy: per-request cost without queueing."""
    phases = (Phase("idle-direct"), Phase("idle-proxy"))
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    own, shared = instance_id(), instance_id()
    connections = (Connection(direct), Connection(proxy))
    try:
        for count in range(requests):
            for phase, connection in zip(phases, connections, strict=True):
                text = prompt(0, count, own, shared)
                body = json.dumps({"model": MODEL, "max_tokens": 512, "stream": True,
                                   "messages": [{"role": "user", "content": text}]}).encode()
                began = time.perf_counter()
                status, raw = await asyncio.wait_for(connection.post("/v1/messages", body, headers), REQUEST_TIMEOUT_S)
                took = time.perf_counter() - began
                if status == 200 and streamed_text(raw) == "You said: " + text:
                    phase.latencies.append(took)
                else:
                    phase.error(f"HTTP {status}")
    finally:
        for connection in connections:
            await connection.close()
    for phase in phases:
        phase.elapsed = sum(phase.latencies)
    return phases


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}{'-dirty' if dirty else ''}" if sha else "unknown"


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _row(phase: Phase, base: Phase | None) -> str:
    added = ""
    if base is not None and base.latencies and phase.latencies:
        added = f"{phase.pct(50) - base.pct(50):+9.1f} {phase.pct(99) - base.pct(99):+9.1f}"
    return (
        f"{phase.name:<12} {len(phase.latencies):>7} {phase.rps:>8.1f} {phase.pct(50):>8.1f} {phase.pct(99):>8.1f} "
        f"{added:>19} {phase.errors:>6} {phase.crosstalk:>9}"
    )


def measured(make: Callable[[], Coroutine[Any, Any, Phase]], pids: dict[str, int]) -> Phase:
    """Run a phase and note the CPU seconds each process (and this client) spent in it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client_before = time.process_time()
    phase = asyncio.run(make())
    phase.cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    phase.cpu["client"] = time.process_time() - client_before
    phase.cpu["workers"] = sum(v for k, v in phase.cpu.items() if k.startswith("worker"))
    if any(k.startswith("redis") for k in phase.cpu):
        phase.cpu["redis"] = sum(phase.cpu.pop(k) for k in list(phase.cpu) if k.startswith("redis"))
    return phase


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated (default 1,2)")
    parser.add_argument("--idle-requests", type=int, default=60, help="requests per target in the idle probe")
    parser.add_argument("--cluster", action="store_true", help="the vault on a local 3-master Redis Cluster")
    parser.add_argument("--quick", action="store_true", help="50 clients, 4 s per phase, 20 idle requests")
    parser.add_argument("--burst", type=int, default=0, help="only a burst of N requests at once (N <= 15000)")
    parser.add_argument("--max-connections", type=int, default=1024, help="the worker's connection cap (burst)")
    args = parser.parse_args(argv)
    if args.burst:
        if not 1 <= args.burst <= 15000:
            parser.error("burst 1-15000")
        print(f"machine: {_cpu()} ({platform.machine()}), cpus={os.cpu_count()}, python {platform.python_version()}, "
              f"commit {_commit()}, loadavg {os.getloadavg()[0]:.2f}")
        return run_burst(args.burst, args.max_connections)
    if args.quick:
        args.clients, args.duration, args.idle_requests = 50, 4.0, 20
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if not (1 <= args.clients <= 2000 and 0 < args.duration <= 300 and counts and all(1 <= n <= 8 for n in counts)):
        parser.error("clients 1-2000, duration 0-300 s, workers 1-8")

    print(f"machine: {_cpu()} ({platform.machine()}), cpus={os.cpu_count()}, {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_version()} ({platform.python_implementation()})")
    print(f"commit:  {_commit()}")
    print(f"load:    {args.clients} streaming clients, {args.duration:g} s per phase, workers {counts}, "
          f"vault {'Redis Cluster (3 masters)' if args.cluster else 'embedded Redis'}; "
          f"loadavg before {os.getloadavg()[0]:.2f}")

    from maskkit.vault import generate_key, stop_embedded_redis

    workdir = Path(tempfile.mkdtemp(prefix="mkload", dir="/tmp"))  # short: the vault's unix socket lives here
    home = workdir / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))}
    env |= {
        "MASKKIT_HOME": str(home),
        "MASKKIT_VAULT_KEY": generate_key(),
        "MASKKIT_API_KEY": CLIENT_KEY,
        "ANTHROPIC_API_KEY": UPSTREAM_KEY,
        "MASKKIT_LOG_LEVEL": "WARNING",
    }
    cluster = None
    standin: Child | None = None
    results: dict[str, Phase] = {}
    rss: dict[str, list[tuple[float, float]]] = {}
    try:
        if args.cluster:
            from mktests.rediscluster import LocalCluster

            cluster = LocalCluster().start()
            env["MASKKIT_REDIS_URL"] = cluster.url
        standin = start_child("standin", [sys.executable, "-m", "mktests.standin_model"], workdir, env, "/")
        redis_pids = [p.pid for p in cluster.processes] if cluster is not None else []
        direct = partial(run_phase, "direct", [standin.url], args.clients, args.duration)
        results["direct"] = measured(direct, {"standin": standin.pid})
        httpx.post(standin.url + "/_standin/clear", timeout=10, trust_env=False)
        for count in counts:
            with workers(count, env, standin.url, workdir) as started:
                before = [rss_mb(child.pid) for child in started]
                if not redis_pids:  # the embedded server the first worker started
                    redis_pids = [int((home / "redis.pid").read_text())]
                pids = {"standin": standin.pid} | {f"worker{i}": child.pid for i, child in enumerate(started)}
                pids |= {f"redis{i}": pid for i, pid in enumerate(redis_pids)}
                targets = [child.url for child in started]
                phase = measured(partial(run_phase, f"{count}w", targets, args.clients, args.duration), pids)
                results[phase.name] = phase
                rss[phase.name] = list(zip(before, [rss_mb(child.pid) for child in started], strict=True))
                if count == counts[0]:
                    idle = asyncio.run(idle_probe(standin.url, started[0].url, args.idle_requests))
                    results["idle-direct"], results["idle-proxy"] = idle
            httpx.post(standin.url + "/_standin/clear", timeout=10, trust_env=False)
    finally:
        if standin is not None:
            stop_child_process(standin.process)
        if cluster is not None:
            cluster.stop()
        stop_embedded_redis(home)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'phase':<12} {'ok':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'added p50/p99 ms':>19} "
          f"{'errors':>6} {'crosstalk':>9}")
    for name, phase in results.items():
        base = results["idle-direct"] if name == "idle-proxy" else results["direct"] if name != "direct" else None
        if name != "idle-direct":
            print(_row(phase, base))
        else:
            print(_row(phase, None))
    print()
    print("CPU ms per request (user+system; 'workers' is all workers together):")
    for name, phase in results.items():
        if phase.cpu:
            shown = ", ".join(f"{who} {phase.cpu_ms_per_request(who):.2f}" for who in sorted(phase.cpu))
            print(f"  {name:<8} {shown}")
    for name, pairs in rss.items():
        shown = ", ".join(f"{a:.1f} -> {b:.1f}" for a, b in pairs)
        print(f"RSS {name} (MB, before -> after the phase): {shown}")
    for name, phase in results.items():
        if phase.error_kinds:
            print(f"errors {name}: {phase.error_kinds}")
    print(f"loadavg after {os.getloadavg()[0]:.2f}")

    first = f"{counts[0]}w"
    loaded = [p for n, p in results.items() if n not in ("direct", "idle-direct")]
    summary: dict[str, Any] = {
        "rps_1w": round(results["1w"].rps, 1) if "1w" in results else None,
        "rps_2w": round(results["2w"].rps, 1) if "2w" in results else None,
        "added_p50_ms": round(results[first].pct(50) - results["direct"].pct(50), 1),
        "added_p99_ms": round(results[first].pct(99) - results["direct"].pct(99), 1),
        "errors": sum(p.errors for p in results.values()),
        "rss_start_mb": round(rss[first][0][0], 1),
        "rss_end_mb": round(rss[first][0][1], 1),
        "crosstalk_ok": all(p.crosstalk == 0 for p in loaded) and results["direct"].crosstalk == 0,
        "rps_direct": round(results["direct"].rps, 1),
        "idle_added_p50_ms": round(results["idle-proxy"].pct(50) - results["idle-direct"].pct(50), 2),
        "worker_cpu_ms_per_request": round(results[first].cpu_ms_per_request("workers"), 2),
        "clients": args.clients,
        "duration_s": args.duration,
        "vault": "cluster" if args.cluster else "embedded",
    }
    print(json.dumps(summary))
    return 0 if summary["errors"] == 0 and summary["crosstalk_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
