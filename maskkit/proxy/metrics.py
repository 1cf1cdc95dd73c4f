"""The proxy's observability: Prometheus `GET /metrics` and one access-log line per request. I/O edge.

`Observe` is a pure ASGI middleware around the proxy app: it times every request, counts it by route and status,
tracks active SSE streams, writes the access-log line, and answers `/metrics`. The app reports what only it knows
(the caller's namespace, what it masked) through `note_namespace` / `note_masked` on the request's state; the
vault is timed by `instrument_vault`, the upstream client (`upstream.Upstream`) times itself into `Metrics.upstream`.

What never appears in a metric or a log line: an original, a pseudonym, a request path that was refused or that is
not a known route (the route template is shown instead), a namespace the operator did not configure.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import posixpath
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from maskkit.config import Settings
from maskkit.loopback import is_loopback

__all__ = [
    "Metrics",
    "Observe",
    "instrument_masker",
    "instrument_vault",
    "note_masked",
    "note_namespace",
    "route_of",
    "setup_access_log",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("maskkit.access")

#: Paths shown as they are; any other path is shown as its route template.
_KNOWN = frozenset(
    {"/", "/health", "/metrics", "/maskkit/v1/prove", "/v1/claude-code", "/v1/messages",
     "/v1/messages/count_tokens", "/v1/models", "/v1/complete", "/v1/messages/batches"}
)
_STATE = "maskkit"
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def route_of(path: str) -> str:
    """The path as logs and metrics may show it: a known route, else its template (`/v1/*`, `other`)."""
    normal = posixpath.normpath(path) if path else "/"
    normal = "/" if normal in ("", ".", "//") else normal
    if normal in _KNOWN and "%" not in path and "//" not in path and "/." not in path:
        return normal
    return "/v1/*" if normal.startswith("/v1/") else "other"


class Metrics:
    """One set of `maskkit_*` metrics in a registry of their own (several apps may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("maskkit_requests", "Requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.duration = Histogram("maskkit_request_seconds", "Time to the end of the response, by route.",
                                  ["route"], buckets=_LATENCY, registry=r)
        self.masked = Counter("maskkit_masked_values", "Distinct values masked per request, by kind and namespace.",
                              ["kind", "namespace"], registry=r)
        self.vault = Histogram("maskkit_vault_seconds", "Vault round trips (mint, resolve, ping).",
                               ["operation"], buckets=_LATENCY, registry=r)
        self.upstream = Histogram("maskkit_upstream_seconds", "Upstream API time to response headers.",
                                  buckets=_LATENCY, registry=r)
        self.streams = Gauge("maskkit_active_streams", "SSE responses being streamed now.",
                             multiprocess_mode="livesum", registry=r)
        self.server_errors = Counter("maskkit_server_errors", "Responses with a 5xx status, by route.", ["route"],
                                     registry=r)
        self.overloaded = Counter("maskkit_overloaded", "Responses with status 529 (overloaded), by route.",
                                  ["route"], registry=r)
        self.recall_hits = Counter(
            "maskkit_recall_hits",
            "Distinct values masked per request because the namespace knew them (recall), not because detection "
            "found them in the request, by kind.",
            ["kind"], registry=r,
        )

    def exposition(self) -> bytes:
        """The Prometheus text format: this process's registry, or every worker's with PROMETHEUS_MULTIPROC_DIR."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def note_namespace(scope: Scope, namespace: str) -> None:
    """Called by the app once the caller's key resolved to `namespace` (a configured one)."""
    _note(scope)["namespace"] = namespace


def note_masked(scope: Scope, kinds: list[str | None]) -> None:
    """Called by the app after masking a request: the kind of every value masked (one entry per value)."""
    counts = _note(scope).setdefault("masked", {})
    for kind in kinds:
        if kind:
            counts[kind] = counts.get(kind, 0) + 1


def _note(scope: Scope) -> dict[str, Any]:
    state = scope.setdefault("state", {})
    found: dict[str, Any] = state.setdefault(_STATE, {}) if isinstance(state, dict) else {}
    return found


def instrument_vault(vault: Any, target: Metrics) -> None:
    """Time the vault's async round trips (`amint`, `aoriginals_for`, `aping`) into maskkit_vault_seconds."""
    for name, operation in (("amint", "mint"), ("aoriginals_for", "resolve"), ("aping", "ping")):
        method = getattr(vault, name, None)
        if method is not None:
            setattr(vault, name, _timed(method, target.vault.labels(operation=operation)))


def instrument_masker(masker: Any, target: Metrics) -> None:
    """Count the masker's recall hits (`Masker.on_recall`, kinds only) into maskkit_recall_hits."""

    def counted(namespace: str, kinds: dict[str, int]) -> None:
        for kind, count in kinds.items():
            target.recall_hits.labels(kind=kind).inc(count)

    masker.on_recall = counted


def _timed(method: Callable[..., Awaitable[Any]], histogram: Any) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)

    return timed


class Observe:
    """ASGI middleware: metrics, the access log, and `GET /metrics` (the proxy's client keys, or open on loopback
    when MASKKIT_METRICS_OPEN is set)."""

    def __init__(
        self, app: ASGIApp, settings: Settings, keys: Callable[[], dict[str, str]], metrics: Metrics
    ) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys
        self.metrics = metrics
        self.configured = {settings.namespace, *settings.key_namespaces.values()}
        #: Labelled children by (metric, label values): `labels()` validates and locks on every call, ~25 calls a
        #: request. (No more children than the metrics themselves keep.)
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def _child(self, name: str, metric: Any, *values: str) -> Any:
        child = self._children.get((name, values))
        if child is None:
            child = self._children[(name, values)] = metric.labels(*values)
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope.get("path", ""))
        method = str(scope.get("method", "-"))
        if route == "/metrics" and scope.get("path") == "/metrics":
            await self._metrics(scope, send, method)
            return
        started = time.perf_counter()
        status = 500
        streaming = False
        scope.setdefault("state", {})

        async def watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
                    streaming = True
                    self.metrics.streams.inc()
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and streaming:
                streaming = False
                self.metrics.streams.dec()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if streaming:
                self.metrics.streams.dec()
            self._record(scope, route, method, status, time.perf_counter() - started)

    def _record(self, scope: Scope, route: str, method: str, status: int, seconds: float) -> None:
        m, child = self.metrics, self._child
        child("requests", m.requests, route, method, str(status)).inc()  # (labels in their declared order)
        child("duration", m.duration, route).observe(seconds)
        if status >= 500:
            child("server_errors", m.server_errors, route).inc()
        if status == 529:
            child("overloaded", m.overloaded, route).inc()
        note = _note(scope)
        namespace = note.get("namespace")
        if namespace is not None and namespace not in self.configured:
            namespace = "other"
        masked: dict[str, int] = note.get("masked", {})
        for kind, count in masked.items():
            child("masked", m.masked, kind, namespace or "-").inc(count)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(_line(self.settings.log_format, method, route, status, seconds, namespace, masked))

    async def _metrics(self, scope: Scope, send: Send, method: str) -> None:
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"GET /metrics\n")
        elif not self._may_scrape(scope):
            await _plain(send, 401, b"send the proxy's key as x-api-key or Authorization: Bearer\n")
        else:
            await _plain(send, 200, self.metrics.exposition(), CONTENT_TYPE_LATEST)

    def _may_scrape(self, scope: Scope) -> bool:
        if self.settings.metrics_open and is_loopback(self.settings.host):
            return True
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        presented = headers.get("x-api-key")
        if not presented:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" else ""
        if not presented:
            return False
        found = False
        for key in self.keys():
            found |= hmac.compare_digest(key.encode(), presented.encode())
        return found


async def _plain(send: Send, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _line(fmt: str, method: str, route: str, status: int, seconds: float, namespace: str | None,
          masked: dict[str, int]) -> str:
    if fmt == "json":
        return json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": method,
                           "path": route, "status": status, "ms": round(seconds * 1000, 1),
                           "namespace": namespace, "masked": masked}, separators=(",", ":"))
    counts = ",".join(f"{kind}:{n}" for kind, n in sorted(masked.items())) or "-"
    return f"{method} {route} {status} {seconds * 1000:.1f}ms ns={namespace or '-'} masked={counts}"


def setup_access_log(settings: Settings) -> None:
    """The access log goes to stderr, one line per request, unless MASKKIT_LOG_LEVEL is ERROR or above."""
    access_log.propagate = False
    access_log.handlers[:] = []
    if settings.log_level in ("ERROR", "CRITICAL"):
        access_log.setLevel(logging.ERROR)
        return
    handler = logging.StreamHandler(sys.stderr)
    stamp = "%(message)s" if settings.log_format == "json" else "%(asctime)s maskkit.access %(message)s"
    handler.setFormatter(logging.Formatter(stamp))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
