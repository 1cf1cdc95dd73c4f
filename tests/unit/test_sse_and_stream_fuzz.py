"""Fuzzing the pure stream path: the SSE decoder and the Messages stream restorer, over arbitrary splits and
malformed input. No crash, no original leaked, no pseudonym left half-restored."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from mktests.purehelpers import DictMinter, examples

from maskkit.core.messages import unmask_text
from maskkit.core.restorer import MessageStreamRestorer
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.detect.detector import Detector
from maskkit.errors import StreamError

DETECTOR = Detector()
GRAMMAR = DETECTOR.grammar


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Event data is JSON on this wire, so it never holds a raw line break.
_DATA = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
events_strategy = st.lists(
    st.tuples(st.sampled_from(["message_start", "content_block_delta", "ping", None]), _DATA), max_size=8
)


@settings(max_examples=examples(150))
@given(events_strategy, st.lists(st.integers(0, 10_000), max_size=20), st.sampled_from(["\n", "\r\n", "\r"]))
def test_sse_decoder_returns_the_same_events_for_any_byte_split_and_line_ending(
    events: list[tuple[str | None, str]], cuts: list[int], newline: str
) -> None:
    wire = b"".join(encode_event(name, data) for name, data in events).replace(b"\n", newline.encode())
    decoder = SSEDecoder()
    got = [e for chunk in _split(wire, [c % (len(wire) + 1) for c in cuts]) for e in decoder.feed(chunk)]
    got += decoder.flush()
    expected = [(name, data) for name, data in events if name is not None or data]
    assert [(e.event, e.data) for e in got if e.event is not None or e.data] == expected


@settings(max_examples=examples(150))
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
def test_sse_decoder_never_crashes_on_garbage(data: bytes, cuts: list[int]) -> None:
    decoder = SSEDecoder()
    try:
        for chunk in _split(data, [c % (len(data) + 1) for c in cuts]):
            decoder.feed(chunk)
        decoder.flush()
    except StreamError:
        pass  # invalid UTF-8 is reported as ours, never as a UnicodeDecodeError


_IDS = ["i-0123456789abcdef0", "AKIAIOSFODNN7EXAMPLE", "sg-0a1b2c3d", "arn:aws:iam::123456789012:role/Deploy"]
texts = st.lists(st.one_of(st.sampled_from(_IDS), st.text(max_size=12)), max_size=10).map(" ".join)


@st.composite
def scripted_stream(draw: st.DrawFn) -> tuple[list[tuple[str, dict[str, object]]], str, dict[str, str], list[str]]:
    """A masked answer streamed as text deltas with arbitrary splits, plus junk events in between."""
    minter = DictMinter(DETECTOR)
    original = draw(texts)
    masked = minter.mask(original)
    cuts = sorted(draw(st.lists(st.integers(0, len(masked)), max_size=15)))
    pieces = [masked[a:b] for a, b in itertools.pairwise([0, *cuts, len(masked)])]
    events: list[tuple[str, dict[str, object]]] = [
        ("message_start", {"type": "message_start", "message": {"content": []}}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    for piece in pieces:
        if draw(st.booleans()):
            events.append(("ping", {"type": "ping"}))
        if draw(st.integers(0, 9)) == 0:
            events.append(("future_event", {"type": "future_event", "data": piece}))
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("message_stop", {"type": "message_stop"}))
    originals = [o for (kind, o) in minter.forward if kind != "PSEUDONYM_LITERAL"]
    return events, original, minter.reverse, originals


@settings(max_examples=examples(150))
@given(scripted_stream())
def test_restored_stream_equals_the_original_and_keeps_every_other_event_in_order(
    case: tuple[list[tuple[str, dict[str, object]]], str, dict[str, str], list[str]],
) -> None:
    events, original, reverse, _ = case
    restorer = MessageStreamRestorer(reverse, GRAMMAR)
    out = [e for name, data in events for e in restorer.feed(name, json.loads(json.dumps(data)))]
    text = "".join(d["delta"]["text"] for _, d in out if d["type"] == "content_block_delta")  # type: ignore[index]
    assert text == original
    others_in = [d["type"] for _, d in events if d["type"] != "content_block_delta"]
    others_out = [d["type"] for _, d in out if d["type"] != "content_block_delta"]
    assert others_out == others_in
    stop = next(i for i, (_, d) in enumerate(out) if d["type"] == "content_block_stop")
    assert all(d["type"] != "content_block_delta" for _, d in out[stop:])


@settings(max_examples=examples(200))
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=30,
    )
)
def test_restorer_never_crashes_on_malformed_events(data: object) -> None:
    restorer = MessageStreamRestorer({"ec2-001": "i-0123456789abcdef0"}, GRAMMAR)
    for name in ("content_block_start", "content_block_delta", "content_block_stop", "message_start", "error", None):
        restorer.feed(name, data)
        if isinstance(data, dict):
            restorer.feed(name, {**data, "type": name})


def test_unmask_is_total_on_any_text() -> None:
    assert unmask_text("ec2-001" * 3, {"ec2-001": "x"}, GRAMMAR) == "ec2-001" * 3


def _streamed_tool_input(partial_json: str, cuts: list[int], reverse: dict[str, str]) -> object:
    restorer = MessageStreamRestorer(reverse, GRAMMAR)
    block = {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}
    restorer.feed("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
    bounds = [0, *sorted(c % (len(partial_json) + 1) for c in cuts), len(partial_json)]
    pieces = [partial_json[a:b] for a, b in itertools.pairwise(bounds)]
    out: list[str] = []
    events = [
        ("content_block_delta",
         {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}})
        for piece in pieces
    ]
    for name, data in [*events, ("content_block_stop", {"type": "content_block_stop", "index": 0})]:
        for _, sent in restorer.feed(name, data):
            if isinstance(sent, dict) and sent.get("type") == "content_block_delta":
                out.append(sent["delta"]["partial_json"])
    return json.loads("".join(out))


@settings(max_examples=examples(100))
@given(st.lists(st.integers(0, 200), max_size=6), st.sets(st.integers(0, 6)), st.booleans())
def test_stream_and_json_restore_agree_on_u_escaped_pseudonyms(cuts: list[int], escaped: set[int], upper: bool) -> None:
    """issue 13 item 18: `ec2\\u002d001` inside partial_json is the same string as `ec2-001`; the whole-answer
    restore (which parses the JSON) restores it, so the streamed one must too, however the deltas split it."""
    original = "i-0123456789abcdef0"
    token = "EC2-001" if upper else "ec2-001"
    written = "".join(f"\\u{ord(c):04x}" if i in escaped else c for i, c in enumerate(token))
    partial_json = '{"command": "reboot ' + written + ' now \\\\u0065c2-001"}'
    reverse = {"ec2-001": original}
    whole = json.loads(partial_json)
    expected = {"command": unmask_text(whole["command"], reverse, GRAMMAR)}
    assert expected["command"].startswith(f"reboot {original} now ")
    assert _streamed_tool_input(partial_json, cuts, reverse) == expected
