"""The test command also lints (ruff) and type-checks (mypy) the code, so `uv run pytest` is the whole gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    paths = [p for p in ("maskkit", "mcp_server", "tests", "bench", "notebooks") if (ROOT / p).exists()]
    result = _run("ruff", "check", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package() -> None:
    result = _run("mypy", "maskkit", "mcp_server")
    assert result.returncode == 0, result.stdout + result.stderr
