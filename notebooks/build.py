"""Build the verification notebooks: `src/NN_name.py` (percent format) -> `NN_name.ipynb`, executed.

The `.py` files are the sources (readable diffs, linted by ruff); the `.ipynb` files are the executed documents
whose stored outputs `pytest --nbval` compares on every run. Execution uses the kernel nbval uses under
`--nbval-current-env` (this Python), in this folder, like nbval does.

    uv run python notebooks/build.py              # rebuild and execute every notebook
    uv run python notebooks/build.py 04 07        # only the notebooks whose name starts with 04 or 07
    uv run python notebooks/build.py --check      # exit 1 if a notebook is stale or unexecuted (no kernel)

Source format: `# %% [markdown]` starts a markdown cell (its lines start with `# `), `# %%` a code cell.
IPython magics are written commented (`# %load_ext maskkit`); a cell whose first line is a commented cell magic
(`# %%safeclaude ...`) is uncommented as a whole, because its body is not Python.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, output_from_msg

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELL_TIMEOUT = 300.0

_MARKER = re.compile(r"^# %%(?: (?P<rest>.*))?$")
_MAGIC = re.compile(r"^# (?P<magic>%%?[A-Za-z_].*)$")


def parse(source: str) -> list[NotebookNode]:
    """The cells of a percent-format source."""
    cells: list[NotebookNode] = []
    kind: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if kind is None:
            return
        body = list(lines)
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body)
            cells.append(new_markdown_cell(text))
        else:
            if body and (first := _MAGIC.match(body[0])) and first["magic"].startswith("%%"):
                body = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body]
            else:
                body = [m["magic"] if (m := _MAGIC.match(line)) else line for line in body]
            cells.append(new_code_cell("\n".join(body)))

    for line in source.splitlines():
        marker = _MARKER.match(line)
        if marker:
            flush()
            kind = "markdown" if (marker["rest"] or "").strip() == "[markdown]" else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def notebook_for(source: Path) -> NotebookNode:
    nb = new_notebook(cells=parse(source.read_text(encoding="utf-8")))
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:02d}"  # stable ids: a rebuild changes only what really changed
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _coalesce(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Merge consecutive stream outputs of the same stream, as Jupyter does when it saves a notebook."""
    merged: list[NotebookNode] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and last is not None
            and last.output_type == "stream"
            and last.name == output.name
        ):
            last.text += output.text
        else:
            merged.append(output)
    return merged


class CellFailed(Exception):
    pass


def execute(nb: NotebookNode, name: str) -> float:
    """Run every code cell in a fresh kernel (cwd: this folder) and store its outputs; returns seconds."""
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

    started = time.monotonic()
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME, cwd=str(HERE))
    try:
        count = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            count += 1
            msg_id = kernel.execute_cell_input(cell.source, allow_stdin=False)
            kernel.await_reply(msg_id, timeout=CELL_TIMEOUT)
            outputs: list[NotebookNode] = []
            error: dict[str, Any] | None = None
            while True:
                try:
                    msg = kernel.get_message(stream="iopub", timeout=30)
                except Empty:
                    raise CellFailed(f"{name}: cell {count}: no idle status from the kernel") from None
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
                if kind in ("stream", "display_data", "execute_result", "error"):
                    output = output_from_msg(msg)
                    if kind == "execute_result":
                        output.execution_count = count
                    outputs.append(output)
                    if kind == "error":
                        error = msg["content"]
                elif kind == "clear_output":
                    outputs = []
            cell.outputs = _coalesce(outputs)
            cell.execution_count = count
            tags = cell.metadata.get("tags", [])
            if error is not None and "raises-exception" not in tags and "NBVAL_RAISES_EXCEPTION" not in cell.source:
                trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"][-12:]))
                _run_cleanup_cell(kernel, nb)
                raise CellFailed(f"{name}: cell {count} raised {error['ename']}:\n{trace}")
    finally:
        kernel.stop()
    return time.monotonic() - started


def _run_cleanup_cell(kernel: Any, nb: NotebookNode) -> None:
    """After a failure, run the notebook's last code cell (by convention the one that stops what it started),
    so a failed build leaves no proxy or Redis behind; nbval does the same by running every remaining cell."""
    last = [cell for cell in nb.cells if cell.cell_type == "code"][-1]
    msg_id = kernel.execute_cell_input(last.source, allow_stdin=False)
    try:
        kernel.await_reply(msg_id, timeout=60)
    except Empty:
        pass


def target_for(source: Path) -> Path:
    return HERE / (source.stem + ".ipynb")


def stale(source: Path) -> list[str]:
    """Why the committed notebook of `source` is out of date ([] if it is current and fully executed)."""
    target = target_for(source)
    if not target.exists():
        return [f"{target.name} is missing"]
    stored = nbformat.read(target, as_version=4)
    wanted = parse(source.read_text(encoding="utf-8"))
    problems = []
    if [(c.cell_type, c.source) for c in stored.cells] != [(c.cell_type, c.source) for c in wanted]:
        problems.append(f"{target.name} does not match src/{source.name}")
    unrun = [i for i, c in enumerate(stored.cells) if c.cell_type == "code" and c.execution_count is None]
    if unrun:
        problems.append(f"{target.name} has unexecuted cells {unrun} (nbval would not compare their outputs)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="name prefixes, e.g. 04 (default: every notebook)")
    parser.add_argument("--check", action="store_true", help="report stale or unexecuted notebooks, run nothing")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    args = parser.parse_args(argv)
    sources = sorted(p for p in SOURCES.glob("[0-9][0-9]_*.py") if not args.only or p.stem.startswith(tuple(args.only)))
    if not sources:
        print("no notebook sources match", file=sys.stderr)
        return 2
    if args.check:
        problems = [problem for source in sources for problem in stale(source)]
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    for source in sources:
        nb = notebook_for(source)
        target = target_for(source)
        if args.no_execute:
            nbformat.write(nb, target)
            print(f"{target.name}: written, not executed")
            continue
        try:
            seconds = execute(nb, target.name)
        except CellFailed as exc:
            print(exc, file=sys.stderr)
            return 1
        nbformat.validate(nb)
        nbformat.write(nb, target)
        print(f"{target.name}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
