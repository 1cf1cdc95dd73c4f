"""A Messages API event stream restored on the wire: SSE bytes in, restored SSE bytes out. Pure; the proxy (and
the LiteLLM guardrail) move the bytes.

Every event's meaning goes through `MessageStreamRestorer` (one `Restorer` per content block), but most of a stream
is deltas of one to three characters, so what arrives is taken a run at a time: consecutive deltas of one block
and kind, in the exact wire form the Messages API writes (`_Lane.head` + a JSON string body + `"}}` and a blank
line). A run is cut into its bodies with one `split` and checked by rebuilding it from them (byte-exact, C speed);
its joined text is then one piece for the block's stages. When that text holds no hyphen of any kind (no
pseudonym can be inside) and nothing at its end is held back, the run goes out as the upstream's bytes; otherwise
it goes out restored as one delta event (a delta's size is not part of the protocol), or, when the only change is
a held-back end, as the upstream's bytes up to the deltas that carry it. A read of exactly one plain delta (a slow
model) is checked with a few byte tests and no JSON at all. Anything else (other events, a line ending in CR, a
shape the API does not write) takes the general path: decoded by `SSEDecoder`, parsed, restored, re-encoded.
"""

from __future__ import annotations

import json
import re
from operator import itemgetter

import orjson

from maskkit.core.restorer import DeltaLane, MessageStreamRestorer
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.errors import StreamError

__all__ = ["SSERestorer", "error_event"]

_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TAIL = b'"}}\n\n'
_FIELDS = {b"text_delta": b"text", b"input_json_delta": b"partial_json", b"thinking_delta": b"thinking"}
#: The head of a delta event in the Messages API's wire form, up to the opening quote of its text.
_FIRST = re.compile(
    re.escape(_HEAD)
    + rb'(\d{1,9}),"delta":\{"type":"(text_delta|input_json_delta|thinking_delta)","(text|partial_json|thinking)":"'
)
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
#: A byte in one delta's body that needs more than the one-delta path: structure (a quote, a line break: maybe
#: more than one event, or a shape the API does not write), an escape, or what a hyphen is made of.
_SPECIAL = re.compile(rb'[-\\"\n\r\xe2]').search
#: ... of which these mean it may be more than one event (a raw quote is found by `_decode`).
_STRUCTURE = re.compile(rb"[\n\r]").search
#: What may carry a hyphen in a run's joined body: an ASCII or Unicode hyphen, or a `\u` escape (any backslash
#: in tool input, whose own `\\u2011` may be split over deltas).
_HYPHEN_TEXT = re.compile(rb"-|\\u|\xe2(?:\x80[\x90-\x93]|\x88\x92)")
_HYPHEN_JSON = re.compile(rb"[-\\]|\xe2(?:\x80[\x90-\x93]|\x88\x92)")


class _Lane:
    """The deltas of one block and kind as they are written on the wire, and that block's stages."""

    __slots__ = ("body", "head", "hyphen", "passes", "restore", "sep", "size")

    def __init__(self, head: bytes, restorer: DeltaLane) -> None:
        self.head = head
        self.size = len(head)
        self.sep = _TAIL + head  # between two bodies of a run
        self.body = itemgetter(slice(self.size, None))  # a split part -> its body
        self.passes = restorer.passes
        self.restore = restorer.restore
        self.hyphen = (_HYPHEN_JSON if restorer.json else _HYPHEN_TEXT).search

    def event(self, text: str) -> bytes:
        """One delta event carrying `text`, written as the API writes it."""
        return self.head[:-1] + _dumps(text).encode("utf-8", "surrogatepass") + b"}}\n\n"

    def split(self, run: bytes) -> tuple[list[bytes] | None, int]:
        """The bodies of the deltas of this lane at the start of `run` (which starts with `head`), and how many
        bytes of `run` they take. One split; when all of `run` is such deltas (the usual read), the check
        rebuilds it from the bodies and compares. Bodies None: those bytes are not deltas the API writes (hand
        them to the general path)."""
        parts = run.split(_TAIL)
        last = parts.pop()
        bodies = list(map(self.body, parts))
        if not last:
            joined = self.sep.join(bodies)
            if len(joined) + self.size + 5 == len(run) and run.startswith(joined, self.size):
                return bodies, len(run)
        # something else follows (or is among them): the deltas before the first part that is not one
        head = self.head
        count = 0
        for part in parts:
            if not part.startswith(head):
                break
            count += 1
        if not count:
            return None, 0
        del bodies[count:]
        return bodies, sum(map(len, bodies)) + count * (self.size + 5)


def error_event(error_type: str, message: str) -> bytes:
    """An SSE `error` event in the Anthropic shape (how a stream reports a failure once it has started)."""
    return encode_event("error", _dumps({"type": "error", "error": {"type": error_type, "message": message}}))


def _decode(body: bytes) -> str | None:
    """The text of a JSON string's body as written on the wire; None if it is not one (a raw quote or line break,
    a bad escape: the general path decides what that is)."""
    if b"\\" in body:
        try:
            text: str = orjson.loads(b'"' + body + b'"')
        except orjson.JSONDecodeError:
            return None
        return text
    if b'"' in body or b"\n" in body:
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise StreamError("the upstream stream is not valid UTF-8") from None


class SSERestorer:
    """Restores one stream: `feed(chunk) -> bytes` to send now, `flush() -> bytes` at its end.

    `finished` tells whether `message_stop` (or an `error` event) went through, so the caller can report a stream
    the upstream broke off."""

    def __init__(self, restorer: MessageStreamRestorer) -> None:
        self._restorer = restorer
        self._decoder = SSEDecoder()
        self._raw = b""  # bytes of the fast path not yet a whole event
        self._lanes: dict[bytes, _Lane] = {}  # by head; emptied when a block starts or stops
        self._lane: _Lane | None = None  # the last one used
        self._fast = True  # until the stream shows a CR
        self.finished = False

    @property
    def completed_thinking(self) -> list[tuple[str, str]]:
        return self._restorer.completed_thinking

    def feed(self, chunk: bytes) -> bytes:
        lane = self._lane
        if lane is not None and chunk.endswith(_TAIL) and chunk.startswith(lane.head) and not self._raw:
            # one delta of the lane in use (a slow model sends one event per read): a few byte tests
            body = chunk[lane.size : -5]
            if _SPECIAL(body) is None:
                try:
                    text = body.decode()
                except UnicodeDecodeError:
                    raise StreamError("the upstream stream is not valid UTF-8") from None
                if lane.passes(text):
                    return chunk
                return self._restored(lane, chunk, [body], text, lane.restore(text))
            if _STRUCTURE(body) is None:  # one delta with a hyphen or an escape in it
                return self._run(lane, chunk, [body])
        if not self._fast or b"\r" in chunk:
            return self._slow(chunk)
        data = self._raw + chunk if self._raw else chunk
        end = data.rfind(b"\n\n") + 2
        if end == 1:
            self._raw = data
            return b""
        if end == len(data):
            self._raw = b""
            return self._region(data)
        self._raw = data[end:]
        return self._region(data[:end])

    def _region(self, region: bytes) -> bytes:
        """Whole events: runs of one lane's deltas at a time, anything else through the general path."""
        out: list[bytes] = []
        pos, end = 0, len(region)
        tries = 4  # splits of the rest of the region (each a pass over it), before runs are found by regex
        while pos < end:
            lane = self._lane_at(region, pos)
            if lane is None:
                nxt = region.find(b"\n\n" + _HEAD, pos)
                nxt = end if nxt == -1 else nxt + 2
                out.append(self._general(region[pos:nxt]))
                pos = nxt
                continue
            rest = region[pos:] if pos else region
            if tries:
                tries -= 1
                bodies, stop = lane.split(rest)
            else:
                match = _RUN.match(rest)
                bodies, stop = (None, 0) if match is None else lane.split(match.group())
            if not stop:  # not even one delta the way the API writes it: the general path reads it
                stop = region.find(b"\n\n", pos) + 2 - pos
                out.append(self._general(rest[:stop]))
            elif bodies is None:
                out.append(self._general(rest[:stop]))
            else:
                out.append(self._run(lane, rest if stop == len(rest) else rest[:stop], bodies))
            pos += stop
        return b"".join(out)

    def _lane_at(self, region: bytes, pos: int) -> _Lane | None:
        lane = self._lane
        if lane is not None and region.startswith(lane.head, pos):
            return lane
        match = _FIRST.match(region, pos)
        if match is None:
            return None
        head = match.group()
        lane = self._lanes.get(head)
        if lane is None:
            kind = match[2]
            if _FIELDS[kind] != match[3]:
                return None
            handle = self._restorer.lane(int(match[1]), kind.decode())
            if handle is None:
                return None
            lane = self._lanes[head] = _Lane(head, handle)
        self._lane = lane
        return lane

    def _run(self, lane: _Lane, raw: bytes, bodies: list[bytes]) -> bytes:
        """A run of `lane`'s deltas (`raw`, split into `bodies`) restored as one joined text."""
        joined = bodies[0] if len(bodies) == 1 else b"".join(bodies)
        text = _decode(joined)  # (a body ending in a lone backslash, which the API never writes, is not caught)
        if text is None:
            return self._general(raw)
        if lane.hyphen(joined) is None and lane.passes(text):
            return raw
        return self._restored(lane, raw, bodies, text, lane.restore(text))

    @staticmethod
    def _restored(lane: _Lane, raw: bytes, bodies: list[bytes], text: str, restored: str) -> bytes:
        """What to send for a run whose joined `text` the block's stages turned into `restored`."""
        if restored == text:
            return raw
        count = len(bodies)
        if count > 1 and len(restored) < len(text) and text.startswith(restored):
            # only the end is held back (it may begin a pseudonym): the deltas before it go out as they came
            held = len(text) - len(restored)
            covered, last = 0, 0
            while covered < held and last < count:
                last += 1
                piece = _decode(bodies[-last])
                if piece is None:
                    break
                covered += len(piece)
            if covered >= held and last < count:
                cut = len(raw) - sum(map(len, bodies[-last:])) - last * (lane.size + 5)
                rest = text[len(text) - covered : len(restored)]
                return raw[:cut] + lane.event(rest) if rest else raw[:cut]
        return lane.event(restored) if restored else b""

    def _slow(self, chunk: bytes) -> bytes:
        """The general path for everything from here on (a CR in the stream, or leftover fast-path bytes)."""
        if self._fast:
            self._fast = False
            self._lane = None
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
        if isinstance(parsed, dict):
            kind = parsed.get("type")
            if kind in ("message_stop", "error"):
                self.finished = True
            elif kind in ("content_block_start", "content_block_stop") and self._lanes:
                self._lane = None  # a block starts or stops: lanes are looked up again
                self._lanes.clear()
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
