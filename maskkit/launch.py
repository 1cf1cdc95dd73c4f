"""Start, find and stop a `maskkit proxy` child process: the one launcher `maskkit run` and the MCP server use.

I/O edge; no masking here, and no import of `maskkit.proxy`: the MCP server runs the proxy as a process, never
in its own. The child listens on 127.0.0.1 only, writes the port it got to a port file, and counts as ready when
its /health answers like a maskkit proxy.

- `maskkit run` (`proxy_for_run`): the proxy already running from this MASKKIT_HOME (recorded in proxy.json, and
  proving it holds this vault's key), else a fresh child for the run, stopped afterwards.
- The MCP server (`ProxyLauncher`): at most one child per MASKKIT_HOME, recorded in `mcp-proxy.json` so a later
  session finds a detached one again. The port it got is kept in `mcp-proxy.preferred-port` and asked for again
  next time, so the ANTHROPIC_BASE_URL the user set keeps working across sessions (unless another program took the
  port meanwhile; the answer then says so). A child that is not detached is stopped when the MCP server stops.
  What goes back to the model names where the proxy's client key is kept, never the key itself.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from maskkit.errors import MaskkitError

if TYPE_CHECKING:
    from maskkit.config import Settings

__all__ = [
    "LaunchError",
    "ProxyLauncher",
    "health",
    "kill_attached_children",
    "proxy_for_run",
    "running_proxy",
    "start_proxy",
    "terminate",
    "wait_ready",
]

log = logging.getLogger("maskkit.launch")

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class LaunchError(MaskkitError):
    """Raised when the proxy cannot be started, found or stopped; the message says what to do."""


# -- one child process --------------------------------------------------------------------------------------------


def start_proxy(
    *,
    port: int,
    port_file: Path,
    upstream: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    passthrough: bool = False,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `maskkit proxy` on 127.0.0.1:`port` (0: a free one), logging to `log_path` (appended, 0600).

    The port file is removed first, so `wait_ready` never reads a port of an earlier child. `new_session`: Ctrl-C in
    the terminal does not reach the child (the MCP server's detached proxies outlive it).
    """
    with contextlib.suppress(FileNotFoundError):
        port_file.unlink()
    command = [sys.executable, "-m", "maskkit", "proxy", "--host", HOST, "--port", str(port)]
    command += ["--port-file", str(port_file), "--upstream", upstream]
    if passthrough:
        command.append("--passthrough")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            env=None if env is None else dict(env),
            start_new_session=new_session,
            close_fds=True,
        )
    except OSError as exc:
        raise LaunchError(f"could not start `maskkit proxy`: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(log_fd)


def wait_ready(
    child: subprocess.Popen[bytes], port_file: Path, *, log_path: Path, timeout: float = START_TIMEOUT
) -> int:
    """The port of `child` once its /health answers; LaunchError (and the child stopped) if it exits or times out.

    Blocking: async callers run it in a worker thread. Polls the condition every 50 ms until the deadline.
    """
    deadline = time.monotonic() + timeout
    port: int | None = None
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise LaunchError(
                f"`maskkit proxy` exited with code {code} before it was ready; see {log_path} "
                "(is the vault reachable, the port free and the upstream URL right?)"
            )
        if port is None:
            with contextlib.suppress(OSError, ValueError):
                port = int(port_file.read_text(encoding="ascii").strip())
        if port is not None and health(f"http://{HOST}:{port}") is not None:
            return port
        time.sleep(0.05)
    terminate(child.pid, child)
    raise LaunchError(f"`maskkit proxy` did not answer /health within {timeout:.0f} s; see {log_path}")


def health(url: str) -> dict[str, Any] | None:
    """GET `url`/health, with its status code added (None if nothing answers like a maskkit proxy).

    Never through an HTTP proxy from the environment: the proxy is on loopback."""
    import httpx  # imported here: it adds ~0.2 s to every MCP server start

    try:
        response = httpx.get(url + "/health", timeout=2.0, trust_env=False)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("service") != "maskkit":
        return None
    body["status_code"] = response.status_code
    return body


def terminate(pid: int, child: subprocess.Popen[bytes] | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the proxy, wait up to `timeout`, then SIGKILL; reap it if it is our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=timeout)


def pid_alive(pid: int) -> bool:
    """True if a process `pid` exists (one of another user counts: it exists, though it is not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    """The command line of `pid` ('' if unknown): /proc on Linux, `ps` elsewhere."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:
        result = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _recorded_proxy(home: Path) -> tuple[str, int] | None:
    """(url, pid) of the `maskkit proxy` that recorded itself in `home/proxy.json`, if that process still runs.

    A proxy that was killed (SIGKILL, a crash) could not remove its record: it is removed here for it.
    """
    try:
        info = json.loads((home / "proxy.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) else None
    pid = info.get("pid") if isinstance(info, dict) else None
    if isinstance(pid, int) and not _running_as_us(pid):
        with contextlib.suppress(OSError):
            (home / "proxy.json").unlink()
        return None
    if not isinstance(url, str) or not isinstance(pid, int):
        return None
    return url, pid


def _running_as_us(pid: int) -> bool:
    """True if `pid` runs and is ours to signal (another user's process is not the proxy we recorded)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


# -- `maskkit run` ------------------------------------------------------------------------------------------------


def running_proxy(settings: Settings) -> str | None:
    """The URL of a live proxy started from this MASKKIT_HOME (it records itself in proxy.json), if any.

    A record can outlive its proxy, and anyone may then take the port: the recorded process must still run, and
    the server must prove it holds this vault's key (the HMAC handshake the MCP server uses) before Claude Code,
    the client key and an unmasked prompt are pointed at it.
    """
    recorded = _recorded_proxy(settings.home)
    if recorded is None:
        return None
    url = recorded[0]
    answer = health(url)
    if answer is None or answer["status_code"] != 200:
        return None
    return url if _proves_vault_key(url, settings) else None


def _proves_vault_key(url: str, settings: Settings) -> bool:
    import httpx

    from maskkit.vault import VaultKey

    challenge = secrets.token_hex(32)
    try:
        response = httpx.post(url + "/maskkit/v1/prove", json={"challenge": challenge}, timeout=2, trust_env=False)
        proof = response.json().get("proof")
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    expected = VaultKey.from_settings(settings).prove(challenge)
    return isinstance(proof, str) and hmac.compare_digest(proof, expected)


@contextlib.contextmanager
def proxy_for_run(settings: Settings, *, timeout: float = 30.0) -> Iterator[str]:
    """A proxy URL: the running one, or a fresh `maskkit proxy` on a free loopback port, stopped afterwards."""
    url = running_proxy(settings)
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="maskkit-run-") as tmp:
        port_file = Path(tmp) / "port"
        log_path = settings.home / "proxy-run.log"
        child = start_proxy(
            port=0, port_file=port_file, upstream=settings.upstream, log_path=log_path,
            passthrough=settings.passthrough,
        )
        try:
            port = wait_ready(child, port_file, log_path=log_path, timeout=timeout)
            yield f"http://{HOST}:{port}"
        finally:
            terminate(child.pid, child, timeout=10)


# -- the MCP server's proxy ---------------------------------------------------------------------------------------

#: Proxy children that must not outlive this process (started without detach), for the last-resort cleanup.
_ATTACHED: dict[int, subprocess.Popen[bytes]] = {}


def kill_attached_children() -> None:
    """SIGTERM, then SIGKILL, every attached proxy child still running. For shutdown paths that cannot await."""
    for pid, child in list(_ATTACHED.items()):
        terminate(pid, child)
        _ATTACHED.pop(pid, None)


@dataclass
class _Record:
    """What `mcp-proxy.json` holds about the proxy this server (or an earlier one) started."""

    pid: int
    port: int
    upstream: str
    started_at: float
    detached: bool
    owner_pid: int


def _is_our_proxy(record: _Record, port_file: Path) -> bool:
    """True if `record.pid` is still the `maskkit proxy` an MCP session started (pids are reused)."""
    if not pid_alive(record.pid):
        return False
    line = _cmdline(record.pid)
    return "maskkit" in line and " proxy " in line and str(port_file) in line


class ProxyLauncher:
    """Manages at most one proxy child per maskkit home, for the MCP server's start/status/stop tools.

    The async methods never block the event loop: starting, waiting for /health and stopping run in worker threads.
    """

    def __init__(self, home: Path, *, default_upstream: str, api_key_configured: bool) -> None:
        self.home = home
        self.default_upstream = default_upstream
        self.api_key_configured = api_key_configured
        self.log_path = home / "proxy.log"
        self.state_path = home / "mcp-proxy.json"
        self.port_file = home / "mcp-proxy.port"
        self.preferred_path = home / "mcp-proxy.preferred-port"
        self._child: subprocess.Popen[bytes] | None = None
        self._record: _Record | None = None

    # -- what the user needs

    def client_settings(self, port: int) -> dict[str, str]:
        """The settings Claude Code needs to go through the proxy (the key by location, never by value)."""
        base = f"http://{HOST}:{port}"
        if self.api_key_configured:
            key_hint = "the value of MASKKIT_API_KEY (set in this MCP server's environment)"
            export = "export ANTHROPIC_API_KEY=<the value of MASKKIT_API_KEY>"
        else:
            key_path = self.home / "proxy.key"
            key_hint = f"the key in {key_path}"
            export = f'export ANTHROPIC_API_KEY="$(cat {key_path})"'
        return {
            "ANTHROPIC_BASE_URL": base,
            "ANTHROPIC_API_KEY": key_hint,
            "how_to_use": (
                f"In a shell: export ANTHROPIC_BASE_URL={base}; {export}; then start Claude Code again (claude) "
                "so the conversation goes through the proxy."
            ),
        }

    def preferred_port(self) -> int | None:
        """The port the last proxy started from this data dir got (asked for again: a stable base URL)."""
        try:
            port = int(self.preferred_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    def proxy_url(self, fallback: str) -> str:
        """Where the user's proxy is (or will be): the one started from an MCP session, else a `maskkit proxy`
        recorded in proxy.json, else the port start_proxy would ask for, else `fallback` (MASKKIT_HOST/PORT)."""
        record = self._current()
        if record is not None:
            return f"http://{HOST}:{record.port}"
        with contextlib.suppress(OSError, ValueError, AttributeError):
            info = json.loads((self.home / "proxy.json").read_text(encoding="utf-8"))
            if isinstance(info.get("url"), str) and isinstance(info.get("pid"), int) and pid_alive(info["pid"]):
                return str(info["url"])
        preferred = self.preferred_port()
        return f"http://{HOST}:{preferred}" if preferred else fallback

    # -- state file

    def _load_record(self) -> _Record | None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            return _Record(**{k: data[k] for k in _Record.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save_record(self, record: _Record) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(record), handle)
        os.replace(tmp, self.state_path)

    def _forget_record(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    def _current(self) -> _Record | None:
        """The proxy we know about and which still runs: ours, else one recorded by an earlier session."""
        if self._child is not None and self._record is not None:
            if self._child.poll() is None:
                return self._record
            self._child = None
            self._record = None
            self._forget_record()
        record = self._load_record()
        if record is None:
            return None
        if _is_our_proxy(record, self.port_file):
            return record
        self._forget_record()
        return None

    # -- start / status / stop

    async def health(self, port: int) -> dict[str, Any] | None:
        """GET /health of the proxy on `port` (None if nothing answers like a maskkit proxy)."""
        import anyio

        return await anyio.to_thread.run_sync(health, f"http://{HOST}:{port}")

    async def start(self, port: int | None, upstream: str | None, detach: bool) -> dict[str, Any]:
        """Start the proxy (or report the one already running) and wait until /health answers."""
        import anyio

        current = self._current()
        if current is not None:
            status = await self.status()
            status["note"] = "a maskkit proxy started from this MCP server is already running; stop_proxy stops it"
            return status
        target = (upstream or self.default_upstream).rstrip("/")
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LaunchError("upstream must be an http:// or https:// URL, e.g. https://api.anthropic.com")
        if port is not None and not 0 <= port <= 65535:
            raise LaunchError("port must be between 1 and 65535 (or 0 / omitted to pick a free port)")
        if port and not _port_free(port):
            raise LaunchError(f"port {port} on {HOST} is already in use: pick another port or omit it")
        moved = None
        if not port:
            preferred = self.preferred_port()
            if preferred is not None and _port_free(preferred):
                port = preferred
            elif preferred is not None:
                moved = preferred

        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        child = start_proxy(
            port=port or 0, port_file=self.port_file, upstream=target, log_path=self.log_path,
            env={**os.environ, "MASKKIT_HOME": str(self.home)}, new_session=True,
        )
        bound = await anyio.to_thread.run_sync(
            lambda: wait_ready(child, self.port_file, log_path=self.log_path, timeout=START_TIMEOUT)
        )
        record = _Record(child.pid, bound, target, time.time(), detach, os.getpid())
        self._child, self._record = child, record
        if not detach:
            _ATTACHED[child.pid] = child
        self._save_record(record)
        with contextlib.suppress(OSError):
            self.preferred_path.write_text(str(bound), encoding="ascii")
        log.info("started maskkit proxy pid %s on port %s", child.pid, bound)
        status = await self.status()
        status["started"] = True
        if moved is not None:
            status["note"] = (
                f"port {moved}, which the proxy used before, is taken by another program: this proxy is on "
                f"{bound}, so ANTHROPIC_BASE_URL changed"
            )
        return status

    async def status(self) -> dict[str, Any]:
        """Whether the proxy runs, its /health answer and the client settings."""
        record = self._current()
        if record is None:
            return {
                "running": False,
                "log": str(self.log_path),
                "note": "no proxy started from an MCP session is running; start_proxy starts one",
            }
        answer = await self.health(record.port)
        return {
            "running": True,
            "healthy": answer is not None and answer.get("status_code") == 200,
            "health": answer,
            "pid": record.pid,
            "port": record.port,
            "upstream": record.upstream,
            "detached": record.detached,
            "started_by_this_server": self._child is not None and self._child.pid == record.pid,
            "log": str(self.log_path),
            **self.client_settings(record.port),
        }

    async def stop(self) -> dict[str, Any]:
        """Stop the proxy we know about (this session's child, or a detached one recorded earlier)."""
        import anyio

        record = self._current()
        if record is None:
            return {"stopped": False, "note": "no proxy started from an MCP session is running"}
        child = self._child if self._child is not None and self._child.pid == record.pid else None
        await anyio.to_thread.run_sync(terminate, record.pid, child)
        _ATTACHED.pop(record.pid, None)
        self._child = None
        self._record = None
        self._forget_record()
        return {"stopped": True, "pid": record.pid, "port": record.port}

    async def aclose(self) -> None:
        """On server shutdown: stop this session's child unless it was started with detach=True."""
        import anyio

        if self._child is None or self._record is None or self._record.detached:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(terminate, self._child.pid, self._child)
        _ATTACHED.pop(self._child.pid, None)
        self._child = None
        self._record = None
        self._forget_record()
