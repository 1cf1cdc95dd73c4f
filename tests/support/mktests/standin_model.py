"""Stand-in for the Claude model: a local Anthropic Messages API (JSON and SSE) that records its requests."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

__all__ = [
    "DEFAULT_MODEL",
    "DisconnectMidStream",
    "Error",
    "Garbage",
    "Message",
    "Raw",
    "RecordedRequest",
    "Reply",
    "Stall",
    "StandinModel",
    "Text",
    "Thinking",
    "ToolUse",
    "main",
    "reply_from_json",
    "sign_thinking",
    "verify_signature",
]

DEFAULT_MODEL = "claude-sonnet-4-5"
_HOST = "127.0.0.1"
_SIGNATURE_KEY = b"maskkit-standin-model/thinking-signature"
_PING_PROBABILITY = 0.1
_MAX_STALL_SECONDS = 60.0
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MODELS = (
    ("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z"),
    ("claude-opus-4-6", "Claude Opus 4.6", "2026-02-05T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
)
# The real API formats pings differently from every other event (with a space after the colon).
_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Text:
    """A plain text answer."""

    text: str
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class ToolUse:
    """A tool call (optionally preceded by a text block); stop_reason is "tool_use"."""

    name: str
    input: dict[str, Any]
    text_before: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Thinking:
    """A thinking block (signed with `sign_thinking` unless a signature is given), then a text block."""

    thinking: str
    text: str
    signature: str | None = None


@dataclass(frozen=True)
class Message:
    """Several content blocks: Text / ToolUse / Thinking replies or API-shaped block dicts.

    stop_reason None means "tool_use" if any block is a tool call, else "end_turn".
    """

    blocks: Sequence[Text | ToolUse | Thinking | dict[str, Any]]
    stop_reason: str | None = None


@dataclass(frozen=True)
class Error:
    """An API error (e.g. 529 overloaded_error); mid_stream sends it as an SSE `error` event instead."""

    status: int
    type: str
    message: str
    mid_stream: bool = False


@dataclass(frozen=True)
class DisconnectMidStream:
    """Streaming: send `after_events` SSE events of a Text answer, then drop the connection.

    Non-streaming: send the headers and half the JSON body, then drop the connection.
    """

    text: str
    after_events: int = 4


@dataclass(frozen=True)
class Stall:
    """Wait `seconds` (at most 60) before answering with `then` (default: the echo)."""

    seconds: float
    then: Reply | None = None


@dataclass(frozen=True)
class Garbage:
    """Send these raw bytes as the whole response body."""

    body: bytes
    status: int = 200
    content_type: str = "text/event-stream"
    content_encoding: str | None = None  # sent as the Content-Encoding header (the body is already encoded)


@dataclass(frozen=True)
class Raw:
    """Stream exactly these SSE events, as (event name, data) pairs."""

    events: Sequence[tuple[str, dict[str, Any]]]


Reply = Text | ToolUse | Thinking | Message | Error | DisconnectMidStream | Stall | Garbage | Raw
_ContentReply = Text | ToolUse | Thinking | Message


def sign_thinking(thinking: str) -> str:
    """The stand-in's deterministic signature of a thinking text (base64 HMAC-SHA256)."""
    digest = hmac.new(_SIGNATURE_KEY, thinking.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(thinking: str, signature: str) -> bool:
    """True if `signature` is the stand-in's signature of exactly this thinking text."""
    return hmac.compare_digest(sign_thinking(thinking), signature)


def reply_from_json(data: dict[str, Any]) -> Reply:
    """Build a reply from `{"type": "text" | "tool_use" | ..., ...fields}` (the /_standin/enqueue body).

    Raises ValueError for an unknown type or missing/ill-typed fields.
    """
    try:
        return _reply_from_json(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"bad reply {data!r}: {exc!r}") from exc


def _reply_from_json(data: dict[str, Any]) -> Reply:
    kind = data["type"]
    if kind == "text":
        return Text(str(data["text"]), stop_reason=str(data.get("stop_reason", "end_turn")))
    if kind == "tool_use":
        return ToolUse(
            str(data["name"]), dict(data.get("input", {})), data.get("text_before"), data.get("id")
        )
    if kind == "thinking":
        return Thinking(str(data["thinking"]), str(data.get("text", "")), data.get("signature"))
    if kind == "message":
        return Message([dict(block) for block in data["blocks"]], data.get("stop_reason"))
    if kind == "error":
        return Error(
            int(data["status"]),
            str(data.get("error_type", "api_error")),
            str(data.get("message", "")),
            bool(data.get("mid_stream", False)),
        )
    if kind == "disconnect":
        return DisconnectMidStream(str(data["text"]), int(data.get("after_events", 4)))
    if kind == "stall":
        then = data.get("then")
        return Stall(float(data["seconds"]), reply_from_json(then) if then is not None else None)
    if kind == "garbage":
        return Garbage(
            str(data["body"]).encode("utf-8"),
            int(data.get("status", 200)),
            str(data.get("content_type", "text/event-stream")),
        )
    if kind == "raw":
        return Raw([(str(name), dict(payload)) for name, payload in data["events"]])
    raise ValueError(f"unknown reply type {kind!r}")


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it (header names lower-case)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any | None

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "json": self.json,
        }


# --------------------------------------------------------------------------- the model


class StandinModel:
    """The Anthropic Messages API stand-in, served by uvicorn in a background thread on 127.0.0.1.

    Use as a context manager (or start()/stop()); `url` is "http://127.0.0.1:PORT".
    Replies come from `responder` (if it returns one), else the `enqueue`d FIFO, else an echo.
    """

    def __init__(self, port: int = 0, *, seed: int = 0, max_delta_chars: int = 3) -> None:
        self.seed = seed
        self.max_delta_chars = max_delta_chars
        self.event_delay = 0.0  # seconds between SSE events (and between the chunks of any response)
        self.responder: Callable[[RecordedRequest], Reply | None] | None = None
        self.client_disconnected = threading.Event()
        self.app = _build_app(self)
        self._requested_port = port
        self._condition = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._disconnects = 0
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- lifecycle

    def __enter__(self) -> StandinModel:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> StandinModel:
        if self._thread is not None:
            raise RuntimeError("the stand-in model is already running")
        config = uvicorn.Config(
            self.app,
            host=_HOST,
            port=self._requested_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        _hide_deliberate_aborts()
        self._stopping.clear()
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="standin-model", daemon=True)
        self._thread.start()
        try:
            self._port = self._wait_until_started(self._server, self._thread, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the server down (idempotent); in-flight responses get about a second to finish."""
        server, thread = self._server, self._thread
        self._stopping.set()
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=5)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        self._server = self._thread = None
        self._port = None

    @staticmethod
    def _wait_until_started(server: uvicorn.Server, thread: threading.Thread, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the stand-in model's server failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError("the stand-in model's server did not start in time")
            time.sleep(0.005)
        sockets = server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the stand-in model is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    # ---- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next /v1/messages calls (first in, first out)."""
        with self._condition:
            self._replies.extend(replies)

    @property
    def pending_replies(self) -> int:
        with self._condition:
            return len(self._replies)

    # ---- recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far (control endpoints excluded)."""
        with self._condition:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._condition:
            if not self._requests:
                raise LookupError("the stand-in model has not received any request")
            return self._requests[-1]

    @property
    def disconnects(self) -> int:
        """How many clients went away before their response was complete."""
        with self._condition:
            return self._disconnects

    def clear(self) -> None:
        """Forget recorded requests, disconnects and queued replies."""
        with self._condition:
            self._requests.clear()
            self._replies.clear()
            self._disconnects = 0
            self.client_disconnected.clear()

    def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool] | None = None, timeout: float = 5.0
    ) -> RecordedRequest:
        """Block until a recorded request matches `predicate` (default: any) and return the first match."""

        def find() -> RecordedRequest | None:
            return next((r for r in self._requests if predicate is None or predicate(r)), None)

        with self._condition:
            found = self._condition.wait_for(find, timeout=timeout)
        if found is None:
            raise TimeoutError("no matching request reached the stand-in model in time")
        return found

    # ---- used by the app (event-loop thread)

    async def _record(self, request: Request) -> RecordedRequest:
        body = await request.body()
        try:
            parsed: Any | None = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=headers,
            body=body,
            json=parsed,
        )
        with self._condition:
            self._requests.append(recorded)
            self._condition.notify_all()
        return recorded

    def _next_reply(self, recorded: RecordedRequest) -> Reply | None:
        responder = self.responder
        if responder is not None:
            reply = responder(recorded)
            if reply is not None:
                return reply
        with self._condition:
            return self._replies.popleft() if self._replies else None

    def _note_disconnect(self) -> None:
        with self._condition:
            self._disconnects += 1
            self.client_disconnected.set()

    async def _stall(self, seconds: float) -> None:
        deadline = time.monotonic() + min(max(seconds, 0.0), _MAX_STALL_SECONDS)
        while not self._stopping.is_set() and (remaining := deadline - time.monotonic()) > 0:
            await anyio.sleep(min(remaining, 0.05))


# --------------------------------------------------------------------------- wire format


def _new_id(prefix: str) -> str:
    return f"{prefix}01{uuid.uuid4().hex[:22]}"


def _count_tokens(body: bytes) -> int:
    return max(1, len(body) // 4)


def _error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode("utf-8") + b"\ndata: " + _json_bytes(data) + b"\n\n"


def _content_blocks(reply: _ContentReply) -> list[dict[str, Any]]:
    if isinstance(reply, Text):
        return [{"type": "text", "text": reply.text}]
    if isinstance(reply, ToolUse):
        text = [{"type": "text", "text": reply.text_before}] if reply.text_before else []
        tool = {
            "type": "tool_use",
            "id": reply.id or _new_id("toolu_"),
            "name": reply.name,
            "input": reply.input,
        }
        return [*text, tool]
    if isinstance(reply, Thinking):
        thinking = {
            "type": "thinking",
            "thinking": reply.thinking,
            "signature": reply.signature if reply.signature is not None else sign_thinking(reply.thinking),
        }
        return [thinking, {"type": "text", "text": reply.text}] if reply.text else [thinking]
    blocks: list[dict[str, Any]] = []
    for block in reply.blocks:
        blocks.extend(_content_blocks(block) if not isinstance(block, dict) else [_complete_block(block)])
    return blocks


def _complete_block(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") == "tool_use":
        return {"id": _new_id("toolu_"), "input": {}, **block}
    if block.get("type") == "thinking":
        return {"signature": sign_thinking(str(block.get("thinking", ""))), **block}
    return dict(block)


def _stop_reason(reply: _ContentReply, blocks: list[dict[str, Any]]) -> str:
    if isinstance(reply, Text):
        return reply.stop_reason
    if isinstance(reply, Message) and reply.stop_reason is not None:
        return reply.stop_reason
    return "tool_use" if any(block.get("type") == "tool_use" for block in blocks) else "end_turn"


def _output_tokens(blocks: list[dict[str, Any]]) -> int:
    size = 0
    for block in blocks:
        size += len(str(block.get("text", ""))) + len(str(block.get("thinking", "")))
        if block.get("type") == "tool_use":
            size += len(json.dumps(block.get("input", {})))
    return max(1, size // 4)


def _message(reply: _ContentReply, model: str, input_tokens: int) -> dict[str, Any]:
    blocks = _content_blocks(reply)
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": _stop_reason(reply, blocks),
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": _output_tokens(blocks),
        },
    }


def _pieces(text: str, rng: random.Random, max_chars: int) -> list[str]:
    pieces, start = [], 0
    while start < len(text):
        size = rng.randint(1, max(1, max_chars))
        pieces.append(text[start : start + size])
        start += size
    return pieces


def _block_start(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return block  # e.g. redacted_thinking arrives whole in content_block_start


def _block_deltas(block: dict[str, Any], rng: random.Random, max_chars: int) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"], rng, max_chars)]
    if kind == "tool_use":
        partial = json.dumps(block["input"], ensure_ascii=False)
        pieces = ["", *_pieces(partial, rng, max_chars)]  # the real API opens with an empty partial_json
        return [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    if kind == "thinking":
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], rng, max_chars)
        ]
        return [*deltas, {"type": "signature_delta", "signature": block["signature"]}]
    return []


def _message_events(message: dict[str, Any], rng: random.Random, max_chars: int) -> list[bytes]:
    """The SSE events of a message, each event one chunk, with pings sprinkled in like the real API."""
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**message["usage"], "output_tokens": 1},
    }
    events = [_sse("message_start", {"type": "message_start", "message": start}), _PING]

    def add(event: str, data: dict[str, Any]) -> None:
        events.append(_sse(event, data))
        if rng.random() < _PING_PROBABILITY:
            events.append(_PING)

    for index, block in enumerate(message["content"]):
        add(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": _block_start(block)},
        )
        for delta in _block_deltas(block, rng, max_chars):
            add("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        add("content_block_stop", {"type": "content_block_stop", "index": index})
    add(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


# --------------------------------------------------------------------------- echo


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            parts.append("tool_result: " + _text_of(block.get("content")))
    return "\n".join(parts)


# --------------------------------------------------------------------------- ASGI plumbing


class _AbortConnection(Exception):
    """Raised after a deliberately incomplete response so that uvicorn drops the connection."""


class _HideDeliberateAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _AbortConnection))


_ABORT_FILTER = _HideDeliberateAborts()


def _hide_deliberate_aborts() -> None:
    logger = logging.getLogger("uvicorn.error")
    if _ABORT_FILTER not in logger.filters:
        logger.addFilter(_ABORT_FILTER)


class _RequestIdMiddleware:
    """Gives every request an id (`request.state.request_id`) and every response a `request-id` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _new_id("req_")
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"request-id" for name, _ in headers):
                    headers.append((b"request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class _WireResponse(Response):
    """Sends pre-rendered chunks one by one (one socket write each), watching for the client going away.

    Optionally stalls before the headers, and optionally ends by dropping the connection.
    """

    def __init__(
        self,
        model: StandinModel,
        *,
        status: int,
        content_type: str,
        chunks: Sequence[bytes],
        content_length: int | None = None,
        stall: float = 0.0,
        abort: bool = False,
        content_encoding: str | None = None,
    ) -> None:
        self.status_code = status
        self.media_type = content_type
        self.background = None
        headers = {"cache-control": "no-cache"} if content_type.startswith("text/event-stream") else {}
        if content_length is not None:
            headers["content-length"] = str(content_length)
        if content_encoding is not None:
            headers["content-encoding"] = content_encoding
        self.init_headers(headers)
        self._model = model
        self._chunks = chunks
        self._stall_seconds = stall
        self._abort = abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = gone = False

        def client_gone() -> None:
            nonlocal gone
            if not finished and not gone:
                gone = True
                self._model._note_disconnect()

        async with anyio.create_task_group() as tasks:

            async def watch_for_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                client_gone()
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch_for_disconnect)
            try:
                await self._model._stall(self._stall_seconds)
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                for index, chunk in enumerate(self._chunks):
                    if index and self._model.event_delay > 0:
                        await anyio.sleep(self._model.event_delay)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finished = True
                if not self._abort:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                client_gone()
            tasks.cancel_scope.cancel()
        if finished and self._abort:
            raise _AbortConnection


def _request_id(request: Request) -> str:
    return str(request.state.request_id)


def _error_response(request: Request, status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse(_error_body(error_type, message, _request_id(request)), status_code=status)


def _build_app(model: StandinModel) -> Starlette:
    """The Starlette app serving `model` (routes are closures over it)."""

    def wire_json(status: int, data: Any, stall: float = 0.0) -> _WireResponse:
        body = _json_bytes(data)
        return _WireResponse(
            model,
            status=status,
            content_type="application/json",
            chunks=[body],
            content_length=len(body),
            stall=stall,
        )

    def wire_events(chunks: list[bytes], stall: float = 0.0, abort: bool = False) -> _WireResponse:
        return _WireResponse(
            model,
            status=200,
            content_type="text/event-stream; charset=utf-8",
            chunks=chunks,
            stall=stall,
            abort=abort,
        )

    def answer(
        reply: Reply, request: Request, body: dict[str, Any], input_tokens: int, stall: float
    ) -> Response:
        stream = body.get("stream") is True
        model_name = str(body.get("model") or DEFAULT_MODEL)
        rng = random.Random(model.seed)
        if isinstance(reply, Stall):
            then = reply.then if reply.then is not None else Text("You said: " + _last_user_text(body))
            return answer(then, request, body, input_tokens, stall + reply.seconds)
        if isinstance(reply, Error):
            error = _error_body(reply.type, reply.message, _request_id(request))
            if stream and reply.mid_stream:
                message = _message(Text(""), model_name, input_tokens)
                return wire_events([*_message_events(message, rng, 1)[:2], _sse("error", error)], stall)
            return wire_json(reply.status, error, stall)
        if isinstance(reply, Garbage):
            return _WireResponse(
                model,
                status=reply.status,
                content_type=reply.content_type,
                chunks=[reply.body],
                content_length=len(reply.body),
                stall=stall,
                content_encoding=reply.content_encoding,
            )
        if isinstance(reply, Raw):
            return wire_events([_sse(name, data) for name, data in reply.events], stall)
        if isinstance(reply, DisconnectMidStream):
            message = _message(Text(reply.text), model_name, input_tokens)
            if stream:
                events = _message_events(message, rng, model.max_delta_chars)
                return wire_events(events[: max(0, reply.after_events)], stall, abort=True)
            whole = _json_bytes(message)
            return _WireResponse(
                model,
                status=200,
                content_type="application/json",
                chunks=[whole[: len(whole) // 2]],
                content_length=len(whole),
                stall=stall,
                abort=True,
            )
        message = _message(reply, model_name, input_tokens)
        if stream:
            return wire_events(_message_events(message, rng, model.max_delta_chars), stall)
        return wire_json(200, message, stall)

    async def messages(request: Request) -> Response:
        recorded = await model._record(request)
        body = recorded.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error_response(
                request, 400, "invalid_request_error", "the body must be a JSON object with a 'messages' list"
            )
        try:
            reply = model._next_reply(recorded)
        except Exception as exc:
            return _error_response(request, 500, "api_error", f"the stand-in's responder raised {exc!r}")
        if reply is None:
            reply = Text("You said: " + _last_user_text(body))
        return answer(reply, request, body, _count_tokens(recorded.body), stall=0.0)

    async def count_tokens(request: Request) -> Response:
        recorded = await model._record(request)
        if not isinstance(recorded.json, dict):
            return _error_response(request, 400, "invalid_request_error", "the body must be a JSON object")
        return JSONResponse({"input_tokens": _count_tokens(recorded.body)})

    def model_info(model_id: str, display_name: str, created_at: str) -> dict[str, Any]:
        return {"type": "model", "id": model_id, "display_name": display_name, "created_at": created_at}

    async def list_models(request: Request) -> Response:
        await model._record(request)
        data = [model_info(*entry) for entry in _MODELS]
        return JSONResponse(
            {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        )

    async def get_model(request: Request) -> Response:
        await model._record(request)
        wanted = request.path_params["model_id"]
        for entry in _MODELS:
            if entry[0] == wanted:
                return JSONResponse(model_info(*entry))
        return _error_response(request, 404, "not_found_error", f"model: {wanted}")

    async def root(request: Request) -> Response:
        await model._record(request)
        return PlainTextResponse("ok")

    async def not_found(request: Request) -> Response:
        await model._record(request)
        return _error_response(
            request, 404, "not_found_error", f"Not found: {request.method} {request.url.path}"
        )

    async def recorded_requests(request: Request) -> Response:
        return JSONResponse(
            {
                "requests": [r.as_json() for r in model.requests],
                "disconnects": model.disconnects,
                "pending_replies": model.pending_replies,
            }
        )

    async def enqueue(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
            reply = reply_from_json(data if isinstance(data, dict) else {})
        except ValueError as exc:
            return _error_response(request, 400, "invalid_request_error", str(exc))
        model.enqueue(reply)
        return JSONResponse({"ok": True, "pending_replies": model.pending_replies})

    async def clear(request: Request) -> Response:
        model.clear()
        return JSONResponse({"ok": True})

    routes = [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id}", get_model, methods=["GET"]),
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/_standin/requests", recorded_requests, methods=["GET"]),
        Route("/_standin/enqueue", enqueue, methods=["POST"]),
        Route("/_standin/clear", clear, methods=["POST"]),
        Route("/{path:path}", not_found, methods=_ALL_METHODS),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_RequestIdMiddleware)])


# --------------------------------------------------------------------------- process mode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the stand-in Claude model until killed.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--port-file", type=Path, help="write the actual port to this file")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with StandinModel(port=args.port) as model:
        if args.port_file is not None:
            partial = args.port_file.with_name(args.port_file.name + ".partial")
            partial.write_text(f"{model.port}\n")
            os.replace(partial, args.port_file)
        print(f"READY {model.url}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
