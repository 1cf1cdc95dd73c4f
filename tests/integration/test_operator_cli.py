"""The operator's CLI: settings that fail closed (real processes: nothing on stdout, the reason on stderr, no value
echoed), `maskkit kinds`, `maskkit config`/`doctor`, `vault status`, and the rough edges of `lookup`, `stats`,
`vault purge`, `audit` and `proxy` (busy port, bad port, bad Redis URL, key created only after the bind)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from maskkit.cli import main

SECRET = "AKIAQ3EGUMZLX7ZRE5WN"
INSTANCE = "i-0a1b2c3d4e5f67890"


def run(env: dict[str, str], *args: str, input: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input, env=env, capture_output=True, timeout=timeout
    )


def cli(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    maskkit_env = {k: v for k, v in env.items() if k.startswith("MASKKIT_")}
    return CliRunner().invoke(main, list(args), input=input, env=maskkit_env, catch_exceptions=False)


# --- settings fail closed ------------------------------------------------------------------------------------------


def test_a_wrong_case_kind_stops_mask_with_a_suggestion(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_KINDS": "instance_id"}, "mask", input=f"{INSTANCE}\n".encode())
    assert result.returncode != 0 and result.stdout == b""
    assert b"unknown kind 'instance_id'; did you mean INSTANCE_ID?" in result.stderr


def test_a_bad_value_names_the_setting_not_the_value(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_TTL": SECRET}, "mask", input=b"x")
    assert result.returncode != 0 and result.stdout == b""
    assert b"MASKKIT_TTL must be an integer" in result.stderr and SECRET.encode() not in result.stderr


def test_allow_reveal_in_the_env_file_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "maskkit.env").write_text("export MASKKIT_ALLOW_REVEAL=1\n", encoding="utf-8")
    result = run({**env, "MASKKIT_HOME": str(home)}, "kinds")
    assert result.returncode != 0 and result.stdout == b""
    assert b"maskkit.env line 1: MASKKIT_ALLOW_REVEAL" in result.stderr
    assert b"set it in the environment only" in result.stderr


def test_an_env_file_line_it_does_not_understand_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "maskkit.env").write_text(f"MASKKIT_TTL=60\nMASKKIT_KINDS {SECRET}\n", encoding="utf-8")
    result = run({**env, "MASKKIT_HOME": str(home)}, "mask", input=b"x")
    assert result.returncode != 0 and result.stdout == b""
    assert b"line 2: expected NAME=value" in result.stderr and SECRET.encode() not in result.stderr


def test_an_unknown_maskkit_name_in_the_environment_is_a_warning(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_" + "NAMESPCE": "x"}, "mask", input=b"hello")
    assert result.returncode == 0 and result.stdout == b"hello"
    assert b"warning: MASKKIT_" b"NAMESPCE in the environment is not a maskkit setting" in result.stderr
    assert b"did you mean MASKKIT_NAMESPACE?" in result.stderr


def test_disabled_kinds_are_loud(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_KINDS": "INSTANCE_ID"}, "mask", input=f"{INSTANCE} {SECRET}".encode())
    assert result.returncode == 0
    assert SECRET.encode() in result.stdout and INSTANCE.encode() not in result.stdout
    assert b"warning: MASKKIT_KINDS masks only 1 of" in result.stderr and b"NOT masked" in result.stderr


def test_the_proxy_refuses_to_start_on_a_bad_kind(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_KINDS": "S3_BUCKET,instance_id"}, "proxy", "--port", "0", timeout=30)
    assert result.returncode != 0 and result.stdout == b""
    assert b"did you mean INSTANCE_ID?" in result.stderr and b"maskkit proxy on" not in result.stderr


# --- kinds, config ------------------------------------------------------------------------------------------------


def test_kinds_lists_every_kind_with_prefix_example_and_state(env: dict[str, str]) -> None:
    from maskkit.detect import KINDS

    result = cli({**env, "MASKKIT_KINDS": "INSTANCE_ID"}, "kinds", "--json")
    assert result.exit_code == 0
    rows = {row["kind"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(KINDS)
    assert rows["INSTANCE_ID"] == {
        "kind": "INSTANCE_ID", "prefix": "ec2", "pseudonym": "ec2-001", "example": "i-0a1b2c3d4e5f67890",
        "enabled": True,
    }
    assert rows["S3_BUCKET"]["enabled"] is False
    text = cli(env, "kinds").stdout
    assert text.splitlines()[0].split() == ["KIND", "PSEUDONYM", "ENABLED", "EXAMPLE"]


@pytest.mark.parametrize("command", ["config", "doctor"])
def test_config_shows_sources_and_vault_state_and_no_secret(env: dict[str, str], command: str) -> None:
    secrets_env = {**env, "MASKKIT_API_KEY": "mk-" + "s" * 40, "MASKKIT_TTL": "120"}
    result = run(secrets_env, command)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert env["MASKKIT_VAULT_KEY"] not in out and "s" * 40 not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  MASKKIT_")}
    assert "120" in lines["MASKKIT_TTL"] and "(environment)" in lines["MASKKIT_TTL"]
    assert lines["MASKKIT_VAULT_KEY"].split()[1] == "set"
    assert "(default)" in lines["MASKKIT_PORT"]
    assert "reachable                  yes" in out and "embedded Redis 6." in out
    data = json.loads(run(secrets_env, command, "--json").stdout)
    assert data["vault"]["reachable"].startswith("yes")


def test_vault_status_says_whether_the_embedded_server_runs(env: dict[str, str], tmp_path: Path) -> None:
    assert "is running" in cli(env, "vault", "status").stdout
    idle = cli({**env, "MASKKIT_HOME": str(tmp_path / "idle")}, "vault", "status")
    assert "not running" in idle.stdout


# --- rough edges ---------------------------------------------------------------------------------------------------


def test_lookup_of_something_that_is_not_a_pseudonym(env: dict[str, str]) -> None:
    result = run(env, "lookup", SECRET)
    assert result.returncode == 1 and result.stdout == b""
    assert b"not a pseudonym" in result.stderr and SECRET.encode() not in result.stderr
    assert SECRET.lower().encode() not in result.stderr
    forget = run(env, "vault", "forget", SECRET)
    assert forget.returncode == 1 and b"not a pseudonym" in forget.stderr
    assert SECRET.encode() not in forget.stderr and SECRET.lower().encode() not in forget.stderr


def test_stats_and_purge_of_a_namespace_that_does_not_exist(env: dict[str, str], namespace: str) -> None:
    cli(env, "mask", input=f"{INSTANCE}\n")
    one = cli(env, "stats", "-n", namespace, "--json")
    assert one.exit_code == 0 and json.loads(one.stdout) == {namespace: {"INSTANCE_ID": 1}}
    missing = run(env, "stats", "-n", "nosuchns")
    assert missing.returncode == 1 and b"does not exist" in missing.stderr
    purge = run(env, "vault", "purge", "-n", "nosuchns", "--yes")
    assert purge.returncode == 1 and b"does not exist" in purge.stderr and purge.stdout == b""


def test_audit_piped_is_ascii_tsv_with_a_header(env: dict[str, str], namespace: str, tmp_path: Path) -> None:
    cli(env, "mask", input=f"{INSTANCE} and {SECRET}\n")
    result = run(env, "audit", "-n", namespace)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("ascii")
    lines = text.splitlines()
    assert lines[0].split("\t") == [
        "namespace", "pseudonym", "kind", "first_seen", "last_seen", "ttl_seconds", "hits", "original"
    ]
    rows = [line.split("\t") for line in lines[1:]]
    assert {(r[1], r[2], r[7]) for r in rows} == {("ec2-001", "INSTANCE_ID", "i-0a...890"),
                                                  ("iam-001", "ACCESS_KEY_ID", "AKIA...5WN")}
    assert all(r[3].endswith("Z") and "T" in r[3] for r in rows)
    assert "\u2026" not in text and SECRET not in text and INSTANCE not in text


def test_audit_writes_parquet_and_counts_rows_in_proper_english(env: dict[str, str], namespace: str,
                                                                 tmp_path: Path) -> None:
    cli(env, "mask", input=f"{INSTANCE}\n")
    result = cli(env, "audit", "-n", namespace, "-o", str(tmp_path / "a.parquet"))
    assert result.exit_code == 0 and result.stdout.startswith("wrote 1 row to ")
    import pandas as pd

    assert list(pd.read_parquet(tmp_path / "a.parquet")["pseudonym"]) == ["ec2-001"]


def test_audit_rejects_an_unknown_kind(env: dict[str, str]) -> None:
    result = run(env, "audit", "--kind", "instance_id")
    assert result.returncode == 1 and b"did you mean INSTANCE_ID?" in result.stderr


def test_proxy_rejects_a_port_out_of_range(env: dict[str, str]) -> None:
    result = run(env, "proxy", "--port", "99999")
    assert result.returncode == 2 and b"99999 is not in the range 0<=x<=65535" in result.stderr
    assert b"internal error" not in result.stderr


def test_a_bad_redis_url_is_a_clear_error(env: dict[str, str]) -> None:
    result = run({**env, "MASKKIT_REDIS_URL": "redis://localhost:99999"}, "proxy", "--port", "0")
    assert result.returncode == 1 and b"MASKKIT_REDIS_URL has a port" in result.stderr
    assert b"internal error" not in result.stderr


def test_a_busy_port_names_the_port_and_creates_no_key(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run({**env, "MASKKIT_HOME": str(home), "ANTHROPIC_API_KEY": "x"}, "proxy", "--port", str(port))
    try:
        assert result.returncode == 1 and result.stdout == b""
        assert f"port {port} on 127.0.0.1 is already in use".encode() in result.stderr
        assert b"--port" in result.stderr
        assert not (home / "proxy.key").exists() and b"ANTHROPIC_API_KEY=mk-" not in result.stderr
    finally:
        from maskkit.vault import stop_embedded_redis

        stop_embedded_redis(home)


# --- extras ------------------------------------------------------------------------------------------------------

_HIDE = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
"""


@pytest.mark.parametrize(
    ("hidden", "args", "extra"),
    [
        ("litellm", ("proxy", "--via", "litellm", "--port", "0"), "litellm"),
        ("pandas", ("audit",), "notebook"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    env: dict[str, str], tmp_path: Path, hidden: str, args: tuple[str, ...], extra: str
) -> None:
    (tmp_path / "sitecustomize.py").write_text(_HIDE.format(hidden={hidden}), encoding="utf-8")
    result = run({**env, "PYTHONPATH": str(tmp_path), "ANTHROPIC_API_KEY": "x"}, *args, timeout=60)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().strip().endswith(f"needs the {extra} extra: pip install 'maskkit[{extra}]'")
    assert len(result.stderr.decode().strip().splitlines()) == 1


UNKNOWN = "MASKKIT" + "_NOT_A_SETTING_AT_ALL"  # (spelled in two parts: the tests name only real settings)


def test_the_mcp_server_warns_about_unknown_settings_on_stderr_only(tmp_path: Path) -> None:
    """stdout carries the MCP protocol, so a start-up warning goes to stderr (and the server still starts)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))},
        "MASKKIT_HOME": str(tmp_path / "home"),
        UNKNOWN: "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "maskkit_mcp"], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert UNKNOWN.encode() in result.stderr and b"not a maskkit setting" in result.stderr
    assert result.stdout == b""
