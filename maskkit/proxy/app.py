"""The masking proxy: an ASGI app in front of the Anthropic Messages API. This is an I/O edge.

Every request body is masked before it leaves (fail closed: if masking cannot happen, nothing is sent), and
every answer is restored on the way back: JSON bodies whole, SSE streams event by event with one streaming
restorer per content block. Only the pseudonyms issued for this request's own body are restored, so a model
that guesses `ec2-017` gets `ec2-017` back. Only this module speaks the Anthropic error shape.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from maskkit._version import __version__
from maskkit.config import Settings
from maskkit.core.messages import map_json_strings, map_response_strings, unmask_text
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.errors import MaskkitError, UpstreamError, http_error_for
from maskkit.masking import Masker, detector_from_settings
from maskkit.proxy.metrics import Metrics, Observe, instrument_vault, note_masked, note_namespace, upstream_hooks
from maskkit.vault import Vault
from maskkit.vault.embedded import private_dir

__all__ = ["build_app", "client_keys", "error_response"]

log = logging.getLogger("maskkit.proxy")

#: Headers that describe one connection, not the message (RFC 9110 7.6.1), plus the ones we recompute.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "accept-encoding",
    }
)
_CREDENTIALS = frozenset({"x-api-key", "authorization"})


def error_response(status: int, error_type: str, message: str, request_id: str | None = None) -> JSONResponse:
    """An error in the Anthropic shape, with a request id the user can quote."""
    request_id = request_id or "req_maskkit_" + secrets.token_hex(12)
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id})


def _sse_error(error_type: str, message: str) -> bytes:
    return encode_event("error", json.dumps({"type": "error", "error": {"type": error_type, "message": message}}))


@dataclass
class _State:
    settings: Settings
    masker: Masker
    http: httpx.AsyncClient
    keys: dict[str, str]  # client key -> namespace


def client_keys(settings: Settings) -> dict[str, str]:
    """Client key -> namespace: MASKKIT_API_KEY (or the generated key file) plus MASKKIT_KEYS_FILE bindings."""
    keys = dict(settings.key_namespaces)
    main_key = settings.api_key or _read_key_file(settings)
    if main_key:
        keys.setdefault(main_key, settings.namespace)
    return keys


def _read_key_file(settings: Settings) -> str | None:
    path = settings.home / "proxy.key"
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def ensure_client_key(settings: Settings) -> tuple[str, bool]:
    """The proxy's client key: MASKKIT_API_KEY, else `$MASKKIT_HOME/proxy.key` (created 0600). (key, created)."""
    if settings.api_key:
        return settings.api_key, False
    existing = _read_key_file(settings)
    if existing:
        return existing, False

    private_dir(settings.home)
    key = "mk-" + secrets.token_urlsafe(32)
    path = settings.home / "proxy.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(settings) or key, False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key, True


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _namespace_for(state: _State, request: Request) -> str | None:
    """The namespace the caller's key is bound to; None if the key is wrong. Compared in constant time."""
    presented = _presented_key(request)
    if presented is None:
        return None
    found = None
    for key, namespace in state.keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = namespace
    return found


async def _read_body(request: Request, limit: int) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return error_response(413, "request_too_large", f"request body exceeds the proxy's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return error_response(413, "request_too_large", f"request body exceeds the proxy's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any | JSONResponse:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_response(400, "invalid_request_error", f"request body is not valid UTF-8 (byte {exc.start})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return error_response(
            400,
            "invalid_request_error",
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        )
    except RecursionError:
        return error_response(400, "invalid_request_error", "request body is nested too deeply")


def _forward_headers(request: Request, settings: Settings) -> dict[str, str] | JSONResponse:
    """The request headers to send upstream: everything but hop-by-hop headers and (unless pass-through) the
    client's credentials, which are replaced by the proxy's own ANTHROPIC_API_KEY."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    if settings.passthrough:
        return headers
    for name in _CREDENTIALS:
        headers.pop(name, None)
    if not settings.anthropic_api_key:
        return error_response(
            401,
            "authentication_error",
            "the maskkit proxy has no ANTHROPIC_API_KEY for the upstream API; set it where the proxy runs, "
            "or start the proxy with --passthrough to forward your own Claude credentials",
        )
    headers["x-api-key"] = settings.anthropic_api_key
    return headers


def _response_headers(upstream: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-type"}


def _error_from(exc: MaskkitError) -> JSONResponse:
    status, error_type = http_error_for(exc)
    return error_response(status, error_type, str(exc))


class _Proxy:
    """The route handlers; holds nothing but the app state."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.state: _State | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        settings = self.settings
        vault = Vault.from_settings(settings)
        instrument_vault(vault, self.metrics)
        masker = Masker(vault, detector_from_settings(settings), settings.namespace)
        timeout = httpx.Timeout(settings.upstream_timeout, connect=10.0)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        hooks = upstream_hooks(self.metrics)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, event_hooks=hooks) as http:
            self.state = _State(settings, masker, http, client_keys(settings))
            try:
                yield
            finally:
                await vault.aclose()

    def _state(self) -> _State:
        if self.state is None:  # pragma: no cover - lifespan always runs first
            raise RuntimeError("the proxy's lifespan has not started")
        return self.state

    # -- unauthenticated routes

    async def root(self, request: Request) -> Response:
        return JSONResponse({"service": "maskkit", "version": __version__})

    async def health(self, request: Request) -> Response:
        state = self._state()
        try:
            await state.masker.vault.aping()
            vault = "ok"
        except MaskkitError:
            vault = "down"
        body: dict[str, Any] = {"service": "maskkit", "version": __version__, "vault": vault}
        if state.settings.disabled_kinds:  # loud: kinds MASKKIT_KINDS leaves unmasked
            body["disabled_kinds"] = state.settings.disabled_kinds
        return JSONResponse(body, status_code=200 if vault == "ok" else 503)

    async def prove(self, request: Request) -> Response:
        """Proves this proxy holds the vault key (HMAC of a caller's challenge), for the MCP server's reveal rule."""
        raw = await _read_body(request, 4096)
        if isinstance(raw, JSONResponse):
            return raw
        data = _parse_json(raw)
        if isinstance(data, JSONResponse):
            return data
        challenge = data.get("challenge") if isinstance(data, dict) else None
        if not isinstance(challenge, str) or not 16 <= len(challenge) <= 256:
            return error_response(400, "invalid_request_error", 'expected {"challenge": <16-256 characters>}')
        return JSONResponse({"service": "maskkit", "proof": self._state().masker.vault.key.prove(challenge)})

    # -- the API

    def _authenticate(self, request: Request) -> str | JSONResponse:
        """The caller's namespace, or a 401 in the Anthropic shape."""
        state = self._state()
        if state.settings.passthrough:
            return state.settings.namespace
        bound = _namespace_for(state, request)
        if bound is None:
            return error_response(
                401,
                "authentication_error",
                "invalid or missing maskkit key: send the proxy's key as x-api-key or Authorization: Bearer "
                "(MASKKIT_API_KEY, or the key in the proxy's data dir, proxy.key)",
            )
        return bound

    async def claude_code(self, request: Request) -> Response:
        """Headless Claude Code behind this proxy (see maskkit.proxy.headless)."""
        from maskkit.proxy.headless import parse_request, run_headless

        namespace = self._authenticate(request)
        if isinstance(namespace, JSONResponse):
            return namespace
        raw = await _read_body(request, 1 << 20)
        if isinstance(raw, JSONResponse):
            return raw
        data = _parse_json(raw)
        if isinstance(data, JSONResponse):
            return data
        parsed = parse_request(data, self.settings)
        if isinstance(parsed, str):
            status = 403 if "disabled" in parsed else 400
            return error_response(status, "permission_error" if status == 403 else "invalid_request_error", parsed)
        base = str(request.base_url).rstrip("/")
        try:
            result = await run_headless(parsed, base, _presented_key(request), self.settings)
        except Exception as exc:
            log.warning("headless Claude Code failed: %s", type(exc).__name__)
            return error_response(502, "api_error", f"Claude Code failed ({type(exc).__name__})")
        return JSONResponse(result, status_code=200 if not result["is_error"] else 502)

    async def api(self, request: Request) -> Response:
        state = self._state()
        namespace = self._authenticate(request)
        if isinstance(namespace, JSONResponse):
            return namespace
        note_namespace(request.scope, namespace)
        masker = state.masker.for_namespace(namespace)
        path = request.url.path
        if masker.spans(path) or masker.spans(request.url.query):
            # Claude Code only ever sends `?beta=true`; anything detectable in a URL is refused, not forwarded
            # (a URL cannot be masked without breaking the route) and not logged.
            log.warning("%s refused: the URL holds an identifier", request.method)
            return error_response(
                400,
                "invalid_request_error",
                "the request URL holds something maskkit masks (an AWS identifier or secret); maskkit does not "
                "send identifiers in URLs: move it into the JSON body",
            )
        try:
            response = await self._forward(request, state, masker, path)
        except MaskkitError as exc:
            log.warning("%s %s failed: %s", request.method, path, type(exc).__name__)
            return _error_from(exc)
        return response

    async def _forward(self, request: Request, state: _State, masker: Masker, path: str) -> Response:
        headers = _forward_headers(request, state.settings)
        if isinstance(headers, JSONResponse):
            return headers
        body: Any = None
        reverse: dict[str, str] = {}
        content: bytes | None = None
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                raw = await _read_body(request, state.settings.max_body_bytes)
            except ClientDisconnect:
                return Response(status_code=499)
            if isinstance(raw, JSONResponse):
                return raw
            content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if raw and content_type not in ("application/json", "") and not content_type.endswith("+json"):
                return error_response(
                    415,
                    "invalid_request_error",
                    f"maskkit cannot mask a {content_type} body, so it does not forward it; send JSON",
                )
            if raw:
                parsed = _parse_json(raw)
                if isinstance(parsed, JSONResponse):
                    return parsed
                body, reverse = await self._mask(masker, path, parsed)
                note_masked(request.scope, [masker.kind_of(p) for p in reverse])
                content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                headers["content-type"] = "application/json"
        if state.settings.via == "litellm" and path.rstrip("/") == "/v1/messages" and isinstance(body, dict):
            return await self._via_litellm(body, headers, masker, reverse)
        url = state.settings.upstream + path + (f"?{request.url.query}" if request.url.query else "")
        upstream_request = state.http.build_request(request.method, url, headers=headers, content=content)
        try:
            upstream = await state.http.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            return error_response(504, "api_error", "the upstream API did not answer in time")
        except httpx.HTTPError as exc:
            log.warning("upstream unreachable: %s", type(exc).__name__)
            return error_response(502, "api_error", f"the upstream API is unreachable ({type(exc).__name__})")
        media = upstream.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "text/event-stream" and upstream.status_code == 200:
            return StreamingResponse(
                self._restore_stream(upstream.aiter_bytes(), upstream.aclose, masker, reverse),
                status_code=200,
                headers=_response_headers(upstream),
                media_type="text/event-stream",
            )
        return await self._restore_json(upstream, masker, reverse)

    async def _mask(self, masker: Masker, path: str, body: Any) -> tuple[Any, dict[str, str]]:
        """Messages bodies are masked field by field; any other JSON body has every string masked."""
        if path.rstrip("/") in ("/v1/messages", "/v1/messages/count_tokens") and isinstance(body, dict):
            return await masker.amask_request(body, media=self.settings.media)
        return await masker.amask_json(body)

    async def _restore_json(self, upstream: httpx.Response, masker: Masker, reverse: dict[str, str]) -> Response:
        try:
            raw = await upstream.aread()
        except httpx.HTTPError as exc:
            return error_response(502, "api_error", f"the upstream API broke off its answer ({type(exc).__name__})")
        finally:
            await upstream.aclose()
        headers = _response_headers(upstream)
        media = upstream.headers.get("content-type", "")
        if not raw:
            return Response(status_code=upstream.status_code, headers=headers)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            if upstream.status_code >= 400:
                text = raw.decode("utf-8", "replace")[:2000]
                message = unmask_text(text, reverse, masker.grammar)
                return error_response(upstream.status_code, "api_error", f"upstream error: {message}")
            return error_response(502, "api_error", "the upstream API answered with something that is not JSON")

        def restore(text: str) -> str:
            return unmask_text(text, reverse, masker.grammar)

        if isinstance(data, dict) and (data.get("type") in ("message", "error") or "content" in data):
            restored = map_response_strings(data, restore)
            await _remember(masker, _thinking_pairs(data, restored))
        else:
            restored = map_json_strings(data, restore)
        return Response(
            json.dumps(restored, ensure_ascii=False).encode("utf-8"),
            status_code=upstream.status_code,
            headers=headers,
            media_type=media.split(";")[0] or "application/json",
        )

    async def _via_litellm(
        self, body: dict[str, Any], headers: dict[str, str], masker: Masker, reverse: dict[str, str]
    ) -> Response:
        from maskkit.proxy.via_litellm import LiteLLMFailure, send, stream_bytes

        try:
            result = await send(body, self.settings, headers)
        except LiteLLMFailure as exc:
            message = unmask_text(str(exc), reverse, masker.grammar)
            return error_response(exc.status, _error_type(exc.status), f"upstream error (via LiteLLM): {message}")
        if isinstance(result, dict):
            restored = map_response_strings(result, lambda t: unmask_text(t, reverse, masker.grammar))
            await _remember(masker, _thinking_pairs(result, restored))
            return JSONResponse(restored)

        async def close() -> None:
            closer = getattr(result, "aclose", None)
            if closer is not None:
                await closer()

        return StreamingResponse(
            self._restore_stream(stream_bytes(result), close, masker, reverse), media_type="text/event-stream"
        )

    async def _restore_stream(
        self,
        chunks: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
        masker: Masker,
        reverse: dict[str, str],
    ) -> AsyncIterator[bytes]:
        decoder = SSEDecoder()
        restorer = masker.stream_restorer(reverse)
        finished = False
        try:
            async for chunk in chunks:
                for event in decoder.feed(chunk):
                    out, done = _restore_event(restorer, event.event, event.data)
                    finished = finished or done
                    if out:
                        yield out
            for event in decoder.flush():
                out, done = _restore_event(restorer, event.event, event.data)
                finished = finished or done
                if out:
                    yield out
            if not finished:
                yield _sse_error("api_error", "the upstream API ended the stream before message_stop")
            if restorer.completed_thinking:
                await _remember(masker, restorer.completed_thinking)
        except MaskkitError as exc:
            yield _sse_error(http_error_for(exc)[1], str(exc))
        except Exception as exc:  # httpx errors, LiteLLM's own: the client gets an error event, never a hang
            log.warning("upstream stream broke: %s", type(exc).__name__)
            yield _sse_error("api_error", f"the upstream API broke off the stream ({type(exc).__name__})")
        finally:
            with anyio.CancelScope(shield=True):
                await close()


_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_type(status: int) -> str:
    return _STATUS_TYPES.get(status, "api_error")


def _thinking_pairs(masked: dict[str, Any], restored: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for before, after in zip(masked.get("content") or [], restored.get("content") or [], strict=False):
        if isinstance(before, dict) and before.get("type") == "thinking" and isinstance(before.get("thinking"), str):
            pairs.append((before["thinking"], after["thinking"]))
    return pairs


async def _remember(masker: Masker, pairs: list[tuple[str, str]]) -> None:
    """Best effort: a lost memo costs an upstream signature error next turn, never a leak."""
    try:
        await masker.remember_thinking(pairs)
    except MaskkitError as exc:
        log.warning("could not record the thinking memo: %s", type(exc).__name__)


def _restore_event(restorer: Any, name: str | None, data: str) -> tuple[bytes, bool]:
    """One upstream SSE event -> the bytes to send on, and whether it ended the message."""
    try:
        parsed = json.loads(data)
    except ValueError:
        if name == "error":  # an error the upstream could not even encode: still an error, well formed
            return _sse_error("api_error", "the upstream API reported an error it did not encode as JSON"), True
        raise UpstreamError("the upstream API sent an SSE event whose data is not JSON") from None
    done = isinstance(parsed, dict) and parsed.get("type") in ("message_stop", "error")
    out = b"".join(
        encode_event(event, data if payload is parsed else _ENCODER.encode(payload))
        for event, payload in restorer.feed(name, parsed)
    )
    return out, done


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def build_app(settings: Settings) -> Starlette:
    """The proxy as an ASGI app (uvicorn serves it; tests may too)."""
    metrics = Metrics()
    proxy = _Proxy(settings, metrics)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/", proxy.root, methods=["GET", "HEAD"]),
        Route("/health", proxy.health, methods=["GET"]),
        Route("/maskkit/v1/prove", proxy.prove, methods=["POST"]),
        Route("/v1/claude-code", proxy.claude_code, methods=["POST"]),
        Route("/v1/{path:path}", proxy.api, methods=methods),
    ]
    app = Starlette(
        routes=routes,
        lifespan=proxy.lifespan,
        exception_handlers={
            404: _not_found,
            405: _not_allowed,
            Exception: _internal_error,
        },
    )
    app.state.proxy = proxy
    app.add_middleware(Observe, settings=settings, keys=lambda: client_keys(settings), metrics=metrics)
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found_error", f"maskkit has no route {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(405, "invalid_request_error", f"{request.method} is not allowed on {request.url.path}")


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Last resort: a clean Anthropic-shaped 500; the log names the exception type only (its text may hold data)."""
    log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
    return error_response(500, "api_error", f"maskkit internal error ({type(exc).__name__}); nothing was forwarded")
