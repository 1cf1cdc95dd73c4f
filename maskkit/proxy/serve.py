"""Runs the proxy: checks the bind rules, prepares the client key, binds, serves with uvicorn. I/O edge."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from maskkit.config import Settings
from maskkit.errors import ConfigError
from maskkit.loopback import is_loopback
from maskkit.proxy.app import MAX_HEAD_BYTES, RETRY_AFTER, build_app, ensure_client_key
from maskkit.proxy.metrics import setup_access_log
from maskkit.vault import Vault
from maskkit.vault.embedded import private_dir

__all__ = ["is_loopback", "serve"]

log = logging.getLogger("maskkit.server")


#: Seconds a new connection has to send its first request's headers; then it is closed (slowloris, half-open
#: connections). Later requests on a kept-alive connection have uvicorn's keep-alive timeout (KEEP_ALIVE).
HEADER_TIMEOUT = 10.0
KEEP_ALIVE = 5


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()


def _overloaded_reply() -> bytes:
    body = _error_body(
        "overloaded_error", "the maskkit proxy has as many connections open as it allows; retry in a moment"
    )
    head = (
        "HTTP/1.1 529 Overloaded\r\ncontent-type: application/json\r\n"
        f"retry-after: {RETRY_AFTER}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with two limits of its own: a connection past `max_connections` is answered with an
    Anthropic-shaped 529 (retry-after) and closed, and a connection that has not sent a whole request head within
    HEADER_TIMEOUT seconds is closed. (uvicorn's own limit_concurrency answers a plain-text 503, and it has no
    header timeout.)"""

    max_connections = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections) - 1)
            # Answer, half-close, and read (and drop) what the client sends for a moment before closing: closing
            # with unread data would reset the connection before the client reads the 529.
            self._refused = True
            transport.write(_overloaded_reply())
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(1.0, transport.close)
            return
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._header_timeout)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (malformed, or a head over MAX_HEAD_BYTES): the Anthropic shape, not
        uvicorn's plain text."""
        body = _error_body(
            "invalid_request_error", f"malformed HTTP request, or a request head over {MAX_HEAD_BYTES} bytes"
        )
        head = (
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self._refused = True  # what the client still sends is read and dropped, so the close does not reset
        self.transport.write(head.encode("ascii") + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.close)

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.cycle is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()


def check_bind(settings: Settings) -> None:
    """Loopback only, unless told otherwise, and then only with a configured key and never in pass-through."""
    if is_loopback(settings.host):
        return
    if settings.passthrough:
        raise ConfigError("pass-through mode forwards your own Claude credentials: it only binds to loopback")
    if not settings.api_key and not settings.key_namespaces:
        raise ConfigError(
            f"refusing to listen on {settings.host} without MASKKIT_API_KEY or MASKKIT_KEYS_FILE: "
            "a generated key is only safe on loopback"
        )


def _bind(settings: Settings) -> socket.socket:
    """Bind the listening socket first, so a busy port fails before a client key is created or printed."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets of a socket it knows is TCP, and
    # without it Nagle + delayed ACK add ~40 ms to responses written in two parts (measured).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {settings.port} on {settings.host} is already in use (another maskkit proxy? "
                f"`cat {settings.home / 'proxy.json'}`): stop it, or pick another port with --port "
                "(--port 0 picks a free one)"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            raise ConfigError(f"cannot listen on {settings.host}: not a local address (MASKKIT_HOST, --host)") from None
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port} ({exc.strerror})") from None
    return sock


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


#: Net container allocations between two young collections (CPython's default is 700). A request of a growing
#: Claude Code conversation leaves ~250-1000 objects alive for a while (spans, plans, cache entries): at 700
#: a full collection, which walks every cache and the recall index (~40 ms with a 200 KB conversation cached),
#: came every ~30 requests, 1.1-1.4 ms per request on average (bench/README.md).
GC_YOUNG = 20_000


def _tune_gc() -> None:
    """The proxy process's collector: fewer young collections (`GC_YOUNG`), hence far fewer full ones; and
    what exists once the app has started (imports, the rule tables, the loaded recall indexes: `build_app`
    freezes them after the warm-up) is left out of every later collection (`gc.freeze`)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, middle, old)


def serve(settings: Settings, port_file: Path | None = None) -> None:
    """Serve until interrupted. Fails before binding if the vault is unusable (fail closed from the start)."""
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # httpx logs every request URL at INFO; maskkit's own lines are the ones that are known to be safe.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    setup_access_log(settings)
    for warning in settings.warnings:
        if not warning.startswith("MASKKIT_KINDS"):  # the start-up line below names the disabled kinds
            log.warning("%s", warning)
    check_bind(settings)
    if settings.via == "litellm":
        from maskkit.proxy.via_litellm import import_litellm

        import_litellm()  # a missing extra stops the start, not the first request
    vault = Vault.from_settings(settings)
    vault.ping()
    vault.close()
    sock = _bind(settings)
    port = sock.getsockname()[1]
    if not settings.passthrough and not settings.api_key and settings.key_namespaces:
        # With a keys file (and no MASKKIT_API_KEY) the listed keys are the only keys: nothing is generated.
        print("maskkit: client keys come from MASKKIT_KEYS_FILE", file=sys.stderr)
    elif not settings.passthrough:
        key, created = ensure_client_key(settings)
        if settings.api_key:
            where = "the client key comes from MASKKIT_API_KEY"
        elif settings.key_namespaces and not created:
            where = "client keys come from MASKKIT_KEYS_FILE"
        else:
            where = f"the client key is kept in {settings.home / 'proxy.key'}"
        print(f"maskkit: {where}", file=sys.stderr)
        if created and is_loopback(settings.host):
            print(
                "maskkit: created a client key (shown once):\n"
                f"  export ANTHROPIC_BASE_URL=http://{settings.host}:{port}\n"
                f"  export ANTHROPIC_API_KEY={key}",
                file=sys.stderr,
            )
    if not settings.passthrough and not settings.anthropic_api_key:
        log.warning("no ANTHROPIC_API_KEY: upstream calls will fail with authentication_error (or use --passthrough)")
    disabled = settings.disabled_kinds
    print(
        "maskkit: every kind is masked" if not disabled
        else f"maskkit: WARNING: {len(disabled)} kinds are NOT masked (MASKKIT_KINDS): {', '.join(disabled)}",
        file=sys.stderr,
    )
    if port_file is not None:
        port_file.write_text(str(port), encoding="ascii")
    print(f"maskkit proxy on http://{settings.host}:{port} -> {settings.upstream}", file=sys.stderr, flush=True)
    protocol = type("_BoundProtocol", (_Protocol,), {"max_connections": settings.max_connections})
    config = uvicorn.Config(
        build_app(settings.evolve(port=port), max_in_flight=settings.max_connections, freeze_after_warm=True),
        http=protocol,
        log_level=settings.log_level.lower(),
        access_log=False,  # it prints raw paths; maskkit.access writes one safe line per request instead
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    record = settings.home / "proxy.json"
    private_dir(settings.home)  # with MASKKIT_REDIS_URL nothing else creates it
    record.write_text(json.dumps({"url": f"http://{settings.host}:{port}", "pid": os.getpid()}), encoding="utf-8")
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default action the process would die before
    # the `finally` below, leaving a proxy.json that points at a dead process. Exit through Python instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _tune_gc()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record.read_text(encoding="utf-8")).get("pid") == os.getpid():
                record.unlink()
