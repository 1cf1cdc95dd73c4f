"""`maskkit-mcp` (and `python -m mcp_server`): serve the maskkit MCP server over stdio, which is how Claude Code
starts it, or over streamable HTTP on loopback with a bearer token. Logs go to stderr; over stdio, stdout
carries nothing but the protocol.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import anyio

from maskkit._version import __version__
from maskkit.config import Settings, load_settings
from maskkit.errors import MaskkitError
from maskkit.launch import kill_attached_children
from maskkit.loopback import is_loopback

from .server import server

__all__ = ["main"]

log = logging.getLogger("maskkit.mcp")

DEFAULT_HTTP_PORT = 8765
#: After SIGTERM, how long a graceful stop may take (the stdio reader can block on an open stdin).
GRACE_SECONDS = 2.0
#: HTTP request bodies above this are refused by the transport; the tools' own 5 MB limit answers first.
HTTP_MAX_BODY = 12 * 2**20


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maskkit-mcp",
        description="The maskkit MCP server: mask, unmask and look up AWS identifiers from Claude Code.",
        epilog="Claude Code: claude mcp add maskkit -- uv run --directory /path/to/maskkit maskkit-mcp",
    )
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP only: loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help=f"HTTP only (default {DEFAULT_HTTP_PORT})")
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="HTTP only: file holding the bearer token clients must send (default $MASKKIT_HOME/mcp-http.token, "
        "created 0600 on first use)",
    )
    parser.add_argument("--version", action="version", version=f"maskkit-mcp {__version__}")
    return parser


def _configure_logging(level: str) -> None:
    # force=True: the MCP SDK configures the root logger when the server object is built.
    logging.basicConfig(
        level=level, stream=sys.stderr, format="maskkit-mcp %(levelname)s %(name)s: %(message)s", force=True
    )


def _http_token(path: Path) -> str:
    """The bearer token in `path`, created (0600) with a fresh random value if the file does not exist."""
    from maskkit.vault.keys import write_secret_file

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        write_secret_file(path, "mkmcp-" + secrets.token_urlsafe(32), replace=False)  # a concurrent creator wins
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise MaskkitError(f"{path} is empty: delete it to get a new token")
    return token


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`; lifespan passes through."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            presented = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(presented, self._expected):
                body = b'{"error": "missing or wrong bearer token: send Authorization: Bearer <the token file>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _hard_exit(code: int) -> None:
    log.warning("stopping without a graceful shutdown (stdin still open)")
    kill_attached_children()
    logging.shutdown()
    os._exit(code)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("signal %s: stopping", signum)
            timer = threading.Timer(GRACE_SECONDS, _hard_exit, args=(128 + signum,))
            timer.daemon = True
            timer.start()
            scope.cancel()
            return


async def _serve_stdio() -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, group.cancel_scope)
        await server.run_stdio_async()
        group.cancel_scope.cancel()


async def _serve_http(host: str, port: int, token: str) -> None:
    import uvicorn

    app = BearerAuth(server.streamable_http_app(host=host, max_request_body_size=HTTP_MAX_BODY), token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `maskkit-mcp`."""
    args = _parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings()
    except MaskkitError as exc:
        # stdio starts anyway (every tool then reports the configuration error); HTTP needs the data dir.
        if args.transport == "http":
            print(f"maskkit-mcp: {exc}", file=sys.stderr)
            sys.exit(2)
    _configure_logging(settings.log_level if settings is not None else "WARNING")
    for warning in settings.warnings if settings is not None else ():
        print(f"maskkit-mcp: warning: {warning}", file=sys.stderr)  # stderr: stdout carries the protocol

    if args.transport == "stdio":
        try:
            anyio.run(_serve_stdio)
        finally:
            kill_attached_children()
        return

    assert settings is not None
    if not is_loopback(args.host):
        print(f"maskkit-mcp: refusing to listen on {args.host}: only loopback addresses are allowed", file=sys.stderr)
        sys.exit(2)
    token_file = args.token_file or settings.home / "mcp-http.token"
    try:
        token = _http_token(token_file)
    except (OSError, MaskkitError) as exc:
        print(f"maskkit-mcp: cannot use the token file {token_file}: {exc}", file=sys.stderr)
        sys.exit(2)
    print(
        f"maskkit-mcp: streamable HTTP on http://{args.host}:{args.port}/mcp; clients send "
        f"'Authorization: Bearer <the token in {token_file}>'",
        file=sys.stderr,
        flush=True,
    )
    anyio.run(_serve_http, args.host, args.port, token)


if __name__ == "__main__":
    main()
