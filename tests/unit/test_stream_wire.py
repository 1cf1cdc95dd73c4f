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
