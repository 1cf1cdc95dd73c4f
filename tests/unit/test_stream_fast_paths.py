"""The SSE wire path's shortcuts decide exactly what the general path decides: the O(1) check of a plain delta's
last word against `Restorer.feed`, the shared pseudonym lookup against the set of every prefix, and a real masked
answer (text, thinking, tool input, pings, unknown events) cut into reads anywhere against the event-by-event
general path (a CRLF stream takes it) and the original."""

from __future__ import annotations

import itertools
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from mktests import awsgen
from mktests.purehelpers import DictMinter, examples

from maskkit.core.messages import unmask_text
from maskkit.core.restorer import MessageStreamRestorer, Restorer, _Lookup
from maskkit.core.sse import SSEDecoder, encode_event
from maskkit.core.stream import SSERestorer
from maskkit.detect.detector import Detector

DETECTOR = Detector()
GRAMMAR = DETECTOR.grammar
REVERSE = {"ec2-001": "i-0123456789abcdef0", "s3-002": "acme-payroll-archive", "pwd-003": 'p"w\\d\u00e9',
           "ec2-1000": "i-0fedcba9876543210", "secret-004": "wJalrXUtnFEMI/K7MDENG"}

# What plain text (no hyphen) is made of near pseudonyms: their letters and digits, word boundaries, non-ASCII.
_PLAIN = st.text(st.sampled_from("ecs23pwdrtEC_ 0x\u00e9\n.\\\""), max_size=8)
_ANY = st.one_of(_PLAIN, st.sampled_from(["-", "\u2011", "ec2-0", "01", "001", "s3-00", "2 ", "ec2-1000", "EC2"]))


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(_ANY, max_size=8), _PLAIN, st.lists(_ANY, max_size=4))
def test_a_plain_delta_passes_exactly_when_feed_would_send_it_as_it_came(
    history: list[str], text: str, after: list[str]
) -> None:
    checked, fed = Restorer(REVERSE, GRAMMAR), Restorer(REVERSE, GRAMMAR)
    for piece in history:
        assert checked.feed(piece) == fed.feed(piece)
    out = fed.feed(text)
    if checked.passes_plain(text):
        assert out == text
    else:
        assert out != text or fed.held  # held back (or restored): it had to go through feed
        assert checked.feed(text) == out
    for piece in after:  # both are in the same state from here on
        assert checked.feed(piece) == fed.feed(piece)
    assert checked.flush() == fed.flush()


_KEYS = st.lists(
    st.one_of(
        st.builds(lambda k, n: f"{k}-{n:03d}", st.sampled_from(["ec", "ec2", "s3", "acct", "e", "secret", "i2"]),
                  st.integers(0, 1200)),
        st.text(st.sampled_from("ab-2+."), min_size=1, max_size=6),  # odd keys: no hyphen, two, signs before it
    ),
    min_size=1,
    max_size=30,
)


@given(_KEYS, st.lists(st.text(st.sampled_from("aceis2308-+.1"), min_size=1, max_size=9), max_size=30))
def test_the_shared_lookup_knows_the_same_prefixes_as_the_set_of_all_of_them(
    keys: list[str], probes: list[str]
) -> None:
    lookup = _Lookup(dict.fromkeys(keys, "x"))
    every = GRAMMAR.prefix_set(keys)
    for probe in [*probes, *(k[:i] for k in keys for i in range(1, len(k) + 1))]:
        assert lookup.is_prefix(probe) == (probe in every), probe


def _answer(rng: random.Random) -> tuple[str, str, dict[str, object], dict[str, str]]:
    """A real masked answer: awsgen documents masked with one dict minter (text, thinking and tool input)."""
    minter = DictMinter(DETECTOR)
    docs = [d.text for d in awsgen.generate_documents(rng, 3)]
    text = minter.mask("\n".join(docs)[:1500])
    thinking = minter.mask(docs[0][:400])
    tool = {"command": minter.mask(docs[-1][:300])}
    return text, thinking, tool, minter.reverse


def _stream(text: str, thinking: str, tool: dict[str, object], rng: random.Random) -> bytes:
    def pieces(value: str) -> list[str]:
        out, start = [], 0
        while start < len(value):
            step = rng.choice([1, 1, 2, 3, 5])
            out.append(value[start : start + step])
            start += step
        return out

    events: list[tuple[str, dict[str, object]]] = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "content": [], "role": "assistant"}}),
    ]
    blocks = [("thinking", "thinking_delta", "thinking", thinking), ("text", "text_delta", "text", text),
              ("tool_use", "input_json_delta", "partial_json", json.dumps(tool))]
    for index, (block, delta, field, value) in enumerate(blocks):
        start: dict[str, object] = {"type": block, field if block != "tool_use" else "input": "" if block != "tool_use"
                                    else {}}
        if block == "tool_use":
            start.update(id="t", name="Bash")
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
        for piece in pieces(value):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": delta, field: piece}}))
            if rng.random() < 0.02:
                events.append(("ping", {"type": "ping"}))
            if rng.random() < 0.01:
                events.append(("future_event", {"type": "future_event", "note": "ec2-001 s3-002"}))
        if block == "thinking":
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "signature_delta", "signature": "c2ln"}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(encode_event(n, json.dumps(d, ensure_ascii=rng.random() < 0.3, separators=(",", ":")))
                    for n, d in events)


def _restore(wire: bytes, cuts: list[int], reverse: dict[str, str]) -> tuple[bytes, list[tuple[str, str]]]:
    restorer = SSERestorer(MessageStreamRestorer(reverse, GRAMMAR))
    bounds = [0, *sorted(set(cuts)), len(wire)]
    out = b"".join(restorer.feed(wire[a:b]) for a, b in itertools.pairwise(bounds) if b > a) + restorer.flush()
    assert restorer.finished
    return out, restorer.completed_thinking


def _read(wire: bytes) -> tuple[list[object], dict[str, str]]:
    """Every event that is not a text-carrying delta, in order, and the text of each delta kind joined."""
    others: list[object] = []
    texts: dict[str, str] = {}
    for event in [*SSEDecoder().feed(wire), *SSEDecoder().flush()]:
        data = json.loads(event.data)
        delta = data.get("delta", {}) if data.get("type") == "content_block_delta" else {}
        field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
        if delta.get("type") in field:
            texts[delta["type"]] = texts.get(delta["type"], "") + delta[field[delta["type"]]]
        else:
            others.append((event.event, data))
    return others, texts


@settings(max_examples=examples(40), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["event", "random", 64, 1024, 16384]), st.data())
def test_a_real_answer_cut_into_reads_anywhere_restores_like_the_general_path(
    seed: int, reads: object, data: st.DataObject
) -> None:
    rng = random.Random(seed)
    text, thinking, tool, reverse = _answer(rng)
    wire = _stream(text, thinking, tool, rng)
    if reads == "event":
        cuts = list(itertools.accumulate(len(e) + 2 for e in wire.split(b"\n\n")[:-1]))
    elif reads == "random":
        cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=40))
    else:
        assert isinstance(reads, int)
        cuts = list(range(reads, len(wire), reads))
    fast, thought = _restore(wire, cuts, reverse)
    general, general_thought = _restore(wire.replace(b"\n", b"\r\n"), [], reverse)  # a CR: the general path
    others, texts = _read(fast)
    assert (others, texts) == _read(general)
    assert texts["text_delta"] == unmask_text(text, reverse, GRAMMAR)
    assert texts["thinking_delta"] == unmask_text(thinking, reverse, GRAMMAR)
    assert json.loads(texts["input_json_delta"]) == {"command": unmask_text(str(tool["command"]), reverse, GRAMMAR)}
    assert thought == general_thought == [(thinking, texts["thinking_delta"])]
    untouched = [e + b"\n\n" for e in wire.split(b"\n\n") if e.startswith((b"event: ping", b"event: future_event",
                                                                           b"event: message_stop"))]
    position = 0
    for event in untouched:  # pings and unknown events go out byte for byte, in order
        position = fast.index(event, position) + len(event)


def test_a_stream_with_nothing_to_restore_goes_out_byte_for_byte_however_it_is_read() -> None:
    rng = random.Random(7)
    text, thinking, tool, _ = _answer(rng)
    wire = _stream(text, thinking, tool, rng)
    for size in (1, 7, 100, 4096, len(wire)):
        out, _ = _restore(wire, list(range(size, len(wire), size)), {})
        assert out == wire
