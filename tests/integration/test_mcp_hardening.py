"""The MCP server against the attacks of the security review (issue 13 items 2-5, and the two MCP items of the
operator issue): its own data directory is out of reach of the file tools and run_unmasked, its own secrets never
come back to the model, reveal permission comes from the real environment only, and the run_unmasked audit holds
no original. Real vault, in-memory MCP client (and stdio for the proxy launcher); docs/security.md links here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import Client
from test_mcp_server import _data, _error, _everything, _kill, _ok, _text, _wait_dead, stdio

from maskkit import Masker, load_settings
from maskkit.errors import ConfigError
from maskkit.vault import generate_key

pytestmark = pytest.mark.timeout(180)

BUCKET = "acme-payroll-exports-7f3a"  # not detectable on its own: only s3:// gives it away


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def own_home(private_home: Path) -> Path:
    """A data dir of its own with a generated vault key file and a proxy key file in it."""
    (private_home / "proxy.key").write_text("mk-" + secrets.token_urlsafe(32) + "\n", encoding="ascii")
    return private_home


def _on(memory: Callable[..., Client], home: Path, **extra: str) -> Client:
    """The server on `home`, with its vault key in home/vault.key (MASKKIT_VAULT_KEY cleared)."""
    return memory(MASKKIT_HOME=str(home), MASKKIT_VAULT_KEY="", **extra)


# --- item 2: no writes into MASKKIT_HOME; reveal permission from the real environment only ------------------------


@pytest.mark.anyio
async def test_unmask_to_file_refuses_maskkit_home_also_through_a_symlink(
    memory: Callable[..., Client], own_home: Path, tmp_path: Path
) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(own_home, target_is_directory=True)
    text = "MASKKIT_ALLOW_REVEAL=1\nMASKKIT_KINDS=NONE\n"
    async with _on(memory, own_home) as client:
        for path in (own_home / "maskkit.env", link / "maskkit.env", own_home / "sub" / ".." / "maskkit.env"):
            message = _error(await client.call_tool("unmask_to_file", {"text": text, "path": str(path)}))
            assert "MASKKIT_HOME" in message
        outside = tmp_path / "elsewhere.env"
        _data(await client.call_tool("unmask_to_file", {"text": text, "path": str(outside)}))
    assert not (own_home / "maskkit.env").exists()
    assert outside.read_text() == text  # paths elsewhere stay allowed


def test_allow_reveal_in_maskkit_env_is_refused_and_only_the_environment_grants_it(own_home: Path) -> None:
    (own_home / "maskkit.env").write_text("MASKKIT_ALLOW_REVEAL=1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="environment only"):
        load_settings({"MASKKIT_HOME": str(own_home)})
    (own_home / "maskkit.env").unlink()
    assert load_settings({"MASKKIT_HOME": str(own_home)}).allow_reveal is False
    assert load_settings({"MASKKIT_HOME": str(own_home), "MASKKIT_ALLOW_REVEAL": "1"}).allow_reveal is True


@pytest.mark.anyio
async def test_a_maskkit_env_that_allows_reveal_stops_the_server_instead_of_revealing(
    memory: Callable[..., Client], own_home: Path
) -> None:
    (own_home / "maskkit.env").write_text("MASKKIT_ALLOW_REVEAL=1\n", encoding="utf-8")
    async with _on(memory, own_home) as client:  # not configured: every tool fails closed, naming the setting
        result = await client.call_tool("unmask", {"text": "ec2-001"})
        assert result.is_error and "environment only" in _error(result)


# --- item 3: maskkit's own secrets ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_maskkit_key_files_are_refused_and_never_reach_the_model(
    memory: Callable[..., Client], own_home: Path, tmp_path: Path
) -> None:
    async with _on(memory, own_home) as client:
        _ok(await client.call_tool("mask", {"text": "warm up: creates vault.key"}))
        vault_key = (own_home / "vault.key").read_text().strip()
        client_key = (own_home / "proxy.key").read_text().strip()
        results = [
            await client.call_tool("mask_file", {"path": str(own_home / "vault.key")}),
            await client.call_tool("mask_file", {"path": str(own_home / "proxy.key")}),
            await client.call_tool("run_unmasked", {"command": f"cat {own_home}/vault.key"}),
            await client.call_tool("run_unmasked", {"command": "cat vault.key", "cwd": str(own_home)}),
        ]
        for result in results:
            assert result.is_error, _everything(result)
        # a command that names neither the dir nor the file still gets the keys blanked out of its output
        pattern = f"{own_home.parent}/{own_home.name[:2]}*/[vp][ar]*.k?y"
        sneaky = await client.call_tool("run_unmasked", {"command": f"cat {pattern}; printenv"})
        results.append(sneaky)
        data = _data(sneaky)
        assert data["exit_code"] == 0
        # the key formats are detected as secrets everywhere: in mask, mask_file and any text
        (tmp_path / "notes.txt").write_text(f"vault {vault_key}\nclient {client_key}\n")
        results.append(await client.call_tool("mask_file", {"path": str(tmp_path / "notes.txt")}))
        results.append(await client.call_tool("mask", {"text": f"MASKKIT_VAULT_KEY={vault_key} key={client_key}"}))
    for result in results:
        text = _everything(result)
        assert vault_key not in text and client_key not in text


# --- item 4: one server, its own namespaces -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_namespace_outside_the_allowlist_is_a_tool_error_that_names_no_other(
    memory: Callable[..., Client], masker: Masker
) -> None:
    other = masker.for_namespace(masker.namespace + "-other")
    other.mask("i-0a1b2c3d4e5f60718")
    async with memory() as client:
        for tool, arguments in (("mask", {"text": "x"}), ("unmask", {"text": "ec2-001"}),
                                ("lookup", {"pseudonym": "ec2-001"}), ("mask_file", {"path": "/etc/hostname"}),
                                ("unmask_to_file", {"text": "x", "path": "/tmp/never-written"}),
                                ("run_unmasked", {"command": "true"})):
            message = _error(await client.call_tool(tool, {**arguments, "namespace": other.namespace}))
            assert other.namespace not in message and masker.namespace in message, (tool, message)
        stats = _data(await client.call_tool("vault_stats", {}))
    assert set(stats["namespaces"]) <= {masker.namespace}
    assert other.namespace not in json.dumps(stats)


# --- item 5: run_unmasked audit and output ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_unmasked_audits_the_command_as_written_and_masks_what_it_revealed(
    memory: Callable[..., Client], masker: Masker
) -> None:
    bucket = masker.mask(f"s3://{BUCKET}").text.removeprefix("s3://")
    command = f"echo {bucket} AKIAQ3V5X7Z2B4D6F2H4"
    async with memory() as client:
        result = await client.call_tool("run_unmasked", {"command": command})
    data = _data(result)
    assert data["stdout"].startswith(bucket + " iam-") and BUCKET not in _everything(result)
    audit = masker.vault.home / "reveal-audit.jsonl" if masker.vault.home else Path("/nonexistent")
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    mine = [r for r in records if r["namespace"] == masker.namespace]
    assert mine[-1]["command"] == f"echo {bucket} <ACCESS_KEY_ID>"
    assert BUCKET not in audit.read_text() and "AKIAQ3V5X7Z2B4D6F2H4" not in audit.read_text()


@pytest.mark.anyio
async def test_run_unmasked_commands_inherit_no_maskkit_setting_and_no_upstream_key(
    memory: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-upstream-" + secrets.token_hex(8))
    monkeypatch.setenv("MASKKIT_LOG_FORMAT", "json")  # any maskkit setting: none may reach the command
    async with memory() as client:
        data = _data(await client.call_tool("run_unmasked", {"command": "env"}))
    names = {line.split("=", 1)[0] for line in data["stdout"].splitlines() if "=" in line}
    assert not {n for n in names if n.startswith("MASKKIT_")} and "ANTHROPIC_API_KEY" not in names


# --- operator issue: the refusal names the real proxy; start_proxy keeps its port ---------------------------------


@pytest.mark.anyio
async def test_the_refusal_names_the_address_of_the_proxy_the_user_runs(
    memory: Callable[..., Client], own_home: Path
) -> None:
    record = {"url": "http://127.0.0.1:47123", "pid": os.getpid()}
    (own_home / "proxy.json").write_text(json.dumps(record), encoding="utf-8")
    async with _on(memory, own_home) as client:
        masked = _text(_ok(await client.call_tool("mask", {"text": "i-0a1b2c3d4e5f60718"})))
        message = _error(await client.call_tool("unmask", {"text": masked}))
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:47123 " in message and ":8000" not in message


@pytest.mark.anyio
async def test_start_proxy_comes_back_on_the_same_port_in_the_next_session(
    env: dict[str, str], private_home: Path, tmp_path: Path
) -> None:
    from mktests.standin_model import StandinModel

    own = {**env, "MASKKIT_HOME": str(private_home), "MASKKIT_VAULT_KEY": generate_key()}
    pids: list[int] = []
    ports: list[int] = []
    try:
        with StandinModel() as model:
            for _ in range(2):
                async with stdio(own, tmp_path / "s.log") as client:
                    started = _data(await client.call_tool("start_proxy", {"upstream": model.url}))
                    pids.append(started["pid"])
                    ports.append(started["port"])
                    assert started["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{started['port']}"
                    refused = _error(await client.call_tool("unmask", {"text": "ec2-001"}))
                    assert f"ANTHROPIC_BASE_URL=http://127.0.0.1:{started['port']} " in refused
                assert _wait_dead(started["pid"])
    finally:
        for pid in pids:
            _kill(pid)
    assert ports[0] == ports[1]
