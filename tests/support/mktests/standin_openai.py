"""Stand-in for an OpenAI-format model: a local chat completions API (JSON and SSE, tool calls) that records what
it received. Serves on 127.0.0.1 only, in a background thread; the LiteLLM guardrail tests route a model to it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["ChatError", "ChatText", "ChatToolCall", "OpenAIStandin", "Received"]


@dataclass(frozen=True)
class ChatText:
    """A plain assistant answer."""

    text: str


@dataclass(frozen=True)
class ChatToolCall:
    """One tool call (arguments sent as JSON text), optionally after some text; finish_reason "tool_calls"."""

    name: str
    arguments: dict[str, Any]
    text_before: str | None = None


@dataclass(frozen=True)
class ChatError:
    """An API error in OpenAI's shape."""

    status: int
    message: str


ChatReply = ChatText | ChatToolCall | ChatError


@dataclass(frozen=True)
class Received:
    """One request as the stand-in received it."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class OpenAIStandin:
    """The chat completions stand-in. Replies come from `responder` (if set), else the queue, else an echo
    ("You said: <last user text>"). Streams split text and tool arguments into `max_delta_chars` pieces."""

    def __init__(self) -> None:
        self.responder: Callable[[dict[str, Any]], ChatReply] | None = None
        self.max_delta_chars = 3
        self._queue: deque[ChatReply] = deque()
        self._received: list[Received] = []
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="standin-openai", daemon=True)

    def __enter__(self) -> OpenAIStandin:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OpenAI stand-in did not start")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def enqueue(self, *replies: ChatReply) -> None:
        self._queue.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
        self._queue.clear()
        self.responder = None
        self.max_delta_chars = 3

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def _reply_for(self, body: dict[str, Any]) -> ChatReply:
        if self.responder is not None:
            return self.responder(body)
        if self._queue:
            return self._queue.popleft()
        return ChatText("You said: " + _last_user_text(body))

    async def _chat(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw)
        with self._lock:
            self._received.append(Received(request.url.path, dict(request.headers), raw, body))
        reply = self._reply_for(body)
        if isinstance(reply, ChatError):
            error = {"error": {"message": reply.message, "type": "api_error", "param": None, "code": None}}
            return JSONResponse(error, status_code=reply.status)
        model = str(body.get("model", "gpt-standin"))
        if body.get("stream"):
            return StreamingResponse(self._stream(reply, model), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if isinstance(reply, ChatText):
            message["content"] = reply.text
        else:
            message["content"] = reply.text_before
            message["tool_calls"] = [
                {
                    "id": "call_" + uuid.uuid4().hex[:12],
                    "type": "function",
                    "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)},
                }
            ]
            finish = "tool_calls"
        return JSONResponse(
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )

    def _pieces(self, text: str) -> list[str]:
        size = max(1, self.max_delta_chars)
        return [text[i : i + size] for i in range(0, len(text), size)]

    async def _stream(self, reply: ChatReply, model: str) -> AsyncIterator[bytes]:
        ident, created = "chatcmpl-" + uuid.uuid4().hex[:12], int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        text = reply.text if isinstance(reply, ChatText) else (reply.text_before or "")
        for piece in self._pieces(text):
            yield chunk({"content": piece})
        if isinstance(reply, ChatToolCall):
            call_id = "call_" + uuid.uuid4().hex[:12]
            start = {"index": 0, "id": call_id, "type": "function", "function": {"name": reply.name, "arguments": ""}}
            yield chunk({"tool_calls": [start]})
            for piece in self._pieces(json.dumps(reply.arguments)):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, "tool_calls")
        else:
            yield chunk({}, "stop")
        yield b"data: [DONE]\n\n"
