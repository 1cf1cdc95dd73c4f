"""`maskkit run`: the real `claude` CLI, headless, behind the masking proxy (started for the run if none is up).

The proxy restores what Claude Code receives, so Claude Code's own output (text, json, stream-json) is already
restored; this module only wires the environment and the proxy's lifetime. I/O edge.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from maskkit.config import Settings
from maskkit.errors import ConfigError, UpstreamError
from maskkit.proxy.app import ensure_client_key
from maskkit.vault import VaultKey
from maskkit.vault.embedded import private_dir

__all__ = ["run_claude", "running_proxy"]


def _healthy(url: str) -> bool:
    try:
        response = httpx.get(url + "/health", timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("service") == "maskkit"


def running_proxy(settings: Settings) -> str | None:
    """The URL of a live proxy started from this MASKKIT_HOME (it records itself in proxy.json), if any.

    A record can outlive its proxy, and anyone may then take the port: the recorded process must still run, and
    the server must prove it holds this vault's key (the HMAC handshake the MCP server uses) before Claude Code,
    the client key and an unmasked prompt are pointed at it.
    """
    try:
        info = json.loads((settings.home / "proxy.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) else None
    pid = info.get("pid") if isinstance(info, dict) else None
    if isinstance(pid, int) and not _alive(pid):
        # A proxy that was killed (SIGKILL, a crash) could not remove its record: do it for it.
        with contextlib.suppress(OSError):
            (settings.home / "proxy.json").unlink()
        return None
    if not isinstance(url, str) or not isinstance(pid, int):
        return None
    return url if _healthy(url) and _proves_vault_key(url, settings) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not ours
    return True


def _proves_vault_key(url: str, settings: Settings) -> bool:
    challenge = secrets.token_hex(32)
    try:
        response = httpx.post(url + "/maskkit/v1/prove", json={"challenge": challenge}, timeout=2)
        proof = response.json().get("proof")
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    expected = VaultKey.from_settings(settings).prove(challenge)
    return isinstance(proof, str) and hmac.compare_digest(proof, expected)


@contextmanager
def proxy_for_run(settings: Settings) -> Iterator[str]:
    """A proxy URL: the running one, or a fresh `maskkit proxy` on a free loopback port, stopped afterwards."""
    url = running_proxy(settings)
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="maskkit-run-") as tmp:
        port_file = Path(tmp) / "port"
        log = open(settings.home / "proxy-run.log", "ab")
        command = [sys.executable, "-m", "maskkit", "proxy", "--host", "127.0.0.1", "--port", "0",
                   "--port-file", str(port_file), "--upstream", settings.upstream]
        if settings.passthrough:
            command.append("--passthrough")
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise UpstreamError(f"the maskkit proxy exited early; see {settings.home / 'proxy-run.log'}")
                if port_file.exists() and port_file.read_text().strip():
                    url = f"http://127.0.0.1:{port_file.read_text().strip()}"
                    if _healthy(url):
                        break
                time.sleep(0.05)
            else:
                raise UpstreamError("the maskkit proxy did not become ready within 30 s")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def claude_executable() -> str:
    found = os.environ.get("MASKKIT_CLAUDE_BIN") or shutil.which("claude")  # a setting (docs/settings.md)
    if not found:
        raise ConfigError("the Claude Code CLI (`claude`) is not on PATH; npm install -g @anthropic-ai/claude-code")
    return found


def run_claude(settings: Settings, args: Sequence[str]) -> int:
    """Run `claude ARGS` with ANTHROPIC_BASE_URL pointing at the proxy; returns claude's exit code."""
    binary = claude_executable()
    private_dir(settings.home)
    with proxy_for_run(settings) as url:
        env = {**os.environ, "ANTHROPIC_BASE_URL": url}
        if not settings.passthrough:
            env["ANTHROPIC_API_KEY"] = ensure_client_key(settings)[0]
            env.pop("ANTHROPIC_AUTH_TOKEN", None)
        return subprocess.run([binary, *args], env=env, check=False).returncode
