"""Security properties, end to end with real processes: no original in logs, errors, Redis or the data dir after a
whole session; tenants kept apart by the proxy, the CLI, `maskkit.audit` and the MCP tools; the proxy's bind rules;
secrets at rest; and what `maskkit run` trusts.

Originals come from `awsgen` (fresh random identifiers every run, the seed in every failure message) or are made
up per test. Every process started here is stopped in a `finally`; every wait is bounded; everything listens on
loopback, except the one test that binds 0.0.0.0 on purpose (and connects over 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner, Result
from mktests import awsgen
from mktests.leakcheck import find_planted
from mktests.proxyfixtures import (
    CLIENT_KEY,
    HEADERS,
    PSEUDONYM,
    UPSTREAM_KEY,
    Proxy,
    instance_id,
    parse_sse,
    start_proxy_process,
    stop_proxy_process,
    wait_for_proxy,
)
from mktests.standin_model import (
    DisconnectMidStream,
    Error,
    RecordedRequest,
    StandinModel,
    Text,
    Thinking,
    ToolUse,
    verify_signature,
)

from maskkit import Masker
from maskkit.cli import main as maskkit_main
from maskkit.vault import stop_embedded_redis


def sg_id() -> str:
    return "sg-" + secrets.token_hex(9)[:17]


def short_dir(prefix: str) -> Path:
    """A fresh directory under /tmp: an embedded Redis needs a unix socket path under ~100 characters."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def scrubbed(env: dict[str, str]) -> dict[str, str]:
    """`env` without any MASKKIT_* or ANTHROPIC_* variable."""
    return {k: v for k, v in env.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))}


def messages(text: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": text}], **extra}



def sse_post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[tuple[str | None, Any]]:
    with httpx.stream("POST", url + "/v1/messages", headers=headers or HEADERS, json=body, timeout=30) as response:
        assert response.status_code == 200, response.read()[:500]
        return parse_sse(response.read().decode())


def deltas(events: list[tuple[str | None, Any]], field: str) -> str:
    return "".join(
        data["delta"].get(field, "")
        for name, data in events
        if name == "content_block_delta" and isinstance(data, dict)
    )


def masked_user_text(request: RecordedRequest) -> str:
    content = request.json["messages"][-1]["content"]
    return content if isinstance(content, str) else "\n".join(b["text"] for b in content if b.get("type") == "text")


def assert_same(actual: str, expected: str, what: str, seed: int) -> None:
    """Equality without printing either text (they hold originals): only where they first differ."""
    if actual != expected:
        index = next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
                     min(len(actual), len(expected)))
        raise AssertionError(f"{what}: differs at character {index} of {len(expected)} (awsgen seed={seed})")


def report(findings: list[Any], where: str, seed: int) -> str:
    lines = [f"{len(findings)} planted values in {where} (replay: awsgen seed={seed})"]
    return "\n".join(lines + [f"  {finding}" for finding in findings[:20]])


def redis_contents(sock: Path) -> bytes:
    """Every key with its DUMP and its readable value(s), as one blob to search."""
    client = redis.Redis(unix_socket_path=str(sock))
    try:
        blob = bytearray()
        for key in client.scan_iter(count=1000):
            blob += key + b"\n" + (client.dump(key) or b"") + b"\n"
            kind = client.type(key)
            if kind == b"hash":
                blob += b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
            elif kind == b"string":
                blob += client.get(key) or b""
            elif kind == b"set":
                blob += b"\n".join(client.smembers(key))
            elif kind == b"list":
                blob += b"\n".join(client.lrange(key, 0, -1))
            blob += b"\n"
        return bytes(blob)
    finally:
        client.close()


@pytest.fixture
def own_env(private_home: Path, env: dict[str, str]) -> dict[str, str]:
    """A subprocess environment on a dedicated embedded Redis, with the vault key in its own vault.key file."""
    return {**scrubbed(env), "MASKKIT_HOME": str(private_home)}


# --- no original anywhere after a whole session ----------------------------------------------------------------------


def test_a_whole_session_leaves_no_original_in_logs_errors_redis_or_the_data_dir(
    own_env: dict[str, str], private_home: Path, model: StandinModel, tmp_path: Path
) -> None:
    """A `maskkit proxy` process at DEBUG on its own vault serves JSON, streams, tool calls, signed thinking (and
    its memo), upstream errors, a stream broken mid-way, bad input of every kind and a vault outage, all carrying
    generated AWS documents. Then every planted value is searched for in: every request the model received, the
    proxy's log, every error the proxy made, every key and value in Redis, and every file of MASKKIT_HOME once
    Redis has flushed (the RDB is written uncompressed for this, so compression cannot hide a value).

    Upstream errors are not in the error haystack: their messages are restored on purpose (the client is the
    user, and may see its own originals), which is checked instead."""
    rng, seed = awsgen.fresh_rng()
    docs = awsgen.generate_documents(rng, 11)
    texts = [doc.text for doc in docs]
    proxy_errors: list[str] = []
    proxy = start_proxy_process(own_env, model.url, tmp_path)
    try:
        url = proxy.url

        def ask(body: dict[str, Any], **kwargs: Any) -> httpx.Response:
            return httpx.post(url + "/v1/messages", headers=HEADERS, json=body, timeout=30, **kwargs)

        # JSON, several blocks and a system prompt; the echo comes back restored exactly
        body = messages("", system=texts[0])
        body["messages"][0]["content"] = [{"type": "text", "text": texts[1]}, {"type": "text", "text": texts[2]}]
        answer = ask(body)
        assert answer.status_code == 200, answer.text[:300]
        assert_same(answer.json()["content"][0]["text"], "You said: " + texts[1] + "\n" + texts[2], "JSON", seed)

        # a stream in two-character deltas
        model.max_delta_chars = 2
        assert_same(deltas(sse_post(url, messages(texts[3], stream=True)), "text"), "You said: " + texts[3],
                    "stream", seed)

        # a streamed tool call that carries a whole document
        model.responder = lambda r: ToolUse("Bash", {"command": masked_user_text(r)}, "Running it.")
        tool = sse_post(url, messages(texts[4], stream=True))
        assert_same(json.loads(deltas(tool, "partial_json"))["command"], texts[4], "streamed tool call", seed)

        # signed thinking in which the model upper-cased the pseudonyms: restored, remembered, sent back as signed
        model.responder = lambda r: Thinking(PSEUDONYM.sub(lambda m: m.group().upper(), masked_user_text(r)), "ok")
        first = ask(messages(texts[5])).json()
        model.responder = None
        history = [{"role": "user", "content": texts[5]}, {"role": "assistant", "content": first["content"]},
                   {"role": "user", "content": "go on"}]
        assert ask({**messages(""), "messages": history}).status_code == 200
        sent = model.last_request.json["messages"][1]["content"][0]
        assert verify_signature(sent["thinking"], sent["signature"]), f"signed thinking changed (seed={seed})"

        # upstream errors quoting what the model read: restored for the client, JSON and mid-stream
        model.responder = lambda r: Error(529, "overloaded_error", "overloaded reading " + masked_user_text(r))
        upstream_error = ask(messages(texts[6]))
        assert upstream_error.status_code == 529
        assert_same(upstream_error.json()["error"]["message"], "overloaded reading " + texts[6], "error", seed)
        model.responder = lambda r: Error(529, "overloaded_error", "mid-stream " + masked_user_text(r), True)
        name, data = sse_post(url, messages(texts[6], stream=True))[-1]
        assert name == "error"
        assert_same(data["error"]["message"], "mid-stream " + texts[6], "mid-stream error", seed)

        # a stream that breaks off: the proxy's own error event
        model.responder = lambda r: DisconnectMidStream(masked_user_text(r), after_events=9)
        proxy_errors.append(json.dumps(sse_post(url, messages(texts[7], stream=True))[-1]))
        model.responder = None

        # count_tokens, an unknown /v1 route (generic JSON masking), bad input of every kind
        assert httpx.post(url + "/v1/messages/count_tokens", headers=HEADERS, json=messages(texts[8]),
                          timeout=30).status_code == 200
        other = httpx.post(url + "/v1/some/future/route", headers=HEADERS, json={"note": texts[8]}, timeout=30)
        assert other.status_code == 404  # the stand-in's own 404, after masking
        raw = json.dumps(messages(texts[9])).encode()
        bad: list[tuple[bytes, dict[str, str]]] = [
            (raw[:-5], {}),  # malformed JSON
            (raw[:-10] + b"\xff\xfe" + raw[-10:], {}),  # invalid UTF-8
            (raw, {"content-type": "text/plain"}),  # not JSON: 415
            (b"[" * 60_000 + raw + b"]" * 60_000, {}),  # nested too deeply
            (raw, {"x-api-key": "mk-wrong-key"}),  # 401
        ]
        for content, headers in bad:
            response = httpx.post(url + "/v1/messages", content=content, timeout=30,
                                  headers={**HEADERS, "content-type": "application/json", **headers})
            assert 400 <= response.status_code < 500, response.text[:300]
            proxy_errors.append(response.text)

        # a vault outage: refused, then the embedded server comes back
        stopped = subprocess.run([sys.executable, "-m", "maskkit", "vault", "stop"], env=own_env,
                                 capture_output=True, timeout=60)
        assert stopped.stdout == b"stopped\n", stopped.stderr
        outage = ask(messages(texts[10]))
        assert outage.status_code == 503
        proxy_errors.append(outage.text)
        assert_same(ask(messages(texts[10])).json()["content"][0]["text"], "You said: " + texts[10], "after", seed)
    finally:
        stop_proxy_process(proxy)

    for index, request in enumerate(model.requests):
        seen = request.body.decode("utf-8", "replace") + request.path + request.query + json.dumps(request.headers)
        findings = find_planted(seen, docs)
        assert not findings, report(findings, f"request #{index} the model received", seed)
    log = proxy.log_text()
    assert "DEBUG" in log and "Traceback" not in log
    assert not (findings := find_planted(log, docs)), report(findings, "the proxy's log", seed)
    assert not (findings := find_planted("\n".join(proxy_errors), docs)), report(findings, "the proxy's errors", seed)

    stored = redis_contents(private_home / "redis.sock")
    assert len(stored) > 20_000, "Redis holds too little for this check to mean anything"
    assert not (findings := find_planted(stored, docs)), report(findings, "Redis", seed)
    client = redis.Redis(unix_socket_path=str(private_home / "redis.sock"))
    try:
        client.config_set("rdbcompression", "no")
    finally:
        client.close()
    assert stop_embedded_redis(private_home)  # SHUTDOWN SAVE: the AOF is flushed and the RDB written
    files = [path for path in private_home.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"vault.rdb", "redis.log"} <= names and any(name.startswith("appendonly") for name in names), names
    for path in files:
        findings = find_planted(path.read_bytes(), docs)
        assert not findings, report(findings, f"$MASKKIT_HOME/{path.relative_to(private_home)}", seed)


def test_an_identifier_in_the_url_reaches_neither_the_model_nor_the_log(proxy: Proxy) -> None:
    """Claude Code only sends `?beta=true`, but the proxy forwards any /v1 URL: a path or query value is text the
    upstream reads like any other. Either masked or refused is fine; forwarded as written and logged is not."""
    instance, other = instance_id(), instance_id()
    httpx.get(proxy.url + f"/v1/models/{instance}", headers=proxy.headers(), timeout=10)
    httpx.post(proxy.url + f"/v1/messages?note={other}", headers=proxy.headers(), json=messages("hi"), timeout=10)
    forwarded = [r.path + "?" + r.query for r in proxy.model.requests]
    assert not [url for url in forwarded if instance in url or other in url], "an original in a URL reached the model"
    assert not [line for line in proxy.logs if instance in line or other in line], "an original was logged"


# --- tenants ---------------------------------------------------------------------------------------------------------


def test_two_keys_bound_in_a_keys_file_each_get_only_their_own_namespace_restored(
    own_env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    """Both tenants start fresh, so both get `ec2-001`, each for another instance: the same pseudonym must come
    back as each tenant's own original, never the other's. Neither can reach the other's by writing its
    pseudonym (it is masked as a literal), nor can the proxy's main key (namespace `default`)."""
    key_a, key_b = "mk-team-a-" + secrets.token_urlsafe(16), "mk-team-b-" + secrets.token_urlsafe(16)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(f'[keys]\n"{key_a}" = "team-a"\n"{key_b}" = "team-b"\n', encoding="utf-8")
    a_instance, b_instance, b_other = instance_id(), instance_id(), instance_id()
    model.responder = lambda r: Text("answer: ec2-001 ec2-002")
    proxy = start_proxy_process({**own_env, "MASKKIT_KEYS_FILE": str(keys_file)}, model.url, tmp_path)
    try:
        def ask(key: str, text: str) -> str:
            response = httpx.post(proxy.url + "/v1/messages", headers={**HEADERS, "x-api-key": key},
                                  json=messages(text), timeout=30)
            assert response.status_code == 200, response.text[:300]
            return str(response.json()["content"][0]["text"])

        assert ask(key_a, f"reboot {a_instance}") == f"answer: {a_instance} ec2-002"
        assert "ec2-001" in model.last_request.body.decode()
        assert ask(key_b, f"reboot {b_instance} and {b_other}") == f"answer: {b_instance} {b_other}"
        assert ask(key_b, "what is ec2-001?") == "answer: ec2-001 ec2-002"
        assert "lit-" in model.last_request.body.decode(), "a pseudonym-shaped literal was not masked"
        assert ask(key_a, "and ec2-002?") == "answer: ec2-001 ec2-002"
        assert ask(CLIENT_KEY, "anything about ec2-001 ec2-002?") == "answer: ec2-001 ec2-002"
        refused = httpx.post(proxy.url + "/v1/messages", headers={**HEADERS, "x-api-key": key_a + "x"},
                             json=messages(f"reboot {a_instance}"), timeout=30)
        assert refused.status_code == 401
    finally:
        stop_proxy_process(proxy)
    bodies = "\n".join(r.body.decode() for r in model.requests)
    assert not any(original in bodies for original in (a_instance, b_instance, b_other))
    assert len(model.requests) == 5


@pytest.fixture
def tenants(masker: Masker) -> dict[str, Any]:
    """Namespace A holds ec2-001; namespace B holds ec2-001, ec2-002 and sg-001 (other instances)."""
    a, b = masker.for_namespace(masker.namespace + "-a"), masker.for_namespace(masker.namespace + "-b")
    originals = {"a": instance_id(), "b1": instance_id(), "b2": instance_id(), "bsg": sg_id()}
    assert a.mask(originals["a"]).text == "ec2-001"
    masked_b = b.mask(f"{originals['b1']} {originals['b2']} {originals['bsg']}").text
    assert masked_b == "ec2-001 ec2-002 sg-001"
    return {"a": a.namespace, "b": b.namespace, "originals": originals, "masker_a": a}


def _cli(env: dict[str, str], *args: str, input: str = "") -> Result:
    maskkit_env = {k: v for k, v in env.items() if k.startswith("MASKKIT_")}
    return CliRunner().invoke(maskkit_main, list(args), input=input, env=maskkit_env, catch_exceptions=False)


def test_the_cli_and_audit_of_one_namespace_cannot_resolve_look_up_forget_or_list_another(
    env: dict[str, str], tenants: dict[str, Any]
) -> None:
    import maskkit

    a, b, originals = tenants["a"], tenants["b"], tenants["originals"]
    b_values = (originals["b1"], originals["b2"], originals["bsg"])

    def no_b(result: Result) -> None:
        assert not any(value in result.stdout + result.stderr for value in b_values), "B's original shown to A"

    unmasked = _cli(env, "unmask", "-n", a, input="ec2-001 ec2-002 sg-001")
    assert unmasked.exit_code == 0 and unmasked.stdout == f"{originals['a']} ec2-002 sg-001"
    for args in (["lookup", "-n", a, "ec2-002"], ["lookup", "-n", a, "--reveal", "sg-001"],
                 ["vault", "forget", "-n", a, "sg-001"]):
        result = _cli(env, *args)
        assert result.exit_code != 0 and result.stdout == "", (args, result.stdout)
        no_b(result)
    revealed = _cli(env, "lookup", "-n", a, "--reveal", "--json", "ec2-001")
    assert json.loads(revealed.stdout)["original"] == originals["a"]

    rows = maskkit.audit(namespace=a, reveal=True, vault=tenants["masker_a"].vault)
    assert list(rows["pseudonym"]) == ["ec2-001"] and list(rows["original"]) == [originals["a"]]
    assert set(rows["namespace"]) == {a}

    purged = _cli(env, "vault", "purge", "-n", a, "--yes")
    assert purged.exit_code == 0 and purged.stdout == f"purged 1 mapping from {a}\n"
    still = _cli(env, "unmask", "-n", b, input="ec2-001 ec2-002 sg-001")
    assert still.stdout == " ".join(b_values), "purging A touched B"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_mcp_tools_of_one_namespace_cannot_resolve_or_look_up_another(
    env: dict[str, str], tenants: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MCP server's own namespace is A, and revealing is allowed (MASKKIT_ALLOW_REVEAL=1) so that a refusal
    can only come from the namespace. Naming B explicitly is refused too (B is not in MASKKIT_MCP_NAMESPACES),
    with an error and statistics that never name B (issue 13 item 4)."""
    from mcp import Client

    from mcp_server.server import server

    a, originals = tenants["a"], tenants["originals"]
    b_values = (originals["b1"], originals["b2"], originals["bsg"])
    for name in ("MASKKIT_HOME", "MASKKIT_VAULT_KEY"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("MASKKIT_NAMESPACE", a)
    monkeypatch.setenv("MASKKIT_ALLOW_REVEAL", "1")
    async with Client(server, read_timeout_seconds=60) as client:
        for arguments in ({}, {"namespace": a}):
            result = await client.call_tool("unmask", {"text": "ec2-001 ec2-002 sg-001", **arguments})
            assert not result.is_error
            assert result.content[0].text == f"{originals['a']} ec2-002 sg-001"
            assert set(json.loads(result.content[1].text)["not_found"]) == {"ec2-002", "sg-001"}
        for arguments in ({"pseudonym": "ec2-002"}, {"pseudonym": "sg-001", "reveal": True},
                          {"pseudonym": "sg-001", "reveal": True, "namespace": a}):
            result = await client.call_tool("lookup", arguments)
            assert result.is_error, arguments
            text = " ".join(block.text for block in result.content if block.type == "text")
            assert not any(value in text for value in b_values)
        for tool, arguments in (("unmask", {"text": "ec2-001"}), ("run_unmasked", {"command": "echo ec2-001"}),
                                ("lookup", {"pseudonym": "ec2-001", "reveal": True}), ("mask", {"text": "x"}),
                                ("mask", {"text": "x", "namespace": a + "-nonexistent"})):
            result = await client.call_tool(tool, {**arguments, "namespace": arguments.get("namespace", tenants["b"])})
            assert result.is_error, (tool, arguments)
            text = " ".join(block.text for block in result.content if block.type == "text")
            assert not any(value in text for value in b_values) and tenants["b"] not in text, text
            assert a in text  # it names the namespaces it serves
        stats = await client.call_tool("vault_stats", {})
        assert not stats.is_error and tenants["b"] not in json.dumps(stats.structured_content)
        assert set(stats.structured_content["namespaces"]) == {a}


# --- where the proxy listens -----------------------------------------------------------------------------------------


def _listening(pid: int, port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp) on which process `pid` listens on `port`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and fields[9] in inodes and int(hex_port, 16) == port:
                found.add(address)
    return found


class _Launched:
    """`maskkit proxy` started with exactly the given environment; always `stop()` it."""

    def __init__(self, env: dict[str, str], home: Path, *args: str, umask: int = 0o022) -> None:
        self.home = home
        self.port_file = home.parent / "port"
        self.log = home.parent / "proxy.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maskkit", "proxy", "--port", "0", "--port-file", str(self.port_file), *args],
                env={**env, "MASKKIT_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, umask=umask,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_exit(self, timeout: float = 20) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the proxy kept running: {self.output()[-2000:]}") from None

    def wait_ready(self, timeout: float = 30) -> str:
        url = wait_for_proxy(self.process, self.port_file, self.log, timeout)
        assert httpx.get(url + "/health", timeout=5).status_code == 200, self.output()[-2000:]
        return url

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextlib.contextmanager
def launched(env: dict[str, str], *args: str, umask: int = 0o022,
             prepare: Callable[[Path], None] | None = None) -> Iterator[_Launched]:
    base = short_dir("mksec")
    home = base / "home"
    if prepare is not None:
        prepare(home)
    proxy = None
    try:
        proxy = _Launched(env, home, *args, umask=umask)
        yield proxy
    finally:
        if proxy is not None:
            proxy.stop()
        stop_embedded_redis(home)
        shutil.rmtree(base, ignore_errors=True)


def _with_generated_key(home: Path) -> None:
    home.mkdir(mode=0o700)
    (home / "proxy.key").write_text("mk-generated-earlier\n", encoding="ascii")
    (home / "proxy.key").chmod(0o600)


@pytest.mark.parametrize(
    ("args", "extra", "prepare", "message"),
    [
        (["--host", "0.0.0.0"], {}, None, "MASKKIT_API_KEY"),
        (["--host", "::"], {}, None, "MASKKIT_API_KEY"),
        ([], {"MASKKIT_HOST": "0.0.0.0"}, None, "MASKKIT_API_KEY"),
        (["--host", "0.0.0.0"], {}, _with_generated_key, "MASKKIT_API_KEY"),
        (["--host", "0.0.0.0", "--passthrough"], {"MASKKIT_API_KEY": "mk-k"}, None, "loopback"),
        (["--host", "0.0.0.0"], {"MASKKIT_API_KEY": "mk-k", "MASKKIT_PASSTHROUGH": "1"}, None, "loopback"),
    ],
    ids=["all-ipv4-no-key", "all-ipv6-no-key", "env-host-no-key", "generated-key-only", "passthrough-flag",
         "passthrough-env"],
)
def test_a_non_loopback_host_without_a_configured_key_or_in_passthrough_is_refused_before_anything_starts(
    env: dict[str, str], args: list[str], extra: dict[str, str], prepare: Callable[[Path], None] | None,
    message: str,
) -> None:
    with launched({**scrubbed(env), "ANTHROPIC_API_KEY": UPSTREAM_KEY, **extra}, *args, prepare=prepare) as proxy:
        code = proxy.wait_exit()
        output = proxy.output()
        assert code != 0, output
        assert "maskkit: " in output and message in output, output
        assert "Traceback" not in output and "maskkit proxy on" not in output
        assert not proxy.port_file.exists(), "the proxy got as far as binding"
        assert not (proxy.home / "redis.sock").exists() and not (proxy.home / "vault.key").exists()


def test_a_non_loopback_host_with_a_key_listens_there_and_the_default_is_loopback_only(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[keys]\n"mk-team-key" = "team"\n', encoding="utf-8")
    cases = [
        (["--host", "0.0.0.0"], {"MASKKIT_API_KEY": CLIENT_KEY}, CLIENT_KEY, "00000000"),
        (["--host", "0.0.0.0"], {"MASKKIT_KEYS_FILE": str(keys_file)}, "mk-team-key", "00000000"),
        ([], {"MASKKIT_API_KEY": CLIENT_KEY}, CLIENT_KEY, "0100007F"),
    ]
    base = {**scrubbed(env), "ANTHROPIC_API_KEY": UPSTREAM_KEY, "MASKKIT_UPSTREAM": model.url}
    for args, extra, key, address in cases:
        with launched({**base, **extra}, *args) as proxy:
            url = proxy.wait_ready()
            port = int(url.rsplit(":", 1)[1])
            assert _listening(proxy.process.pid, port) == {address}, (args, extra)
            ok = httpx.post(url + "/v1/messages", headers={**HEADERS, "x-api-key": key}, json=messages("hi"),
                            timeout=30)
            assert ok.status_code == 200, ok.text[:300]
            assert httpx.post(url + "/v1/messages", json=messages("hi"), timeout=30).status_code == 401


# --- secrets at rest -------------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_dir_is_0700_and_its_keys_0600_even_with_umask_0(env: dict[str, str], model: StandinModel) -> None:
    """No MASKKIT_API_KEY, no MASKKIT_VAULT_KEY: the proxy generates proxy.key and vault.key itself."""
    base = {**scrubbed(env), "ANTHROPIC_API_KEY": UPSTREAM_KEY, "MASKKIT_UPSTREAM": model.url}
    with launched(base, umask=0) as proxy:
        proxy.wait_ready()
        home = proxy.home
        assert _mode(home) == 0o700
        for name in ("vault.key", "proxy.key"):
            assert _mode(home / name) == 0o600, name
        for path in home.iterdir():
            if path.name.startswith(("appendonly", "vault.rdb", "redis.log")) and path.is_file():
                assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}"


def test_a_data_dir_the_user_created_first_is_tightened_to_0700(env: dict[str, str], model: StandinModel) -> None:
    def user_made(home: Path) -> None:
        home.mkdir(mode=0o755)
        home.chmod(0o755)
        (home / "maskkit.env").write_text("MASKKIT_TTL=3600\n", encoding="utf-8")

    base = {**scrubbed(env), "ANTHROPIC_API_KEY": UPSTREAM_KEY, "MASKKIT_UPSTREAM": model.url}
    with launched(base, prepare=user_made) as proxy:
        proxy.wait_ready()
        for name in ("vault.key", "proxy.key"):
            assert _mode(proxy.home / name) == 0o600, name  # holds today
        assert _mode(proxy.home) == 0o700


# --- what `maskkit run` trusts ---------------------------------------------------------------------------------------


class _Impostor(ThreadingHTTPServer):
    requests: list[str]


class _ImpostorHandler(BaseHTTPRequestHandler):
    """Answers /health exactly like a maskkit proxy; anything else is recorded."""

    server: _Impostor

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = json.dumps({"service": "maskkit", "version": "0.1.0", "vault": "ok"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_maskkit_run_does_not_trust_whatever_answers_at_a_stale_proxy_record(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    impostor = _Impostor(("127.0.0.1", 0), _ImpostorHandler)
    impostor.requests = []
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    home = short_dir("mksec") / "home"
    home.mkdir(mode=0o700)
    try:
        impostor_url = f"http://127.0.0.1:{impostor.server_address[1]}"
        (home / "proxy.json").write_text(json.dumps({"url": impostor_url, "pid": 4_000_000}), encoding="utf-8")
        seen = tmp_path / "claude-saw"
        fake_claude = tmp_path / "claude"
        fake_claude.write_text(f'#!/bin/sh\nprintf "%s" "$ANTHROPIC_BASE_URL" > "{seen}"\n', encoding="utf-8")
        fake_claude.chmod(0o700)
        run_env = {**scrubbed(env), "MASKKIT_HOME": str(home), "MASKKIT_CLAUDE_BIN": str(fake_claude),
                   "MASKKIT_UPSTREAM": model.url, "ANTHROPIC_API_KEY": UPSTREAM_KEY}
        result = subprocess.run([sys.executable, "-m", "maskkit", "run", "-p", f"reboot {instance_id()}"],
                                env=run_env, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert seen.read_text() != impostor_url, "Claude Code was pointed at a server that only answered /health"
    finally:
        impostor.shutdown()
        impostor.server_close()
        thread.join(timeout=5)
        stop_embedded_redis(home)
        shutil.rmtree(home.parent, ignore_errors=True)
