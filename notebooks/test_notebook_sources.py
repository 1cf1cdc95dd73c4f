"""The committed notebooks are built from `src/` and fully executed, so nbval compares every cell's output.

nbval skips the output comparison of a cell that was never executed (no execution count), and an edit made only
in `src/` would otherwise go untested. Rebuild with `uv run python notebooks/build.py NN`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("notebook_build", HERE / "build.py")
assert _spec is not None and _spec.loader is not None
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SOURCES = sorted((HERE / "src").glob("[0-9][0-9]_*.py"))


def test_every_notebook_has_a_source() -> None:
    notebooks = {p.stem for p in HERE.glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == {p.stem for p in SOURCES}


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_matches_its_source_and_is_executed(source: Path) -> None:
    problems = build.stale(source)
    assert not problems, "; ".join(problems) + f" (rebuild: uv run python notebooks/build.py {source.stem[:2]})"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_opens_with_its_claim(source: Path) -> None:
    first = build.parse(source.read_text(encoding="utf-8"))[0]
    assert first.cell_type == "markdown" and "**Claim.**" in first.source
