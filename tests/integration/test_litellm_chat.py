"""The pure parts of the LiteLLM guardrail: which strings of a chat completions request are masked, and the chat
stream restorer under every split of a stream into chunks (chunks as plain dicts, as the guardrail reads them)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit import Detector
from maskkit.core.messages import unmask_text
from maskkit.integrations.litellm import ChatStreamRestorer, map_chat_request_strings

GRAMMAR = Detector().grammar
REVERSE = {"ec2-001": "i-0abc1234def567890", "secret-001": 'a"b\\c/Zx9Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz'}


def _mark(text: str) -> str:
    return "<" + text + ">"


def test_every_model_readable_chat_field_is_mapped_and_nothing_else() -> None:
    body: dict[str, Any] = {
        "model": "gpt",
        "user": "u1",
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "name": "bob",
                "content": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "u"}}],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "r",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "sh", "arguments": '{"k": "v"}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "result"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "sh",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"k": {"description": "pd"}}},
                },
            }
        ],
    }
    out = map_chat_request_strings(body, _mark)
    assert set(out) == {"messages", "tools"}
    system, user, assistant, tool = out["messages"]
    assert system == {"role": "system", "content": "<sys>"}
    assert user["name"] == "bob" and user["content"][0] == {"type": "text", "text": "<t>"}
    assert user["content"][1] == body["messages"][1]["content"][1]
    assert assistant["reasoning_content"] == "<r>"
    call = assistant["tool_calls"][0]
    assert call["id"] == "c1" and call["function"]["name"] == "sh"
    assert json.loads(call["function"]["arguments"]) == {"<k>": "<v>"}
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "<result>"}
    function = out["tools"][0]["function"]
    assert function["name"] == "sh" and function["description"] == "<d>"
    assert function["parameters"]["properties"] == {"k": {"description": "<pd>"}}
    assert body["messages"][0]["content"] == "sys"  # the input is not changed


def test_tool_arguments_that_are_not_json_are_still_mapped() -> None:
    body = {"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{broken"}}]}]}
    assert map_chat_request_strings(body, _mark)["messages"][0]["tool_calls"][0]["function"]["arguments"] == "<{broken>"


def _chunks(text: str, arguments: str, cuts_text: list[int], cuts_args: list[int]) -> list[dict[str, Any]]:
    def pieces(s: str, cuts: list[int]) -> list[str]:
        points = sorted({c % (len(s) + 1) for c in cuts} | {0, len(s)})
        return [s[a:b] for a, b in itertools.pairwise(points)]

    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces(text, cuts_text)
    ]
    chunks += [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]},
                    "finish_reason": None,
                }
            ]
        }
        for p in pieces(arguments, cuts_args)
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


def _collect(chunks: list[Any]) -> tuple[str, str]:
    text, arguments = "", ""
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                function = call["function"] if isinstance(call, dict) else call.function
                arguments += (function["arguments"] if isinstance(function, dict) else function.arguments) or ""
    return text, arguments


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(["ec2-001", "EC2-001", "secret-001", "ec2-0010", "ec2-999", "x", " ", "-", "ec2"]), max_size=12
    ),
    cuts_text=st.lists(st.integers(0, 200), max_size=8),
    cuts_args=st.lists(st.integers(0, 200), max_size=8),
)
def test_any_split_of_a_chat_stream_restores_like_the_whole(
    words: list[str], cuts_text: list[int], cuts_args: list[int]
) -> None:
    text = "".join(words)
    arguments = json.dumps({"command": text, text or "k": ["ec2-001", text]})
    restorer = ChatStreamRestorer(REVERSE, GRAMMAR)
    out = [restorer.feed(c) for c in _chunks(text, arguments, cuts_text, cuts_args)]
    last = restorer.finish()
    assert last is None  # everything was flushed with the finish_reason chunk
    got_text, got_arguments = _collect(out)
    assert got_text == unmask_text(text, REVERSE, GRAMMAR)
    whole = json.loads(arguments)
    expected = {
        unmask_text(k, REVERSE, GRAMMAR): [unmask_text(x, REVERSE, GRAMMAR) for x in v]
        if isinstance(v, list)
        else unmask_text(v, REVERSE, GRAMMAR)
        for k, v in whole.items()
    }
    assert json.loads(got_arguments) == expected


def test_a_stream_without_finish_reason_gets_its_tail_in_one_more_chunk() -> None:
    restorer = ChatStreamRestorer(REVERSE, GRAMMAR)
    first = restorer.feed({"choices": [{"index": 0, "delta": {"content": "reboot ec2-001"}, "finish_reason": None}]})
    assert first["choices"][0]["delta"]["content"] == "reboot "
    last = restorer.finish()
    assert last is not None and last["choices"][0]["delta"]["content"] == "i-0abc1234def567890"
