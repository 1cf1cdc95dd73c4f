"""The stand-in model speaks the Anthropic Messages wire protocol well enough for the real SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from mktests.standin_model import (
    DisconnectMidStream,
    Error,
    Garbage,
    Message,
    Raw,
    RecordedRequest,
    Stall,
    StandinModel,
    Text,
    Thinking,
    ToolUse,
    verify_signature,
)

MODEL = "claude-sonnet-4-6"


@pytest.fixture(scope="module")
def shared_model() -> Iterator[StandinModel]:
    standin = StandinModel()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def model(shared_model: StandinModel) -> Iterator[StandinModel]:
    """The module's stand-in, reset to its defaults for every test."""
    shared_model.clear()
    yield shared_model
    shared_model.clear()
    shared_model.responder = None
    shared_model.event_delay = 0.0
    shared_model.seed = 0
    shared_model.max_delta_chars = 3


@pytest.fixture
def client(model: StandinModel) -> Iterator[anthropic.Anthropic]:
    sdk = anthropic.Anthropic(base_url=model.url, api_key="x", max_retries=0, timeout=10)
    try:
        yield sdk
    finally:
        sdk.close()


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body strictly: every event is exactly `event: NAME\\ndata: JSON\\n\\n`."""
    assert raw.endswith(b"\n\n")
    events = []
    for chunk in raw.decode("utf-8").split("\n\n")[:-1]:
        event_line, data_line = chunk.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return events


def _streamed_text(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(
        data["delta"]["text"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta"
    )


# --------------------------------------------------------------------------- SDK, non-streaming


def test_create_echoes_the_last_user_message(model: StandinModel, client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=50,
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "hello there"},
        ],
    )
    message = raw.parse()

    assert raw.headers["request-id"].startswith("req_")
    assert message.id.startswith("msg_")
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [
        ("text", "You said: hello there")
    ]
    assert message.usage.input_tokens == len(model.last_request.body) // 4


def test_scripted_replies_are_used_in_order_then_the_echo(
    model: StandinModel, client: anthropic.Anthropic
) -> None:
    model.enqueue(Text("scripted one"), Text("scripted two", stop_reason="max_tokens"))

    answers = [client.messages.create(model=MODEL, max_tokens=50, messages=_user(f"q{i}")) for i in range(3)]

    assert [(m.content[0].text, m.stop_reason) for m in answers] == [
        ("scripted one", "end_turn"),
        ("scripted two", "max_tokens"),
        ("You said: q2", "end_turn"),
    ]
    assert model.pending_replies == 0


def test_responder_comes_before_the_queue(model: StandinModel, client: anthropic.Anthropic) -> None:
    def responder(request: RecordedRequest) -> Text | None:
        return Text("from responder") if "special" in request.body.decode() else None

    model.responder = responder
    model.enqueue(Text("from queue"))

    special = client.messages.create(model=MODEL, max_tokens=50, messages=_user("special"))
    plain = client.messages.create(model=MODEL, max_tokens=50, messages=_user("plain"))

    assert special.content[0].text == "from responder"
    assert plain.content[0].text == "from queue"


def test_message_reply_combines_blocks(model: StandinModel, client: anthropic.Anthropic) -> None:
    model.enqueue(
        Message([Thinking("plan", ""), Text("calling"), ToolUse("ls", {"path": "/"}, id="toolu_fixed")])
    )

    message = client.messages.create(model=MODEL, max_tokens=50, messages=_user("go"))

    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].id == "toolu_fixed"
    assert message.content[2].input == {"path": "/"}
    assert message.stop_reason == "tool_use"


# --------------------------------------------------------------------------- SDK, streaming


def test_stream_reconstructs_text_from_tiny_deltas(model: StandinModel, client: anthropic.Anthropic) -> None:
    model.max_delta_chars = 1
    text = 'Ünïcode, "quotes" and\nnewlines — all intact.'
    model.enqueue(Text(text))

    with client.messages.stream(model=MODEL, max_tokens=50, messages=_user("hi")) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert pieces == list(text)
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens >= 1


def test_stream_reconstructs_tool_use_input(model: StandinModel, client: anthropic.Anthropic) -> None:
    model.max_delta_chars = 2
    tool_input = {
        "command": 'aws ec2 describe-instances --filters "Name=tag:x,Values=é"',
        "n": [1, 2.5, None],
    }
    model.enqueue(ToolUse("Bash", tool_input, text_before="Let me check.", id="toolu_01abc"))

    with client.messages.stream(model=MODEL, max_tokens=50, messages=_user("hi")) as stream:
        final = stream.get_final_message()

    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.type == "text" and text.text == "Let me check."
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("toolu_01abc", "Bash", tool_input)


def test_stream_reconstructs_thinking_and_signature(model: StandinModel, client: anthropic.Anthropic) -> None:
    thinking_text = "The user wants ec2-001 checked; think about it."
    model.enqueue(Thinking(thinking_text, "Done thinking."))

    with client.messages.stream(model=MODEL, max_tokens=50, messages=_user("hi")) as stream:
        final = stream.get_final_message()

    thinking, text = final.content
    assert thinking.type == "thinking" and text.type == "text"
    assert thinking.thinking == thinking_text
    assert verify_signature(thinking_text, thinking.signature)
    assert not verify_signature(thinking_text + " ", thinking.signature)
    assert text.text == "Done thinking."

    # A client that sends the thinking block back unchanged is detectable as such.
    client.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [block.model_dump() for block in final.content]},
            {"role": "user", "content": "next"},
        ],
    )
    sent_back = model.last_request.json["messages"][1]["content"][0]
    assert verify_signature(sent_back["thinking"], sent_back["signature"])


def test_disconnect_mid_stream_breaks_the_sdk_stream(
    model: StandinModel, client: anthropic.Anthropic
) -> None:
    model.max_delta_chars = 1
    model.enqueue(DisconnectMidStream("this answer never finishes", after_events=6))

    received: list[str] = []
    caught: Exception | None = None
    try:
        with client.messages.stream(model=MODEL, max_tokens=50, messages=_user("hi")) as stream:
            received.extend(stream.text_stream)
    except Exception as exc:  # the SDK lets its HTTP library's protocol error through
        caught = exc

    assert type(caught).__name__ in {"RemoteProtocolError", "APIConnectionError"}
    assert received, "some text arrives before the connection drops"
    assert "this answer never finishes".startswith("".join(received))
    assert "".join(received) != "this answer never finishes"


def test_disconnect_without_stream_is_a_connection_error(
    model: StandinModel, client: anthropic.Anthropic
) -> None:
    model.enqueue(DisconnectMidStream("broken"))

    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=50, messages=_user("hi"))


@pytest.mark.parametrize(
    ("status", "error_type", "exception"),
    [
        (529, "overloaded_error", anthropic.OverloadedError),
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
    ],
)
def test_errors_raise_the_sdk_exception(
    model: StandinModel,
    client: anthropic.Anthropic,
    status: int,
    error_type: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    model.enqueue(Error(status, error_type, f"scripted {error_type}"))

    with pytest.raises(exception) as raised:
        client.messages.create(model=MODEL, max_tokens=50, messages=_user("hi"))

    assert raised.value.status_code == status
    assert raised.value.body["error"] == {"type": error_type, "message": f"scripted {error_type}"}
    assert f"scripted {error_type}" in str(raised.value)
    assert raised.value.request_id is not None and raised.value.request_id.startswith("req_")


def test_error_mid_stream_raises_in_the_sdk_stream(model: StandinModel, client: anthropic.Anthropic) -> None:
    model.enqueue(Error(529, "overloaded_error", "busy mid-stream", mid_stream=True))

    with pytest.raises(anthropic.APIStatusError, match="busy mid-stream"):
        with client.messages.stream(model=MODEL, max_tokens=50, messages=_user("hi")) as stream:
            stream.get_final_message()


# --------------------------------------------------------------------------- other endpoints via the SDK


def test_count_tokens(model: StandinModel, client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=_user("count these tokens please"))

    request = model.last_request
    assert request.path == "/v1/messages/count_tokens"
    assert counted.input_tokens == len(request.body) // 4 > 0


def test_models_list(model: StandinModel, client: anthropic.Anthropic) -> None:
    ids = [entry.id for entry in client.models.list()]

    assert "claude-sonnet-4-5" in ids
    page = httpx.get(f"{model.url}/v1/models").json()
    assert page["has_more"] is False
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
    assert all(entry["type"] == "model" and entry["display_name"] for entry in page["data"])


# --------------------------------------------------------------------------- raw wire format


def test_stream_wire_format_is_event_by_event(model: StandinModel) -> None:
    model.max_delta_chars = 2
    model.event_delay = 0.01  # so that each event reaches the client as its own chunk
    body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": _user("wire format")}

    with httpx.stream("POST", f"{model.url}/v1/messages", json=body) as response:
        chunks = list(response.iter_bytes())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    events = _sse_events(b"".join(chunks))
    assert len(chunks) > 1 and all(chunk.endswith(b"\n\n") for chunk in chunks)
    assert all(data["type"] == name for name, data in events)
    assert [name for name, _ in events[:2]] == ["message_start", "ping"]
    non_ping = [name for name, _ in events if name != "ping"]
    assert non_ping[:2] == ["message_start", "content_block_start"]
    assert non_ping[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == MODEL
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert all(1 <= len(piece) <= 2 for piece in deltas)
    assert "".join(deltas) == "You said: wire format"


def test_stream_splitting_follows_the_seed(model: StandinModel) -> None:
    def split_with(seed: int) -> list[str]:
        model.seed = seed
        model.max_delta_chars = 4
        body = {"stream": True, "messages": _user("a longer message to split into pieces")}
        events = _sse_events(httpx.post(f"{model.url}/v1/messages", json=body).content)
        return [d["delta"]["text"] for n, d in events if n == "content_block_delta"]

    assert split_with(1) == split_with(1)
    assert split_with(1) != split_with(2)


def test_non_stream_json_shape(model: StandinModel) -> None:
    body = {"model": MODEL, "max_tokens": 50, "messages": _user("shape")}

    response = httpx.post(f"{model.url}/v1/messages", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    message = response.json()
    assert message["id"].startswith("msg_")
    assert {k: v for k, v in message.items() if k not in {"id", "usage"}} == {
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "You said: shape"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    assert message["usage"]["input_tokens"] == len(response.request.content) // 4
    assert message["usage"]["output_tokens"] >= 1


def test_garbage_and_raw_replies_are_sent_verbatim(model: StandinModel) -> None:
    model.enqueue(Garbage(b"event: nonsense\ndata: {not json\n\n", status=502, content_type="text/plain"))
    model.enqueue(Raw([("message_stop", {"type": "message_stop"})]))
    body = {"stream": True, "messages": _user("x")}

    garbage = httpx.post(f"{model.url}/v1/messages", json=body)
    raw = httpx.post(f"{model.url}/v1/messages", json=body)

    assert (garbage.status_code, garbage.content) == (502, b"event: nonsense\ndata: {not json\n\n")
    assert garbage.headers["content-type"].startswith("text/plain")
    assert raw.content == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def test_stall_delays_the_answer(model: StandinModel, client: anthropic.Anthropic) -> None:
    model.enqueue(Stall(0.3, then=Text("late")))

    began = time.monotonic()
    message = client.messages.create(model=MODEL, max_tokens=50, messages=_user("hi"))

    assert time.monotonic() - began >= 0.3
    assert message.content[0].text == "late"


def test_client_disconnect_is_noticed(model: StandinModel) -> None:
    model.max_delta_chars = 1
    model.event_delay = 0.05  # a long, slow stream: ~10 s if nobody hung up
    body = {"stream": True, "messages": _user("x" * 200)}

    httpx.post(f"{model.url}/v1/messages", json=body | {"stream": False})
    assert not model.client_disconnected.is_set(), "a completed response is not a disconnect"

    with httpx.stream("POST", f"{model.url}/v1/messages", json=body) as response:
        first = next(response.iter_lines())
    assert first == "event: message_start"

    assert model.client_disconnected.wait(timeout=2)
    assert model.disconnects == 1


# --------------------------------------------------------------------------- recording and robustness


def test_recorded_request_holds_the_exact_body_and_headers(model: StandinModel) -> None:
    body = b'{"model": "m",  "messages": [{"role": "user", "content": "exact  spacing \\u00e9"}]}'
    headers = {"x-api-key": "sk-test", "anthropic-beta": "a-2025,b-2026", "Content-Type": "application/json"}

    httpx.post(f"{model.url}/v1/messages?beta=true", content=body, headers=headers)

    request = model.last_request
    assert (request.method, request.path, request.query) == ("POST", "/v1/messages", "beta=true")
    assert request.body == body
    assert request.json == json.loads(body)
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-beta"] == "a-2025,b-2026"
    assert request.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in request.headers)
    assert model.requests == [request]
    assert model.wait_for_request(lambda r: r.path == "/v1/messages", timeout=1) == request
    with pytest.raises(TimeoutError):
        model.wait_for_request(lambda r: r.path == "/elsewhere", timeout=0.05)


def test_claude_code_shaped_request_is_echoed(model: StandinModel) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 32000,
        "stream": True,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list my instances"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Running it."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "aws ec2"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ec2-001 running"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "vpc-001"}, {"type": "image", "source": {}}],
                    },
                    {"type": "text", "text": "<system-reminder>be brief</system-reminder>"},
                    {"type": "text", "text": "what now?"},
                    "not a block",
                    {"type": "mystery", "weird": [1, 2]},
                ],
            },
        ],
    }
    headers = {"anthropic-beta": "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"}

    assert httpx.head(f"{model.url}/").status_code == 200
    response = httpx.post(f"{model.url}/v1/messages?beta=true", json=body, headers=headers)

    assert response.status_code == 200
    assert _streamed_text(_sse_events(response.content)) == (
        "You said: tool_result: ec2-001 running\ntool_result: vpc-001\n"
        "<system-reminder>be brief</system-reminder>\nwhat now?"
    )
    assert [(r.method, r.path, r.query) for r in model.requests] == [
        ("HEAD", "/", ""),
        ("POST", "/v1/messages", "beta=true"),
    ]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"model": "m"}', b'{"messages": "hi"}', b""])
def test_bad_bodies_get_an_anthropic_400(model: StandinModel, body: bytes) -> None:
    response = httpx.post(f"{model.url}/v1/messages", content=body)

    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert model.last_request.body == body


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nope"), ("POST", "/v2/messages"), ("GET", "/v1/messages")]
)
def test_unknown_routes_get_an_anthropic_404(model: StandinModel, method: str, path: str) -> None:
    response = httpx.request(method, f"{model.url}{path}")

    assert response.status_code == 404
    assert response.headers["request-id"].startswith("req_")
    assert response.json()["error"]["type"] == "not_found_error"
    assert (model.last_request.method, model.last_request.path) == (method, path)


def test_control_endpoints(model: StandinModel, client: anthropic.Anthropic) -> None:
    queued = httpx.post(
        f"{model.url}/_standin/enqueue", json={"type": "tool_use", "name": "Read", "input": {"file": "a"}}
    )
    assert queued.status_code == 200
    assert httpx.post(f"{model.url}/_standin/enqueue", json={"type": "nonsense"}).status_code == 400

    message = client.messages.create(model=MODEL, max_tokens=50, messages=_user("hi"))
    recorded = httpx.get(f"{model.url}/_standin/requests").json()["requests"]
    httpx.post(f"{model.url}/_standin/clear")

    assert message.content[0].type == "tool_use" and message.content[0].input == {"file": "a"}
    assert [(r["method"], r["path"]) for r in recorded] == [("POST", "/v1/messages")]
    assert recorded[0]["json"]["messages"] == _user("hi")
    assert json.loads(recorded[0]["body"]) == recorded[0]["json"]
    assert model.requests == []


# --------------------------------------------------------------------------- lifecycle


def test_start_and_stop() -> None:
    standin = StandinModel()
    with pytest.raises(RuntimeError):
        _ = standin.url
    with standin:
        url = standin.url
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url).status_code == 200
    standin.stop()  # idempotent

    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_process_mode(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "mktests.standin_model", "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().strip()
        assert ready.startswith("READY http://127.0.0.1:")
        url = ready.removeprefix("READY ")
        assert url.endswith(f":{int(port_file.read_text())}")

        with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, timeout=10) as sdk:
            message = sdk.messages.create(model=MODEL, max_tokens=50, messages=_user("from a process"))
        recorded = httpx.get(f"{url}/_standin/requests").json()["requests"]

        assert message.content[0].text == "You said: from a process"
        assert [(r["method"], r["path"]) for r in recorded] == [("POST", "/v1/messages")]
        assert recorded[0]["headers"]["user-agent"].startswith("Anthropic/Python")
        assert recorded[0]["json"]["messages"] == _user("from a process")
    finally:
        process.kill()
        process.wait(timeout=10)
