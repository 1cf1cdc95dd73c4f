"""The maskkit MCP server through the real MCP SDK client: over stdio (the `maskkit-mcp` console script as a
subprocess, the way Claude Code starts it), over streamable HTTP, and in memory where the transport does not
matter. The reveal rule against a real prover, a fake one and the real proxy; leak checks on generated AWS
documents; the proxy launcher; and the real Claude Code CLI adding, connecting to and calling the server.

Every server, prover and proxy listens on 127.0.0.1 and is stopped in a `finally`; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import LATEST_PROTOCOL_VERSION, CallToolResult, Implementation
from mktests import awsgen
from mktests.leakcheck import find_planted
from mktests.proxyfixtures import (
    Proxy,
    ProxyProcess,
    claude_env,
    free_port,
    run_claude,
    start_proxy_process,
    stop_proxy_process,
)
from mktests.standin_model import RecordedRequest, StandinModel, Text, ToolUse

from maskkit import Masker, Settings
from maskkit.vault import VaultKey

ROOT = Path(__file__).resolve().parents[2]
MCP_SCRIPT = Path(sys.executable).with_name("maskkit-mcp")
INSTANCE = "i-0a1b2c3d4e5f60718"
ACCESS_KEY = "AKIAQ3V5X7Z2B4D6F2H4"
SAMPLE = f"instance {INSTANCE} was launched with key {ACCESS_KEY}"
TOOLS = {
    "mask",
    "unmask",
    "lookup",
    "vault_stats",
    "mask_file",
    "unmask_to_file",
    "run_unmasked",
    "start_proxy",
    "proxy_status",
    "stop_proxy",
}
GUIDANCE = "ANTHROPIC_BASE_URL=http://127.0.0.1:8000"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- helpers -----------------------------------------------------------------------------------------------------


def _text(result: CallToolResult, index: int = 0) -> str:
    block = result.content[index]
    assert block.type == "text"
    return block.text


def _error(result: CallToolResult) -> str:
    assert result.is_error, f"expected a tool error, got {result.content!r}"
    return _text(result)


def _ok(result: CallToolResult) -> CallToolResult:
    assert not result.is_error, _text(result)
    return result


def _data(result: CallToolResult) -> dict[str, Any]:
    _ok(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def _everything(result: CallToolResult) -> str:
    """Every byte of a tool result the model would read: text blocks and structured content."""
    parts = [block.text for block in result.content if block.type == "text"]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


def _audit_path(masker: Masker) -> Path:
    assert masker.vault.home is not None
    return masker.vault.home / "reveal-audit.jsonl"


def _audit(masker: Masker) -> list[dict[str, Any]]:
    """This test's audit records: the session shares one data dir, each test has its own namespace."""
    path = _audit_path(masker)
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r["namespace"] == masker.namespace]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours still "exists"; /proc says whether it really runs
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return True


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@asynccontextmanager
async def stdio(env: dict[str, str], errlog: Path, **client: Any) -> AsyncIterator[Client]:
    """The `maskkit-mcp` console script as a stdio subprocess; its stderr goes to `errlog`."""
    params = StdioServerParameters(command=str(MCP_SCRIPT), env=env, cwd=str(ROOT))
    with open(errlog, "a", encoding="utf-8") as log:
        async with Client(stdio_client(params, errlog=log), read_timeout_seconds=60, **client) as session:
            yield session


# --- provers: the proxy's /maskkit/v1/prove route, real and fake ---------------------------------------------------


class _Prover(ThreadingHTTPServer):
    prove: Callable[[str], str]
    hits: int = 0


class _ProveHandler(BaseHTTPRequestHandler):
    server: _Prover

    def do_POST(self) -> None:
        if self.path != "/maskkit/v1/prove":
            self.send_error(404)
            return
        self.server.hits += 1
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"service": "maskkit", "proof": self.server.prove(data["challenge"])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve_prover(prove: Callable[[str], str]) -> Iterator[_Prover]:
    httpd = _Prover(("127.0.0.1", 0), _ProveHandler)
    httpd.prove = prove
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _url(httpd: _Prover) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture
def real_prover(settings: Settings) -> Iterator[_Prover]:
    """Answers the handshake with this test's vault key, as the maskkit proxy does."""
    with _serve_prover(VaultKey.from_settings(settings).prove) as httpd:
        yield httpd


@pytest.fixture
def fake_prover() -> Iterator[_Prover]:
    """Answers in the right shape, but with another key: a server that is not the user's proxy."""
    other = VaultKey(os.urandom(32))
    with _serve_prover(other.prove) as httpd:
        yield httpd


# --- in memory: the tools ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_mask_returns_the_masked_text_exactly_and_the_pseudonyms_without_originals(
    memory: Callable[..., Client], masker: Masker
) -> None:
    async with memory() as client:
        result = _ok(await client.call_tool("mask", {"text": SAMPLE}))
    assert _text(result) == masker.mask(SAMPLE).text  # the same vault gives the same pseudonyms
    assert INSTANCE not in _everything(result) and ACCESS_KEY not in _everything(result)
    summary = json.loads(_text(result, 1))
    assert summary["namespace"] == masker.namespace
    assert {(p["kind"], p["pseudonym"]) for p in summary["pseudonyms"]} == set(masker.mask(SAMPLE).pseudonyms)
    assert result.structured_content is None  # Claude Code would show {"result": ...} instead of the text


@pytest.mark.anyio
async def test_text_without_identifiers_comes_back_unchanged(memory: Callable[..., Client]) -> None:
    async with memory() as client:
        result = _ok(await client.call_tool("mask", {"text": "nothing to see in us-east-1\n"}))
    assert _text(result) == "nothing to see in us-east-1\n"
    assert json.loads(_text(result, 1))["pseudonyms"] == []


@pytest.mark.anyio
async def test_bad_arguments_are_tool_errors_that_say_what_to_do(memory: Callable[..., Client], tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    with open(big, "wb") as handle:
        handle.truncate(10 * 2**20 + 1)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01binary")
    existing = tmp_path / "exists.txt"
    existing.write_text("keep me")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("mask", {"text": ""}, "text is empty"),
        ("unmask", {"text": ""}, "text is empty"),
        ("mask", {"text": "x", "namespace": "bad namespace!"}, "invalid namespace"),
        ("mask", {"text": "x", "namespace": "no-such-namespace-xyz"}, "does not serve that namespace"),
        ("unmask", {"text": "ec2-001", "namespace": "no-such-namespace-xyz"}, "does not serve that namespace"),
        ("mask", {"text": "a" * (5 * 2**20 + 1)}, "the limit is 5 MB"),
        ("lookup", {"pseudonym": INSTANCE}, "not a pseudonym"),
        ("lookup", {"pseudonym": "ec2-1"}, "not a pseudonym"),
        ("lookup", {"pseudonym": "ec2-987654"}, "was never issued"),
        ("mask_file", {"path": str(tmp_path / "missing.txt")}, "no such file"),
        ("mask_file", {"path": str(tmp_path)}, "is a directory"),
        ("mask_file", {"path": str(big)}, "the limit is 10 MB"),
        ("mask_file", {"path": str(binary)}, "looks binary"),
        ("mask_file", {"path": ""}, "path is empty"),
        ("unmask_to_file", {"text": "x", "path": str(existing)}, "overwrite=true"),
        ("unmask_to_file", {"text": "x", "path": str(tmp_path / "no" / "dir.txt")}, "does not exist"),
        ("run_unmasked", {"command": ""}, "command is empty"),
        ("run_unmasked", {"command": "true", "timeout": 601}, "at most 600"),
        ("run_unmasked", {"command": "true", "cwd": str(tmp_path / "missing")}, "cwd is not a directory"),
        ("start_proxy", {"upstream": "ftp://example.invalid"}, "http:// or https://"),
    ]
    async with memory() as client:
        for tool, arguments, expected in cases:
            message = _error(await client.call_tool(tool, arguments))
            assert expected in message, (tool, message)
        _ok(await client.call_tool("vault_stats", {}))  # the server is still there
    assert existing.read_text() == "keep me"


@pytest.mark.anyio
async def test_unproxied_unmask_is_refused_with_the_way_to_route_through_the_proxy(
    memory: Callable[..., Client], masker: Masker
) -> None:
    masked = masker.mask(SAMPLE).text
    async with memory() as client:
        message = _error(await client.call_tool("unmask", {"text": masked}))
        lookup = _error(await client.call_tool("lookup", {"pseudonym": masked.split()[1], "reveal": True}))
    for text in (message, lookup):
        assert "maskkit proxy" in text and GUIDANCE in text and "MASKKIT_ALLOW_REVEAL=1" in text
        assert INSTANCE not in text
    assert _audit(masker) == []


@pytest.mark.anyio
async def test_lookup_reports_metadata_and_no_original_without_reveal(
    memory: Callable[..., Client], masker: Masker
) -> None:
    pseudonym = masker.mask(SAMPLE).pseudonyms[0][1]
    async with memory() as client:
        row = _data(await client.call_tool("lookup", {"pseudonym": pseudonym.upper()}))
    assert row["pseudonym"] == pseudonym and row["kind"] == "INSTANCE_ID" and row["namespace"] == masker.namespace
    assert row["hits"] >= 1 and 0 < row["ttl_seconds"] <= masker.vault.ttl
    assert row["first_seen"].endswith("Z") and "original" not in row
    assert INSTANCE not in json.dumps(row)


@pytest.mark.anyio
async def test_vault_stats_counts_mappings_per_namespace_and_kind(
    memory: Callable[..., Client], masker: Masker
) -> None:
    masker.mask(SAMPLE)
    async with memory() as client:
        stats = _data(await client.call_tool("vault_stats", {}))
    mine = stats["namespaces"][masker.namespace]
    assert mine == {"total": 2, "kinds": {"ACCESS_KEY_ID": 1, "INSTANCE_ID": 1}}
    assert stats["default_namespace"] == masker.namespace
    assert INSTANCE not in json.dumps(stats)


@pytest.mark.anyio
async def test_another_existing_namespace_can_be_named_once_the_user_allows_it(
    memory: Callable[..., Client], masker: Masker, settings: Settings
) -> None:
    other = masker.for_namespace(masker.namespace + "-b")
    expected = other.mask(SAMPLE).text
    async with memory() as client:
        refused = _error(await client.call_tool("mask", {"text": SAMPLE, "namespace": other.namespace}))
    assert other.namespace not in refused and masker.namespace in refused
    async with memory(MASKKIT_MCP_NAMESPACES=other.namespace) as client:
        result = _ok(await client.call_tool("mask", {"text": SAMPLE, "namespace": other.namespace}))
    assert _text(result) == expected
    assert json.loads(_text(result, 1))["namespace"] == other.namespace


@pytest.mark.anyio
async def test_mask_file_reads_a_file_masked(memory: Callable[..., Client], masker: Masker, tmp_path: Path) -> None:
    path = tmp_path / "describe.json"
    path.write_bytes(f'{{"InstanceId": "{INSTANCE}"}}\n'.encode() + b"bad \xff byte\n")
    async with memory() as client:
        result = _ok(await client.call_tool("mask_file", {"path": str(path)}))
    assert INSTANCE not in _everything(result)
    assert _text(result).startswith('{"InstanceId": "ec2-')
    summary = json.loads(_text(result, 1))
    assert summary["bytes"] == path.stat().st_size and summary["invalid_utf8_replaced"] == 1
    assert [p["kind"] for p in summary["pseudonyms"]] == ["INSTANCE_ID"]


@pytest.mark.anyio
async def test_unmask_to_file_writes_originals_and_returns_only_a_summary(
    memory: Callable[..., Client], masker: Masker, tmp_path: Path
) -> None:
    masked = masker.mask(SAMPLE).text
    target = tmp_path / "restored.txt"
    async with memory() as client:
        result = await client.call_tool("unmask_to_file", {"text": masked + "\nand ec2-987654\n", "path": str(target)})
        summary = _data(result)
        again = _ok(await client.call_tool("unmask_to_file", {"text": masked, "path": str(target), "overwrite": True}))
    assert target.read_text() == SAMPLE  # the second call replaced the file
    assert summary["pseudonyms_restored"] == 2 and summary["not_found"] == ["ec2-987654"]
    assert summary["bytes_written"] == len((SAMPLE + "\nand ec2-987654\n").encode())
    assert INSTANCE not in _everything(result) and ACCESS_KEY not in _everything(again)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    records = _audit(masker)
    assert [r["tool"] for r in records] == ["unmask_to_file", "unmask_to_file"]
    assert records[0]["target"] == "file" and records[0]["count"] == 2
    assert INSTANCE not in json.dumps(records)


@pytest.mark.anyio
async def test_run_unmasked_runs_on_originals_and_returns_masked_output(
    memory: Callable[..., Client], masker: Masker, tmp_path: Path
) -> None:
    ec2 = masker.mask(SAMPLE).pseudonyms[0][1]
    (tmp_path / "ids.txt").write_text(INSTANCE + "\n")
    command = f'test "$(cat ids.txt)" = "{ec2}" && echo "same: {ec2}"; echo "oops {ACCESS_KEY}" >&2; exit 4'
    async with memory() as client:
        result = await client.call_tool("run_unmasked", {"command": command, "cwd": str(tmp_path)})
    data = _data(result)
    assert data["exit_code"] == 4 and data["timed_out"] is False
    assert data["stdout"] == f"same: {ec2}\n"  # the shell compared the real id; the model sees the pseudonym
    assert data["stderr"].startswith("oops iam-") and ACCESS_KEY not in _everything(result)
    assert data["pseudonyms_restored"] == 1
    records = _audit(masker)
    assert records[-1]["tool"] == "run_unmasked" and records[-1]["pseudonyms"] == [ec2]
    assert ec2 in records[-1]["command"] and INSTANCE not in json.dumps(records)


@pytest.mark.anyio
async def test_run_unmasked_kills_a_command_at_its_timeout(memory: Callable[..., Client]) -> None:
    started = time.monotonic()
    async with memory() as client:
        data = _data(await client.call_tool("run_unmasked", {"command": "echo started; sleep 30", "timeout": 1}))
    assert data["timed_out"] is True and data["exit_code"] is None and data["stdout"] == "started\n"
    assert time.monotonic() - started < 15


@pytest.mark.anyio
async def test_run_unmasked_cuts_output_at_one_megabyte(memory: Callable[..., Client]) -> None:
    async with memory() as client:
        data = _data(await client.call_tool("run_unmasked", {"command": "head -c 3000000 /dev/zero | tr '\\0' a"}))
    assert data["stdout_truncated"] is True and len(data["stdout"]) == 2**20 and data["exit_code"] == 0


@pytest.mark.anyio
async def test_run_unmasked_commands_do_not_inherit_maskkit_keys(memory: Callable[..., Client]) -> None:
    async with memory(MASKKIT_API_KEY="mk-secret-client-key") as client:
        data = _data(
            await client.call_tool(
                "run_unmasked", {"command": 'echo "${MASKKIT_VAULT_KEY:-none} ${MASKKIT_API_KEY:-none}"'}
            )
        )
    assert data["stdout"] == "none none\n"


@pytest.mark.anyio
async def test_a_vault_that_is_down_is_a_tool_error_not_a_crash(memory: Callable[..., Client]) -> None:
    async with memory(MASKKIT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as client:
        for tool, arguments in [("mask", {"text": SAMPLE}), ("vault_stats", {}), ("lookup", {"pseudonym": "ec2-001"})]:
            message = _error(await client.call_tool(tool, arguments))
            assert "vault (Redis) is unreachable" in message and INSTANCE not in message
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS


@pytest.mark.anyio
async def test_invalid_settings_are_reported_by_every_tool(memory: Callable[..., Client]) -> None:
    async with memory(MASKKIT_TTL="soon") as client:
        message = _error(await client.call_tool("mask", {"text": SAMPLE}))
        assert "MASKKIT_TTL must be an integer" in message and "restart" in message
        assert "MASKKIT_TTL" in _error(await client.call_tool("proxy_status", {}))


# --- the reveal rule -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_unmask_reveals_behind_a_proven_proxy_and_the_audit_log_holds_only_pseudonyms(
    memory: Callable[..., Client], masker: Masker, real_prover: _Prover
) -> None:
    result = masker.mask(SAMPLE)
    async with memory(ANTHROPIC_BASE_URL=_url(real_prover)) as client:
        first = _ok(await client.call_tool("unmask", {"text": result.text + " and ec2-987654"}))
        second = _ok(await client.call_tool("unmask", {"text": result.text}))
        status = _data(await client.call_tool("proxy_status", {}))
    assert _text(first) == SAMPLE + " and ec2-987654" and _text(second) == SAMPLE
    assert json.loads(_text(first, 1)) == {"namespace": masker.namespace, "restored": 2, "not_found": ["ec2-987654"]}
    assert real_prover.hits == 1  # the handshake is cached
    assert status["conversation_proxied"] is True and status["reveal_allowed"] is True
    path = _audit_path(masker)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = _audit(masker)
    assert len(records) == 2
    assert records[0]["tool"] == "unmask" and records[0]["target"] == "model"
    assert records[0]["pseudonyms"] == sorted(p for _, p in result.pseudonyms)
    assert records[0]["basis"] == f"maskkit proxy at {_url(real_prover)}" and records[0]["pid"] == os.getpid()
    assert records[0]["namespace"] == masker.namespace and records[0]["time"].endswith("Z")
    assert INSTANCE not in path.read_text() and ACCESS_KEY not in path.read_text()


@pytest.mark.anyio
async def test_a_server_without_the_vault_key_is_refused(
    memory: Callable[..., Client], masker: Masker, fake_prover: _Prover
) -> None:
    masked = masker.mask(SAMPLE).text
    async with memory(ANTHROPIC_BASE_URL=_url(fake_prover)) as client:
        message = _error(await client.call_tool("unmask", {"text": masked}))
        status = _data(await client.call_tool("proxy_status", {}))
    assert "could not prove it holds this vault's key" in message and GUIDANCE in message
    assert INSTANCE not in message and fake_prover.hits == 2  # refusals are not cached
    assert status["conversation_proxied"] is False
    assert _audit(masker) == []


@pytest.mark.anyio
async def test_a_base_url_where_nothing_proves_anything_is_refused(
    memory: Callable[..., Client], masker: Masker, model: StandinModel
) -> None:
    masked = masker.mask(SAMPLE).text
    for base_url, expected in [
        (f"http://127.0.0.1:{free_port()}", "no maskkit proxy answers"),
        (model.url, "is not a maskkit proxy"),  # a live server: an answer is not a proof
        ("https://api.anthropic.com", "not at the maskkit proxy"),  # never contacted
    ]:
        async with memory(ANTHROPIC_BASE_URL=base_url) as client:
            message = _error(await client.call_tool("unmask", {"text": masked}))
        assert expected in message and INSTANCE not in message


@pytest.mark.anyio
async def test_the_allow_reveal_opt_in_reveals_and_is_audited(memory: Callable[..., Client], masker: Masker) -> None:
    result = masker.mask(SAMPLE)
    ec2 = result.pseudonyms[0][1]
    async with memory(MASKKIT_ALLOW_REVEAL="1") as client:
        assert _text(_ok(await client.call_tool("unmask", {"text": result.text}))) == SAMPLE
        row = _data(await client.call_tool("lookup", {"pseudonym": ec2, "reveal": True}))
    assert row["original"] == INSTANCE
    records = _audit(masker)
    assert [(r["tool"], r["basis"]) for r in records] == [
        ("unmask", "MASKKIT_ALLOW_REVEAL=1"),
        ("lookup", "MASKKIT_ALLOW_REVEAL=1"),
    ]
    assert records[1]["pseudonyms"] == [ec2] and INSTANCE not in json.dumps(records)


@pytest.mark.anyio
async def test_the_real_maskkit_proxy_passes_the_handshake(
    memory: Callable[..., Client], masker: Masker, proxy: Proxy
) -> None:
    """The contract with maskkit/proxy/app.py: its /maskkit/v1/prove route answers for the same vault."""
    result = masker.mask(SAMPLE)
    async with memory(ANTHROPIC_BASE_URL=proxy.url) as client:
        assert _text(_ok(await client.call_tool("unmask", {"text": result.text}))) == SAMPLE


# --- stdio: the console script as Claude Code runs it ---------------------------------------------------------------


@pytest.mark.anyio
async def test_stdio_server_lists_every_tool_with_a_description_for_the_model(
    env: dict[str, str], tmp_path: Path
) -> None:
    async with stdio(env, tmp_path / "server.log") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert all(tool.description and len(tool.description) > 60 for tool in tools.values())
    assert "Who may see an original" in (tools["lookup"].description or "")
    assert "MASKKIT_ALLOW_REVEAL=1" in (tools["unmask"].description or "")
    for name in ("mask", "unmask", "mask_file"):  # plain text: no output schema, so no {"result": ...} wrapper
        assert tools[name].output_schema is None
    assert tools["mask"].input_schema["required"] == ["text"]
    assert set(tools["mask"].input_schema["properties"]) == {"text", "namespace"}


@pytest.mark.anyio
async def test_stdio_tools_answer_and_errors_never_stop_the_server(
    env: dict[str, str], masker: Masker, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    doc = tmp_path / "doc.txt"
    doc.write_text(SAMPLE + "\n")
    async with stdio(env, log) as client:
        masked = _ok(await client.call_tool("mask", {"text": SAMPLE}))
        assert _text(masked) == masker.mask(SAMPLE).text
        ec2 = json.loads(_text(masked, 1))["pseudonyms"][0]["pseudonym"]
        assert GUIDANCE in _error(await client.call_tool("unmask", {"text": _text(masked)}))
        assert "text is empty" in _error(await client.call_tool("mask", {"text": ""}))
        assert "invalid namespace" in _error(await client.call_tool("mask", {"text": "x", "namespace": "a b"}))
        refused = _error(await client.call_tool("mask", {"text": "x", "namespace": "nope-ns"}))
        assert "does not serve that namespace" in refused
        assert "not a pseudonym" in _error(await client.call_tool("lookup", {"pseudonym": "ec2_001"}))
        assert "the limit is 5 MB" in _error(await client.call_tool("mask", {"text": "x" * (5 * 2**20 + 1)}))
        assert _data(await client.call_tool("lookup", {"pseudonym": ec2}))["kind"] == "INSTANCE_ID"
        assert _data(await client.call_tool("vault_stats", {}))["namespaces"][masker.namespace]["total"] == 2
        assert _text(_ok(await client.call_tool("mask_file", {"path": str(doc)}))) == _text(masked) + "\n"
        out = _data(await client.call_tool("run_unmasked", {"command": f"cat {doc}; echo {ec2}"}))
        assert out["stdout"] == _text(masked) + "\n" + ec2 + "\n"
        written = _data(await client.call_tool("unmask_to_file", {"text": _text(masked), "path": str(tmp_path / "o")}))
        assert written["pseudonyms_restored"] == 2 and (tmp_path / "o").read_text() == SAMPLE
        assert _data(await client.call_tool("proxy_status", {}))["running"] is False
    server_log = log.read_text()
    assert INSTANCE not in server_log and ACCESS_KEY not in server_log


@pytest.mark.anyio
async def test_stdio_reveal_behind_a_proven_proxy_records_the_client(
    env: dict[str, str], masker: Masker, real_prover: _Prover, tmp_path: Path
) -> None:
    masked = masker.mask(SAMPLE).text
    info = Implementation(name="claude-code-test", version="9.9.9")
    async with stdio(
        {**env, "ANTHROPIC_BASE_URL": _url(real_prover)}, tmp_path / "s.log", mode="legacy", client_info=info
    ) as client:
        assert _text(_ok(await client.call_tool("unmask", {"text": masked}))) == SAMPLE
    (record,) = _audit(masker)
    assert record["client"] == {"name": "claude-code-test", "version": "9.9.9"}
    assert record["pid"] != os.getpid() and record["ppid"] == os.getpid()


@pytest.mark.anyio
async def test_stdio_unmask_refuses_a_fake_prover(
    env: dict[str, str], masker: Masker, fake_prover: _Prover, tmp_path: Path
) -> None:
    masked = masker.mask(SAMPLE).text
    async with stdio({**env, "ANTHROPIC_BASE_URL": _url(fake_prover)}, tmp_path / "s.log") as client:
        message = _error(await client.call_tool("unmask", {"text": masked}))
    assert "could not prove" in message and INSTANCE not in message


def test_importing_the_server_reads_no_settings_and_opens_nothing(tmp_path: Path) -> None:
    home = tmp_path / "never-created"
    env = {**os.environ, "MASKKIT_HOME": str(home), "MASKKIT_TTL": "not-a-number"}
    result = subprocess.run(
        [sys.executable, "-c", "import mcp_server.server, mcp_server.__main__"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and not home.exists()


def test_sigterm_stops_the_stdio_server_even_while_stdin_stays_open(env: dict[str, str], tmp_path: Path) -> None:
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [str(MCP_SCRIPT)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
    try:
        # Serving: it answers `initialize` (by then its signal handler is installed, so SIGTERM is its own stop).
        assert process.stdin is not None and process.stdout is not None
        hello = {"protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {},
                 "clientInfo": {"name": "t", "version": "1"}}
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}).encode())
        process.stdin.write(b"\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the server did not answer initialize within 60 s"
        assert json.loads(process.stdout.readline())["id"] == 1
        process.send_signal(signal.SIGTERM)
        # 0: a graceful stop; 143: the hard exit after the grace period (stdin stays open); -15 would mean the
        # default handler killed it, i.e. the server never handled the signal.
        assert process.wait(timeout=10) in (0, 128 + signal.SIGTERM)
        assert process.stdout.read() == b""  # nothing but protocol on stdout
    finally:
        process.kill()
        process.wait(timeout=5)
        if process.stdin:
            process.stdin.close()
        if process.stdout:
            process.stdout.close()


@pytest.mark.anyio
async def test_sigterm_to_the_server_also_stops_the_proxy_it_started(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    proxy_pid = server_pid = 0
    proxy_died = server_died = False
    try:
        with contextlib.suppress(Exception):  # the client sees its server vanish: that is the point
            async with stdio(env, tmp_path / "s.log") as client:
                proxy_pid = _data(await client.call_tool("start_proxy", {"upstream": model.url}))["pid"]
                server_pid = int(_data(await client.call_tool("run_unmasked", {"command": "echo $PPID"}))["stdout"])
                os.kill(server_pid, signal.SIGTERM)
                proxy_died = _wait_dead(proxy_pid)
                server_died = _wait_dead(server_pid)
        assert proxy_pid and server_pid, "the session did not get as far as starting the proxy"
        assert proxy_died, "the proxy outlived a SIGTERM to the MCP server"
        assert server_died, "the MCP server ignored SIGTERM"
    finally:
        for pid in (proxy_pid, server_pid):
            if pid:
                _kill(pid)


# --- streamable HTTP -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _http_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, str]]:
    """`maskkit-mcp --transport http` on a free loopback port: yields (url, token); always killed."""
    port = free_port()
    token_file = log.with_suffix(".token")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(MCP_SCRIPT), "--transport", "http", "--port", str(port), "--token-file", str(token_file)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"maskkit-mcp --transport http exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"maskkit-mcp --transport http never listened: {log.read_text()}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        yield f"http://127.0.0.1:{port}/mcp", token_file.read_text().strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.anyio
async def test_streamable_http_needs_the_token_and_serves_the_tools(
    env: dict[str, str], masker: Masker, real_prover: _Prover, tmp_path: Path
) -> None:
    masked = masker.mask(SAMPLE).text
    # Even with ANTHROPIC_BASE_URL at a real prover: an HTTP server is no child of Claude Code.
    with _http_server({**env, "ANTHROPIC_BASE_URL": _url(real_prover)}, tmp_path / "http.log") as (url, token):
        denied = httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert denied.status_code == 401 and token not in denied.text
        assert httpx.post(url, json={}, timeout=10).status_code == 401
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            assert _text(_ok(await client.call_tool("mask", {"text": SAMPLE}))) == masked
            message = _error(await client.call_tool("unmask", {"text": masked}))
    assert "runs over HTTP" in message and INSTANCE not in message
    assert real_prover.hits == 0


def test_streamable_http_refuses_a_non_loopback_host(env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(MCP_SCRIPT), "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "only loopback" in result.stderr


# --- leaks: generated AWS documents ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_planted_value_reaches_the_model_through_mask_mask_file_or_run_unmasked(
    env: dict[str, str], tmp_path: Path
) -> None:
    rng, seed = awsgen.fresh_rng()
    docs = awsgen.generate_documents(rng, 33)  # every document kind three times
    log = tmp_path / "server.log"
    leaks: list[str] = []
    async with stdio(env, log) as client:
        for index, doc in enumerate(docs):
            path = tmp_path / f"doc-{index}.txt"
            path.write_text(doc.text, encoding="utf-8")
            calls = {
                "mask": await client.call_tool("mask", {"text": doc.text}),
                "mask_file": await client.call_tool("mask_file", {"path": str(path)}),
                "run_unmasked": await client.call_tool("run_unmasked", {"command": f"cat {path}"}),
            }
            for tool, result in calls.items():
                _ok(result)
                leaks += [f"{tool}: {f.label} ({doc.kind} #{index})" for f in find_planted(_everything(result), [doc])]
    leaks += [f"server log: {f}" for f in find_planted(log.read_text(), docs)]
    labels = sorted({line.split(": ", 1)[1].split(" (")[0] for line in leaks})
    assert not leaks, f"{len(leaks)} leaks, labels {labels} (replay: awsgen seed={seed}):\n" + "\n".join(leaks[:40])


# --- the proxy launcher ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_start_proxy_then_status_then_stop(
    env: dict[str, str], model: StandinModel, settings: Settings, tmp_path: Path
) -> None:
    pid = 0
    try:
        async with stdio(env, tmp_path / "s.log") as client:
            started = _data(await client.call_tool("start_proxy", {"upstream": model.url}))
            pid = started["pid"]
            assert started["running"] is True and started["healthy"] is True and started["detached"] is False
            assert started["health"]["service"] == "maskkit" and started["health"]["vault"] == "ok"
            assert started["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{started['port']}"
            assert started["ANTHROPIC_API_KEY"] == f"the key in {settings.home / 'proxy.key'}"
            key = (settings.home / "proxy.key").read_text().strip()
            assert key not in _everything(await client.call_tool("proxy_status", {}))
            status = _data(await client.call_tool("proxy_status", {}))
            assert status["running"] is True and status["pid"] == pid and status["started_by_this_server"] is True
            again = _data(await client.call_tool("start_proxy", {}))
            assert again["pid"] == pid and "already running" in again["note"]
            health = httpx.get(started["ANTHROPIC_BASE_URL"] + "/health", timeout=5)
            assert health.status_code == 200
            stopped = _data(await client.call_tool("stop_proxy", {}))
            assert stopped == {"stopped": True, "pid": pid, "port": started["port"]}
            assert _wait_dead(pid)
            assert _data(await client.call_tool("proxy_status", {}))["running"] is False
            assert _data(await client.call_tool("stop_proxy", {}))["stopped"] is False
        log = settings.home / "proxy.log"
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    finally:
        if pid:
            _kill(pid)


@pytest.mark.anyio
async def test_a_proxy_stops_with_the_server_unless_detached(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    pids: list[int] = []
    try:
        async with stdio(env, tmp_path / "s.log") as client:
            attached = _data(await client.call_tool("start_proxy", {"upstream": model.url}))
            pids.append(attached["pid"])
        assert _wait_dead(attached["pid"]), "the proxy outlived the MCP server"

        async with stdio(env, tmp_path / "s.log") as client:
            detached = _data(await client.call_tool("start_proxy", {"upstream": model.url, "detach": True}))
            pids.append(detached["pid"])
        assert _pid_alive(detached["pid"]), "a detached proxy stopped with the MCP server"
        async with stdio(env, tmp_path / "s.log") as client:  # a later session finds and stops it
            status = _data(await client.call_tool("proxy_status", {}))
            assert status["running"] is True and status["pid"] == detached["pid"] and status["detached"] is True
            assert _data(await client.call_tool("stop_proxy", {}))["stopped"] is True
        assert _wait_dead(detached["pid"])
    finally:
        for pid in pids:
            _kill(pid)


@pytest.mark.anyio
async def test_start_proxy_on_a_busy_port_says_so(memory: Callable[..., Client]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        async with memory() as client:
            message = _error(await client.call_tool("start_proxy", {"port": busy.getsockname()[1]}))
    assert "already in use" in message


# --- the real Claude Code CLI ---------------------------------------------------------------------------------------


def test_claude_mcp_add_then_list_shows_maskkit_connected(
    claude_binary: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's commands: `claude mcp add maskkit -- uv run --directory <repo> maskkit-mcp`, `claude mcp list`."""
    cc_env = claude_env(f"http://127.0.0.1:{free_port()}", tmp_path / "home")
    extra = [
        x for name in ("MASKKIT_HOME", "MASKKIT_VAULT_KEY", "MASKKIT_NAMESPACE") for x in ("-e", f"{name}={env[name]}")
    ]
    added = run_claude(
        claude_binary,
        cc_env,
        tmp_path,
        "mcp",
        "add",
        "maskkit",
        *extra,
        "--",
        "uv",
        "run",
        "--directory",
        str(ROOT),
        "maskkit-mcp",
    )
    assert added.returncode == 0, added.stderr + added.stdout
    listed = run_claude(claude_binary, cc_env, tmp_path, "mcp", "list", timeout=180)
    line = next((x for x in listed.stdout.splitlines() if x.startswith("maskkit")), "")
    assert "Connected" in line, listed.stdout + listed.stderr


def test_claude_code_unmask_behind_the_proxy_reveals_to_the_tool_and_the_model_sees_pseudonyms(
    claude_binary: Path, env: dict[str, str], masker: Masker, model: StandinModel, tmp_path: Path
) -> None:
    """Claude Code through a real `maskkit proxy` starts maskkit-mcp as its child (through mktests.stdio_tap, a relay
    that changes no byte and marks when the server's tools reached Claude Code). The model asks `unmask` about a
    pseudonym from an earlier session (so the proxy itself cannot restore it): the server proves the proxy,
    reveals, audits, and the proxy masks the original again before the tool result reaches the model."""
    earlier = masker.mask(f"yesterday's instance {INSTANCE}").pseudonyms[0][1]
    proxy_process: ProxyProcess = start_proxy_process(env, model.url, tmp_path)
    try:
        connected = tmp_path / "mcp-connected"  # created once the server has answered Claude Code's tools/list
        config = {
            "mcpServers": {
                "maskkit": {
                    "command": sys.executable,
                    "args": ["-m", "mktests.stdio_tap", str(connected), str(MCP_SCRIPT)],
                    "env": {k: env[k] for k in ("MASKKIT_HOME", "MASKKIT_VAULT_KEY", "MASKKIT_NAMESPACE")},
                }
            }
        }
        (tmp_path / "mcp.json").write_text(json.dumps(config))
        asked_with_the_tool = False

        def respond(request: RecordedRequest) -> ToolUse | Text:
            # `claude -p` may ask the model before the MCP server has connected: the request then offers no
            # maskkit tool, and the call fails as "No such tool available". The model then waits until the server
            # has answered Claude Code's tools/list and asks again (a new turn, with the tools Claude Code has then).
            # Claude Code may add a system message after a tool result, so look at the latest tool result.
            nonlocal asked_with_the_tool
            results = [
                block
                for message in request.json["messages"]
                if isinstance(message.get("content"), list)
                for block in message["content"]
                if isinstance(block, dict) and block.get("type") == "tool_result"
            ]
            if results and (not results[-1].get("is_error") or asked_with_the_tool):
                return Text("Done.")  # the call made with the tool offered: its result is what the test checks
            offered = {tool.get("name") for tool in request.json.get("tools", []) if isinstance(tool, dict)}
            if "mcp__maskkit__unmask" in offered:
                asked_with_the_tool = True
            else:
                deadline = time.monotonic() + 120
                while not connected.exists():
                    assert time.monotonic() < deadline, "Claude Code never connected the maskkit MCP server"
                    time.sleep(0.02)
            return ToolUse("mcp__maskkit__unmask", {"text": f"what is {earlier}?"})

        model.responder = respond
        result = run_claude(
            claude_binary,
            claude_env(proxy_process.url, tmp_path / "home"),
            tmp_path,
            "-p",
            "look it up",
            "--mcp-config",
            str(tmp_path / "mcp.json"),
            "--strict-mcp-config",
            "--allowedTools",
            "mcp__maskkit",
            timeout=180,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        results = [
            block
            for message in model.requests[-1].json["messages"]
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
        assert results and not results[-1].get("is_error"), results[-1:]
        early = [(r.get("is_error"), json.dumps(r["content"])[:300]) for r in results[:-1]]
        assert all(is_error for is_error, _ in early), early  # only retries while the server connected
        assert f"what is {earlier}?" in json.dumps(results[-1]["content"]), results[-1:]
        assert INSTANCE not in "\n".join(r.body.decode() for r in model.requests)
    finally:
        stop_proxy_process(proxy_process)
    (record,) = [r for r in _audit(masker) if r["tool"] == "unmask"]
    assert record["pseudonyms"] == [earlier] and record["basis"] == f"maskkit proxy at {proxy_process.url}"
    assert record["client"] is not None and "claude" in record["client"]["name"].lower()
    assert INSTANCE not in proxy_process.log_text()
