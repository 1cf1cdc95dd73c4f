"""Fixtures for the proxy tests: the stand-in model, a real maskkit proxy in front of it (in a thread or as a
`maskkit proxy` subprocess), and the real Claude Code CLI (installed with npm into a cache dir when missing)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from maskkit import Settings
from maskkit.launch import LaunchError, terminate, wait_ready
from maskkit.proxy.app import build_app
from mktests.standin_model import StandinModel

CLIENT_KEY = "mk-test-client-key"
UPSTREAM_KEY = "sk-ant-test-upstream-key"
CLAUDE_VERSION = os.environ.get("MKTESTS_CLAUDE_CODE_VERSION", "2.1.197")
CACHE = Path(os.environ.get("MKTESTS_CACHE", Path.home() / ".cache" / "maskkit-tests"))


class ServerThread:
    """Serves an ASGI app with uvicorn in a thread on 127.0.0.1:0; always stop() it."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="maskkit-proxy", daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the maskkit proxy did not start")
            time.sleep(0.005)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)


@dataclass
class Proxy:
    """A running proxy and what tests need to talk to it."""

    url: str
    settings: Settings
    model: StandinModel
    key: str = CLIENT_KEY
    logs: list[str] = field(default_factory=list)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.key, "anthropic-version": "2023-06-01", "content-type": "application/json", **extra}


class _LogCapture(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


@pytest.fixture(scope="session")
def standin() -> Iterator[StandinModel]:
    with StandinModel() as model:
        yield model


@pytest.fixture
def model(standin: StandinModel) -> Iterator[StandinModel]:
    """The session's stand-in model, reset for this test."""
    standin.clear()
    standin.responder = None
    standin.max_delta_chars = 3
    standin.seed = 0
    standin.event_delay = 0.0
    yield standin
    standin.clear()
    standin.responder = None


def proxy_settings(settings: Settings, model: StandinModel, **changes: Any) -> Settings:
    base: dict[str, Any] = {
        "upstream": model.url,
        "api_key": CLIENT_KEY,
        "anthropic_api_key": UPSTREAM_KEY,
        "upstream_timeout": 30.0,
        "log_level": "DEBUG",
    }
    base.update(changes)
    return settings.evolve(**base)


@pytest.fixture
def proxy(settings: Settings, model: StandinModel) -> Iterator[Proxy]:
    """A real maskkit proxy (uvicorn, loopback, free port) in front of the stand-in; its logs are captured."""
    logs: list[str] = []
    handler = _LogCapture(logs)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("maskkit")
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    server = ServerThread(build_app(proxy_settings(settings, model))).start()
    try:
        yield Proxy(server.url, settings, model, logs=logs)
    finally:
        server.stop()
        root.removeHandler(handler)
        root.setLevel(previous)


@contextmanager
def serving(settings: Settings, model: StandinModel, **changes: Any) -> Iterator[str]:
    """A maskkit proxy with these setting changes, in a thread on a free loopback port; yields its URL."""
    server = ServerThread(build_app(proxy_settings(settings, model, **changes))).start()
    try:
        yield server.url
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProxyProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_proxy_process(env: dict[str, str], upstream: str, workdir: Path, *extra: str) -> ProxyProcess:
    """`maskkit proxy` as a real subprocess on a free port; waits for /health. Caller must stop_proxy_process."""
    port_file = workdir / f"proxy-{time.monotonic_ns()}.port"
    log_path = workdir / f"proxy-{time.monotonic_ns()}.log"
    full_env = {**env, "MASKKIT_API_KEY": CLIENT_KEY, "ANTHROPIC_API_KEY": UPSTREAM_KEY, "MASKKIT_LOG_LEVEL": "DEBUG"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "maskkit",
                "proxy",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--upstream",
                upstream,
                *extra,
            ],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return ProxyProcess(wait_for_proxy(process, port_file, log_path), process, log_path)


def wait_for_proxy(process: subprocess.Popen[bytes], port_file: Path, log_path: Path, timeout: float = 30) -> str:
    """The URL of a `maskkit proxy` child once it wrote its port file and its /health answers (any status: a
    proxy whose vault is down answers 503). The one wait in the test suite: maskkit.launch.wait_ready, the wait
    `maskkit run` and the MCP server use. Fails with the end of the proxy's log; a child that timed out is stopped."""
    try:
        return f"http://127.0.0.1:{wait_ready(process, port_file, log_path=log_path, timeout=timeout)}"
    except LaunchError as exc:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if log_path.exists() else ""
        raise AssertionError(f"{exc}\n{tail}") from None


def stop_proxy_process(proxy: ProxyProcess) -> None:
    terminate(proxy.process.pid, proxy.process, timeout=10)


# --- the real Claude Code CLI ----------------------------------------------------------------------------------


def _installed_claude(prefix: Path) -> Path | None:
    binary = prefix / "bin" / "claude"
    if binary.exists():
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if result.returncode == 0:
            return binary
    return None


def install_claude_code() -> Path:
    """The real Claude Code CLI (npm @anthropic-ai/claude-code, pinned), installed into a cache dir when missing.
    Raises RuntimeError with npm's reason when it cannot be installed."""
    prefix = CACHE / f"claude-code-{CLAUDE_VERSION}"
    found = _installed_claude(prefix)
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install the Claude Code CLI (@anthropic-ai/claude-code); install Node.js")
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "-g", "--prefix", str(prefix), f"@anthropic-ai/claude-code@{CLAUDE_VERSION}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    found = _installed_claude(prefix)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"installing the Claude Code CLI failed (rc {result.returncode}): {result.stderr[-2000:]}")
    return found


@pytest.fixture(scope="session")
def claude_binary() -> Path:
    """The real Claude Code CLI; a failure to install it fails the tests that need it (never a skip)."""
    try:
        return install_claude_code()
    except RuntimeError as exc:
        pytest.fail(str(exc))


def claude_env(base_url: str, home: Path, key: str = CLIENT_KEY) -> dict[str, str]:
    """The environment that runs Claude Code fully offline against `base_url` with a throw-away HOME."""
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")}
    return {
        **keep,
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "IS_SANDBOX": "1",
    }


def run_claude(
    binary: Path, env: dict[str, str], cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def stream_json_events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip().startswith("{")]


# --- shared by the end-to-end fault and security tests ---------------------------------------------------------

HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
#: Any pseudonym-shaped token (for reading what the stand-in saw).
PSEUDONYM = re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z]+)*-\d{3,}\b")


def instance_id() -> str:
    """A fresh random EC2 instance id."""
    return "i-" + secrets.token_hex(9)[:17]


def parse_sse(raw: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of every event; data that is not JSON is kept as the raw string."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if name is None and not data:
            continue
        text = "\n".join(data)
        try:
            events.append((name, json.loads(text)))
        except ValueError:
            events.append((name, text))
    return events
