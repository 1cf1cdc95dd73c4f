"""The `maskkit` command against the real vault: byte-exact mask/unmask (click's CliRunner, and real subprocesses
for what the terminal sees), lookup, stats, forget, purge, rotate-key, persistence across a server restart, and
failing closed (nothing on stdout, no original on stderr)."""

from __future__ import annotations

import gc
import json
import secrets
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from maskkit.cli import main
from maskkit.vault import generate_key


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def cli(env: dict[str, str], *args: str, input: bytes | str | None = None) -> Result:
    """Run the CLI in-process with only the MASKKIT_* part of `env`."""
    maskkit_env = {k: v for k, v in env.items() if k.startswith("MASKKIT_")}
    return CliRunner().invoke(main, list(args), input=input, env=maskkit_env, catch_exceptions=False)


def run(env: dict[str, str], *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the CLI as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input, env=env, capture_output=True, timeout=60
    )


# --- byte-exact mask / unmask ---------------------------------------------------------------------------------------


ID = "i-0123456789abcdef0"

_INPUTS = {
    "empty": b"",
    "no trailing newline": b"reboot " + ID.encode(),
    "only newlines": b"\n\n\n",
    "crlf": b"a " + ID.encode() + b"\r\nb " + ID.encode() + b"\r\n",
    "lone cr": b"x\r" + ID.encode() + b"\r",
    "nul bytes": b"\x00" + ID.encode() + b"\x00\x00",
    "invalid utf-8": b"\xff\xfe bad " + ID.encode() + b" \xc3\x28 \xed\xa0\x80 \x80",
    "bom and unicode": "\ufeffcaf\u00e9 \U0001f600 ".encode() + ID.encode() + " \u2028".encode(),
    "pseudonym-shaped literals": b"ec2-001 EC2-001 lit-001 " + ID.encode(),
}


@pytest.mark.parametrize("data", list(_INPUTS.values()), ids=list(_INPUTS))
def test_mask_and_unmask_are_byte_exact(env: dict[str, str], data: bytes) -> None:
    masked = cli(env, "mask", input=data)
    assert masked.exit_code == 0, masked.stderr
    assert ID.encode() not in masked.stdout_bytes
    if ID.encode() in data:
        assert b"ec2-" in masked.stdout_bytes
    assert masked.stdout_bytes.count(b"\n") == data.count(b"\n")
    assert masked.stdout_bytes.count(b"\r") == data.count(b"\r")
    assert masked.stdout_bytes.count(b"\x00") == data.count(b"\x00")
    restored = cli(env, "unmask", input=masked.stdout_bytes)
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout_bytes == data
    assert masked.stderr_bytes == restored.stderr_bytes == b""


def test_mask_replaces_only_the_identifiers(env: dict[str, str]) -> None:
    data = b"\xff start " + ID.encode() + b"\r\n\x00end"
    masked = cli(env, "mask", input=data).stdout_bytes
    assert masked == data.replace(ID.encode(), b"ec2-001")


def test_file_argument_and_dash_read_the_same_bytes(env: dict[str, str], tmp_path: Path) -> None:
    data = _INPUTS["invalid utf-8"] + _INPUTS["crlf"]
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    from_file = cli(env, "mask", str(path))
    from_stdin = cli(env, "mask", "-", input=data)
    assert from_file.exit_code == from_stdin.exit_code == 0
    assert from_file.stdout_bytes == from_stdin.stdout_bytes
    path.write_bytes(from_file.stdout_bytes)
    assert cli(env, "unmask", str(path)).stdout_bytes == data


def test_missing_file_fails_with_its_name(env: dict[str, str], tmp_path: Path) -> None:
    result = cli(env, "mask", str(tmp_path / "nope.txt"))
    assert result.exit_code == 1 and result.stdout_bytes == b""
    assert "nope.txt" in result.stderr


def test_real_processes_write_exactly_the_bytes(env: dict[str, str]) -> None:
    data = b"".join(_INPUTS.values())
    masked = run(env, "mask", input=data)
    assert masked.returncode == 0, masked.stderr
    assert masked.stderr == b""
    assert ID.encode() not in masked.stdout
    assert masked.stdout.count(b"\r\n") == data.count(b"\r\n")
    restored = run(env, "unmask", input=masked.stdout)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == data
    empty = run(env, "mask", input=b"")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, b"", b"")


def test_mask_run_inside_another_program_leaves_its_garbage_collector_as_it_was(env: dict[str, str]) -> None:
    """`mask` pauses the cyclic collector while it works (`maskkit.cli._collector_paused`); a program that runs
    the command in process (click's runner here) must get it back as it was, on success and on failure."""
    assert gc.isenabled()
    assert cli(env, "mask", input=f"reboot {ID}\n").exit_code == 0
    assert gc.isenabled()
    assert cli(env, "mask", "/nonexistent/file").exit_code != 0
    assert gc.isenabled()
    gc.disable()
    try:
        assert cli(env, "unmask", input="ec2-001\n").exit_code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- lookup, stats, forget, purge -----------------------------------------------------------------------------------


def test_lookup_shows_metadata_and_the_original_only_with_reveal(env: dict[str, str], namespace: str) -> None:
    original = instance_id()
    assert cli(env, "mask", input=f"x {original} y {original}").stdout == "x ec2-001 y ec2-001"
    cli(env, "unmask", input="ec2-001")
    shown = cli(env, "lookup", "ec2-001")
    assert shown.exit_code == 0, shown.stderr
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert fields["kind"] == "INSTANCE_ID"
    assert fields["namespace"] == namespace
    assert fields["hits"] == "2"
    assert 7 * 24 * 3600 - 60 <= int(fields["ttl_seconds"]) <= 7 * 24 * 3600
    assert fields["first_seen"].endswith("Z") and fields["last_seen"].endswith("Z")
    assert original not in shown.output and "original" not in fields

    revealed = cli(env, "lookup", "--reveal", "--json", "EC2\u2011001")
    assert revealed.exit_code == 0, revealed.stderr
    row = json.loads(revealed.stdout)
    assert row["original"] == original and row["pseudonym"] == "ec2-001" and row["kind"] == "INSTANCE_ID"

    unknown = cli(env, "lookup", "ec2-999")
    assert unknown.exit_code == 1 and unknown.stdout == ""
    assert "ec2-999" in unknown.stderr


def test_stats_counts_mappings_per_kind_and_namespace(env: dict[str, str], namespace: str) -> None:
    cli(env, "mask", input=f"{instance_id()} {instance_id()} sg-{secrets.token_hex(9)[:17]}")
    cli(env, "mask", "-n", namespace + "-b", input=instance_id())
    counts = json.loads(cli(env, "stats", "--json").stdout)
    assert counts[namespace] == {"INSTANCE_ID": 2, "SECURITY_GROUP_ID": 1}
    assert counts[namespace + "-b"] == {"INSTANCE_ID": 1}
    text = cli(env, "stats").stdout
    assert f"{namespace}: 3 mappings" in text and f"{namespace}-b: 1 mapping\n" in text


def test_vault_forget_and_purge_remove_mappings(env: dict[str, str], namespace: str) -> None:
    first, second = instance_id(), instance_id()
    assert cli(env, "mask", input=f"{first} {second}").stdout == "ec2-001 ec2-002"
    forgot = cli(env, "vault", "forget", "ec2-001")
    assert forgot.exit_code == 0 and "ec2-001" in forgot.stdout
    assert cli(env, "unmask", input="ec2-001 ec2-002").stdout == f"ec2-001 {second}"
    again = cli(env, "vault", "forget", "ec2-001")
    assert again.exit_code == 1 and "ec2-001" in again.stderr

    refused = cli(env, "vault", "purge", input="n\n")
    assert refused.exit_code == 1
    assert cli(env, "unmask", input="ec2-002").stdout == second
    purged = cli(env, "vault", "purge", "--namespace", namespace, "--yes")
    assert purged.exit_code == 0 and "purged 1 mapping " in purged.stdout
    assert cli(env, "unmask", input="ec2-002").stdout == "ec2-002"
    assert cli(env, "mask", input=second).stdout == "ec2-003", "a purged number was issued again"


# --- failing closed -------------------------------------------------------------------------------------------------


def _closed_socket(directory: Path) -> Path:
    """A unix socket file nobody listens on (what a crashed or stopped server leaves behind)."""
    path = directory / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    return path


def _assert_failed_closed(result: subprocess.CompletedProcess[bytes] | Result, original: str, hint: str) -> None:
    if isinstance(result, Result):
        code, stdout, stderr = result.exit_code, result.stdout_bytes, result.stderr
    else:
        code, stdout, stderr = result.returncode, result.stdout, result.stderr.decode()
    assert code != 0
    assert stdout == b"", "something was written to stdout by a failed command"
    assert stderr.startswith("maskkit: ") and hint in stderr
    assert original not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("command", ["mask", "unmask"])
def test_unreachable_vault_fails_closed(env: dict[str, str], command: str) -> None:
    original = instance_id()
    directory = Path(env["MASKKIT_HOME"]).parent / secrets.token_hex(4)
    directory.mkdir()
    dead = {**env, "MASKKIT_REDIS_URL": f"unix://{_closed_socket(directory)}"}
    _assert_failed_closed(run(dead, command, input=f"reboot {original}\n".encode()), original, "unreachable")
    _assert_failed_closed(cli(dead, command, input="nothing to look up here\n"), original, "unreachable")
    missing = {**env, "MASKKIT_REDIS_URL": f"unix://{directory}/missing.sock"}
    _assert_failed_closed(cli(missing, command, input=original), original, "unreachable")


def test_wrong_key_fails_closed(env: dict[str, str]) -> None:
    original = instance_id()
    assert cli(env, "mask", input=original).stdout == "ec2-001"
    wrong = {**env, "MASKKIT_VAULT_KEY": generate_key()}
    _assert_failed_closed(run(wrong, "mask", input=original.encode()), original, "MASKKIT_VAULT_KEY")
    for args, text in ((["mask"], "plain text"), (["unmask"], "ec2-001"), (["lookup", "--reveal", "ec2-001"], "")):
        _assert_failed_closed(cli(wrong, *args, input=text), original, "MASKKIT_VAULT_KEY")


def test_malformed_key_fails_closed(env: dict[str, str]) -> None:
    result = cli({**env, "MASKKIT_VAULT_KEY": "not-a-key"}, "mask", input=instance_id())
    assert result.exit_code == 1 and result.stdout_bytes == b""
    assert "MASKKIT_VAULT_KEY" in result.stderr and "new-key" in result.stderr


# --- the embedded server across processes ---------------------------------------------------------------------------


def test_mappings_survive_stopping_the_embedded_server(private_home: Path, env: dict[str, str]) -> None:
    """Key file and embedded server both in a fresh MASKKIT_HOME, as a user without configuration gets them."""
    own = {k: v for k, v in env.items() if not k.startswith("MASKKIT_")} | {"MASKKIT_HOME": str(private_home)}
    original = instance_id()
    first = run(own, "mask", input=f"reboot {original}".encode())
    assert first.stdout == b"reboot ec2-001", first.stderr
    stopped = run(own, "vault", "stop")
    assert stopped.stdout == b"stopped\n"
    assert not (private_home / "redis.sock").exists()
    again = run(own, "mask", input=f"{original} once more".encode())
    assert again.stdout == b"ec2-001 once more", again.stderr
    assert run(own, "unmask", input=b"ec2-001").stdout == original.encode()
    assert stat.S_IMODE((private_home / "vault.key").stat().st_mode) == 0o600


# --- rotate-key -----------------------------------------------------------------------------------------------------


def test_rotate_key_with_a_key_file(private_home: Path) -> None:
    own = {"MASKKIT_HOME": str(private_home)}
    original = instance_id()
    assert cli(own, "mask", input=original).stdout == "ec2-001"
    old = (private_home / "vault.key").read_text()
    refused = cli(own, "vault", "rotate-key", input="n\n")
    assert refused.exit_code == 1 and (private_home / "vault.key").read_text() == old

    rotated = cli(own, "vault", "rotate-key", "--yes")
    assert rotated.exit_code == 0, rotated.stderr
    assert "1 mapping" in rotated.output and "vault.key.old" in rotated.output
    assert (private_home / "vault.key.old").read_text() == old != (private_home / "vault.key").read_text()
    assert stat.S_IMODE((private_home / "vault.key.old").stat().st_mode) == 0o600
    assert cli(own, "unmask", input="ec2-001").stdout == original
    assert cli(own, "mask", input=original).stdout == "ec2-001"
    stale = cli({**own, "MASKKIT_VAULT_KEY": old.strip()}, "unmask", input="ec2-001")
    assert stale.exit_code == 1 and stale.stdout == "" and original not in stale.stderr


def test_rotate_key_prints_the_new_key_for_environment_users(private_home: Path) -> None:
    old_key = generate_key()
    own = {"MASKKIT_HOME": str(private_home), "MASKKIT_VAULT_KEY": old_key}
    original = instance_id()
    assert cli(own, "mask", input=original).stdout == "ec2-001"
    rotated = cli(own, "vault", "rotate-key", "--yes")
    assert rotated.exit_code == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert rotated.stdout == new_key + "\n" and len(new_key) == 44, "stdout should hold the new key alone"
    assert "MASKKIT_VAULT_KEY" in rotated.stderr
    assert not (private_home / "vault.key").exists()
    assert cli({**own, "MASKKIT_VAULT_KEY": new_key}, "unmask", input="ec2-001").stdout == original
    assert cli(own, "unmask", input="ec2-001").exit_code == 1


@pytest.mark.parametrize(
    ("extra", "args"),
    [
        ({"MASKKIT_TTL": "AKIAQ3V5X7Z2B4D6F2H4"}, ["mask"]),
        ({"MASKKIT_PASSTHROUGH": "AKIAQ3V5X7Z2B4D6F2H4"}, ["mask"]),
        ({"MASKKIT_MEDIA": "AKIAQ3V5X7Z2B4D6F2H4"}, ["mask"]),
        ({}, ["lookup", "AKIAQ3V5X7Z2B4D6F2H4"]),
        ({}, ["lookup", "--reveal", "AKIAQ3V5X7Z2B4D6F2H4"]),
        ({}, ["vault", "forget", "AKIAQ3V5X7Z2B4D6F2H4"]),
    ],
    ids=["ttl", "bool", "media", "lookup", "lookup-reveal", "forget"],
)
def test_cli_errors_name_the_setting_or_argument_and_never_echo_the_value(
    env: dict[str, str], extra: dict[str, str], args: list[str]
) -> None:
    """Claude Code reads the CLI's stderr when it runs it through Bash: a value typed in the wrong place (an access
    key as a TTL, an original as a pseudonym) must not come back in the error, in any case (issue 13 item 16)."""
    result = run({**env, **extra}, *args, input=b"x")
    assert result.returncode != 0 and result.stdout == b""
    err = result.stderr.decode()
    assert err.startswith("maskkit: ") and "Traceback" not in err
    assert "akiaq3v5x7z2b4d6f2h4" not in err.lower()
