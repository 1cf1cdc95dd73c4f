"""A Messages API event stream restored on the wire: SSE bytes in, restored SSE bytes out. Pure; the proxy (and
the LiteLLM guardrail) move the bytes.

Every event goes through `MessageStreamRestorer` (one `Restorer` per content block). Most of a stream is
`text_delta` events of one to three characters, so they take a fast path: the event is recognised in its wire
form (the exact shape the Messages API writes), its text is fed to the block's restorer without parsing or
re-encoding any JSON, and the upstream bytes are sent on untouched when nothing changed. Consecutive text
deltas of one block that arrive in the same chunk go out as one event (a delta's size is not part of the
protocol) when one of them changed; unchanged ones go out exactly as they came. Anything else takes the general
path: decoded by `SSEDecoder`, parsed, restored, re-encoded.
"""

from __future__ import annotations

import json
import re

import orjson

from maskkit.core.restorer import MessageStreamRestorer
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.errors import StreamError

__all__ = ["SSERestorer", "error_event"]

_TEXT_DELTA = re.compile(
    rb'event: content_block_delta\ndata: \{"type":"content_block_delta","index":(\d{1,9}),'
    rb'"delta":\{"type":"text_delta","text":"((?:[^"\\\n]|\\.)*)"\}\}'
)


def error_event(error_type: str, message: str) -> bytes:
    """An SSE `error` event in the Anthropic shape (how a stream reports a failure once it has started)."""
    return encode_event("error", _dumps({"type": "error", "error": {"type": error_type, "message": message}}))


def _delta_event(index: int, text: str) -> bytes:
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
        + str(index).encode()
        + b',"delta":{"type":"text_delta","text":'
        + _dumps(text).encode("utf-8", "surrogatepass")
        + b"}}\n\n"
    )


class SSERestorer:
    """Restores one stream: `feed(chunk) -> bytes` to send now, `flush() -> bytes` at its end.

    `finished` tells whether `message_stop` (or an `error` event) went through, so the caller can report a stream
    the upstream broke off."""

    def __init__(self, restorer: MessageStreamRestorer) -> None:
        self._restorer = restorer
        self._decoder = SSEDecoder()
        self._raw = b""  # bytes of the fast path not yet a whole event
        self._fast = True  # until the stream shows a CR or the decoder holds state
        self.finished = False

    @property
    def completed_thinking(self) -> list[tuple[str, str]]:
        return self._restorer.completed_thinking

    def feed(self, chunk: bytes) -> bytes:
        if not self._fast or b"\r" in chunk:
            return self._slow(chunk)
        data = self._raw + chunk
        end = data.rfind(b"\n\n")
        if end == -1:
            self._raw = data
            return b""
        self._raw = data[end + 2 :]
        out: list[bytes] = []
        run_index = -1
        run: list[str] = []
        run_raw: list[bytes] = []
        changed = False

        def close_run() -> None:
            nonlocal run_index, changed
            if run_index >= 0:
                if not changed:
                    out.extend(run_raw)  # nothing restored: the upstream bytes as they were
                elif text := "".join(run):
                    out.append(_delta_event(run_index, text))
            run_index = -1
            run.clear()
            run_raw.clear()
            changed = False

        for raw in data[:end].split(b"\n\n"):
            match = _TEXT_DELTA.fullmatch(raw)
            if match is not None:
                index = int(match[1])
                body = match[2]
                try:
                    text = orjson.loads(b'"' + body + b'"') if b"\\" in body else body.decode()
                except (orjson.JSONDecodeError, UnicodeDecodeError):
                    raise StreamError("the upstream stream is not valid UTF-8 JSON") from None
                restored = self._restorer.text_delta(index, text)
                if restored is not None:
                    if index != run_index:
                        close_run()
                        run_index = index
                    run.append(restored)
                    run_raw.append(raw + b"\n\n")
                    changed = changed or restored != text
                    continue
            close_run()
            out.append(self._general(raw + b"\n\n"))
        close_run()
        return b"".join(out)

    def _slow(self, chunk: bytes) -> bytes:
        """The general path for everything from here on (a CR in the stream, or leftover fast-path bytes)."""
        if self._fast:
            self._fast = False
            chunk, self._raw = self._raw + chunk, b""
        return b"".join(self._restore_event(e.event, e.data) for e in self._decoder.feed(chunk))

    def _general(self, raw: bytes) -> bytes:
        return b"".join(self._restore_event(e.event, e.data) for e in self._decoder.feed(raw))

    def flush(self) -> bytes:
        """End of the stream: whatever is left, restored (a last event without its blank line included)."""
        events = self._decoder.feed(self._raw) if self._raw else []
        self._raw = b""
        events += self._decoder.flush()
        return b"".join(self._restore_event(e.event, e.data) for e in events)

    def _restore_event(self, name: str | None, data: str) -> bytes:
        """One event through the general path; unchanged events are re-sent as they were."""
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            if name == "error":  # an error the upstream could not even encode: still an error, well formed
                self.finished = True
                return error_event("api_error", "the upstream API reported an error it did not encode as JSON")
            raise StreamError("the upstream API sent an SSE event whose data is not JSON") from None
        if isinstance(parsed, dict) and parsed.get("type") in ("message_stop", "error"):
            self.finished = True
        return b"".join(
            encode_event(event, data if payload is parsed else _dumps(payload))
            for event, payload in self._restorer.feed(name, parsed)
        )


def _dumps(value: object) -> str:
    """Compact JSON; the standard encoder for what orjson refuses (a lone surrogate in a restored original)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
