"""The proxy's HTTP edge against the attacks of the security review (issue 13): each test sends what broke, to a
real proxy on loopback in front of the stand-in model, and checks that nothing sensitive reached the model or the
log, and that the answer is an Anthropic-shaped error (never a 500). docs/security.md links here.

Raw requests (dot segments, Content-Length with Transfer-Encoding, a forged Host) go through a plain socket:
httpx would normalise or refuse them before they left.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from mktests.proxyfixtures import CLIENT_KEY, UPSTREAM_KEY, Proxy, ServerThread, proxy_settings, serving, wait_for_proxy
from mktests.standin_model import StandinModel

from maskkit import Settings
from maskkit.proxy.app import build_app

INSTANCE = "i-0badc0ffee0ddf00d"
ACCESS_KEY = "AKIAQ3V5X7Z2B4D6F2H4"
PRESIGNED = (
    "https://my-bucket.s3.eu-west-1.amazonaws.com/diagram.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={ACCESS_KEY}%2F20261203%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261203T101010Z"
    "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "ab" * 32
)


def body(content: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": content}], **extra}


def raw_request(url: str, head: str, payload: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send `head` (request line and headers, CRLF-separated, without the final blank line) and `payload` exactly
    as written; return (status, headers, body). The connection is closed by the request."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\nConnection: close\r\n\r\n" + payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        decoded, rest_ = b"", rest
        while rest_:
            size_line, _, rest_ = rest_.partition(b"\r\n")
            size = int(size_line, 16)
            if not size:
                break
            decoded, rest_ = decoded + rest_[:size], rest_[size + 2 :]
        rest = decoded
    return int(lines[0].split()[1]), headers, rest


def anthropic_error(status: int, raw: bytes) -> dict[str, Any]:
    assert status != 500
    error = json.loads(raw)
    assert error["type"] == "error" and error["error"]["type"] and error["error"]["message"], error
    return error["error"]  # type: ignore[no-any-return]


def nothing_reached(proxy: Proxy, *originals: str) -> None:
    for request in proxy.model.requests:
        seen = request.path + request.query + request.body.decode("utf-8", "replace") + json.dumps(request.headers)
        assert not [o for o in originals if o in seen], "an original reached the model"
    assert not [line for line in proxy.logs for o in originals if o in line], "an original was logged"


# --- item 6: media sources ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("kind", ["image", "document"])
def test_a_presigned_media_url_is_refused_and_never_forwarded(proxy: Proxy, route: str, kind: str) -> None:
    block = {"type": kind, "source": {"type": "url", "url": PRESIGNED}}
    response = httpx.post(proxy.url + route, headers=proxy.headers(), json=body([block]), timeout=30)
    assert response.status_code == 400
    assert "presigned" in anthropic_error(400, response.content)["message"]
    assert ACCESS_KEY not in response.text
    assert proxy.model.requests == []
    nothing_reached(proxy, ACCESS_KEY, "ab" * 32)


def test_a_media_url_holding_an_identifier_is_masked_like_text(proxy: Proxy) -> None:
    url = f"https://example.com/screens/{INSTANCE}.png"
    block = {"type": "image", "source": {"type": "url", "url": url}}
    response = httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(), json=body([block]), timeout=30)
    assert response.status_code == 200, response.text
    sent = proxy.model.last_request.json["messages"][0]["content"][0]["source"]["url"]
    assert sent.startswith("https://example.com/screens/ec2-") and INSTANCE not in sent
    nothing_reached(proxy, INSTANCE)


@pytest.mark.parametrize("route", ["/v1/messages", "/v1/messages/count_tokens"])
def test_a_base64_text_document_is_decoded_masked_and_encoded_again(proxy: Proxy, route: str) -> None:
    text = f"instance {INSTANCE} uses key {ACCESS_KEY}\n"
    data = base64.b64encode(text.encode()).decode()
    block = {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": data}}
    response = httpx.post(proxy.url + route, headers=proxy.headers(), json=body([block]), timeout=30)
    assert response.status_code == 200, response.text
    sent = proxy.model.last_request.json["messages"][0]["content"][0]["source"]
    masked = base64.b64decode(sent["data"]).decode()
    assert masked.startswith("instance ec2-") and " uses key iam-" in masked
    nothing_reached(proxy, INSTANCE, ACCESS_KEY)


def test_a_text_document_that_is_not_base64_of_utf8_is_refused(proxy: Proxy) -> None:
    data = base64.b64encode(b"\xff\xfe" + INSTANCE.encode()).decode()
    block = {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": data}}
    response = httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(), json=body([block]), timeout=30)
    assert response.status_code == 400 and anthropic_error(400, response.content)["type"] == "invalid_request_error"
    assert proxy.model.requests == []


# --- item 7: the URL check sees what the upstream will see ---------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        f"/v1/messages?k=%41{ACCESS_KEY[1:]}",
        f"/v1/messages?k=+{ACCESS_KEY}",
        f"/v1/models/%23{INSTANCE}",
        f"/v1/models/%3F{INSTANCE}",
        f"/v1/models/%5C{INSTANCE}",
        f"/v1/models/%2569{INSTANCE[1:]}",
    ],
    ids=["query-encoded", "query-plus", "hash", "question", "backslash", "double-encoded"],
)
def test_an_identifier_in_the_url_is_refused_however_it_is_encoded(proxy: Proxy, target: str) -> None:
    method = "POST" if target.startswith("/v1/messages") else "GET"
    payload = json.dumps(body()).encode()
    status, _, answer = raw_request(
        proxy.url,
        f"{method} {target} HTTP/1.1\nHost: 127.0.0.1\nx-api-key: {CLIENT_KEY}\ncontent-type: application/json\n"
        f"content-length: {len(payload) if method == 'POST' else 0}",
        payload if method == "POST" else b"",
    )
    assert status == 400, answer[:300]
    anthropic_error(status, answer)
    assert proxy.model.requests == []
    nothing_reached(proxy, INSTANCE, ACCESS_KEY, INSTANCE[2:])


# --- item 8: path normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/..%2fadmin", "/v1/%2E%2E%2Fadmin", "/v1/x/../../admin"]
)
def test_a_path_that_leaves_v1_once_resolved_is_refused_not_forwarded(proxy: Proxy, target: str) -> None:
    status, _, answer = raw_request(proxy.url, f"GET {target} HTTP/1.1\nHost: 127.0.0.1\nx-api-key: {CLIENT_KEY}")
    assert status in (400, 404), answer[:300]
    anthropic_error(status, answer)
    assert proxy.model.requests == [], "a request reached the upstream with the proxy's key"


def test_a_dot_segment_path_to_messages_is_routed_as_messages_and_keeps_the_media_policy(
    settings: Settings, model: StandinModel
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    payload = json.dumps(body([image, {"type": "text", "text": INSTANCE}])).encode()
    with serving(settings, model, media="block") as url:
        status, _, answer = raw_request(
            url,
            f"POST /v1/x/../messages HTTP/1.1\nHost: 127.0.0.1\nx-api-key: {CLIENT_KEY}\n"
            f"content-type: application/json\ncontent-length: {len(payload)}",
            payload,
        )
        assert status == 400 and "MASKKIT_MEDIA" in anthropic_error(status, answer)["message"]
        text_only = json.dumps(body(f"about {INSTANCE}")).encode()
        status, _, answer = raw_request(
            url,
            f"POST /v1/x/../messages HTTP/1.1\nHost: 127.0.0.1\nx-api-key: {CLIENT_KEY}\n"
            f"content-type: application/json\ncontent-length: {len(text_only)}",
            text_only,
        )
    assert status == 200, answer[:300]
    assert [r.path for r in model.requests] == ["/v1/messages"]
    assert INSTANCE not in model.requests[0].body.decode()


# --- item 9: request headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["anthropic-beta", "user-agent", "x-app", "x-stainless-os"])
def test_an_identifier_in_a_forwarded_header_is_refused_naming_the_header_not_the_value(
    proxy: Proxy, header: str
) -> None:
    response = httpx.post(
        proxy.url + "/v1/messages", headers=proxy.headers(**{header: f"x {ACCESS_KEY}"}), json=body(), timeout=30
    )
    assert response.status_code == 400
    message = anthropic_error(400, response.content)["message"]
    assert header in message and ACCESS_KEY not in response.text
    assert proxy.model.requests == []
    nothing_reached(proxy, ACCESS_KEY)


def test_only_the_header_allowlist_is_forwarded(proxy: Proxy) -> None:
    extra = {
        "anthropic-beta": "interleaved-thinking-2025-05-14",
        "user-agent": "claude-cli/2.1.197 (external, cli)",
        "x-app": "cli",
        "x-stainless-lang": "python",
        "cookie": f"session={ACCESS_KEY}",
        "x-custom": INSTANCE,
        "x-forwarded-for": "10.1.2.3",
    }
    response = httpx.post(proxy.url + "/v1/messages", headers=proxy.headers(**extra), json=body(), timeout=30)
    assert response.status_code == 200, response.text
    sent = proxy.model.last_request.headers
    for name in ("anthropic-beta", "user-agent", "x-app", "x-stainless-lang", "anthropic-version"):
        assert sent[name] == {**extra, **proxy.headers()}[name]
    assert not {"cookie", "x-custom", "x-forwarded-for"} & set(sent)
    assert sent["x-api-key"] == UPSTREAM_KEY
    nothing_reached(proxy, ACCESS_KEY, INSTANCE)


# --- item 13: never a 500 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a \\ud800 b"}]}',
        json.dumps(body([{"type": "text", "text": "x", "extra": json.loads("[" * 900 + "]" * 900)}])).encode(),
        b'{"model":"m","max_tokens":5,"messages":[],"n":' + b"9" * 5000 + b"}",
    ],
    ids=["lone-surrogate", "900-deep", "5000-digits"],
)
@pytest.mark.parametrize("route", ["/v1/messages", "/v1/other"])
def test_inputs_that_used_to_be_a_500_are_a_400(proxy: Proxy, payload: bytes, route: str) -> None:
    response = httpx.post(proxy.url + route, headers=proxy.headers(), content=payload, timeout=30)
    assert response.status_code == 400, response.text[:300]
    assert anthropic_error(400, response.content)["type"] == "invalid_request_error"
    assert proxy.model.requests == []


# --- item 17: request smuggling -------------------------------------------------------------------------------------


def test_content_length_with_transfer_encoding_is_refused(proxy: Proxy) -> None:
    payload = json.dumps(body(INSTANCE)).encode()
    chunked = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    status, _, answer = raw_request(
        proxy.url,
        f"POST /v1/messages HTTP/1.1\nHost: 127.0.0.1\nx-api-key: {CLIENT_KEY}\ncontent-type: application/json\n"
        f"Content-Length: {len(payload)}\nTransfer-Encoding: chunked",
        chunked,
    )
    assert status == 400, answer[:300]
    anthropic_error(status, answer)
    assert proxy.model.requests == []


# --- DNS rebinding: a loopback proxy answers loopback names only ----------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:8000", "10.0.0.1"])
def test_a_loopback_proxy_refuses_a_request_addressed_to_another_host(proxy: Proxy, host: str) -> None:
    payload = json.dumps(body(INSTANCE)).encode()
    status, _, answer = raw_request(
        proxy.url,
        f"POST /v1/messages HTTP/1.1\nHost: {host}\nx-api-key: {CLIENT_KEY}\ncontent-type: application/json\n"
        f"content-length: {len(payload)}",
        payload,
    )
    assert status == 403 and anthropic_error(status, answer)["type"] == "permission_error"
    assert proxy.model.requests == []
    for host_ok in ("localhost", "127.0.0.1", "[::1]:9"):
        ok, _, _ = raw_request(proxy.url, f"GET / HTTP/1.1\nHost: {host_ok}")
        assert ok == 200, host_ok


# --- item 1 (the parts that need no Claude Code): the headless route ------------------------------------------------


def test_the_headless_route_is_off_in_passthrough_and_takes_json_only(
    settings: Settings, model: StandinModel, proxy: Proxy
) -> None:
    with serving(settings, model, passthrough=True) as url:
        off = httpx.post(url + "/v1/claude-code", headers={"x-api-key": "sk-mine"}, json={"prompt": "hi"}, timeout=30)
        head = "POST /v1/x/../claude-code HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 0"
        traversal, _, answer = raw_request(url, head)
    assert off.status_code == 403 and "passthrough" in anthropic_error(403, off.content)["message"]
    assert traversal == 403, answer[:300]
    form = httpx.post(
        proxy.url + "/v1/claude-code",
        headers={"x-api-key": CLIENT_KEY, "content-type": "text/plain"},
        content=json.dumps({"prompt": "hi"}),
        timeout=30,
    )
    assert form.status_code == 415
    anthropic_error(415, form.content)
    assert model.requests == []


# --- item 14: overload ----------------------------------------------------------------------------------------------


def test_requests_over_the_in_flight_limit_get_an_anthropic_529_with_retry_after(
    settings: Settings, model: StandinModel
) -> None:
    model.event_delay = 0.3
    server = ServerThread(build_app(proxy_settings(settings, model), max_in_flight=1)).start()
    try:
        headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
        url = server.url + "/v1/messages"
        with httpx.stream("POST", url, headers=headers, json=body(stream=True), timeout=30) as s:
            assert s.status_code == 200
            busy = httpx.post(server.url + "/v1/messages", headers=headers, json=body(), timeout=30)
            s.read()
        after = httpx.post(server.url + "/v1/messages", headers=headers, json=body(), timeout=30)
    finally:
        server.stop()
    assert busy.status_code == 529 and busy.headers["retry-after"] == "1"
    assert anthropic_error(529, busy.content)["type"] == "overloaded_error"
    assert after.status_code == 200


def test_a_proxy_process_caps_connections_with_a_529_closes_half_open_ones_and_answers_bad_http_as_json(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    from mktests.proxyfixtures import start_proxy_process, stop_proxy_process

    proxy = start_proxy_process({**env, "MASKKIT_MAX_CONNECTIONS": "4"}, model.url, tmp_path)
    sockets: list[socket.socket] = []
    try:
        parts = urlsplit(proxy.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 0)
        for _ in range(4):  # half-open: connected, never a byte sent
            sockets.append(socket.create_connection(address, timeout=30))
        # The server counts a connection once its event loop has accepted it: ask until it has counted all four.
        deadline = time.monotonic() + 30
        while (answered := raw_request(proxy.url, "GET /health HTTP/1.1\nHost: 127.0.0.1"))[0] == 200:
            assert time.monotonic() < deadline, "four idle connections never filled MASKKIT_MAX_CONNECTIONS=4"
        status, headers, answer = answered
        assert status == 529 and headers["retry-after"] == "1"
        assert anthropic_error(status, answer)["type"] == "overloaded_error"
        started = time.monotonic()
        for sock in sockets:  # the header timeout (10 s) closes them: recv returns b"" (EOF)
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 20
        status, _, _ = raw_request(proxy.url, "GET /health HTTP/1.1\nHost: 127.0.0.1")
        assert status == 200
        status, _, answer = raw_request(proxy.url, "GET /health HTTP/1.1\nHost: 127.0.0.1\nx-big: " + "a" * 100_000)
        assert status == 400 and anthropic_error(status, answer)["type"] == "invalid_request_error"
        status, _, answer = raw_request(proxy.url, "NOT A REQUEST LINE\nHost: 127.0.0.1")  # uvicorn: plain text
        assert status == 400 and anthropic_error(status, answer)["type"] == "invalid_request_error"
    finally:
        for sock in sockets:
            sock.close()
        stop_proxy_process(proxy)


# --- item 15: a keys file means no generated key --------------------------------------------------------------------


def test_with_a_keys_file_and_no_api_key_the_proxy_generates_and_prints_no_key(
    env: dict[str, str], model: StandinModel, tmp_path: Path, private_home: Path
) -> None:
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[keys]\n"mk-team-key-0123456789" = "team"\n', encoding="utf-8")
    port_file = tmp_path / "port"
    log = tmp_path / "proxy.log"
    run_env = {k: v for k, v in env.items() if k not in ("MASKKIT_API_KEY",)}
    run_env.update({"MASKKIT_HOME": str(private_home), "MASKKIT_KEYS_FILE": str(keys_file),
                    "ANTHROPIC_API_KEY": UPSTREAM_KEY})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "maskkit", "proxy", "--port", "0", "--port-file", str(port_file),
             "--upstream", model.url],
            env=run_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        url = wait_for_proxy(process, port_file, log)
        ok = httpx.post(url + "/v1/messages", headers={"x-api-key": "mk-team-key-0123456789"}, json=body(), timeout=30)
        assert ok.status_code == 200, ok.text
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not (private_home / "proxy.key").exists()
    assert "ANTHROPIC_API_KEY=" not in log.read_text()


# --- item 11: a burst is backpressure, not an outage ------------------------------------------------------------------


def test_a_burst_that_exhausts_the_vault_pool_gets_529s_never_vault_down_and_the_pool_survives(
    settings: Settings, model: StandinModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-connection pool that waits 1 ms, and Redis pausing writes for half a second while the burst arrives
    (so the one connection is surely busy): the requests that find the pool full must be told to retry (529
    overloaded_error + retry-after), not that Redis is down (503), and the proxy keeps working."""
    import asyncio

    import redis

    import maskkit.vault.store as store

    monkeypatch.setattr(store, "_ASYNC_POOL_SIZE", 1)
    monkeypatch.setattr(store, "_ASYNC_POOL_WAIT", 0.001)
    with serving(settings, model) as url:

        async def burst() -> list[httpx.Response]:
            headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(client.post(url + "/v1/messages", headers=headers, json=body(f"{INSTANCE[:-3]}{i:03x}"))
                      for i in range(150))
                )

        # The namespace's recall index is loaded first (the proxy warms it at start-up; this request waits for
        # that): requests waiting for a load are released a few at a time and would never crowd the pool.
        warm = httpx.post(url + "/v1/messages", headers={"x-api-key": CLIENT_KEY}, json=body("warm"), timeout=30)
        assert warm.status_code == 200, warm.text
        with redis.Redis(unix_socket_path=str(settings.home / "redis.sock")) as admin:
            admin.execute_command("CLIENT", "PAUSE", "500", "WRITE")
        answers = asyncio.run(burst())
        statuses = [a.status_code for a in answers]
        health = httpx.get(url + "/health", timeout=10)
        after = httpx.post(url + "/v1/messages", headers={"x-api-key": CLIENT_KEY}, json=body("hi"), timeout=30)
    assert 503 not in statuses and set(statuses) <= {200, 529}, statuses
    assert 529 in statuses, "the burst never exhausted the pool: the test proves nothing"
    for answer in answers:
        if answer.status_code == 529:
            assert answer.headers["retry-after"] == "1"
            assert anthropic_error(529, answer.content)["type"] == "overloaded_error"
    assert health.status_code == 200 and after.status_code == 200


# --- item 12 (the cap only): text to mask per request ---------------------------------------------------------------


def test_text_over_the_per_request_cap_is_a_413_and_opaque_data_does_not_count(
    settings: Settings, model: StandinModel
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 20_000}}
    with serving(settings, model, max_text_bytes=5_000) as url:
        headers = {"x-api-key": CLIENT_KEY}
        big = httpx.post(url + "/v1/messages", headers=headers, json=body(f"{INSTANCE} " + "x" * 6_000), timeout=30)
        other = httpx.post(url + "/v1/other", headers=headers, json={"note": "x" * 6_000}, timeout=30)
        mixed = body([image, {"type": "text", "text": "hi"}])
        with_image = httpx.post(url + "/v1/messages", headers=headers, json=mixed, timeout=30)
    assert big.status_code == 413 and "MASKKIT_MAX_TEXT_BYTES" in anthropic_error(413, big.content)["message"]
    assert other.status_code == 413
    assert INSTANCE not in big.text
    assert with_image.status_code == 200, with_image.text
    assert len(model.requests) == 1
