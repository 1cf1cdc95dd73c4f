"""Who may see an original: the reveal rule (a proven maskkit proxy, or the user's explicit opt-in) and the
reveal audit log. No original passes through here: the gate decides, the log records pseudonyms.

Every tool result lands in the model's context. An original may only go to a model whose traffic the masking
proxy masks again before it leaves the machine, or to one the user chose to trust (`MASKKIT_ALLOW_REVEAL=1`).
Claude Code starts stdio MCP servers as its children, so the `ANTHROPIC_BASE_URL` this server inherited is
where Claude Code sends the conversation. A live URL proves nothing by itself (anything can answer
`/health`), so the server sends a random challenge to `POST {ANTHROPIC_BASE_URL}/maskkit/v1/prove` and checks
the answer against its own vault key: only a proxy holding the same vault key can answer it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from maskkit.vault import VaultKey

__all__ = ["AUDIT_FILE", "PROVE_PATH", "AuditLog", "Decision", "RevealGate", "guidance", "refusal"]

log = logging.getLogger("maskkit.mcp.reveal")

PROVE_PATH = "/maskkit/v1/prove"
AUDIT_FILE = "reveal-audit.jsonl"
ALLOW_REVEAL = "MASKKIT_ALLOW_REVEAL=1"

#: Hosts that are never a maskkit proxy: no handshake is sent there.
_NOT_A_PROXY = ("api.anthropic.com",)
_MAX_ANSWER = 64 * 1024

def guidance(proxy_url: str) -> str:
    """How the user gets reveals to work, naming the address of the proxy they run (or would run)."""
    return (
        "To reveal originals, route Claude Code through the masking proxy so they are masked again before they "
        "leave this machine: run `maskkit proxy` (or call the start_proxy tool), then restart Claude Code with "
        f"ANTHROPIC_BASE_URL={proxy_url} (the proxy's address) and ANTHROPIC_API_KEY set to the proxy's "
        "key (MASKKIT_API_KEY, or the key in proxy.key in maskkit's data directory). If the model may see the "
        f"originals, the user can instead set {ALLOW_REVEAL} in this MCP server's environment (not in "
        "maskkit.env). Tools that keep originals out of the conversation work either way: unmask_to_file, "
        "run_unmasked."
    )


@dataclass(frozen=True)
class Decision:
    """Whether originals may go into a tool result now, and why (`basis` names the proof or the refusal)."""

    allowed: bool
    basis: str


def _not_proxied(reason: str) -> Decision:
    return Decision(False, reason)


class RevealGate:
    """Decides whether this conversation may see originals; caches a successful handshake for `ttl` seconds.

    Failures are not cached, so a user who starts the proxy can retry at once.
    """

    def __init__(
        self,
        key: VaultKey,
        *,
        base_url: str | None,
        allow_reveal: bool,
        ttl: float = 60.0,
        timeout: float = 2.0,
    ) -> None:
        self._key = key
        self._base_url = base_url.rstrip("/") if base_url else None
        self._allow_reveal = allow_reveal
        self._ttl = ttl
        self._timeout = timeout
        self._proven_until = 0.0
        self._lock = anyio.Lock()

    @property
    def base_url(self) -> str | None:
        return self._base_url

    async def check(self, *, over_http: bool = False) -> Decision:
        """The decision for one tool call. `over_http`: the call came over the HTTP transport, whose client
        is not Claude Code's child, so this server's environment says nothing about where the model lives."""
        if self._allow_reveal:
            return Decision(True, ALLOW_REVEAL)
        if over_http:
            return _not_proxied(
                "this MCP server runs over HTTP, so it cannot tell which model its client talks to "
                f"(the proxy check needs the stdio server that Claude Code starts); only {ALLOW_REVEAL} allows reveals"
            )
        if self._base_url is None:
            return _not_proxied("ANTHROPIC_BASE_URL is not set, so Claude Code talks to the model directly")
        async with self._lock:
            if time.monotonic() < self._proven_until:
                return Decision(True, f"maskkit proxy at {self._base_url}")
            decision = await self._handshake(self._base_url)
            if decision.allowed:
                self._proven_until = time.monotonic() + self._ttl
            return decision

    async def _handshake(self, base_url: str) -> Decision:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return _not_proxied(f"ANTHROPIC_BASE_URL ({base_url}) is not an http(s) URL")
        if parts.hostname.lower() in _NOT_A_PROXY:
            return _not_proxied(f"ANTHROPIC_BASE_URL points at {parts.hostname}, not at the maskkit proxy")
        import httpx  # imported here: it adds ~0.2 s to every server start

        challenge = secrets.token_hex(32)
        try:
            # trust_env=False: an HTTP(S)_PROXY variable must not be able to answer for the proxy.
            async with (
                httpx.AsyncClient(timeout=self._timeout, trust_env=False, follow_redirects=False) as client,
                client.stream("POST", base_url + PROVE_PATH, json={"challenge": challenge}) as response,
            ):
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_ANSWER:
                        break
                status = response.status_code
        except httpx.HTTPError as exc:
            log.info("proxy handshake with %s failed: %s", base_url, type(exc).__name__)
            return _not_proxied(f"no maskkit proxy answers at ANTHROPIC_BASE_URL ({base_url}): {type(exc).__name__}")
        if status != 200 or len(body) > _MAX_ANSWER:
            return _not_proxied(
                f"the server at ANTHROPIC_BASE_URL ({base_url}) is not a maskkit proxy (prove answered {status})"
            )
        try:
            answer: Any = json.loads(body)
        except ValueError:
            answer = None
        proof = answer.get("proof") if isinstance(answer, dict) and answer.get("service") == "maskkit" else None
        if not isinstance(proof, str):
            return _not_proxied(f"the server at ANTHROPIC_BASE_URL ({base_url}) did not answer as a maskkit proxy")
        if not hmac.compare_digest(proof.encode(), self._key.prove(challenge).encode()):
            log.warning("the server at %s answered the handshake without this vault's key", base_url)
            return _not_proxied(
                f"the server at ANTHROPIC_BASE_URL ({base_url}) could not prove it holds this vault's key "
                "(another vault, or not a maskkit proxy)"
            )
        return Decision(True, f"maskkit proxy at {base_url}")


def refusal(decision: Decision, what: str, proxy_url: str) -> str:
    """The tool error text for a refused reveal: why, and what the user can do (with the proxy at `proxy_url`)."""
    reason = f"originals would reach a model that is not behind the maskkit proxy ({decision.basis})"
    return f"{what} refused: {reason}. {guidance(proxy_url)}"


class AuditLog:
    """Append-only JSON lines, one per reveal: who, when, which pseudonyms. Never an original.

    The file is created 0600 (and tightened to 0600 if it exists with wider permissions). Each record is
    written with one `write` on an O_APPEND descriptor, so concurrent servers do not interleave lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(
        self,
        *,
        tool: str,
        namespace: str,
        pseudonyms: Iterable[str],
        basis: str,
        target: str,
        client: dict[str, str] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one record; raises OSError if it cannot, and the caller must then not reveal."""
        names = sorted(set(pseudonyms))
        now = time.time()
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tool": tool,
            "target": target,
            "client": client,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "namespace": namespace,
            "count": len(names),
            "pseudonyms": names,
            "basis": basis,
        }
        if detail:
            entry.update(detail)
        line = (json.dumps(entry, ensure_ascii=True, sort_keys=False) + "\n").encode("ascii")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            os.write(fd, line)
        finally:
            os.close(fd)
