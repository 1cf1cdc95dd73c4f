"""Server-sent events: bytes -> events and events -> bytes. Pure; the proxy does the reading and writing.

The decoder is a state machine fed arbitrary byte chunks; it returns nothing until a blank line completes an
event (as the WHATWG spec and the anthropic SDK's SSEDecoder do). Lines may end in LF, CRLF or CR, and a CR at
the end of a chunk is held until the next chunk says whether an LF follows.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from maskkit.errors import StreamError

__all__ = ["SSEDecoder", "ServerSentEvent", "encode_event"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event; `data` is the joined data lines (the JSON text for the Messages API)."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


def encode_event(event: str | None, data: str) -> bytes:
    """The wire form of one event, as the Messages API writes it."""
    lines = [f"event: {event}"] if event else []
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class SSEDecoder:
    """Incremental SSE decoder: `feed(bytes) -> [events]`, `flush() -> [events]` at end of stream."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._buffer = ""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        try:
            self._buffer += self._text.decode(chunk)
        except UnicodeDecodeError:
            raise StreamError("the upstream stream is not valid UTF-8") from None
        return self._drain(final=False)

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: a last event without its blank line is still dispatched (as browsers do not; the
        Messages API always ends events properly, so this only matters for broken streams)."""
        try:
            self._buffer += self._text.decode(b"", final=True)
        except UnicodeDecodeError:
            raise StreamError("the upstream stream ended inside a UTF-8 character") from None
        events = self._drain(final=True)
        if self._buffer:
            events.extend(self._line(self._buffer))
            self._buffer = ""
        if self._data or self._event:
            events.extend(self._line(""))
        return events

    def _drain(self, *, final: bool) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        buffer = self._buffer
        start = 0
        while True:
            lf = buffer.find("\n", start)
            cr = buffer.find("\r", start)
            if cr != -1 and (lf == -1 or cr < lf):
                if cr == len(buffer) - 1 and not final:
                    break  # maybe the first half of CRLF
                end, nxt = cr, cr + (2 if buffer.startswith("\r\n", cr) else 1)
            elif lf != -1:
                end, nxt = lf, lf + 1
            else:
                break
            events.extend(self._line(buffer[start:end]))
            start = nxt
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> list[ServerSentEvent]:
        if not line:
            if not self._data and self._event is None:
                return []
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
            self._event, self._data, self._retry = None, [], None
            return [event]
        if line.startswith(":"):
            return []
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return []
