"""A Messages API event stream restored on the wire: SSE bytes in, restored SSE bytes out. Pure; the proxy (and
the LiteLLM guardrail) move the bytes.

Every event's meaning goes through `MessageStreamRestorer` (one `Restorer` per content block), but most of a stream
is deltas of one to three characters, so a whole received chunk is handled at once. A run of consecutive deltas of
one block and kind, in the exact wire form the Messages API writes, is recognised by counting (every line break
of such a run is inside a delta's fixed head or tail) or, when the chunk holds other events too, by one regex.
Inside a run, stretches without a hyphen (no pseudonym can be there) go out as the upstream bytes when the block's
restorer says nothing is held at either end; the stretches around a hyphen have their texts joined, restored at
once and sent as one delta event (a delta's size is not part of the protocol). Anything else takes the general
path: decoded by `SSEDecoder`, parsed, restored, re-encoded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import orjson

from maskkit.core.restorer import MessageStreamRestorer
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.errors import StreamError

__all__ = ["SSERestorer", "error_event"]

_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_BODY = rb'[^"\\\n]*(?:\\.[^"\\\n]*)*'  # a JSON string's body on one line: no raw quote or line break
#: A run of consecutive deltas of one block and one kind, in the exact wire form the Messages API writes.
_RUN = re.compile(
    re.escape(_HEAD)
    + rb'(\d{1,9}),"delta":\{"type":"(text_delta|input_json_delta|thinking_delta)","(text|partial_json|thinking)":"'
    + _BODY
    + rb'"\}\}\n\n(?:'
    + re.escape(_HEAD)
    + rb'\1,"delta":\{"type":"\2","\3":"'
    + _BODY
    + rb'"\}\}\n\n)*'
)
_FIELDS = {b"text_delta": b"text", b"input_json_delta": b"partial_json", b"thinking_delta": b"thinking"}
_TAIL = b'"}}\n\n'
_FIRST = re.compile(
    re.escape(_HEAD)
    + rb'(\d{1,9}),"delta":\{"type":"(text_delta|input_json_delta|thinking_delta)","(text|partial_json|thinking)":"'
)
#: The UTF-8 of the Unicode hyphens a pseudonym may be written with, after their lead byte \xe2.
_HYPHEN_TAILS = frozenset({b"\x80\x90", b"\x80\x91", b"\x80\x92", b"\x80\x93", b"\x88\x92"})
#: Pseudonyms closer than this (bytes of wire) are restored in one stretch.
_GAP = 2048
#: How far (bytes of wire, about 8 deltas) before a hyphen the stretch to restore starts.
_BACK = 1024
#: A run shorter than this (a few deltas) is restored whole: looking for stretches would cost more.
_SMALL = 1024


@dataclass(frozen=True, slots=True)
class _Run:
    """What is fixed for the deltas of one block and kind on the wire."""

    index: int
    wire_index: bytes
    kind: str
    head: bytes  # the bytes before a delta's text


def _dirty(raw: bytes, pos: int, source: bool = False) -> int:
    """Where the first thing a pseudonym needs (a hyphen: ASCII, Unicode or a `\\u` escape) is at or after `pos`,
    or -1: a stretch without one holds no pseudonym. Single-byte finds (memchr speed); the backslashes and \\xe2
    lead bytes that are not hyphens (a `\\n` escape, a curly quote) are passed over. `source`: the stretch's text
    is JSON source (partial_json)."""
    end = raw.find(b"-", pos)
    if end == -1:
        end = len(raw)
    escape = raw.find(b"\\", pos, end)
    while escape != -1:
        # `\\u` counts; `\\n` and the like are passed over. In partial_json (`source`: the text is JSON source) any
        # escaped backslash counts: it starts an escape of the tool input's own, maybe `\\u2011` split over deltas.
        follower = raw[escape + 1 : escape + 2]
        if follower == b"u" or (source and follower == b"\\"):
            end = escape
            break
        escape = raw.find(b"\\", escape + 2, end)
    lead = raw.find(b"\xe2", pos, end)
    while lead != -1:
        if raw[lead + 1 : lead + 3] in _HYPHEN_TAILS:
            return lead
        lead = raw.find(b"\xe2", lead + 1, end)
    return end if end < len(raw) else -1


def _decode(body: bytes) -> str:
    """The text of a JSON string's body as it is on the wire."""
    try:
        return orjson.loads(b'"' + body + b'"') if b"\\" in body else body.decode()
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        raise StreamError("the upstream stream is not valid UTF-8 JSON") from None


def error_event(error_type: str, message: str) -> bytes:
    """An SSE `error` event in the Anthropic shape (how a stream reports a failure once it has started)."""
    return encode_event("error", _dumps({"type": "error", "error": {"type": error_type, "message": message}}))


def _delta_event(index: bytes, kind: bytes, field: bytes, text: str) -> bytes:
    return (
        _HEAD
        + index
        + b',"delta":{"type":"'
        + kind
        + b'","'
        + field
        + b'":'
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
        self._runs: dict[bytes, _Run] = {}  # by wire index + delta type
        self._fast = True  # until the stream shows a CR or the decoder holds state
        self.finished = False

    @property
    def completed_thinking(self) -> list[tuple[str, str]]:
        return self._restorer.completed_thinking

    def feed(self, chunk: bytes) -> bytes:
        if not self._fast or b"\r" in chunk:
            return self._slow(chunk)
        data = self._raw + chunk if self._raw else chunk
        end = data.rfind(b"\n\n")
        if end == -1:
            self._raw = data
            return b""
        end += 2
        self._raw = data[end:]
        out: list[bytes] = []
        pos = 0
        while pos < end:
            if end - pos < _SMALL:  # a slow model: a delta or two per read
                match = _RUN.match(data, pos, end)
                if match is not None and match.end() == end:
                    out.append(self._run(match.group(), *match.group(1, 2, 3)))
                    break
            elif (first := _FIRST.match(data, pos)) is not None:
                # The usual chunk: nothing but deltas of one block. Counting is enough to know it (every line
                # break is inside a delta's fixed head or tail), far cheaper than matching each event.
                head = first.group()
                region = data[pos:end] if pos or end < len(data) else data
                count = region.count(head)
                if region.count(_TAIL) == count and region.count(b"\n") == 3 * count and region.endswith(_TAIL):
                    out.append(self._run(region, *first.group(1, 2, 3)))
                    break
            match = _RUN.search(data, pos, end)
            if match is None:
                out.append(self._general(data[pos:end]))
                break
            start = match.start()
            if start and data[start - 2 : start] != b"\n\n":  # not at an event's start: the general path
                after = data.find(b"\n\n", start) + 2
                out.append(self._general(data[pos:after]))
                pos = after
                continue
            if start > pos:
                out.append(self._general(data[pos:start]))
            out.append(self._run(match.group(), *match.group(1, 2, 3)))
            pos = match.end()
        return b"".join(out)

    def _run(self, raw: bytes, index: bytes, kind: bytes, field: bytes) -> bytes:
        """A run of deltas of one block and kind. Stretches with no hyphen (no pseudonym can be inside) go out as
        the upstream bytes when the block's restorer says nothing is held at either end; the rest is restored
        as one joined text per stretch (`_joined`)."""
        if _FIELDS[kind] != field:
            return self._general(raw)
        if not self._restorer.restores:
            return raw
        run = self._runs.get(index + kind)
        if run is None:
            head = _HEAD + index + b',"delta":{"type":"' + kind + b'","' + field + b'":"'
            run = self._runs[index + kind] = _Run(int(index), index, kind.decode(), head)
        if len(raw) < _SMALL:
            return self._joined(raw, run)
        head = run.head
        out: list[bytes] = []
        pos, end = 0, len(raw)
        source = kind == b"input_json_delta"
        dirty = _dirty(raw, 0, source)
        while pos < end:
            cut = end
            if dirty != -1:
                # start the stretch to restore some deltas early: the clean stretch before it then does not end on
                # the first characters of the pseudonym, and can go out as it came
                cut = raw.rfind(head, pos, dirty)
                if cut - pos > _BACK:
                    cut = raw.find(head, cut - _BACK, cut + 1)
            if cut > pos:
                out.append(self._clean(raw[pos:cut], run))
            if dirty == -1:
                break
            stop = raw.find(_TAIL, dirty) + len(_TAIL)
            dirty = _dirty(raw, stop, source)
            while dirty != -1 and dirty - stop < _GAP:  # pseudonyms close together: one stretch
                stop = raw.find(_TAIL, dirty) + len(_TAIL)
                dirty = _dirty(raw, stop, source)
            out.append(self._joined(raw[cut:stop], run))
            pos = stop
        return b"".join(out)

    def _clean(self, raw: bytes, run: _Run) -> bytes:
        """A stretch without hyphens: as it came if the restorer agrees, else restored like any other."""
        out: list[bytes] = []
        for _ in range(4):  # text held from before is released by the next delta or two: restore those alone
            if not raw or not self._restorer.busy(run.index):
                break
            first = raw.find(_TAIL) + len(_TAIL)
            out.append(self._joined(raw[:first], run))
            raw = raw[first:]
        if raw:
            tail, whole = self._tail(raw, run)
            if self._restorer.skip_run(run.index, run.kind, tail, whole):
                out.append(raw)
            elif whole or self._restorer.busy(run.index):
                out.append(self._joined(raw, run))
            else:
                # its end may begin a pseudonym (`... the s` before `3-002`): all but its last deltas go out as they
                # came (if that part passes), the last ones are restored with what follows
                cut = raw.find(run.head, max(0, len(raw) - self._restorer.tail_need * 128))  # >= tail_need deltas
                if cut > 0:
                    tail, whole = self._tail(raw[:cut], run)
                    if self._restorer.skip_run(run.index, run.kind, tail, whole):
                        out.append(raw[:cut])
                        raw = raw[cut:]
                out.append(self._joined(raw, run))
        return b"".join(out)

    def _tail(self, raw: bytes, run: _Run) -> tuple[str, bool]:
        """The decoded end of a stretch's joined text (at least `tail_need` characters) and whether it is all."""
        need = self._restorer.tail_need
        take = need * 128  # wire bytes: about need events of one character
        while True:
            start = raw.find(run.head, len(raw) - take) if take < len(raw) else 0
            text = _decode(raw[start + len(run.head) : -len(_TAIL)].replace(_TAIL + run.head, b""))
            if start <= 0 or len(text) >= need:
                return text, start <= 0
            take *= 4

    def _joined(self, raw: bytes, run: _Run) -> bytes:
        """A stretch's texts joined and restored at once: the upstream bytes when that changed nothing, else one
        delta event carrying the restored text (a delta's size is not part of the protocol)."""
        body = raw[len(run.head) : -len(_TAIL)]
        if len(body) > 12 or b"\n" in body:  # more than one delta: join their bodies (a body holds no line break)
            body = body.replace(_TAIL + run.head, b"")
        text = _decode(body)
        restored = self._restorer.delta_run(run.index, run.kind, text)
        if restored is None:
            return self._general(raw)
        if restored == text:
            return raw  # nothing restored: the upstream bytes as they were
        if not restored:
            return b""
        kind = run.kind.encode()
        return _delta_event(run.wire_index, kind, _FIELDS[kind], restored)

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
        out = b"".join(self._restore_event(e.event, e.data) for e in events)
        if not self.finished:  # broken off: what the open blocks hold back still goes to the client
            out += b"".join(encode_event(name, _dumps(data)) for name, data in self._restorer.close_open_blocks())
        return out

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
