"""The masking proxy: an ASGI app in front of the Anthropic Messages API. This is an I/O edge.

Every request body is masked before it leaves (fail closed: if masking cannot happen, nothing is sent), and
every answer is restored on the way back: JSON bodies whole, SSE streams event by event with one streaming
restorer per content block. Only the pseudonyms issued for this request's own body are restored, so a model
that guesses `ec2-017` gets `ec2-017` back. Only this module speaks the Anthropic error shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import posixpath
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

import anyio
import httpcore
import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from maskkit._version import __version__
from maskkit.config import Settings
from maskkit.core.messages import (
    map_json_strings,
    map_response_strings,
    media_urls,
    numbers_of,
    presigned,
    restore_json_numbers,
    thinking_pairs,
    unmask_text,
)
from maskkit.core.sse import encode_event
from maskkit.core.stream import SSERestorer
from maskkit.errors import (
    BadRequest,
    MaskkitError,
    NotAuthenticated,
    Overloaded,
    PermissionRefused,
    RequestTooLarge,
    UnsupportedMedia,
    UpstreamError,
    UpstreamTimeout,
    error_type_for_status,
    http_error_for,
)
from maskkit.loopback import is_loopback, is_loopback_host_header
from maskkit.masking import Masker, detector_from_settings
from maskkit.proxy.metrics import (
    Metrics,
    Observe,
    instrument_masker,
    instrument_vault,
    note_masked,
    note_namespace,
)
from maskkit.proxy.upstream import UPSTREAM_ERRORS, Upstream, UpstreamResponse
from maskkit.vault import Vault
from maskkit.vault.embedded import private_dir
from maskkit.vault.keys import write_secret_file

__all__ = ["build_app", "client_keys", "error_response"]

log = logging.getLogger("maskkit.proxy")

#: Request headers forwarded upstream: the ones the Anthropic API (and its SDKs, and Claude Code) use. Every
#: other header (cookie, x-forwarded-for, custom ones) is dropped. Values are scanned like text: a hit is a 400
#: naming the header (a header cannot be masked without changing what it means).
FORWARDED_HEADERS = frozenset(
    {"anthropic-version", "anthropic-beta", "content-type", "accept", "user-agent", "x-app"}
)
#: Header prefixes forwarded (scanned the same way): the official SDKs' platform headers.
FORWARDED_PREFIXES = ("x-stainless-",)
_CREDENTIALS = frozenset({"x-api-key", "authorization"})
#: Response headers not passed back: they describe the upstream connection, or a body we re-encoded.
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
#: Largest request head (headers) accepted, in bytes: 400 beyond it (also h11's limit on a head still arriving).
MAX_HEAD_BYTES = 64 * 1024
#: The seconds a 529 asks the client to wait.
RETRY_AFTER = 1
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_PATH_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\#?%]")


def error_response(status: int, error_type: str, message: str, request_id: str | None = None) -> JSONResponse:
    """An error in the Anthropic shape, with a request id the user can quote (and `retry-after` on a 529)."""
    request_id = request_id or "req_maskkit_" + secrets.token_hex(12)
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    headers = {"request-id": request_id}
    if status == 529:
        headers["retry-after"] = str(RETRY_AFTER)
    return JSONResponse(body, status_code=status, headers=headers)


def _sse_error(error_type: str, message: str) -> bytes:
    return encode_event("error", json.dumps({"type": "error", "error": {"type": error_type, "message": message}}))


@dataclass
class _State:
    settings: Settings
    masker: Masker
    http: Upstream
    keys: dict[str, str]  # client key -> namespace


def client_keys(settings: Settings) -> dict[str, str]:
    """Client key -> namespace: MASKKIT_KEYS_FILE bindings plus MASKKIT_API_KEY; without a keys file, the
    generated key file stands in for MASKKIT_API_KEY. With a keys file nothing is generated or read besides it:
    an operator who lists the keys gets exactly those keys."""
    keys = dict(settings.key_namespaces)
    main_key = settings.api_key or (None if settings.key_namespaces else _read_key_file(settings))
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
    write_secret_file(settings.home / "proxy.key", key, replace=False)  # a concurrent creator's key wins
    kept = _read_key_file(settings) or key
    return kept, kept == key


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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = f"request body exceeds the proxy's limit of {limit} bytes"
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    """The parsed body, or BadRequest. Also refused: numbers Python will not convert (over 4300 digits) and lone
    surrogate escapes (`\\ud800`), which cannot be encoded again to send on. orjson parses the ordinary body;
    the standard parser takes what orjson refuses (integers past 64 bits are valid JSON) and words the errors."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    except ValueError:  # int() refused a number of thousands of digits
        raise BadRequest("request body holds a number too long to parse; send it as a string") from None
    if _LONE_SURROGATE.search(raw):
        _check_surrogates(data)
    return data


def _dumps(body: Any) -> bytes:
    """The masked body as compact UTF-8 JSON: orjson, or the standard encoder for what orjson refuses (integers
    past 64 bits, nesting past its limit)."""
    try:
        return orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        try:
            return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except RecursionError:
            raise BadRequest("request body is nested too deeply") from None


def _loads_answer(raw: bytes) -> tuple[Any, bool]:
    """An upstream JSON answer, parsed (orjson), and whether orjson could: what it refuses (integers past 64
    bits, NaN, lone surrogate escapes) the standard parser reads, and the standard encoder writes back."""
    try:
        return orjson.loads(raw), True
    except orjson.JSONDecodeError:
        return json.loads(raw), False


def _dumps_answer(data: Any, exact: bool) -> bytes:
    if exact:
        with contextlib.suppress(orjson.JSONEncodeError, TypeError):
            return orjson.dumps(data)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _check_surrogates(data: Any) -> None:
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(
                    "request body holds a lone UTF-16 surrogate escape (e.g. \\ud800), which is not text"
                ) from None
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise UnsupportedMedia(f"maskkit cannot mask a {content_type} body, so it does not forward it; send JSON")


def normalise_path(raw: str) -> str:
    """The request path as the upstream would resolve it: percent-decoded until stable, dot segments and empty
    segments resolved. BadRequest if it holds what no API path needs (`\\`, `#`, `?`, `%`, control characters
    after decoding), and the caller then checks it stays under `/v1/`."""
    path = raw
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        raise BadRequest("the request path is percent-encoded too many times")
    if _PATH_FORBIDDEN.search(path):
        raise BadRequest("the request path holds characters an API path never has (\\, #, ?, % or control)")
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + normal.lstrip("/")


def _forward_headers(request: Request, settings: Settings, masker: Masker) -> dict[str, str]:
    """The request headers to send upstream: the allowlist (FORWARDED_HEADERS), each value scanned, plus the
    credentials: the proxy's own ANTHROPIC_API_KEY, or in pass-through the client's own credential headers."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in FORWARDED_HEADERS or lowered.startswith(FORWARDED_PREFIXES):
            if _sensitive(masker, value):
                raise BadRequest(
                    f"the {lowered} header holds something maskkit masks (an AWS identifier or secret); a header "
                    "cannot be masked without changing it, so nothing was sent: remove it from the header"
                )
            headers[lowered] = value
        elif lowered in _CREDENTIALS and settings.passthrough:
            headers[lowered] = value
    if settings.passthrough:
        return headers
    if not settings.anthropic_api_key:
        raise NotAuthenticated(
            "the maskkit proxy has no ANTHROPIC_API_KEY for the upstream API; set it where the proxy runs, "
            "or start the proxy with --passthrough to forward your own Claude credentials"
        )
    headers["x-api-key"] = settings.anthropic_api_key
    return headers


def _kinds(masker: Masker, reverse: dict[str, str]) -> list[str | None]:
    """The kind of every pseudonym of a request (from the masker's mapping; else read off its prefix)."""
    kinds = getattr(reverse, "kinds", None)
    if kinds is not None and len(kinds) == len(reverse):
        return [kinds.get(p) for p in reverse]
    return [masker.kind_of(p) for p in reverse]


def _sensitive(masker: Masker, text: str) -> bool:
    """True if detection finds anything but a pseudonym-shaped literal in `text` (which is harmless as is)."""
    return any(span.kind != "PSEUDONYM_LITERAL" for span in masker.spans(text))


def _response_headers(upstream: UpstreamResponse) -> dict[str, str]:
    """The upstream's headers to pass back (a repeated one joined with commas, as httpx's `items()` gave them)."""
    out: dict[str, str] = {}
    for key, value in upstream.headers:
        name = key.lower()
        if name not in _HOP_BY_HOP and name != "content-type":
            out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _error_from(exc: MaskkitError) -> JSONResponse:
    status, error_type = http_error_for(exc)
    return error_response(status, error_type, str(exc))


async def _maskkit_error(request: Request, exc: Exception) -> Response:
    """The one place a refusal or failure becomes an HTTP answer. Logs the type only: messages name no
    original, but the path may (it is logged only once it has passed the URL check)."""
    assert isinstance(exc, MaskkitError)
    log.warning("%s refused: %s", request.method, type(exc).__name__)
    return _error_from(exc)


class _Proxy:
    """The route handlers; holds nothing but the app state."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, *, freeze_after_warm: bool = False) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.state: _State | None = None
        self.freeze_after_warm = freeze_after_warm

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        settings = self.settings
        vault = Vault.from_settings(settings)
        instrument_vault(vault, self.metrics)
        masker = Masker(vault, detector_from_settings(settings), settings.namespace)
        instrument_masker(masker, self.metrics)
        http = Upstream(settings.upstream_timeout, observe=self.metrics.upstream.observe)
        try:
            self.state = _State(settings, masker, http, client_keys(settings))
            # The recall indexes load in a thread now, not on the first request (which waits for it if it comes
            # first; docs/recall.md).
            namespaces = sorted({settings.namespace, *settings.key_namespaces.values()})
            warming = asyncio.ensure_future(asyncio.to_thread(masker.warm, namespaces))
            if self.freeze_after_warm:
                # What exists now (a large namespace is millions of objects) is never garbage: later collections
                # leave it out instead of walking it every time (the proxy process only; serve.py).
                warming.add_done_callback(lambda _: gc.freeze())
            try:
                yield
            finally:
                warming.cancel()
                await vault.aclose()
        finally:
            await http.aclose()

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
        data = _parse_json(await _read_body(request, 4096))
        challenge = data.get("challenge") if isinstance(data, dict) else None
        if not isinstance(challenge, str) or not 16 <= len(challenge) <= 256:
            raise BadRequest('expected {"challenge": <16-256 characters>}')
        return JSONResponse({"service": "maskkit", "proof": self._state().masker.vault.key.prove(challenge)})

    # -- the API

    def _authenticate(self, request: Request) -> str:
        """The caller's namespace; NotAuthenticated if the key is wrong or missing."""
        state = self._state()
        if state.settings.passthrough:
            return state.settings.namespace
        bound = _namespace_for(state, request)
        if bound is None:
            raise NotAuthenticated(
                "invalid or missing maskkit key: send the proxy's key as x-api-key or Authorization: Bearer "
                "(MASKKIT_API_KEY, or the key in the proxy's data dir, proxy.key)"
            )
        return bound

    async def claude_code(self, request: Request) -> Response:
        """Headless Claude Code behind this proxy (see maskkit.proxy.headless).

        Refused in pass-through mode: there the proxy has no key of its own, so anything that can reach the port
        (a web page through DNS rebinding included) could run Claude Code on this machine. JSON only, so a
        cross-site form (text/plain, no preflight) cannot post here. The child is pointed at the address this
        connection arrived on (never at the Host header, which the client writes)."""
        from maskkit.proxy.headless import parse_request, run_headless

        if self.settings.passthrough:
            raise PermissionRefused(
                "POST /v1/claude-code is off in --passthrough mode (the proxy has no key of its own to protect "
                "it); run the proxy with MASKKIT_API_KEY instead"
            )
        self._authenticate(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise UnsupportedMedia("POST /v1/claude-code takes application/json only")
        parsed = parse_request(_parse_json(await _read_body(request, 1 << 20)), self.settings)
        base = _own_address(request)
        try:
            result = await run_headless(parsed, base, _presented_key(request), self.settings)
        except MaskkitError:
            raise
        except Exception as exc:
            log.warning("headless Claude Code failed: %s", type(exc).__name__)
            raise UpstreamError(f"Claude Code failed ({type(exc).__name__})") from None
        return JSONResponse(result, status_code=200 if not result["is_error"] else 502)

    async def api(self, request: Request) -> Response:
        state = self._state()
        namespace = self._authenticate(request)
        note_namespace(request.scope, namespace)
        masker = state.masker.for_namespace(namespace)
        raw_path = request.scope.get("raw_path")
        path = normalise_path(raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.scope["path"])
        if not path.startswith("/v1/"):
            raise BadRequest("the request path leaves /v1/ once resolved; maskkit only forwards the API under /v1/")
        query = request.scope.get("query_string", b"").decode("latin-1")
        if _sensitive(masker, path) or _sensitive(masker, unquote_plus(query)):
            # Claude Code only ever sends `?beta=true`; anything detectable in a URL is refused, not forwarded
            # (a URL cannot be masked without breaking the route) and not logged.
            raise BadRequest(
                "the request URL holds something maskkit masks (an AWS identifier or secret); maskkit does not "
                "send identifiers in URLs: move it into the JSON body"
            )
        if path == "/v1/claude-code":
            return await self.claude_code(request)
        try:
            response = await self._forward(request, state, masker, path, query)
        except MaskkitError as exc:
            log.warning("%s %s failed: %s", request.method, path, type(exc).__name__)
            raise
        response.background = BackgroundTask(masker.aupkeep_soon)  # recall index upkeep once sent (docs/recall.md)
        return response

    async def _forward(self, request: Request, state: _State, masker: Masker, path: str, query: str) -> Response:
        headers = _forward_headers(request, state.settings, masker)
        body: Any = None
        reverse: dict[str, str] = {}
        content: bytes | None = None
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                raw = await _read_body(request, state.settings.max_body_bytes)
            except ClientDisconnect:
                return Response(status_code=499)
            if raw:
                _require_json(request)
                body, reverse = await self._mask(masker, path, _parse_json(raw))
                note_masked(request.scope, _kinds(masker, reverse))
                content = _dumps(body)
                headers["content-type"] = "application/json"
        if state.settings.via == "litellm" and path == "/v1/messages" and isinstance(body, dict):
            return await self._via_litellm(body, headers, masker, reverse)
        url = state.settings.upstream + quote(path, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
        try:
            upstream = await state.http.send(request.method, url, headers.items(), content)
        except httpcore.TimeoutException:
            raise UpstreamTimeout("the upstream API did not answer in time") from None
        except UPSTREAM_ERRORS as exc:
            raise UpstreamError(f"the upstream API is unreachable ({type(exc).__name__})") from None
        media = upstream.header("content-type").split(";")[0].strip().lower()
        if media == "text/event-stream" and upstream.status_code == 200:
            return StreamingResponse(
                self._restore_stream(upstream.aiter_bytes(), upstream.aclose, masker, reverse),
                status_code=200,
                headers=_response_headers(upstream),
                media_type="text/event-stream",
            )
        return await self._restore_json(upstream, masker, reverse)

    async def _mask(self, masker: Masker, path: str, body: Any) -> tuple[Any, dict[str, str]]:
        """Messages bodies are masked field by field; any other JSON body has every string masked. A media URL
        that carries a credential (a presigned URL) is refused: masked it would be useless, unmasked a leak.
        The text to mask is capped (MASKKIT_MAX_TEXT_BYTES), counted on the texts masking collects."""
        messages = path in ("/v1/messages", "/v1/messages/count_tokens") and isinstance(body, dict)
        limit = self.settings.max_text_bytes
        try:
            if messages:
                for url in media_urls(body):
                    if presigned(url) or _sensitive_kind(masker, url):
                        raise BadRequest(
                            "an image or document URL in this request carries AWS credentials (a presigned URL); "
                            "masking would break it and sending it would leak them, so nothing was sent: send "
                            "the file as base64 instead"
                        )
                return await masker.amask_request(body, media=self.settings.media, max_chars=limit)
            return await masker.amask_json(body, max_chars=limit)
        except RecursionError:
            raise BadRequest("request body is nested too deeply") from None

    async def _restore_json(self, upstream: UpstreamResponse, masker: Masker, reverse: dict[str, str]) -> Response:
        try:
            raw = await upstream.aread()
        except UPSTREAM_ERRORS as exc:
            raise UpstreamError(f"the upstream API broke off its answer ({type(exc).__name__})") from None
        finally:
            await upstream.aclose()
        headers = _response_headers(upstream)
        media = upstream.header("content-type")
        if not raw:
            return Response(status_code=upstream.status_code, headers=headers)
        try:
            data, exact = _loads_answer(raw)
        except (ValueError, RecursionError):
            if upstream.status_code >= 400:
                text = raw.decode("utf-8", "replace")[:2000]
                message = unmask_text(text, reverse, masker.grammar)
                status = upstream.status_code
                return error_response(status, error_type_for_status(status), f"upstream error: {message}")
            raise UpstreamError("the upstream API answered with something that is not JSON") from None

        changed = False

        def restore(text: str) -> str:
            nonlocal changed
            restored = unmask_text(text, reverse, masker.grammar)
            if restored is not text:  # (unmask_text returns the very same string when it restores nothing)
                changed = True
            return restored

        numbers = numbers_of(reverse)
        if isinstance(data, dict) and (data.get("type") in ("message", "error") or "content" in data):
            restored = map_response_strings(data, restore, numbers)
            await masker.keep_thinking(thinking_pairs(data, restored))
        elif numbers:
            restored = restore_json_numbers(data, restore, numbers, keys=False)
        else:
            restored = map_json_strings(data, restore)
        # An answer that names no pseudonym of this request goes back as the upstream wrote it, not re-encoded.
        # (A number pseudonym may become a number without passing through `restore`: then it is always encoded.)
        return Response(
            _dumps_answer(restored, exact) if changed or numbers else raw,
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
            return error_response(
                exc.status, error_type_for_status(exc.status), f"upstream error (via LiteLLM): {message}"
            )
        if isinstance(result, dict):
            restored = map_response_strings(
                result, lambda t: unmask_text(t, reverse, masker.grammar), numbers_of(reverse)
            )
            await masker.keep_thinking(thinking_pairs(result, restored))
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
        restorer = SSERestorer(masker.stream_restorer(reverse))
        try:
            async for chunk in chunks:
                out = restorer.feed(chunk)
                if out:
                    yield out
            out = restorer.flush()
            if out:
                yield out
            if not restorer.finished:
                yield _sse_error("api_error", "the upstream API ended the stream before message_stop")
            await masker.keep_thinking(restorer.completed_thinking)
        except MaskkitError as exc:
            yield _sse_error(http_error_for(exc)[1], str(exc))
        except Exception as exc:  # httpcore errors, LiteLLM's own: the client gets an error event, never a hang
            log.warning("upstream stream broke: %s", type(exc).__name__)
            yield _sse_error("api_error", f"the upstream API broke off the stream ({type(exc).__name__})")
        finally:
            with anyio.CancelScope(shield=True):
                await close()



def _own_address(request: Request) -> str:
    """This proxy's URL as the socket that accepted the connection knows it (never the client's Host header)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise PermissionRefused("the proxy cannot tell its own address on this connection (a unix socket?)")
    host, port = str(server[0]), int(server[1])
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


#: Kinds that are credentials: a URL holding one is refused, not masked.
_CREDENTIAL_KINDS = frozenset(
    {"ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "SIGNATURE", "PASSWORD", "MASKKIT_KEY"}
)


def _sensitive_kind(masker: Masker, text: str) -> bool:
    return any(span.kind in _CREDENTIAL_KINDS for span in masker.spans(text))


class _Guard:
    """ASGI middleware that refuses, before any route runs, what no route should see:

    - headers over MAX_HEAD_BYTES: 400;
    - `Content-Length` together with `Transfer-Encoding` (request smuggling: two readings of one body): 400;
    - on a loopback proxy, a `Host` that is not a loopback name (a web page that re-bound its DNS name to
      127.0.0.1 to talk to this proxy from the browser): 403;
    - more than `max_in_flight` requests at once: 529 overloaded_error with retry-after.
    """

    def __init__(self, app: ASGIApp, *, loopback: bool, max_in_flight: int) -> None:
        self.app = app
        self.loopback = loopback
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        refusal: MaskkitError | None = None
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEAD_BYTES:
            refusal = BadRequest(f"the request headers are over {MAX_HEAD_BYTES} bytes")
        elif b"content-length" in headers and b"transfer-encoding" in headers:
            refusal = BadRequest("a request may have Content-Length or Transfer-Encoding, not both")
        elif self.loopback and b"host" in headers and not is_loopback_host_header(headers[b"host"].decode("latin-1")):
            # (no Host at all is HTTP/1.0 from a local tool: a browser always sends one)
            refusal = PermissionRefused(
                "this proxy listens on loopback and only answers requests addressed to a loopback name "
                "(127.0.0.1, localhost, [::1]); the Host header named another"
            )
        elif self.in_flight >= self.max_in_flight:
            refusal = Overloaded(
                f"the maskkit proxy has {self.max_in_flight} requests in flight, its limit; retry in a moment"
            )
        if refusal is not None:
            log.warning("refused before routing: %s", type(refusal).__name__)
            await _error_from(refusal)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


#: Requests one proxy process handles at once before it answers 529 (a long Claude Code stream counts as one).
MAX_IN_FLIGHT = 1024


def build_app(
    settings: Settings, *, max_in_flight: int = MAX_IN_FLIGHT, freeze_after_warm: bool = False
) -> Starlette:
    """The proxy as an ASGI app (uvicorn serves it; tests may too). `freeze_after_warm`: `gc.freeze()` once the
    recall indexes are loaded (for the proxy's own process, not one that hosts other things)."""
    from starlette.middleware import Middleware

    metrics = Metrics()
    proxy = _Proxy(settings, metrics, freeze_after_warm=freeze_after_warm)
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
        middleware=[Middleware(_Guard, loopback=is_loopback(settings.host), max_in_flight=max_in_flight)],
        exception_handlers={
            404: _not_found,
            405: _not_allowed,
            MaskkitError: _maskkit_error,
            Exception: _internal_error,
        },
    )
    app.state.proxy = proxy
    app.add_middleware(Observe, settings=settings, keys=lambda: client_keys(settings), metrics=metrics)
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found_error", "maskkit has no such route")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(405, "invalid_request_error", f"{request.method} is not allowed on this route")


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Last resort: a clean Anthropic-shaped 500; the log names the exception type only (its text may hold data)."""
    log.error("internal error: %s", type(exc).__name__)
    return error_response(500, "api_error", f"maskkit internal error ({type(exc).__name__}); nothing was forwarded")
