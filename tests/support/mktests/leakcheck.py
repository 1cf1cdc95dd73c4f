"""Leak checks shared by every test that looks at what leaves the machine: "no planted value in X".

`X` may be a masked text, raw request bytes as the upstream saw them, or any JSON value (a Messages body, an
MCP tool result, a notebook's outputs). A planted value counts as leaked if it shows up as written, or as a
JSON string would carry it (escaped newlines, `\\/`, `\\uXXXX`), so a PEM key inside a JSON body is caught too.

Findings name the label, the document kind and index, and the offset, never the value: the values are random
test data, but the habit of keeping originals out of assertion output is the one maskkit itself follows.
Documents come from `awsgen`; pass its seed as `seed` so the message says how to replay a failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mktests.awsgen import Document

__all__ = ["Finding", "assert_decoys_survive", "assert_no_planted", "find_lost_decoys", "find_planted"]


@dataclass(frozen=True)
class Finding:
    """Where a planted value (or a lost decoy) was found. Its repr carries no value."""

    label: str
    doc_kind: str
    doc_index: int
    offset: int

    def __str__(self) -> str:
        return f"{self.label} (document #{self.doc_index}, {self.doc_kind}) at offset {self.offset}"


def _strings(value: Any) -> Iterator[str]:
    """Every string of a JSON value, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _haystacks(where: Any) -> list[str]:
    """The texts to search: the text itself (bytes decoded), or every string of a JSON value plus its dump."""
    if isinstance(where, (bytes, bytearray, memoryview)):
        return [bytes(where).decode("utf-8", "replace")]
    if isinstance(where, str):
        return [where]
    return [*_strings(where), json.dumps(where), json.dumps(where, ensure_ascii=False)]


def _spellings(value: str) -> set[str]:
    """A value as written and as it reads inside JSON source text."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], value.replace("/", "\\/")}


_SHORT = 8


def _find(text: str, value: str) -> int:
    """Where `value` occurs in `text` (-1: nowhere). A short value (an EKS cell label such as `hq2`) counts only
    as a whole token: inside a longer word of another document (`inventory-hq2w`) it is a coincidence of the
    random corpus, not a leak; a long value counts anywhere."""
    if len(value) >= _SHORT:
        return text.find(value)
    match = re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text)
    return -1 if match is None else match.start()


def find_planted(where: Any, docs: Iterable[Document]) -> list[Finding]:
    """Every planted value of `docs` that occurs in `where` (first occurrence per value and text)."""
    haystacks = _haystacks(where)
    found: list[Finding] = []
    for index, doc in enumerate(docs):
        for planted in doc.planted:
            for text in haystacks:
                hits = [o for s in _spellings(planted.value) if (o := _find(text, s)) != -1]
                if hits:
                    found.append(Finding(planted.label, doc.kind, index, min(hits)))
                    break
    return found


def find_lost_decoys(where: Any, docs: Iterable[Document]) -> list[Finding]:
    """Every decoy of `docs` that no longer occurs anywhere in `where` (it was masked: a false positive)."""
    haystacks = _haystacks(where)
    return [
        Finding(f"decoy {_decoy_shape(decoy)}", doc.kind, index, -1)
        for index, doc in enumerate(docs)
        for decoy in doc.decoys
        if not any(s in text for text in haystacks for s in _spellings(decoy))
    ]


def _decoy_shape(decoy: str) -> str:
    """A label for a decoy (decoys are public look-alikes, so a short sample is safe to show)."""
    return repr(decoy if len(decoy) <= 24 else decoy[:21] + "...")


def _report(what: str, findings: list[Finding], seed: int | None, limit: int = 25) -> str:
    lines = [f"{len(findings)} {what}" + (f" (replay: awsgen seed={seed})" if seed is not None else "")]
    lines += [f"  {finding}" for finding in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more")
    return "\n".join(lines)


def assert_no_planted(where: Any, docs: Iterable[Document], *, seed: int | None = None) -> None:
    """Fail if any planted value of `docs` occurs in `where` (a text, bytes, or a JSON value)."""
    __tracebackhide__ = True  # pytest would print the arguments (the originals) in the traceback
    docs = list(docs)
    findings = find_planted(where, docs)
    assert not findings, _report("planted values leaked", findings, seed)


def assert_decoys_survive(where: Any, docs: Iterable[Document], *, seed: int | None = None) -> None:
    """Fail if a decoy of `docs` (region, git SHA, timestamp ...) was masked away from `where`."""
    __tracebackhide__ = True
    docs = list(docs)
    findings = find_lost_decoys(where, docs)
    assert not findings, _report("decoys were masked (false positives)", findings, seed)
