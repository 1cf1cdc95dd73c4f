"""SSE bytes in, restored SSE bytes out: any split of the wire into chunks restores like the whole, other events
keep their order, and unchanged events go out byte for byte."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from mktests.purehelpers import examples

from maskkit.core.messages import unmask_text
from maskkit.core.restorer import MessageStreamRestorer
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.core.stream import SSERestorer
from maskkit.detect import Detector

GRAMMAR = Detector().grammar
REVERSE = {"ec2-001": "i-0123456789abcdef0", "s3-002": "acme-payroll-archive", "pwd-003": 'p"w\\d\u00e9'}
_WORDS = st.sampled_from(["ec2-001", "s3-002", "pwd-003", "ec2-0010", "EC2-001", "ec2-017", " ", "\n", "é", "the", '"'])


def _wire(texts: list[list[str]], tool: list[str], newline: bytes = b"\n") -> bytes:
    events: list[tuple[str, dict[str, object]]] = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "content": [], "role": "assistant"}}),
        ("ping", {"type": "ping"}),
    ]
    for index, pieces in enumerate(texts):
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": {"type": "text", "text": ""}}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": {"type": "text_delta", "text": p}}) for p in pieces]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    index = len(texts)
    events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "tool_use", "id": "t", "name": "Bash",
                                                             "input": {}}}))
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "input_json_delta", "partial_json": p}}) for p in tool]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_stop", {"type": "message_stop"}))
    wire = b"".join(encode_event(n, json.dumps(d, ensure_ascii=False, separators=(",", ":"))) for n, d in events)
    return wire.replace(b"\n", newline)


def _read(wire: bytes) -> tuple[list[str | None], dict[int, str], str]:
    decoder = SSEDecoder()
    names: list[str | None] = []
    texts: dict[int, str] = {}
    tool = ""
    for event in [*decoder.feed(wire), *decoder.flush()]:
        data = json.loads(event.data)
        if data.get("type") == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                texts[data["index"]] = texts.get(data["index"], "") + delta["text"]
                continue
            tool += delta["partial_json"]
            continue
        names.append(event.event)
    return names, texts, tool


def _run(wire: bytes, cuts: list[int]) -> bytes:
    restorer = SSERestorer(MessageStreamRestorer(REVERSE, GRAMMAR))
    out = []
    last = 0
    for cut in sorted(set(cuts)):
        out.append(restorer.feed(wire[last:cut]))
        last = cut
    out.append(restorer.feed(wire[last:]))
    out.append(restorer.flush())
    assert restorer.finished
    return b"".join(out)


@settings(max_examples=examples(100), deadline=None)
@given(
    st.lists(st.lists(_WORDS, min_size=1, max_size=8).map("".join), min_size=1, max_size=3),
    st.data(),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_any_split_of_the_wire_restores_like_the_whole(texts: list[str], data: st.DataObject, newline: bytes) -> None:
    pieces = []
    for text in texts:
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=len(text))))
        bounds = [0, *cuts, len(text)]
        pieces.append([text[a:b] for a, b in itertools.pairwise(bounds) if b > a])
    tool_json = json.dumps({"command": f"echo {texts[0]}"})
    tool = [tool_json[i : i + 3] for i in range(0, len(tool_json), 3)]
    wire = _wire(pieces, tool, newline)
    wire_cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    names, restored, tool_out = _read(_run(wire, wire_cuts))
    expected_names, _, _ = _read(wire)
    assert names == expected_names
    assert restored == {i: unmask_text(t, REVERSE, GRAMMAR) for i, t in enumerate(texts) if t}
    assert json.loads(tool_out) == {"command": unmask_text(f"echo {texts[0]}", REVERSE, GRAMMAR)}


def test_events_with_nothing_to_restore_go_out_byte_for_byte() -> None:
    wire = _wire([["hello ", "world"]], ['{"a":', '"b"}'])
    restorer = SSERestorer(MessageStreamRestorer({}, GRAMMAR))
    assert restorer.feed(wire) + restorer.flush() == wire


def test_deltas_of_one_chunk_go_out_as_one_event() -> None:
    wire = _wire([["ec", "2-0", "01 is ", "up"]], [])
    out = _run(wire, [])
    deltas = [line for line in out.split(b"\n") if b"text_delta" in line]
    assert len(deltas) == 1 and b"i-0123456789abcdef0 is up" in deltas[0]


# --- the chunk-at-once fast path: long runs of deltas, stretches without hyphens sent as they came -----------------

_FILLER = st.sampled_from(["the ", "route ", "table\n", "é", "\U0001f600", "\u2019s ", "ec ", "ec2", "e", "\\", '"',
                           "\t", "a-b ", "x\u2011y ", "EC2\u2011001 ", "ec2-001", "ec2-0010 ", "s3-002", "pwd-003",
                           " "])


def _long_wire(text: str, rng_cuts: list[int], thinking: str = "", tool: str = "") -> bytes:
    """A text block (and optionally a thinking block before it and a tool call after it) in 1-3 char deltas."""
    def pieces(value: str) -> list[str]:
        out, start, i = [], 0, 0
        while start < len(value):
            step = 1 + (rng_cuts[i % len(rng_cuts)] % 3 if rng_cuts else 1)
            out.append(value[start : start + step])
            start += step
            i += 1
        return out

    events: list[tuple[str, dict[str, object]]] = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "content": [], "role": "assistant"}}),
    ]
    index = 0
    if thinking:
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": {"type": "thinking", "thinking": ""}}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": {"type": "thinking_delta", "thinking": p}})
                   for p in pieces(thinking)]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "text", "text": ""}}))
    for n, p in enumerate(pieces(text)):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": {"type": "text_delta", "text": p}}))
        if n % 97 == 50:
            events.append(("ping", {"type": "ping"}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if tool:
        index += 1
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": {"type": "tool_use", "id": "t", "name": "Bash",
                                                                 "input": {}}}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": {"type": "input_json_delta", "partial_json": p}})
                   for p in pieces(tool)]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(encode_event(n, json.dumps(d, ensure_ascii=False, separators=(",", ":"))) for n, d in events)


def _restore_wire(wire: bytes, cuts: list[int]) -> tuple[bytes, MessageStreamRestorer]:
    stream = MessageStreamRestorer(REVERSE, GRAMMAR)
    restorer = SSERestorer(stream)
    bounds = [0, *sorted(set(cuts)), len(wire)]
    out = b"".join(restorer.feed(wire[a:b]) for a, b in itertools.pairwise(bounds)) + restorer.flush()
    assert restorer.finished
    return out, stream


def _texts_of(wire: bytes) -> dict[str, str]:
    decoder = SSEDecoder()
    got: dict[str, str] = {}
    for event in [*decoder.feed(wire), *decoder.flush()]:
        data = json.loads(event.data)
        if data.get("type") == "content_block_delta":
            delta = data["delta"]
            field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
            got[delta["type"]] = got.get(delta["type"], "") + delta[field[delta["type"]]]
    return got


@settings(max_examples=60, deadline=None)
@given(st.lists(_FILLER, min_size=50, max_size=300).map("".join), st.lists(st.integers(0, 2), min_size=1,
       max_size=30), st.data(), st.booleans())
def test_long_streams_split_into_any_chunks_restore_like_the_whole(
    text: str, sizes: list[int], data: st.DataObject, with_blocks: bool
) -> None:
    thinking = text[: len(text) // 3] if with_blocks else ""
    tool = json.dumps({"command": text[:200]}) if with_blocks else ""
    wire = _long_wire(text, sizes, thinking, tool)
    chunk = data.draw(st.sampled_from([100, 1024, 4096, 16384, len(wire)]))
    cuts = list(range(chunk, len(wire), chunk)) + data.draw(st.lists(st.integers(0, len(wire)), max_size=5))
    out, stream = _restore_wire(wire, cuts)
    got = _texts_of(out)
    assert got["text_delta"] == unmask_text(text, REVERSE, GRAMMAR)
    if with_blocks:
        assert got["thinking_delta"] == unmask_text(thinking, REVERSE, GRAMMAR)
        assert json.loads(got["input_json_delta"]) == {"command": unmask_text(text[:200], REVERSE, GRAMMAR)}
        assert stream.completed_thinking == [(thinking, got["thinking_delta"])]
    names = [e.event for e in SSEDecoder().feed(out) if e.event != "content_block_delta"]
    assert names == [e.event for e in SSEDecoder().feed(wire) if e.event != "content_block_delta"]


def test_a_pseudonym_split_over_deltas_restores_at_every_chunk_split() -> None:
    text = "route " * 5 + "to EC2\u2011001 and ec2-001, not ec2-0010 \u2019s pwd-003." + " table" * 5
    wire = _long_wire(text, [0, 1, 2, 1])
    expected = unmask_text(text, REVERSE, GRAMMAR)
    for cut in range(len(wire) + 1):
        out, _ = _restore_wire(wire, [cut])
        assert _texts_of(out)["text_delta"] == expected, cut


def test_long_stretches_without_pseudonyms_go_out_byte_for_byte() -> None:
    text = ("The route table has no default route, so the subnet \u2019s traffic stays local.\n" * 60
            + "Use ec2-001 here.\n" + "Then check the table again.\n" * 60)
    wire = _long_wire(text, [2, 0, 1])
    out, _ = _restore_wire(wire, list(range(16384, len(wire), 16384)))
    # events far from the pseudonym (and from the chunk ends, where a letter may be held back) are the upstream's
    # own bytes, event for event
    sent = out.split(b"\n\n")
    kept = sum(1 for event in set(wire.split(b"\n\n")) if event in sent)
    assert kept >= 0.9 * len(set(wire.split(b"\n\n")))
    assert _texts_of(out)["text_delta"] == unmask_text(text, REVERSE, GRAMMAR)


def test_held_text_is_flushed_before_the_block_stops_and_on_a_broken_stream() -> None:
    text = "x " * 600 + "ends with ec2-00"  # a tail that could still become ec2-001
    wire = _long_wire(text, [1])
    out, _ = _restore_wire(wire, [len(wire) // 2])
    assert _texts_of(out)["text_delta"] == text
    broken = wire[: wire.index(b"event: content_block_stop")]
    restorer = SSERestorer(MessageStreamRestorer(REVERSE, GRAMMAR))
    out = restorer.feed(broken) + restorer.flush()
    assert not restorer.finished
    assert _texts_of(out)["text_delta"] == text[: len(_texts_of(broken)["text_delta"])]
