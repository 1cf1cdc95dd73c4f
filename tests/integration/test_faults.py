"""Faults with real processes: the vault's Redis stopped or killed under a running `maskkit proxy` process, a full
vault, an upstream that drops, stalls or talks garbage, and clients that hang up, one or many at once.

Every Redis fault runs on a dedicated embedded server (`private_home`, its own MASKKIT_HOME), never on the
session's shared one. Every process started here is stopped in a `finally`; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from mktests.proxyfixtures import (
    HEADERS,
    PSEUDONYM,
    ProxyProcess,
    ServerThread,
    instance_id,
    parse_sse,
    proxy_settings,
    start_proxy_process,
    stop_proxy_process,
)
from mktests.standin_model import DisconnectMidStream, Garbage, RecordedRequest, Stall, StandinModel, Text, Thinking

from maskkit import Masker, load_settings
from maskkit.proxy.app import build_app


def messages_body(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": text}]}


def post(url: str, text: str, *, timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/v1/messages", headers=HEADERS, json=messages_body(text), timeout=timeout)



def stream(url: str, text: str, *, timeout: float = 30) -> tuple[int, str, list[tuple[str | None, Any]]]:
    """POST a streaming request: (status, content type, events)."""
    with httpx.stream("POST", url + "/v1/messages", headers=HEADERS, json=messages_body(text, stream=True),
                      timeout=timeout) as response:
        raw = response.read().decode("utf-8", "replace")
    return response.status_code, response.headers.get("content-type", ""), parse_sse(raw)


def streamed_text(events: list[tuple[str | None, Any]]) -> str:
    return "".join(
        data["delta"].get("text", "")
        for name, data in events
        if name == "content_block_delta" and isinstance(data, dict)
    )


def issued(request: RecordedRequest, prefix: str = "ec2") -> list[str]:
    """The pseudonyms with this prefix in a request the stand-in received, in order of appearance."""
    found = re.findall(rf"\b{prefix}-\d{{3,}}\b", request.body.decode("utf-8"))
    assert found, f"no {prefix} pseudonym reached the model"
    return list(dict.fromkeys(found))


def echo_pseudonyms(request: RecordedRequest) -> Text:
    """The model answers with every pseudonym it was sent, so the client proves each one is restored."""
    return Text("restart " + " and ".join(dict.fromkeys(PSEUDONYM.findall(request.body.decode("utf-8")))))


def assert_anthropic_error(response: httpx.Response, status: int, error_type: str = "api_error") -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    assert body["request_id"] and response.headers.get("request-id") == body["request_id"]
    return str(body["error"]["message"])


def assert_ends_with_sse_error(events: list[tuple[str | None, Any]]) -> str:
    """The stream is reported broken the way the Messages API does it: a final `error` event, no message_stop."""
    assert events, "the client got no event at all"
    name, data = events[-1]
    assert name == "error", f"the stream did not end with an error event: {events[-3:]}"
    assert isinstance(data, dict) and data["type"] == "error" and data["error"]["type"] == "api_error", data
    assert all(name != "message_stop" for name, _ in events)
    return str(data["error"]["message"])


def maskkit_cli(env: dict[str, str], *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "maskkit", *args], env=env, input=input, capture_output=True,
                          timeout=60)


def redis_pid(home: Path) -> int:
    return int((home / "redis.pid").read_text().strip())


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def own_env(private_home: Path, env: dict[str, str]) -> dict[str, str]:
    """A subprocess environment on a dedicated embedded Redis, with the vault key in its own vault.key file."""
    base = {k: v for k, v in env.items() if not k.startswith("MASKKIT_")}
    return {**base, "MASKKIT_HOME": str(private_home)}


@pytest.fixture
def own_proxy(own_env: dict[str, str], model: StandinModel, tmp_path: Path) -> Iterator[ProxyProcess]:
    """`maskkit proxy` as a real process on the dedicated vault, logging at DEBUG."""
    process = start_proxy_process(own_env, model.url, tmp_path)
    try:
        yield process
    finally:
        stop_proxy_process(process)


# --- the vault's Redis goes away -------------------------------------------------------------------------------------


def _stop_with_the_cli(home: Path, env: dict[str, str]) -> None:
    result = maskkit_cli(env, "vault", "stop")
    assert result.returncode == 0 and result.stdout == b"stopped\n", result.stderr


def _crash(home: Path, env: dict[str, str]) -> None:
    pid = redis_pid(home)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pid_gone(pid), 10, "the killed redis-server to exit")


@pytest.mark.parametrize("outage", [_stop_with_the_cli, _crash], ids=["maskkit-vault-stop", "sigkill"])
def test_vault_outage_fails_closed_and_the_next_request_restarts_the_embedded_server(
    own_proxy: ProxyProcess, own_env: dict[str, str], private_home: Path, model: StandinModel,
    outage: Callable[[Path, dict[str, str]], None],
) -> None:
    """What happens, measured: the first request after the outage finds its pooled connection dead, fails closed
    (503, nothing sent) and drops its Redis client; the next one restarts the embedded server from its AOF and goes
    through. A SIGKILL loses nothing either: Redis writes the AOF (to the OS, fsync every second) before it
    answers, so only a machine crash could lose the last second of mappings."""
    model.responder = echo_pseudonyms
    known = instance_id()
    first = post(own_proxy.url, f"reboot {known}")
    assert first.status_code == 200, first.text
    assert first.json()["content"][0]["text"] == f"restart {known}"
    (before,) = issued(model.last_request)
    old_pid = redis_pid(private_home)

    outage(private_home, own_env)
    model.clear()
    new = instance_id()
    refused = post(own_proxy.url, f"reboot {known} and {new}")
    message = assert_anthropic_error(refused, 503)
    assert "vault" in message and "nothing was masked or sent" in message
    assert known not in refused.text and new not in refused.text
    assert model.requests == [], "a request went upstream while the vault was down"

    status, _, events = stream(own_proxy.url, f"reboot {known} and {new}")
    assert status == 200, events
    assert streamed_text(events) == f"restart {known} and {new}"
    assert redis_pid(private_home) != old_pid, "the embedded server was not restarted"
    after = issued(model.last_request)
    assert after[0] == before, "the mapping made before the outage was lost"
    assert int(after[1].rpartition("-")[2]) > int(before.rpartition("-")[2]), "a pseudonym number was reissued"
    assert known not in model.last_request.body.decode() and new not in model.last_request.body.decode()


def test_pseudonyms_issued_before_a_vault_restart_are_restored_by_a_new_proxy_process(
    own_env: dict[str, str], private_home: Path, model: StandinModel, tmp_path: Path
) -> None:
    """Stop the proxy, stop the vault (`maskkit vault stop`), delete the RDB snapshot so only the AOF is left,
    start a new proxy: the same originals get the same pseudonyms, and the model's answer is restored."""
    model.responder = echo_pseudonyms
    originals = [instance_id() for _ in range(3)]
    prompt = "check " + " ".join(originals)
    first = start_proxy_process(own_env, model.url, tmp_path)
    try:
        assert post(first.url, prompt).status_code == 200
    finally:
        stop_proxy_process(first)
    sent_before = issued(model.last_request)
    assert len(sent_before) == 3

    _stop_with_the_cli(private_home, own_env)
    assert not (private_home / "redis.sock").exists()
    (private_home / "vault.rdb").unlink(missing_ok=True)
    aof = [p for p in private_home.rglob("appendonly*") if p.is_file()]  # a file (Redis 6) or a dir (Redis 7)
    assert sum(p.stat().st_size for p in aof) > 0, "no AOF to restart from"

    model.clear()
    second = start_proxy_process(own_env, model.url, tmp_path)
    try:
        answer = post(second.url, prompt).json()["content"][0]["text"]
    finally:
        stop_proxy_process(second)
    assert issued(model.last_request) == sent_before
    assert answer == "restart " + " and ".join(originals)
    unmasked = maskkit_cli(own_env, "unmask", input=" ".join(sent_before).encode())
    assert unmasked.returncode == 0 and unmasked.stdout.decode() == " ".join(originals), unmasked.stderr


# --- a full vault ----------------------------------------------------------------------------------------------------


def test_a_full_vault_fails_closed_through_the_proxy_and_known_mappings_keep_working(
    own_proxy: ProxyProcess, private_home: Path, model: StandinModel
) -> None:
    model.responder = echo_pseudonyms
    client = redis.Redis(unix_socket_path=str(private_home / "redis.sock"))
    try:
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert "maxmemory-policy noeviction" in (private_home / "redis.conf").read_text()
        known = instance_id()
        assert post(own_proxy.url, f"reboot {known}").status_code == 200
        (pseudonym,) = issued(model.last_request)
        keys_before = set(client.scan_iter(count=1000))

        client.config_set("maxmemory", "1")
        try:
            model.clear()
            new = instance_id()
            refused = post(own_proxy.url, f"reboot {known} and {new}")
            assert "full" in assert_anthropic_error(refused, 503)
            refused_stream = httpx.post(own_proxy.url + "/v1/messages", headers=HEADERS, timeout=30,
                                        json=messages_body(f"reboot {new}", stream=True))
            assert "full" in assert_anthropic_error(refused_stream, 503)
            assert new not in refused.text + refused_stream.text
            assert model.requests == [], "a request went upstream while the vault was full"

            again = post(own_proxy.url, f"reboot {known}")
            assert again.status_code == 200 and again.json()["content"][0]["text"] == f"restart {known}"
            assert issued(model.last_request) == [pseudonym]

            # The thinking memo is best effort: a full vault costs the memo (logged), never the answer.
            model.responder = lambda r: Thinking(f"{issued(r)[0].upper()} is fine", "ok")
            thinking = post(own_proxy.url, f"reboot {known}")
            assert thinking.status_code == 200
            assert thinking.json()["content"][0]["thinking"] == f"{known} is fine"
            assert set(client.scan_iter(count=1000)) == keys_before, "a full vault gained or lost keys"
        finally:
            client.config_set("maxmemory", "0")
        model.responder = echo_pseudonyms
        assert post(own_proxy.url, f"reboot {new}").json()["content"][0]["text"] == f"restart {new}"
    finally:
        client.close()
    log = own_proxy.log_text()
    assert "VaultFull" in log and "could not record the thinking memo: VaultFull" in log
    assert known not in log and new not in log


# --- the upstream misbehaves -----------------------------------------------------------------------------------------


@pytest.fixture
def timeout_proxy(vault_home: Path, vault_key: str, namespace: str, model: StandinModel) -> Iterator[str]:
    """A proxy in a thread whose upstream timeout comes from MASKKIT_UPSTREAM_TIMEOUT=2."""
    settings = load_settings({"MASKKIT_HOME": str(vault_home), "MASKKIT_VAULT_KEY": vault_key,
                              "MASKKIT_NAMESPACE": namespace, "MASKKIT_UPSTREAM_TIMEOUT": "2"})
    assert settings.upstream_timeout == 2
    server = ServerThread(build_app(proxy_settings(settings, model, upstream_timeout=settings.upstream_timeout)))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_an_upstream_that_stalls_before_answering_gets_a_504_after_the_timeout(
    timeout_proxy: str, model: StandinModel
) -> None:
    model.enqueue(Stall(5))  # without the timeout the stand-in would answer 200 after 5 s
    response = httpx.post(timeout_proxy + "/v1/messages", headers=HEADERS, timeout=30,
                          json=messages_body(f"reboot {instance_id()}", stream=True))
    assert "did not answer in time" in assert_anthropic_error(response, 504)
    assert model.client_disconnected.wait(5), "the proxy never hung up on the stalled upstream"


def test_an_upstream_that_stalls_mid_stream_ends_the_stream_with_an_error_event(
    timeout_proxy: str, model: StandinModel
) -> None:
    model.event_delay = 3.0  # message_start at once, then 3 s before every further event
    status, _, events = stream(timeout_proxy, f"reboot {instance_id()}")
    assert status == 200
    assert events[0][0] == "message_start"
    assert "ReadTimeout" in assert_ends_with_sse_error(events)
    assert model.client_disconnected.wait(5), "the proxy never hung up on the stalled upstream"


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


_START = _sse("message_start", {"type": "message_start", "message": {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
    "usage": {"input_tokens": 1, "output_tokens": 1}}})
_BLOCK = _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})


def _delta(text: str) -> bytes:
    return _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": text}})


_BROKEN_ENDINGS: dict[str, tuple[bytes, str]] = {
    "clean-eof": (b"", "ended the stream before message_stop"),
    "invalid-utf8": (b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
                     b'"delta": {"type": "text_delta", "text": "now \xff\xfe"}}\n\n', "not valid UTF-8"),
    "eof-inside-a-utf8-character": (b"\xc3", "inside a UTF-8 character"),
    "data-not-json": (b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0\n\n',
                      "not JSON"),
}


def _one_character_events_until_the_block_stops(model: StandinModel, text: str) -> int:
    """How many SSE events the stand-in sends for `text` (one character per delta) before content_block_stop.

    A dry run straight against the stand-in: its event sequence, pings included, depends only on its seed."""
    model.max_delta_chars = 1
    model.enqueue(Text(text))
    with httpx.stream("POST", model.url + "/v1/messages", json=messages_body("dry run", stream=True),
                      timeout=30) as response:
        events = parse_sse(response.read().decode())
    model.clear()
    return next(i for i, (name, _) in enumerate(events) if name == "content_block_stop")


@pytest.mark.parametrize("ending", ["connection-dropped", *_BROKEN_ENDINGS])
def test_a_stream_that_breaks_inside_a_pseudonym_never_emits_a_wrong_original(
    timeout_proxy: str, model: StandinModel, masker: Masker, ending: str
) -> None:
    """The model writes "restart ec2-0" and the stream breaks there (dropped connection, clean EOF, invalid
    UTF-8, a cut UTF-8 character, data that is not JSON). The restorer holds "ec2-0" back: it may still become
    the issued ec2-001. What is correct then? The tail is text the model wrote, so flushing it raw would be
    acceptable; guessing (restoring "ec2-0" as if it were ec2-001) would not, and neither would garbage. The
    stream failed, so the client must see it fail: a final SSE `error` event in the Anthropic shape and no
    message_stop. Asserted: the text the client got is a prefix of the correctly restored answer, or that
    prefix plus the raw held-back tail; no original of anything else ever appears. (Today the tail is dropped.)"""
    original = instance_id()
    pseudonym = masker.mask(original).text  # the proxy masks with the same vault and namespace
    partial = pseudonym[:-2]
    if ending == "connection-dropped":
        cut = _one_character_events_until_the_block_stops(model, f"restart {partial}")
        model.enqueue(DisconnectMidStream(f"restart {partial}", after_events=cut))
        expected_message = "broke off the stream"
    else:
        tail, expected_message = _BROKEN_ENDINGS[ending]
        model.enqueue(Garbage(_START + _BLOCK + _delta("restart ") + _delta(partial) + tail))
    status, _, events = stream(timeout_proxy, f"reboot {original} please")
    assert status == 200
    assert expected_message in assert_ends_with_sse_error(events)
    text = streamed_text(events)
    correct = f"restart {original}"
    assert correct.startswith(text) or text == f"restart {partial}", f"the client saw {text!r}"
    assert model.requests and original not in model.requests[-1].body.decode()


@pytest.mark.parametrize(
    "broken",
    [b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {"text": "error in ec2-0\n\n',
     b"event: error\ndata: upstream exploded near ec2-0\n\n"],
    ids=["delta-mentioning-error", "error-event"],
)
def test_sse_data_that_is_not_json_never_reaches_the_client_raw(
    timeout_proxy: str, model: StandinModel, broken: bytes
) -> None:
    """Regression: non-JSON data that merely contained the word "error" used to be forwarded raw under the
    upstream's event name, with no error event after it. Now only `event: error` is special, and it is re-emitted
    as a well-formed Anthropic error event."""
    model.enqueue(Garbage(_START + _BLOCK + broken))
    status, _, events = stream(timeout_proxy, f"reboot {instance_id()}")
    assert status == 200
    assert all(isinstance(data, dict) for _, data in events), "an event with non-JSON data reached the client"
    assert_ends_with_sse_error(events)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
     (_START + _BLOCK + _delta("hi"), "text/plain"),
     (b"not json at all", "application/json")],
    ids=["html", "sse-bytes-as-text-plain", "json-content-type-non-json-body"],
)
def test_a_non_sse_answer_to_a_stream_request_is_an_anthropic_error(
    timeout_proxy: str, model: StandinModel, body: bytes, content_type: str
) -> None:
    model.enqueue(Garbage(body, content_type=content_type))
    response = httpx.post(timeout_proxy + "/v1/messages", headers=HEADERS, timeout=30,
                          json=messages_body(f"reboot {instance_id()}", stream=True))
    assert "not JSON" in assert_anthropic_error(response, 502)


# --- clients hang up -------------------------------------------------------------------------------------------------


def _upstream_connections(pid: int, port: int) -> int:
    """Established TCP connections of process `pid` to `port` on loopback (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and int(fields[2].split(":")[1], 16) == port and fields[3] == "01":
            count += 1
    return count


def _socket_count(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


async def _hang_up_after_the_first_bytes(url: str, clients: int) -> None:
    async def one(client: httpx.AsyncClient, index: int) -> None:
        body = messages_body(f"client {index} reboots {instance_id()}", stream=True)
        async with client.stream("POST", url + "/v1/messages", headers=HEADERS, json=body) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                break

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients)) as client:
        await asyncio.gather(*(one(client, i) for i in range(clients)))


def test_clients_hanging_up_cancel_their_upstream_requests_and_the_proxy_process_keeps_serving(
    own_proxy: ProxyProcess, model: StandinModel
) -> None:
    """One client, then two bursts of 25 hanging up at once on a real proxy process: every upstream request is
    cancelled (the stand-in sees each disconnect), no upstream connection stays open, the sockets do not pile up
    (the Redis pool is reused), nothing is logged as an error, and the proxy still streams."""
    model.event_delay = 0.05
    model.responder = lambda r: Text("word " * 400)  # ~700 events: far longer than any client stays
    pid, burst = own_proxy.process.pid, 25

    asyncio.run(_hang_up_after_the_first_bytes(own_proxy.url, 1))
    assert model.client_disconnected.wait(10), "the stand-in never saw the proxy hang up"

    baseline = _socket_count(pid)
    sockets = []
    for round_ in (1, 2):
        asyncio.run(_hang_up_after_the_first_bytes(own_proxy.url, burst))
        wait_until(lambda r=round_: model.disconnects >= 1 + r * burst, 15, "every upstream request to be cancelled")
        wait_until(lambda: _upstream_connections(pid, model.port) == 0, 10, "the upstream connections to close")
        sockets.append(_socket_count(pid))
    # The Redis pool may grow to one connection per concurrent request (one burst); a socket leaked per request
    # would show up as two bursts' worth.
    assert max(sockets) <= baseline + burst + 3, f"sockets: {baseline} before, {sockets} after each burst"

    model.responder = echo_pseudonyms
    model.event_delay = 0.0
    original = instance_id()
    status, _, events = stream(own_proxy.url, f"reboot {original}")
    assert status == 200 and streamed_text(events) == f"restart {original}"
    log = own_proxy.log_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
