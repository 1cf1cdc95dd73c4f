"""`maskkit scan`: find AWS identifiers and secrets in files (for CI and pre-commit). Detect only, store nothing.

An I/O edge around `maskkit.detect.Detector`: it reads files, directories and stdin, applies an allowlist
(`.maskkitignore`), and renders findings as text, JSON or SARIF. A finding shows the kind and a redacted preview
(`i-12...ef0`), never the whole original. No vault, no network, no Redis: it runs where nothing else of maskkit
is set up.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskkit._version import __version__
from maskkit.detect import LITERAL, Detector

__all__ = ["Allowlist", "Finding", "Scanner", "redact_ascii", "render"]

#: Directories a walk never enters (version control and dependency trees).
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
                          ".ruff_cache", ".pytest_cache", ".tox"})
_HEAD, _TAIL = 4, 3


def redact_ascii(original: str) -> str:
    """`i-1234567890abcdef0` -> `i-12...ef0`: first 4 and last 3 characters, ASCII only; `...` under 14 characters
    (so at least half of every value stays hidden)."""
    if len(original) < 2 * (_HEAD + _TAIL):
        return "..."
    shown = f"{original[:_HEAD]}...{original[-_TAIL:]}"
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in shown)


@dataclass(frozen=True)
class Finding:
    """One detected original: where it starts (1-based line and column, in characters), its kind, a preview."""

    path: str
    line: int
    column: int
    kind: str
    preview: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "kind": self.kind,
                "preview": self.preview}


@dataclass(frozen=True)
class Allowlist:
    """What a scan ignores: exact values, kinds, and path globs (`.maskkitignore`).

    File format, one entry per line, `#` comments: `kind:INSTANCE_ID`, `path:docs/examples/**`, `value:<text>`, or a
    bare line, which is a value.
    """

    values: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Allowlist:
        values, kinds, paths = set(), set(), []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tag, sep, rest = line.partition(":")
            if sep and tag == "kind":
                kinds.add(rest.strip())
            elif sep and tag == "path":
                paths.append(rest.strip())
            elif sep and tag == "value":
                values.add(rest.strip())
            else:
                values.add(line)
        return cls(frozenset(values), frozenset(kinds), tuple(paths))

    def skips_path(self, path: str) -> bool:
        posix = path.replace(os.sep, "/").removeprefix("./")
        return any(fnmatch.fnmatch(posix, glob) or fnmatch.fnmatch(posix, glob.rstrip("/") + "/*")
                   for glob in self.paths)


@dataclass
class Scanner:
    """Scans texts, files and trees with one detector; collects findings and errors (unreadable paths)."""

    detector: Detector = field(default_factory=Detector)
    allow: Allowlist = field(default_factory=Allowlist)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0

    def scan_text(self, text: str, path: str) -> list[Finding]:
        """Findings in `text` (attributed to `path`), allowlist applied, in order of position."""
        found = []
        line_starts = _line_starts(text)
        for span in self.detector.detect(text):
            if span.kind == LITERAL or span.kind in self.allow.kinds:
                continue
            original = text[span.start : span.end]
            if original in self.allow.values:
                continue
            line = _line_of(line_starts, span.start)
            column = span.start - line_starts[line - 1] + 1
            found.append(Finding(path, line, column, span.kind, redact_ascii(original)))
        self.findings.extend(found)
        return found

    def scan_bytes(self, data: bytes, path: str) -> None:
        self.files += 1
        self.size += len(data)
        if b"\0" in data[:8192]:
            return  # binary: nothing a model reads as text
        self.scan_text(data.decode("utf-8", "surrogateescape"), path)

    def scan_paths(self, paths: Sequence[str], stdin: Any = None) -> None:
        """Files, directories (walked; SKIPPED_DIRS and symlinked dirs not entered) and `-` for stdin."""
        for path in paths:
            if path == "-":
                if stdin is not None:
                    self.scan_bytes(stdin.read(), "-")
                continue
            for file in self._files(path):
                if self.allow.skips_path(file):
                    continue
                try:
                    data = Path(file).read_bytes()
                except OSError as exc:
                    self.errors.append(f"{file}: cannot read ({exc.strerror or type(exc).__name__})")
                    continue
                self.scan_bytes(data, file)

    def _files(self, path: str) -> Iterator[str]:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if os.path.isfile(full):
                        yield full
        elif os.path.exists(path):
            yield path
        else:
            self.errors.append(f"{path}: no such file or directory")


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    from bisect import bisect_right

    return bisect_right(starts, offset)


def render(findings: Iterable[Finding], fmt: str, *, files: int = 0) -> str:
    """Findings as `text` (`path:line:col KIND preview` lines), `json` or `sarif` (SARIF 2.1.0)."""
    items = list(findings)
    if fmt == "text":
        return "".join(f"{f.path}:{f.line}:{f.column} {f.kind} {f.preview}\n" for f in items)
    if fmt == "json":
        return json.dumps({"files_scanned": files, "findings": [f.as_dict() for f in items]}, indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(_sarif(items), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt}")


def _sarif(items: list[Finding]) -> dict[str, Any]:
    kinds = sorted({f.kind for f in items})
    rules = [
        {
            "id": kind,
            "name": kind.title().replace("_", ""),
            "shortDescription": {"text": f"AWS {kind.replace('_', ' ').lower()} in text"},
        }
        for kind in kinds
    ]
    results = [
        {
            "ruleId": f.kind,
            "ruleIndex": kinds.index(f.kind),
            "level": "error",
            "message": {"text": f"{f.kind} {f.preview}: mask it (maskkit mask) or allow it in .maskkitignore"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path.replace(os.sep, "/").removeprefix("./")},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        for f in items
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "maskkit", "version": __version__, "rules": rules}},
                "results": results,
            }
        ],
    }
