"""Account ids written as JSON numbers (`{"AccountId": 410295837716}`): they go upstream as the pseudonym string,
and the model's answer naming that pseudonym as a whole JSON value comes back as the number -- in the masker
(real vault), and through a real proxy to the real anthropic SDK, JSON and streamed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mktests.proxyfixtures import Proxy
from mktests.standin_model import RecordedRequest, ToolUse

from maskkit.core.messages import map_response_strings, numbers_of, unmask_text
from maskkit.masking import Masker

ACCOUNT = 410295837716
OWNER = 620318845092


def _tool_turns(tool_input: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "list the accounts"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Org", "input": tool_input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]},
    ]


def _unmask_input(masker: Masker, masked: dict[str, Any], reverse: dict[str, str]) -> Any:
    """What the client gets back if the model answers with the masked body's tool call, unchanged."""
    answer = {"type": "message", "content": [masked["messages"][1]["content"][0]]}
    restored = map_response_strings(answer, lambda t: unmask_text(t, reverse, masker.grammar), numbers_of(reverse))
    return restored["content"][0]["input"]


_UNTOUCHED = st.one_of(
    st.integers(-(10**14), 10**14).filter(lambda n: not 10**11 <= n < 10**12),  # 11/13-digit, negative, small
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["us-east-1", "plain words", "0", ""]),
)
_ACCOUNT_KEYS = st.sampled_from(["AccountId", "OwnerId", "account_id", "SourceAccount"])
_PLAIN_KEYS = st.sampled_from(["Name", "Members", "Target", "Tags"])


def _values(depth: int) -> st.SearchStrategy[Any]:
    leaf: st.SearchStrategy[Any] = st.one_of(_UNTOUCHED, st.sampled_from([ACCOUNT, OWNER]))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(_ACCOUNT_KEYS, _PLAIN_KEYS), inner, max_size=4),
        ),
        max_leaves=depth,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.one_of(_ACCOUNT_KEYS, _PLAIN_KEYS), _values(12), min_size=1, max_size=5), st.data())
def test_unmask_body_of_mask_body_is_the_body_with_numbers_in_tool_input(
    masker: Masker, tool_input: dict[str, Any], data: st.DataObject
) -> None:
    tool_input = {**tool_input, data.draw(_ACCOUNT_KEYS): data.draw(st.sampled_from([ACCOUNT, OWNER]))}
    body = {"model": "m", "max_tokens": 100, "messages": _tool_turns(tool_input)}
    masked, reverse = asyncio.run(masker.amask_request(body))
    wire = json.dumps(masked)
    assert str(ACCOUNT) not in wire and str(OWNER) not in wire
    assert masked["max_tokens"] == 100
    assert _unmask_input(masker, masked, reverse) == tool_input
    # the next turn re-sends what the client got: masked the same way
    again, _ = asyncio.run(masker.amask_request(body))
    assert again == masked


def test_numbers_that_are_not_account_ids_stay_numbers(masker: Masker) -> None:
    tool_input = {
        "Count": 41029583771,
        "Size": 4102958377160,
        "Delta": -410295837716,
        "Ratio": 410295837716.5,
        "Flag": True,
        "ContentLength": 410295837716,
        "Timestamp": 202612031200,
    }
    body = {"model": "m", "max_tokens": 100, "messages": _tool_turns(tool_input)}
    masked, reverse = asyncio.run(masker.amask_request(body))
    assert masked["messages"][1]["content"][0]["input"] == tool_input
    assert not numbers_of(reverse)


def test_an_account_number_also_written_as_a_string_comes_back_as_a_string(masker: Masker) -> None:
    tool_input = {"AccountId": ACCOUNT, "Target": {"AccountId": str(ACCOUNT)}}
    body = {"model": "m", "max_tokens": 100, "messages": _tool_turns(tool_input)}
    masked, reverse = asyncio.run(masker.amask_request(body))
    sent = masked["messages"][1]["content"][0]["input"]
    assert sent["AccountId"] == sent["Target"]["AccountId"] and str(ACCOUNT) not in json.dumps(masked)
    assert not numbers_of(reverse)  # ambiguous: the string form wins on the way back


def test_generic_route_numbers_are_masked_as_pseudonym_strings(masker: Masker) -> None:
    masked, reverse = asyncio.run(masker.amask_json({"Accounts": [{"Id": 1, "OwnerId": OWNER}]}))
    pseudonym = masked["Accounts"][0]["OwnerId"]
    assert isinstance(pseudonym, str) and pseudonym.startswith("acct-")
    assert masked["Accounts"][0]["Id"] == 1
    assert numbers_of(reverse) == {pseudonym: str(OWNER)}


# --- through the proxy ---------------------------------------------------------------------------------------


def _client(proxy: Proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)


def _sent_input(request: RecordedRequest) -> dict[str, Any]:
    body = json.loads(request.body)
    block = body["messages"][1]["content"][0]
    assert block["type"] == "tool_use"
    result: dict[str, Any] = block["input"]
    return result


def _answer_with_the_pseudonym(request: RecordedRequest) -> ToolUse:
    pseudonym = _sent_input(request)["AccountId"]
    return ToolUse(
        "Org",
        {
            "AccountId": pseudonym,
            "Accounts": [pseudonym, {"OwnerId": pseudonym}],
            "note": f"move {pseudonym} now",
            pseudonym: "as a key",
        },
    )


_EXPECTED = {
    "AccountId": ACCOUNT,
    "Accounts": [ACCOUNT, {"OwnerId": ACCOUNT}],
    "note": f"move {ACCOUNT} now",
    str(ACCOUNT): "as a key",
}


def _messages() -> list[dict[str, Any]]:
    return _tool_turns({"AccountId": ACCOUNT, "Region": "eu-west-1"})


def test_number_account_id_round_trips_through_the_proxy_as_json(proxy: Proxy) -> None:
    proxy.model.responder = _answer_with_the_pseudonym
    message = _client(proxy).messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=_messages())
    sent = proxy.model.last_request
    assert str(ACCOUNT) not in sent.body.decode()
    assert isinstance(_sent_input(sent)["AccountId"], str)
    tool = message.content[-1]
    assert tool.type == "tool_use" and tool.input == _EXPECTED


def test_number_account_id_round_trips_through_the_proxy_streamed(proxy: Proxy) -> None:
    for max_delta in (1, 2, 3, 7):
        proxy.model.max_delta_chars = max_delta
        proxy.model.responder = _answer_with_the_pseudonym
        with _client(proxy).messages.stream(model="claude-sonnet-4-6", max_tokens=200, messages=_messages()) as stream:
            final = stream.get_final_message()
        assert str(ACCOUNT) not in proxy.model.last_request.body.decode()
        tool = final.content[-1]
        assert tool.type == "tool_use" and tool.input == _EXPECTED, max_delta


def test_values_named_by_their_keys_stay_masked_as_the_conversation_is_re_sent_and_grows(masker: Masker) -> None:
    # Recall off: only the keys can name these values (with recall on, the vault would mask them anyway).
    masker = Masker(masker.vault, masker.detector, "keyed-resend", recall=False)
    password = "Vq7-mellow-otter-42"
    first = {"Password": password, "AccountId": ACCOUNT}
    second = {"Bucket": "acme-payroll-exports", "OwnerId": OWNER}
    turns = _tool_turns(first)
    body = {"model": "m", "max_tokens": 100, "messages": turns}
    masked_once, _ = asyncio.run(masker.amask_request(body))
    grown = [*turns, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_2", "name": "S3", "input": second}]}]
    for _ in range(2):  # the second time every part of the body was read before
        masked, reverse = asyncio.run(masker.amask_request({**body, "messages": grown}))
        wire = json.dumps(masked)
        for original in (password, str(ACCOUNT), "acme-payroll-exports", str(OWNER)):
            assert original not in wire
        assert masked["messages"][1] == masked_once["messages"][1]
        assert sorted(reverse.values()) == sorted([password, str(ACCOUNT), "acme-payroll-exports", str(OWNER)])
