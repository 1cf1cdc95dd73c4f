"""`maskkit scan`: detect only, store nothing, redacted previews, exit 1/0/2, text/JSON/SARIF, `--kinds`, the
`.maskkitignore` allowlist; and the shipped pre-commit hook, run by the real `pre-commit` (`try-repo`) on a
temporary git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskkit.cli import main
from maskkit.scan import redact_ascii

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "i-0a1b2c3d4e5f67890"
KEY = "AKIAQ3EGUMZLX7ZRE5WN"
CACHE = Path(os.environ.get("MKTESTS_CACHE", Path.home() / ".cache" / "maskkit-tests"))


def scan(tmp_path: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    home = tmp_path / "home-never-created"
    result = CliRunner().invoke(main, ["scan", *args], input=input, env={"MASKKIT_HOME": str(home)})
    assert not home.exists(), "scan must store nothing (not even create the data dir)"
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "src" / "app.py").write_text(f'ok = 1\nINSTANCE = "{INSTANCE}"  # prod\n', encoding="utf-8")
    (root / "src" / "clean.md").write_text("nothing to see\n", encoding="utf-8")
    (root / "keys.env").write_text(f"AWS_ACCESS_KEY_ID={KEY}\n", encoding="utf-8")
    (root / ".git" / "config").write_text(f"{INSTANCE}\n", encoding="utf-8")
    (root / "image.bin").write_bytes(b"\0\x01" + INSTANCE.encode())
    return root


def test_redacted_preview_never_holds_the_original() -> None:
    assert redact_ascii(INSTANCE) == "i-0a...890"
    assert redact_ascii("123456789012") == "..."


def test_text_findings_with_line_and_column(tree: Path, tmp_path: Path) -> None:
    code, out, err = scan(tmp_path, str(tree))
    assert code == 1 and err == ""
    assert out.splitlines() == [
        f"{tree}/keys.env:1:19 ACCESS_KEY_ID AKIA...5WN",
        f"{tree}/src/app.py:2:13 INSTANCE_ID i-0a...890",
    ]
    assert INSTANCE not in out and KEY not in out


def test_clean_input_exits_0(tree: Path, tmp_path: Path) -> None:
    assert scan(tmp_path, str(tree / "src" / "clean.md")) == (0, "", "")


def test_stdin_and_json(tmp_path: Path) -> None:
    code, out, _ = scan(tmp_path, "-", "--format", "json", input=f"x\n  {INSTANCE}\n")
    assert code == 1
    assert json.loads(out) == {
        "files_scanned": 1,
        "findings": [{"path": "-", "line": 2, "column": 3, "kind": "INSTANCE_ID", "preview": "i-0a...890"}],
    }


def test_sarif(tree: Path, tmp_path: Path) -> None:
    code, out, _ = scan(tmp_path, "--format", "sarif", str(tree / "src"))
    assert code == 1
    report = json.loads(out)
    assert report["version"] == "2.1.0"
    run = report["runs"][0]
    assert run["tool"]["driver"]["name"] == "maskkit"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["INSTANCE_ID"]
    (result,) = run["results"]
    assert result["ruleId"] == "INSTANCE_ID"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 13}
    assert INSTANCE not in out


def test_kinds_option_limits_and_rejects_unknown_names(tree: Path, tmp_path: Path) -> None:
    code, out, _ = scan(tmp_path, "--kinds", "ACCESS_KEY_ID", str(tree))
    assert code == 1 and "INSTANCE_ID" not in out and "ACCESS_KEY_ID" in out
    code, out, err = scan(tmp_path, "--kinds", "instance_id", str(tree))
    assert code == 2 and out == "" and "did you mean INSTANCE_ID?" in err


def test_allowlist_of_values_kinds_and_paths(tree: Path, tmp_path: Path) -> None:
    ignore = tmp_path / "ignore"
    ignore.write_text(f"# known test values\n{INSTANCE}\n", encoding="utf-8")
    code, out, _ = scan(tmp_path, "--ignore-file", str(ignore), str(tree))
    assert code == 1 and "INSTANCE_ID" not in out
    ignore.write_text("kind:ACCESS_KEY_ID\npath:*/src/*\n", encoding="utf-8")
    assert scan(tmp_path, "--ignore-file", str(ignore), str(tree))[:2] == (0, "")


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    code, _, err = scan(tmp_path, str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in err


def test_maskkitignore_in_the_working_directory_is_read(tree: Path, tmp_path: Path) -> None:
    (tree / ".maskkitignore").write_text("kind:ACCESS_KEY_ID\nkind:INSTANCE_ID\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "maskkit", "scan", "."], cwd=tree, capture_output=True, text=True, timeout=60,
        env={**os.environ, "MASKKIT_HOME": str(tmp_path / "unused")},
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


# --- the pre-commit hook ---------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def _head() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(CACHE / "pre-commit"), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args], cwd=repo, capture_output=True, text=True, timeout=900, env=env
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A temporary git repository with a staged secret (deploy.sh) and a staged clean file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "deploy.sh").write_text(f"aws ec2 reboot-instances --instance-ids {INSTANCE}\n", encoding="utf-8")
    (repo / "README.md").write_text("# nothing secret\n", encoding="utf-8")
    _git(repo, "add", "deploy.sh", "README.md")
    return repo


def test_pre_commit_try_repo_runs_the_shipped_hook(repo: Path) -> None:
    """`pre-commit try-repo` at this repository's HEAD (try-repo always builds a fresh hook env: ~30 s here;
    uncommitted changes are not part of what the hook installs). The passing case is in the next test, whose hook
    env is cached."""
    failing = _pre_commit(repo, "try-repo", str(ROOT), "maskkit-scan", "--ref", _head(), "--files", "deploy.sh",
                          "README.md")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "- hook id: maskkit-scan" in failing.stdout and "deploy.sh:1:41 INSTANCE_ID i-0a...890" in failing.stdout
    assert INSTANCE not in failing.stdout


def test_the_hook_refuses_a_commit_with_a_staged_secret_and_allows_one_without(repo: Path) -> None:
    """The user's way: a .pre-commit-config.yaml naming this repository, `pre-commit run` on what is staged. The
    hook env lives in the tests' cache dir (PRE_COMMIT_HOME), built once per commit of this repository."""
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {_head()}\n  hooks:\n  - id: maskkit-scan\n", encoding="utf-8"
    )
    _git(repo, "add", ".pre-commit-config.yaml")
    started = time.monotonic()
    failing = _pre_commit(repo, "run")
    first = time.monotonic() - started
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "deploy.sh:1:41 INSTANCE_ID i-0a...890" in failing.stdout and INSTANCE not in failing.stdout
    _git(repo, "rm", "-q", "--cached", "deploy.sh")
    started = time.monotonic()
    passing = _pre_commit(repo, "run")
    cached = time.monotonic() - started
    assert passing.returncode == 0 and "Passed" in passing.stdout, passing.stdout + passing.stderr
    print(f"pre-commit hook: first run {first:.1f} s (builds the env unless cached), cached run {cached:.1f} s")
