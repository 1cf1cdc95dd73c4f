"""Property tests of the pure core: exact round trip, stability, and streamed restore == whole restore."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mktests.purehelpers import DictMinter, examples

from maskkit.core.messages import unmask_text
from maskkit.core.recall_safe import recall_safe
from maskkit.core.restorer import MessageStreamRestorer, Restorer
from maskkit.detect.detector import Detector

DETECTOR = Detector()
GRAMMAR = DETECTOR.grammar

# Identifiers and look-alikes that adversarial texts are built from.
_ATOMS = [
    "i-1234567890abcdef0",
    "i-0a1b2c3d",
    "sg-12345678",
    "vpc-0a1b2c3d4e5f67890",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws_secret_access_key = ",
    "123456789012",
    "arn:aws:iam::123456789012:role/Admin",
    "arn:aws:s3:::my-bucket/key",
    "s3://prod-logs-1234/x",
    "ec2-001",
    "EC2-001",
    "ec2\u2011001",
    "ec2-0010",
    "lit-001",
    "lit-002",
    "iam-001",
    "acct-1000",
    "xec2-001",
    "ec2-001x",
    "_ec2-001",
    "ec2-",
    "-001",
    "s3-001",
    "203.0.113.9",
    "8.8.8.8",
    "10.0.0.1",
    "postgres://u:p4ss@db.abcdefghij12.us-east-1.rds.amazonaws.com/x",
    "password=hunter2",
    "OwnerId: 123456789012",
    "--bucket my-data-lake",
    "ec2-1-2-3-4.compute-1.amazonaws.com",
    "\u00e9",
    "\U0001f600",
    "\n",
    "\\",
    "\\n",
    "\x1f",
    "\t",
    " ",
    "-",
    "_",
    ":",
    "/",
    '"',
    "'",
    "=",
    "0",
    "a",
    "Z",
]

adversarial_text = st.lists(st.one_of(st.sampled_from(_ATOMS), st.text(max_size=8)), max_size=24).map("".join)
any_text = st.one_of(adversarial_text, st.text(max_size=200))


@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(any_text)
def test_unmask_of_mask_is_the_identity(text: str) -> None:
    minter = DictMinter(DETECTOR)
    for variant in (text, text + text):  # the doubled text: repeated values, and atoms meeting at the seam
        masked = minter.mask(variant)
        assert unmask_text(masked, minter.reverse, GRAMMAR) == variant


@settings(max_examples=examples(200))
@given(any_text)
def test_masked_text_holds_no_original_of_what_was_detected(text: str) -> None:
    minter = DictMinter(DETECTOR)
    masked = minter.mask(text)
    for (kind, original), pseudonym in minter.forward.items():
        assert pseudonym in masked
        if recall_safe(kind, original):  # what may be masked anywhere is masked everywhere
            assert original not in masked


@settings(max_examples=examples(200))
@given(any_text, any_text)
def test_masking_is_stable_across_texts(first: str, second: str) -> None:
    minter = DictMinter(DETECTOR)
    once = minter.mask(first + second)
    assert minter.mask(first + second) == once
    assert len(set(minter.forward.values())) == len(minter.forward)


@st.composite
def masked_and_splits(draw: st.DrawFn) -> tuple[str, dict[str, str], list[int]]:
    minter = DictMinter(DETECTOR)
    masked = minter.mask(draw(any_text))
    cuts = sorted(draw(st.lists(st.integers(0, len(masked)), max_size=12)))
    return masked, minter.reverse, cuts


def _split(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _every(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@settings(max_examples=examples(300))
@given(masked_and_splits())
def test_any_split_into_deltas_restores_like_the_whole(case: tuple[str, dict[str, str], list[int]]) -> None:
    masked, reverse, cuts = case
    whole = unmask_text(masked, reverse, GRAMMAR)
    # The drawn split, and the deltas Claude Code really gets: 1, 2 and 3 characters each (every boundary cut).
    for pieces in (_split(masked, cuts), *(_every(masked, size) for size in (1, 2, 3))):
        restorer = Restorer(reverse, GRAMMAR)
        assert "".join(restorer.feed(piece) for piece in pieces) + restorer.flush() == whole


@settings(max_examples=examples(200))
@given(masked_and_splits())
def test_restorer_holds_back_no_more_than_one_pseudonym(case: tuple[str, dict[str, str], list[int]]) -> None:
    masked, reverse, cuts = case
    longest = max((len(p) for p in reverse), default=0)
    for pieces in (_split(masked, cuts), _every(masked, 1)):
        restorer = Restorer(reverse, GRAMMAR)
        for piece in pieces:
            restorer.feed(piece)
            assert restorer.held <= longest


def test_pseudonym_split_over_three_deltas_is_restored() -> None:
    restorer = Restorer({"ec2-001": "i-1234567890abcdef0"}, GRAMMAR)
    out = restorer.feed("restart e") + restorer.feed("c2-0") + restorer.feed("01 now") + restorer.flush()
    assert out == "restart i-1234567890abcdef0 now"


def test_text_without_pseudonym_prefix_is_emitted_at_once() -> None:
    restorer = Restorer({"ec2-001": "i-1234567890abcdef0"}, GRAMMAR)
    assert restorer.feed("Hello, wor") == "Hello, wor"
    assert restorer.feed("ld e") == "ld "
    assert restorer.held == 1


def test_complete_pseudonym_at_chunk_end_waits_for_the_next_character() -> None:
    restorer = Restorer({"ec2-001": "REAL"}, GRAMMAR)
    assert restorer.feed("see ec2-001") == "see "
    assert restorer.feed("0 and ec2-001.") == "ec2-0010 and REAL."


@st.composite
def tool_input_stream(draw: st.DrawFn) -> tuple[dict[str, object], dict[str, str], list[int]]:
    minter = DictMinter(DETECTOR)
    command = draw(adversarial_text)
    masked_command = minter.mask(command)
    masked_json = json.dumps({"command": masked_command})
    cuts = sorted(draw(st.lists(st.integers(0, len(masked_json)), max_size=10)))
    return {"command": command, "json": masked_json}, minter.reverse, cuts


@settings(max_examples=examples(200))
@given(tool_input_stream())
def test_streamed_tool_input_is_restored_to_valid_json(
    case: tuple[dict[str, object], dict[str, str], list[int]],
) -> None:
    info, reverse, cuts = case
    stream = MessageStreamRestorer(reverse, GRAMMAR)
    events = [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
            },
        )
    ]
    events += [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            },
        )
        for piece in _split(str(info["json"]), cuts)
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    partial = ""
    for name, data in events:
        for _, out in stream.feed(name, data):
            if out["type"] == "content_block_delta":
                partial += out["delta"]["partial_json"]
    assert json.loads(partial) == {"command": info["command"]}
