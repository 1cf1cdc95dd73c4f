"""Cheap views of one text that every rule shares: where the keywords are, where the digit and base64 runs are.

Pure; no I/O. `re` is fast when a pattern starts with a literal and slow when it must try every position, so
the rules that would try every position are found from these views instead: the text is encoded once to ASCII
bytes (one byte per character: anything else becomes `?`, so offsets stay the same), and small byte maps of it
turn "a run of 12 digits" or "a run of 40 base64 characters" into a literal that `bytes.find` and `re` jump to.
Each view is computed on first use and kept for the rest of the text's detection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import ahocorasick_rs

__all__ = ["LiteralFinder", "TextView", "matches_at"]

_ASCII_DIGITS = b"0123456789"
#: Every ASCII digit becomes `0`, everything else stays: `0{12}` in the map is 12 digits in the text.
_DIGIT_MAP = bytes(0x30 if 0x30 <= i <= 0x39 else i for i in range(256))
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
#: Base64 characters (`A-Za-z0-9+/`) become `b`, everything else a space.
_B64_MAP = bytes(0x62 if i in _B64_CHARS else 0x20 for i in range(256))
_B64_RUN = re.compile(b"b" * 40 + b"b*")
#: Characters that fold to an ASCII letter under `re.IGNORECASE` (`ſ` -> s, `ı` -> i, Kelvin `K` -> k): a text
#: holding one is searched the slow way, so a case-insensitive keyword rule finds exactly what its regex finds.
_FOLDS_TO_ASCII = ("\u017f", "\u0131", "\u212a")


class LiteralFinder:
    """Which of a fixed set of literals occur in a text, for all of them in one pass (an Aho-Corasick automaton
    over the text's ASCII bytes), instead of one substring search each: a search for a literal that is not there
    reads the whole text, and detection asks about dozens of them (rule anchors and keywords, scanner anchors).

    `literals` are case-sensitive; `keywords` are lower-case ASCII, found in any case (in `TextView.lower`). Only
    ASCII literals of two or more characters are kept (a non-ASCII character is `?` in the bytes); `TextView.has`
    searches the text for any other. Overlapping matches are all reported, so a literal inside another is seen.
    """

    __slots__ = ("_keyword_automaton", "_keyword_list", "_literal_automaton", "_literal_list", "keywords", "literals")

    def __init__(self, literals: Iterable[str], keywords: Iterable[str] = ()) -> None:
        self._literal_list = sorted({w for w in literals if w.isascii() and len(w) > 1})
        self._keyword_list = sorted({w for w in keywords if w.isascii() and len(w) > 1 and w == w.lower()})
        self.literals = frozenset(self._literal_list)
        self.keywords = frozenset(self._keyword_list)
        # Built on first use: a Detector made only to be configured or checked never pays for them.
        self._literal_automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        self._keyword_automaton: ahocorasick_rs.BytesAhoCorasick | None = None

    def __reduce__(self) -> tuple[type[LiteralFinder], tuple[list[str], list[str]]]:
        # (The automata do not pickle; they are rebuilt from the words, so a Detector still pickles and deep-copies.)
        return LiteralFinder, (self._literal_list, self._keyword_list)

    def find_literals(self, ascii: bytes) -> dict[str, list[int]]:
        """Where each literal that occurs in the text (whose ASCII bytes are `ascii`) starts, in order."""
        words = self._literal_list
        if not words:
            return {}
        automaton = self._literal_automaton
        if automaton is None:
            automaton = self._literal_automaton = _automaton(words)
        found: dict[int, list[int]] = {}
        for index, start, _end in automaton.find_matches_as_indexes(ascii, overlapping=True):
            at = found.get(index)
            if at is None:
                found[index] = [start]
            else:
                at.append(start)
        return {words[index]: starts for index, starts in found.items()}

    def find_keywords(self, lower: bytes) -> frozenset[str]:
        """The keywords that occur in the text whose lower-cased ASCII bytes are `lower`."""
        words = self._keyword_list
        if not words:
            return frozenset()
        automaton = self._keyword_automaton
        if automaton is None:
            automaton = self._keyword_automaton = _automaton(words)
        found = {index for index, _start, _end in automaton.find_matches_as_indexes(lower, overlapping=True)}
        return frozenset(words[index] for index in found)


def _automaton(words: list[str]) -> ahocorasick_rs.BytesAhoCorasick:
    return ahocorasick_rs.BytesAhoCorasick([w.encode("ascii") for w in words])


class TextView:
    """One text and its lazily computed views. Offsets in every view are offsets in the text."""

    __slots__ = (
        "_ascii",
        "_b64_runs",
        "_digits",
        "_finder",
        "_keywords",
        "_literals",
        "_lower",
        "_positions",
        "text",
    )

    def __init__(self, text: str, finder: LiteralFinder | None = None) -> None:
        self.text = text
        self._ascii: bytes | None = None
        self._lower: bytes | None = None
        self._digits: bytes | None = None
        self._b64_runs: list[tuple[int, int]] | None = None
        self._positions: dict[str, list[int]] = {}
        self._finder = finder
        self._literals: dict[str, list[int]] | None = None
        self._keywords: frozenset[str] | None = None

    def has(self, literal: str) -> bool:
        """Does `literal` occur in the text (case-sensitive)? One automaton pass answers for every literal of the
        view's `LiteralFinder`; any other literal is searched for."""
        finder = self._finder
        if finder is not None and literal in finder.literals:
            if self._literals is None:
                self._literals = finder.find_literals(self.ascii)
            return literal in self._literals
        return literal in self.text

    def positions(self, literal: str) -> list[int]:
        """Every offset where `literal` occurs (case-sensitive, overlapping ones included), in order."""
        finder = self._finder
        if finder is not None and literal in finder.literals:
            if self._literals is None:
                self._literals = finder.find_literals(self.ascii)
            return self._literals.get(literal, [])
        found: list[int] = []
        at = self.text.find(literal)
        while at != -1:
            found.append(at)
            at = self.text.find(literal, at + 1)
        return found

    def has_keyword(self, keyword: str) -> bool:
        """Does `keyword` (lower-case ASCII) occur in the text, in any case (ASCII case folding only)?"""
        finder = self._finder
        if finder is not None and keyword in finder.keywords:
            if self._keywords is None:
                self._keywords = finder.find_keywords(self.lower)
            return keyword in self._keywords
        return keyword.encode("ascii") in self.lower

    @property
    def ascii(self) -> bytes:
        if self._ascii is None:
            self._ascii = self.text.encode("ascii", "replace")
        return self._ascii

    @property
    def lower(self) -> bytes:
        """The text in ASCII lower case (`?` for any other character)."""
        if self._lower is None:
            self._lower = self.ascii.lower()
        return self._lower

    @property
    def digits(self) -> bytes:
        """The text with every ASCII digit written `0`."""
        if self._digits is None:
            self._digits = self.ascii.translate(_DIGIT_MAP)
        return self._digits

    def folds_to_ascii(self) -> bool:
        """Does the text hold a non-ASCII character that `re.IGNORECASE` matches to an ASCII letter?"""
        text = self.text
        return not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII)

    def keyword_positions(self, keyword: str) -> list[int]:
        """Every offset where `keyword` (lower-case ASCII) occurs, in any case, overlapping ones included."""
        found = self._positions.get(keyword)
        if found is None:
            lower, needle = self.lower, keyword.encode("ascii")
            found = []
            at = lower.find(needle)
            while at != -1:
                found.append(at)
                at = lower.find(needle, at + 1)
            self._positions[keyword] = found
        return found

    def b64_runs(self) -> list[tuple[int, int]]:
        """(start, end) of every maximal run of at least 40 base64 characters (`A-Za-z0-9+/`)."""
        if self._b64_runs is None:
            mapped = self.ascii.translate(_B64_MAP)
            self._b64_runs = [match.span() for match in _B64_RUN.finditer(mapped)]
        return self._b64_runs


def matches_at(compiled: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """What `compiled.finditer(text)` yields, given every offset where one of its matches can start (sorted).

    The regex is tried only there; a start inside the previous match is skipped, as `finditer` skips it. Exact
    whenever no match can start elsewhere (the caller's promise: the regex starts with the keyword at `starts`).
    """
    last = 0
    for start in starts:
        if start < last:
            continue
        match = compiled.match(text, start)
        if match is not None:
            yield match
            last = match.end()
