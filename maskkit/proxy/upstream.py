"""The proxy's client for the upstream API: an httpcore connection pool, used directly. I/O edge.

httpx's client around the same pool (request and response models, auth and redirect layers, event hooks, a wrapper
per streamed chunk) cost ~0.3 ms of CPU per request and ~0.5 ms of wall time on the 10 KB JSON path of
`bench/proxy_overhead.py`, and a few microseconds on every SSE chunk; the proxy needs none of it. What httpx did
that matters is done here: the `Host`, `Accept`, `Accept-Encoding` and `Content-Length` headers it added, the
same TLS context (`httpx.create_ssl_context`, no environment), the same timeouts and pool limits, no redirects,
and the decoding of a gzip or deflate answer (the proxy sends answers on decoded). Errors stay httpcore's
(`UPSTREAM_ERRORS`): the proxy maps them to its own where it calls.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import httpcore
import httpx

__all__ = ["UPSTREAM_ERRORS", "Upstream", "UpstreamResponse"]

#: Every error the pool raises for a request that failed (timeouts included: check those first).
UPSTREAM_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)
#: Headers httpx added to every request unless the caller set them.
_DEFAULTS = ((b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate"))
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_URL_SAFE = "".join(map(chr, range(0x21, 0x7F)))


class UpstreamDecodingError(httpcore.ProtocolError):
    """The upstream answer's content-encoding could not be decoded."""


class _Decoder:
    """Incremental gzip/deflate decoding (as httpx's decoders: deflate may come raw or zlib-wrapped)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.first = True
        self.inner = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        try:
            if self.first and self.encoding == "deflate":
                self.first = False
                try:
                    return self.inner.decompress(data)
                except zlib.error:
                    self.inner = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.inner.decompress(data)
        except zlib.error as exc:
            raise UpstreamDecodingError(f"the answer's {self.encoding} encoding is broken") from exc

    def flush(self) -> bytes:
        try:
            return self.inner.flush()
        except zlib.error as exc:
            raise UpstreamDecodingError(f"the answer's {self.encoding} encoding is broken") from exc


class UpstreamResponse:
    """An upstream answer whose body is still to be read: `aiter_bytes()` (decoded) or `aread()`, then `aclose()`."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response
        self.status_code = response.status
        #: (name, value) as sent, decoded as latin-1 (so that writing them out again gives the same bytes).
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
        encoding = self.header("content-encoding").strip().lower()
        known = encoding in ("", "identity", "gzip", "x-gzip", "deflate")
        self._unknown = not known  # (an encoding httpx would not have asked for, nor decoded)
        self._decoder = _Decoder(encoding) if known and encoding not in ("", "identity") else None
        self._closed = False

    def header(self, name: str) -> str:
        """The first value of header `name` (lower case), or ''."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return ""

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, decoded; an unencoded body is the pool's own stream (no generator
        between it and the caller: one less hop per SSE chunk)."""
        if self._decoder is None and not self._unknown:
            stream: AsyncIterable[bytes] = self._response.stream  # type: ignore[assignment]
            return stream.__aiter__()
        return self._decoded()

    async def _decoded(self) -> AsyncIterator[bytes]:
        if self._unknown:
            raise UpstreamDecodingError("the upstream answered with a content-encoding maskkit does not decode")
        decoder = self._decoder
        assert decoder is not None
        stream: Any = self._response.stream
        async for chunk in stream:
            out = decoder.decode(chunk)
            if out:
                yield out
        out = decoder.flush()
        if out:
            yield out

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()


class Upstream:
    """The pool and its settings; `send` returns once the answer's headers are in."""

    def __init__(
        self,
        timeout: float,
        *,
        connect_timeout: float = 10.0,
        max_connections: int = 1000,
        max_keepalive_connections: int = 100,
        keepalive_expiry: float = 5.0,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self.extensions = {
            "timeout": {"connect": connect_timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        self.observe = observe

    async def send(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], content: bytes | None
    ) -> UpstreamResponse:
        if not url.isascii():  # (a query string's raw bytes past ASCII, percent-encoded as httpx did)
            url = quote(url, safe=_URL_SAFE, encoding="latin-1")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise httpcore.UnsupportedProtocol(f"the upstream URL's scheme {parts.scheme!r} is not http(s)")
        raw = [(b"host", parts.netloc.rpartition("@")[2].encode("ascii"))]
        raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        present = {name for name, _ in raw}
        raw += [pair for pair in _DEFAULTS if pair[0] not in present]
        if content is not None:
            raw.append((b"content-length", str(len(content)).encode("ascii")))
        elif method in _BODY_METHODS:
            raw.append((b"content-length", b"0"))
        request = httpcore.Request(method, url, headers=raw, content=content or b"", extensions=self.extensions)
        started = time.perf_counter()
        response = await self.pool.handle_async_request(request)
        if self.observe is not None:
            self.observe(time.perf_counter() - started)
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        await self.pool.aclose()
