"""The masking proxy, end to end: the real anthropic SDK -> a real maskkit proxy -> the stand-in model."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import zlib
from typing import Any

import anthropic
import httpx
import pytest
from mktests.proxyfixtures import CLIENT_KEY, UPSTREAM_KEY, Proxy, parse_sse, serving
from mktests.standin_model import (
    DisconnectMidStream,
    Error,
    Garbage,
    RecordedRequest,
    StandinModel,
    Text,
    Thinking,
    ToolUse,
    verify_signature,
)

INSTANCE = "i-0f1e2d3c4b5a69788"
SG = "sg-0123456789abcdef0"
BUCKET = "acme-prod-billing-exports"
ACCOUNT = "493827160512"
SECRET = "Zx9+kL2mQ7vR4tY8wB1nC5jH3gF6dS0aP2eU7iO9"
ORIGINALS = (INSTANCE, SG, BUCKET, ACCOUNT, SECRET)
PROMPT = (
    f"why is {INSTANCE} unreachable from {SG}? logs go to s3://{BUCKET}/logs, "
    f"account {ACCOUNT}, aws_secret_access_key = {SECRET}"
)


def client(proxy: Proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)


def upstream_text(request: RecordedRequest) -> str:
    return request.body.decode("utf-8")


def assert_no_original(text: str) -> None:
    for original in ORIGINALS:
        assert original not in text, f"an original ({len(original)} chars) reached the model"


def pseudonym_in(request: RecordedRequest, prefix: str) -> str:
    found = re.search(rf"\b{prefix}-\d{{3,}}\b", upstream_text(request))
    assert found, f"no {prefix} pseudonym in the upstream request"
    return found.group()


def test_json_answer_is_restored_and_the_model_saw_only_pseudonyms(proxy: Proxy) -> None:
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "You said: " + PROMPT
    seen = proxy.model.last_request
    assert_no_original(upstream_text(seen))
    assert pseudonym_in(seen, "ec2") in seen.json["messages"][0]["content"]


def test_upstream_gets_the_proxy_key_not_the_client_key(proxy: Proxy) -> None:
    client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    headers = proxy.model.last_request.headers
    assert headers.get("x-api-key") == UPSTREAM_KEY
    assert CLIENT_KEY not in json.dumps(headers)


def test_stream_restores_pseudonyms_split_over_one_character_deltas(proxy: Proxy) -> None:
    proxy.model.max_delta_chars = 1
    with client(proxy).messages.stream(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "You said: " + PROMPT
    assert_no_original(upstream_text(proxy.model.last_request))


def test_streamed_tool_call_is_restored_so_the_command_names_the_real_instance(proxy: Proxy) -> None:
    def respond(request: RecordedRequest) -> ToolUse:
        pseudonym = pseudonym_in(request, "ec2")
        return ToolUse("Bash", {"command": f"aws ec2 describe-instances --instance-ids {pseudonym}"}, "Checking.")

    proxy.model.responder = respond
    proxy.model.max_delta_chars = 2
    with client(proxy).messages.stream(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        final = stream.get_final_message()
    tool = next(block for block in final.content if block.type == "tool_use")
    assert tool.input == {"command": f"aws ec2 describe-instances --instance-ids {INSTANCE}"}


def test_tool_call_in_json_answer_is_restored(proxy: Proxy) -> None:
    proxy.model.responder = lambda r: ToolUse("Bash", {"command": f"ping {pseudonym_in(r, 'ec2')}"})
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    )
    assert message.content[-1].type == "tool_use"
    assert message.content[-1].input == {"command": f"ping {INSTANCE}"}


def _conversation_with_tool_history(tool_use_id: str = "toolu_01") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Let me look at {INSTANCE}."},
                {
                    "type": "tool_use",
                    "id": tool_use_id,
                    "name": "Bash",
                    "input": {"command": f"aws s3 ls s3://{BUCKET}/ --profile {ACCOUNT}"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use_id,
                    "content": f"2026-11-25 logs/{INSTANCE}.gz\nOwnerId: {ACCOUNT}",
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [{"type": "text", "text": f"SecurityGroup {SG}"}],
                },
            ],
        },
    ]


def test_every_field_the_model_reads_is_masked(proxy: Proxy) -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "system": [{"type": "text", "text": f"You help with account {ACCOUNT}."}],
        "messages": [
            *_conversation_with_tool_history(),
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": f"runbook for {INSTANCE}"},
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "Bash",
                "description": f"Runs commands in {BUCKET}",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ],
    }
    response = httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(), json=body, timeout=30)
    assert response.status_code == 200, response.text
    seen = upstream_text(proxy.model.last_request)
    assert_no_original(seen)
    sent = proxy.model.last_request.json
    assert sent["tools"][0]["name"] == "Bash"
    assert sent["messages"][1]["content"][1]["id"] == "toolu_01"
    assert sent["messages"][1]["content"][1]["input"]["command"].startswith("aws s3 ls s3://s3-")


def test_same_history_masks_to_the_same_bytes_every_turn(proxy: Proxy) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": _conversation_with_tool_history()}
    for _ in range(2):
        assert httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(), json=body, timeout=30).status_code == 200
    first, second = proxy.model.requests[-2:]
    assert first.body == second.body


def test_signed_thinking_survives_the_round_trip(proxy: Proxy) -> None:
    """Thinking is restored for the user; re-masking it next turn gives back exactly the signed text."""
    proxy.model.responder = lambda r: Thinking(
        f"{pseudonym_in(r, 'ec2')} has no route; check {pseudonym_in(r, 'sg')}", "Look at the route table."
    )
    with client(proxy).messages.stream(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        first = stream.get_final_message()
    thinking = first.content[0]
    assert thinking.type == "thinking"
    assert INSTANCE in thinking.thinking and SG in thinking.thinking
    proxy.model.responder = None
    history = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": "and now?"},
    ]
    client(proxy).messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=history)
    sent = proxy.model.last_request.json["messages"][1]["content"][0]
    assert verify_signature(sent["thinking"], sent["signature"])
    assert_no_original(upstream_text(proxy.model.last_request))


def test_count_tokens_body_is_masked(proxy: Proxy) -> None:
    count = client(proxy).messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": PROMPT}]
    )
    assert count.input_tokens > 0
    seen = proxy.model.last_request
    assert seen.path == "/v1/messages/count_tokens"
    assert_no_original(upstream_text(seen))


def test_models_list_and_query_strings_and_headers_pass_through(proxy: Proxy) -> None:
    assert any(m.id == "claude-sonnet-4-5" for m in client(proxy).models.list())
    beta = "interleaved-thinking-2025-05-14,context-management-2025-06-27,some-future-beta"
    response = httpx.post(
        proxy.url + "/v1/messages?beta=true",
        headers=proxy.headers(
            **{"anthropic-beta": beta, "user-agent": "claude-cli/2.1 (external, cli)", "x-app": "cli"}
        ),
        json={"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200
    seen = proxy.model.last_request
    assert seen.query == "beta=true"
    assert seen.headers["anthropic-beta"] == beta
    assert seen.headers["user-agent"] == "claude-cli/2.1 (external, cli)"
    assert seen.headers["x-app"] == "cli"
    assert response.headers.get("request-id", "").startswith("req_")


def test_head_root_and_health_answer(proxy: Proxy) -> None:
    assert httpx.head(proxy.url + "/", timeout=5).status_code == 200
    health = httpx.get(proxy.url + "/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["service"] == "maskkit" and health.json()["vault"] == "ok"


def test_a_json_answer_naming_no_pseudonym_reaches_the_client_byte_for_byte(proxy: Proxy) -> None:
    """Nothing to restore: the upstream's own bytes go back (spacing, escapes); with a pseudonym, it is restored."""

    def answer(text: str) -> bytes:
        return (
            '{ "id": "msg_01", "type": "message", "role": "assistant", "model": "m",\n'
            f'  "content": [ {{ "type": "text", "text": "caf\\u00e9 {text}" }} ],\n'
            '  "stop_reason": "end_turn", "usage": { "input_tokens": 1, "output_tokens": 2 } }'
        ).encode()

    plain = answer("nothing to restore here")
    headers = {"x-api-key": proxy.key, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": f"look at {INSTANCE}"}]}
    proxy.model.responder = lambda recorded: Garbage(plain, content_type="application/json")
    response = httpx.post(proxy.url + "/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.content == plain
    proxy.model.responder = lambda recorded: Garbage(
        answer("see " + pseudonym_in(recorded, "ec2")), content_type="application/json"
    )
    response = httpx.post(proxy.url + "/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == f"caf\u00e9 see {INSTANCE}"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_answer_is_decoded_and_restored(proxy: Proxy, encoding: str) -> None:
    """The upstream may compress (the proxy asks for gzip or deflate): the client gets the restored text, plain."""
    compress = gzip.compress if encoding == "gzip" else zlib.compress

    def answer(recorded: RecordedRequest) -> Garbage:
        issued = pseudonym_in(recorded, "ec2")
        if recorded.json.get("stream"):
            events = [
                ("message_start", {"type": "message_start", "message": {
                    "id": "msg_01", "type": "message", "role": "assistant", "model": "m", "content": [],
                    "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 0}}}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": piece}})
                  for piece in ("see ", issued[:2], issued[2:], " now")],
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_stop", {"type": "message_stop"}),
            ]
            wire = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
            return Garbage(compress(wire.encode()), content_encoding=encoding)
        body = {"id": "msg_01", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
                "content": [{"type": "text", "text": f"see {issued} now"}],
                "usage": {"input_tokens": 1, "output_tokens": 2}}
        return Garbage(compress(json.dumps(body).encode()), content_type="application/json",
                       content_encoding=encoding)

    proxy.model.responder = answer
    headers = {"x-api-key": proxy.key, "anthropic-version": "2023-06-01"}
    body: dict[str, Any] = {"model": "m", "max_tokens": 20,
                            "messages": [{"role": "user", "content": f"look at {INSTANCE}"}]}
    response = httpx.post(proxy.url + "/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert response.json()["content"][0]["text"] == f"see {INSTANCE} now"
    streamed = httpx.post(proxy.url + "/v1/messages", json={**body, "stream": True}, headers=headers, timeout=30)
    assert streamed.status_code == 200 and "content-encoding" not in streamed.headers
    events = parse_sse(streamed.text)
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text == f"see {INSTANCE} now"
    assert events[-1][0] == "message_stop"


def test_invented_pseudonyms_are_not_restored(proxy: Proxy) -> None:
    proxy.model.enqueue(Text("Try ec2-017 and ec2-001 and iam-999."))
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": f"look at {INSTANCE}"}]
    )
    issued = pseudonym_in(proxy.model.last_request, "ec2")
    text = message.content[0].text
    assert "ec2-017" in text and "iam-999" in text
    assert (INSTANCE in text) == (issued == "ec2-001")


def test_pseudonym_of_another_conversation_is_not_restored(proxy: Proxy) -> None:
    """The vault knows ec2-001 from an earlier request, but this request never issued it: it stays as written."""
    client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": f"look at {INSTANCE}"}]
    )
    earlier = pseudonym_in(proxy.model.last_request, "ec2")
    proxy.model.enqueue(Text(f"Also check {earlier}."))
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "anything else?"}]
    )
    assert message.content[0].text == f"Also check {earlier}."


def test_case_and_hyphen_variants_of_an_issued_pseudonym_are_restored(proxy: Proxy) -> None:
    def respond(request: RecordedRequest) -> Text:
        p = pseudonym_in(request, "ec2")
        return Text(f"{p.upper()} / {p.replace('-', chr(0x2011))} / **{p}**")

    proxy.model.responder = respond
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": f"look at {INSTANCE}"}]
    )
    assert message.content[0].text == f"{INSTANCE} / {INSTANCE} / **{INSTANCE}**"


def test_many_concurrent_streams_each_get_their_own_answer(proxy: Proxy) -> None:
    async def one(index: int, api: anthropic.AsyncAnthropic) -> tuple[str, str]:
        instance = f"i-{index:017x}"
        prompt = f"client {index} owns {instance}"
        async with api.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": prompt}]
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
        return prompt, text

    async def run() -> list[tuple[str, str]]:
        api = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=60)
        return await asyncio.gather(*(one(i, api) for i in range(40)))

    for prompt, text in asyncio.run(run()):
        assert text == "You said: " + prompt


# --- bad input and faults ----------------------------------------------------------------------------------------


def _post(proxy: Proxy, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(**headers), content=content, timeout=30)


@pytest.mark.parametrize(
    ("content", "status", "error_type"),
    [
        (b'{"model": "x", "messages": [', 400, "invalid_request_error"),
        (b'{"model": "x", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "invalid_request_error"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_request_error"),
    ],
    ids=["malformed-json", "invalid-utf8", "deeply-nested"],
)
def test_bad_bodies_get_a_clear_anthropic_error_and_are_not_forwarded(
    proxy: Proxy, content: bytes, status: int, error_type: str
) -> None:
    response = _post(proxy, content)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type
    assert proxy.model.requests == []


def test_wrong_or_missing_key_is_refused(proxy: Proxy) -> None:
    for headers in ({"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}, {}):
        response = httpx.post(
            proxy.url + "/v1/messages",
            headers={"content-type": "application/json", **headers},
            content=b"{}",
            timeout=10,
        )
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
    assert proxy.model.requests == []


def test_bearer_token_is_accepted(proxy: Proxy) -> None:
    response = httpx.post(
        proxy.url + "/v1/messages",
        headers={"authorization": f"Bearer {proxy.key}", "content-type": "application/json"},
        json={"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 200


def test_multipart_body_is_refused_with_415(proxy: Proxy) -> None:
    response = httpx.post(
        proxy.url + "/v1/files",
        headers={"x-api-key": proxy.key},
        files={"file": ("notes.txt", INSTANCE.encode())},
        timeout=10,
    )
    assert response.status_code == 415
    assert proxy.model.requests == []


def test_unknown_api_route_has_its_json_masked_generically(proxy: Proxy) -> None:
    response = httpx.post(
        proxy.url + "/v1/some/future/route",
        headers=proxy.headers(),
        json={"nested": {"note": f"server {INSTANCE}"}, "n": 3},
        timeout=10,
    )
    assert response.status_code == 404  # the stand-in does not know it, and says so in the Anthropic shape
    seen = proxy.model.last_request
    assert seen.path == "/v1/some/future/route"
    assert_no_original(upstream_text(seen))
    assert seen.json["n"] == 3


def test_upstream_error_passes_through_with_status_and_restored_message(proxy: Proxy) -> None:
    proxy.model.responder = lambda r: Error(
        529, "overloaded_error", f"overloaded while reading {pseudonym_in(r, 'ec2')}"
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        client(proxy).messages.create(
            model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code == 529
    assert INSTANCE in str(caught.value)


def test_mid_stream_upstream_disconnect_becomes_an_sse_error_event(proxy: Proxy) -> None:
    proxy.model.enqueue(DisconnectMidStream("a long answer that will be cut", after_events=3))
    with httpx.stream(
        "POST",
        proxy.url + "/v1/messages",
        headers=proxy.headers(),
        timeout=30,
        json={"model": "m", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        body = response.read().decode()
    assert response.status_code == 200
    assert "event: error" in body
    assert "message_stop" not in body


def test_garbage_from_upstream_is_reported_not_forwarded(proxy: Proxy) -> None:
    proxy.model.enqueue(Garbage(b"<html>bad gateway</html>", status=200, content_type="application/json"))
    response = _post(
        proxy, json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode()
    )
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"


def test_client_disconnect_mid_stream_cancels_the_upstream_request(proxy: Proxy) -> None:
    proxy.model.event_delay = 0.05
    proxy.model.enqueue(Text("word " * 400))
    with httpx.stream(
        "POST",
        proxy.url + "/v1/messages",
        headers=proxy.headers(),
        timeout=30,
        json={"model": "m", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        next(response.iter_bytes())
    assert proxy.model.client_disconnected.wait(10), "the stand-in never saw the proxy hang up"


def test_upstream_unreachable_is_502(settings: Any, model: StandinModel) -> None:
    from mktests.proxyfixtures import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with serving(settings, model, upstream=dead) as url:
        response = httpx.post(
            url + "/v1/messages",
            headers={"x-api-key": CLIENT_KEY},
            json={"model": "m", "max_tokens": 5, "messages": []},
            timeout=30,
        )
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"


def test_oversized_body_is_413(settings: Any, model: StandinModel) -> None:
    with serving(settings, model, max_body_bytes=1000) as url:
        response = httpx.post(
            url + "/v1/messages",
            headers={"x-api-key": CLIENT_KEY},
            json={"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]},
            timeout=30,
        )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert model.requests == []


def test_vault_down_fails_closed_with_503_and_forwards_nothing(
    settings: Any, model: StandinModel, tmp_path: Any
) -> None:
    with serving(settings, model, redis_url=f"unix://{tmp_path}/no-redis.sock") as url:
        response = httpx.post(
            url + "/v1/messages",
            headers={"x-api-key": CLIENT_KEY},
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
            timeout=30,
        )
        health = httpx.get(url + "/health", timeout=10)
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "api_error"
    assert "vault" in response.json()["error"]["message"]
    assert_no_original(response.text)
    assert model.requests == []
    assert health.status_code == 503 and health.json()["vault"] == "down"


def test_without_an_upstream_key_the_client_gets_authentication_error(settings: Any, model: StandinModel) -> None:
    with serving(settings, model, anthropic_api_key=None) as url:
        response = httpx.post(
            url + "/v1/messages",
            headers={"x-api-key": CLIENT_KEY},
            json={"model": "m", "max_tokens": 5, "messages": []},
            timeout=30,
        )
    assert response.status_code == 401
    assert "ANTHROPIC_API_KEY" in response.json()["error"]["message"]
    assert model.requests == []


def test_passthrough_forwards_the_clients_own_credentials(settings: Any, model: StandinModel) -> None:
    with serving(settings, model, passthrough=True, anthropic_api_key=None) as url:
        response = httpx.post(
            url + "/v1/messages",
            headers={"authorization": "Bearer user-oauth-token"},
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
            timeout=30,
        )
    assert response.status_code == 200
    assert model.last_request.headers["authorization"] == "Bearer user-oauth-token"
    assert_no_original(upstream_text(model.last_request))


def test_keys_bound_to_namespaces_keep_teams_apart(settings: Any, model: StandinModel) -> None:
    keys = {"team-a-key": settings.namespace + "a", "team-b-key": settings.namespace + "b"}
    with serving(settings, model, api_key=None, key_namespaces=keys) as url:

        def ask(key: str, content: str) -> str:
            response = httpx.post(
                url + "/v1/messages",
                headers={"x-api-key": key},
                json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]},
                timeout=30,
            )
            return str(response.json()["content"][0]["text"])

        ask("team-a-key", f"look at {INSTANCE}")
        a_pseudonym = pseudonym_in(model.last_request, "ec2")
        model.enqueue(Text(f"restore {a_pseudonym}?"))
        answer_to_b = ask("team-b-key", "hello")
    assert answer_to_b == f"restore {a_pseudonym}?"


def test_logs_never_contain_an_original(proxy: Proxy) -> None:
    proxy.model.responder = lambda r: ToolUse("Bash", {"command": f"ping {pseudonym_in(r, 'ec2')}"})
    with client(proxy).messages.stream(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        stream.get_final_message()
    _post(proxy, b"{broken")
    assert proxy.logs, "the proxy logged nothing at DEBUG: the test would prove nothing"
    assert_no_original("\n".join(proxy.logs))


def test_altered_or_invented_tokens_in_thinking_still_go_back_exactly_as_signed(proxy: Proxy) -> None:
    """Re-masking `EC2-001` or an invented `ec2-777` would not give back the signed text: the memo does."""
    proxy.model.responder = lambda r: Thinking(
        f"{pseudonym_in(r, 'ec2').upper()} vs ec2-777 vs i-0aaaabbbbccccdddd", "Done."
    )
    for stream in (False, True):
        first = _create(proxy, [{"role": "user", "content": PROMPT}], stream)
        thinking = first["content"][0]
        assert thinking["type"] == "thinking" and INSTANCE in thinking["thinking"]
        proxy.model.responder, responder = None, proxy.model.responder
        history = [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": "and now?"},
        ]
        _create(proxy, history, False)
        sent = proxy.model.last_request.json["messages"][1]["content"][0]
        assert verify_signature(sent["thinking"], sent["signature"]), f"signature broken (stream={stream})"
        proxy.model.responder = responder


def _create(proxy: Proxy, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    api = client(proxy)
    if stream:
        with api.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=messages) as s:  # type: ignore[arg-type]
            return s.get_final_message().model_dump()
    return api.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages).model_dump()  # type: ignore[arg-type]
