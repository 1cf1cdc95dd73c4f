"""Number pseudonyms in the model's JSON: a whole string value naming one comes back as the number, in a whole
answer and in streamed partial_json split anywhere; keys, longer strings and text get the digits."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit.core.messages import (
    NumberMasker,
    ReverseMap,
    map_json_strings,
    number_originals,
    numbers_of,
    restore_json_numbers,
    unmask_text,
)
from maskkit.core.restorer import JsonNumberRestorer, MessageStreamRestorer
from maskkit.detect import Detector

GRAMMAR = Detector().grammar
REVERSE = ReverseMap({"acct-001": "410295837716", "acct-002": "620318845092", "s3-001": "acme-logs"})
REVERSE.numbers = frozenset({"acct-001"})
NUMBERS = numbers_of(REVERSE)


def _restore(text: str) -> str:
    return unmask_text(text, REVERSE, GRAMMAR)


def _stream(source: str, cuts: list[int]) -> str:
    """partial_json through a MessageStreamRestorer, cut at `cuts`; the JSON the client puts together."""
    restorer = MessageStreamRestorer(REVERSE, GRAMMAR, numbers=NUMBERS)
    start = {"type": "content_block_start", "index": 0,
             "content_block": {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}}
    restorer.feed("content_block_start", start)
    out = []
    bounds = [0, *sorted(set(cuts)), len(source)]
    for a, b in itertools.pairwise(bounds):
        event = {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "input_json_delta", "partial_json": source[a:b]}}
        out += restorer.feed("content_block_delta", event)
    out += restorer.feed("content_block_stop", {"type": "content_block_stop", "index": 0})
    return "".join(data["delta"]["partial_json"] for _, data in out if data["type"] == "content_block_delta")


def test_whole_answer_value_becomes_the_number_and_keys_and_text_get_digits() -> None:
    answer = {"AccountId": "acct-001", "list": ["ACCT\u2011001", {"x": "acct-001"}], "acct-001": "acct-001 now",
              "other": "acct-002", "bucket": "s3-001", "n": 5, "f": 1.5, "b": True}
    assert restore_json_numbers(answer, _restore, NUMBERS) == {
        "AccountId": 410295837716, "list": [410295837716, {"x": 410295837716}],
        "410295837716": "410295837716 now", "other": "620318845092", "bucket": "acme-logs", "n": 5, "f": 1.5,
        "b": True}


def test_pseudonym_split_at_every_point_of_the_partial_json_is_restored_as_a_number() -> None:
    source = json.dumps({"acct-001": ["acct-001", "x acct-001", "acct-0010", "acct-00", "ACCT-001"],
                         "k": {"a": "acct-001"}, "q": "say \"acct-001\"", "e": "acct\\u002d001"})
    source = source.replace("\\\\u002d", "\\u002d")  # a JSON escape of the hyphen, as a model may write it
    expected = {"410295837716": [410295837716, "x 410295837716", "acct-0010", "acct-00", 410295837716],
                "k": {"a": 410295837716}, "q": 'say "410295837716"', "e": 410295837716}
    for cut in range(len(source) + 1):
        assert json.loads(_stream(source, [cut])) == expected, cut
    for a, b in itertools.combinations(range(0, len(source), 3), 2):
        assert json.loads(_stream(source, [a, b])) == expected, (a, b)


_WORDS = st.sampled_from(["acct-001", "ACCT-001", "acct-002", "s3-001", "acct-0010", "acct", "-", "é", '"', "\\",
                          " ", "x"])
_JSON = st.recursive(
    st.one_of(st.lists(_WORDS, max_size=3).map("".join), st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.lists(_WORDS, max_size=2).map("".join), inner, max_size=3)),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.data(), st.booleans())
def test_any_split_of_streamed_json_restores_like_the_whole_answer(
    value: Any, data: st.DataObject, ascii: bool
) -> None:
    source = json.dumps(value, ensure_ascii=ascii, indent=data.draw(st.sampled_from([None, 1])))
    cuts = data.draw(st.lists(st.integers(0, len(source)), max_size=10))
    assert json.loads(_stream(source, cuts)) == restore_json_numbers(value, _restore, NUMBERS)


def test_without_number_pseudonyms_nothing_changes_shape() -> None:
    stage = JsonNumberRestorer({})
    source = '{"a": "acct-001", "b": [1, "x"]}'
    assert "".join(stage.feed(c) for c in source) + stage.flush() == source


def test_a_cut_off_value_is_flushed_as_written() -> None:
    stage = JsonNumberRestorer(NUMBERS)
    assert stage.feed('{"a": "acct-0') == '{"a": '
    assert stage.flush() == '"acct-0'


def test_number_masker_turns_keyed_account_numbers_into_pseudonym_strings() -> None:
    keyed = {"410295837716": "ACCOUNT_ID", "012345678901": "ACCOUNT_ID", "hunter22": "PASSWORD"}
    numbers = number_originals(keyed)
    assert numbers == ["410295837716"]  # a leading zero cannot be a JSON integer
    masker = NumberMasker(numbers, {"410295837716": "acct-001"})
    body = {"a": 410295837716, "b": [410295837716.0, -410295837716, True, 7], "c": "410295837716"}
    masked = map_json_strings(body, lambda t: t, num=masker)
    assert masked == {"a": "acct-001", "b": [410295837716.0, -410295837716, True, 7], "c": "410295837716"}
    reverse = masker.reverse({"acct-001": "410295837716"}, ["x"])
    assert numbers_of(reverse) == {"acct-001": "410295837716"}
    assert not numbers_of(masker.reverse({"acct-001": "410295837716"}, ["410295837716"]))
