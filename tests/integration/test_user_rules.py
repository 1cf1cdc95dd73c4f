"""A user's rule file (MASKKIT_RULES_FILE) through the real `maskkit mask` / `maskkit unmask` processes: the new
kind is detected, masked with its own prefix, stored in the real vault and restored byte for byte; a bad rule
file stops the command before anything is read or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RULES = (Path(__file__).resolve().parents[2] / "examples" / "rules.toml").read_text(encoding="utf-8")

TOKEN = "Zq8mN2xR4vT6yB1cD3fG5hJ7"
OTHER = "Hk3Lm5Np7Qr9St1Uv3Wx5Yz7"
PATTERN_TOKEN = "BT_7K2M9Q4X1Z8P3R6W"
TEXT = (
    f"ACME_BILLING_TOKEN={TOKEN}\n"
    f"billing-cli charge --billing-token {OTHER} --instance i-0123456789abcdef0\n"
    f"the old token {PATTERN_TOKEN} was rotated; {TOKEN} is the new one\n"
)


_RULE = '[[rule]]\nkind = "BILLING_TOKEN"\nprefix = "billtok"\n'


def run(env: dict[str, str], *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input, env=env, capture_output=True, timeout=60
    )


def test_a_rule_file_kind_is_masked_and_restored_by_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    env = {**env, "MASKKIT_RULES_FILE": str(rules)}
    masked = run(env, "mask", input=TEXT.encode())
    assert masked.returncode == 0, masked.stderr
    out = masked.stdout.decode()
    for original in (TOKEN, OTHER, PATTERN_TOKEN, "i-0123456789abcdef0"):
        assert original not in out
    assert out.count("billtok-") == 4  # the repeated token keeps its one pseudonym
    assert "ec2-" in out
    restored = run(env, "unmask", input=masked.stdout)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == TEXT.encode()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (_RULE.replace("billtok", "ec2") + 'keys = ["x"]\nvalue = "y"\n', "prefix 'ec2' is already used"),
        (_RULE + '[[rule.pattern]]\nregex = "BT_[A-Z"\n', "does not compile"),
        (_RULE + 'regex = "BT_"\n', "unknown key 'regex'"),
    ],
)
def test_a_bad_rule_file_fails_closed(env: dict[str, str], tmp_path: Path, rules: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(rules, encoding="utf-8")
    result = run({**env, "MASKKIT_RULES_FILE": str(path)}, "mask", input=TEXT.encode())
    assert result.returncode != 0
    assert result.stdout == b""
    error = result.stderr.decode()
    assert "MASKKIT_RULES_FILE" in error and message in error, error
    assert TOKEN not in error and "Traceback" not in error
