"""Recall: every original a namespace knows, found in any text in one linear pass. Pure; no I/O.

A value identified once by its context (`s3://acme-payroll`, `--db-instance-identifier billing-pg`) comes back to
the user as a bare word, and bare words travel into new requests (sub-agents, compaction summaries, pasted answers,
MCP reveals). The recall index is what masks them there: it holds the namespace's originals (handed to it by the
vault layer, decrypted, in process memory only) and finds all of them in a text with one compiled Aho-Corasick
automaton (ahocorasick-rs, every occurrence, then leftmost-longest among the valid ones), so the cost is linear in
the text whatever the number of originals.

The index grows by appending; each addition gets a version number (its position in the log). A caller that
remembers the version at which it last searched a text asks only for what was added since (`find(text,
since=v)`), which is how re-sent conversation turns cost a lookup. A short stack of automata of geometrically
shrinking sizes keeps additions cheap (new originals wait in a tail searched by `str.find`, then get a small
automaton that merges with its neighbours: `_automata`); a caller with idle time builds and merges ahead
(`upkeep`), so requests find them built. Removal (an expired or forgotten mapping) is a tombstone: matches of
removed originals are dropped, and the next rebuild leaves them out.
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import ahocorasick_rs

from maskkit.core.recall_safe import SECRET_KINDS, recall_safe
from maskkit.types import Span

__all__ = ["RecallEntry", "RecallIndex", "join_texts", "matchable"]

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
#: Originals learned since the last automaton are searched by `str.find` until there are this many.
_TAIL = 256
#: Catching up on at most this many new originals is done with `str.find` (fast, no automaton to build).
_FEW = 32
#: An automaton searches for longer originals by their first this many characters, and checks the rest where one
#: is found: its size and build time grow with the total length of its patterns, and secret keys, session tokens
#: and key blocks run to hundreds of characters (a 32-character prefix of one is found by chance almost never).
_PREFIX = 32
#: Merges wait for `RecallIndex.maintain` (called while the caller waits for the vault) until there are this
#: many automata; then a search merges them itself.
_MAX_LEVELS = 12
#: Idle-time upkeep (`RecallIndex.upkeep`) merges two automata while the older is less than this many times the
#: newer, where a request's merges (`maintain`) stop at 2: with the building paid for while nothing waits, every
#: search scans about half as many automata (each one is a pass over the text).
_IDLE_GROWTH = 4
#: ... but only up to this many originals (a few tens of ms of building): a larger merge is made when it is due
#: anyway, since a request that arrives meanwhile waits for it (ahocorasick-rs holds the GIL while it builds).
_IDLE_MERGE_MAX = 1 << 13


class RecallEntry(NamedTuple):
    """One known original's kind and pseudonym. The repr never shows the original (it is not stored here).
    A named tuple: a million of them are made when a large namespace loads."""

    kind: str
    pseudonym: str


class _Automaton:
    """An automaton over the live originals at log positions [lo, hi), with what `_keep` needs per pattern
    (kind, whether it must stand as a whole token at each end) read once, at build time."""

    __slots__ = ("automaton", "built_at", "edges", "hi", "kinds", "lo", "long", "positions")

    def __init__(self, log: Sequence[str], live: dict[str, RecallEntry], lo: int, hi: int, version: int) -> None:
        self.lo, self.hi = lo, hi
        #: The index version this automaton's `kinds` and `edges` were read at (`RecallIndex.changed_at`).
        self.built_at = version
        self.positions = [i for i in range(lo, hi) if log[i] and log[i] in live]
        originals = [log[i] for i in self.positions]
        self.kinds = [live[original].kind for original in originals]
        secret, word = SECRET_KINDS, _WORD
        #: Per pattern: 0 if a match stands anywhere (a secret glued to text is still a secret), else 1, plus 2
        #: if its first character is a word character and 4 if its last is (a name inside a longer word is
        #: another word).
        self.edges = [
            0 if kind in secret else 1 | (2 if original[0] in word else 0) | (4 if original[-1] in word else 0)
            for kind, original in zip(self.kinds, originals, strict=True)
        ]
        #: Pattern index -> original, for the originals searched by their prefix (`_PREFIX`).
        self.long = {index: original for index, original in enumerate(originals) if len(original) > _PREFIX}
        self._compile(originals)

    @classmethod
    def merged(cls, log: Sequence[str], older: _Automaton, newer: _Automaton) -> _Automaton:
        """One automaton over two neighbours, both built at the index's current `changed_at` (no removal or
        kind change since): their per-pattern data is concatenated, not read again from the entries."""
        self = cls.__new__(cls)
        self.lo, self.hi, self.built_at = older.lo, newer.hi, newer.built_at
        self.positions = older.positions + newer.positions
        self.kinds = older.kinds + newer.kinds
        self.edges = older.edges + newer.edges
        shift = len(older.positions)
        self.long = {**older.long, **{index + shift: original for index, original in newer.long.items()}}
        self._compile([log[i] for i in self.positions])
        return self

    def _compile(self, originals: list[str]) -> None:
        self.automaton = (
            ahocorasick_rs.AhoCorasick(
                [original[:_PREFIX] for original in originals] if self.long else originals,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                # (built faster than the default's choice, and searched faster too, measured on 6k originals)
                implementation=ahocorasick_rs.Implementation.ContiguousNFA,
            )
            if originals
            else None
        )

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """(pattern index in this automaton, start, end) of every occurrence, overlapping ones included."""
        if self.automaton is None:
            return []
        found = self.automaton.find_matches_as_indexes(matchable(text), overlapping=True)
        long = self.long
        if not long or not found:
            return found
        # A prefix found: the whole original, checked in the text itself (every occurrence of an original is an
        # occurrence of its prefix, and prefixes shared by several originals are reported once for each).
        out: list[tuple[int, int, int]] = []
        append = out.append
        for index, start, end in found:
            original = long.get(index)
            if original is None:
                append((index, start, end))
            elif text.startswith(original, start):
                append((index, start, start + len(original)))
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def matchable(text: str) -> str:
    """`text` with lone surrogates (which the automaton cannot take) replaced one for one, offsets unchanged."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def join_texts(texts: Sequence[str]) -> tuple[str, list[int]]:
    """`texts` joined by NULs, and where each starts in the result (`bisect_right(starts, at) - 1` is the text
    holding position `at`): many texts searched in one pass."""
    return "\0".join(texts), list(itertools.accumulate((len(text) + 1 for text in texts[:-1]), initial=0))


def _size(automaton: _Automaton) -> int:
    return max(1, automaton.hi - automaton.lo)


def _tidy_merge(levels: list[_Automaton]) -> bool:
    """Whether idle-time upkeep merges the two newest automata: when `maintain` would (the older less than twice
    the newer), or, up to `_IDLE_MERGE_MAX` originals, when the older is less than `_IDLE_GROWTH` times it."""
    if len(levels) < 2:
        return False
    older, newer = _size(levels[-2]), _size(levels[-1])
    return older < 2 * newer or (older < _IDLE_GROWTH * newer and older + newer <= _IDLE_MERGE_MAX)


class RecallIndex:
    """The known originals of one namespace: original -> (kind, pseudonym), and a linear-time finder."""

    def __init__(self) -> None:
        self._entries: dict[str, RecallEntry] = {}
        self._log: list[str] = []
        self._levels: list[_Automaton] = []
        self._cleared_at = 0
        #: The version of the last removal: results cached at or after it hold no removed original.
        self.removed_at = 0
        #: Counts removals and kind changes: an automaton built at another count looks its matches up.
        self.changed_at = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"RecallIndex({len(self._entries)} originals, version {len(self._log)})"

    @property
    def version(self) -> int:
        """Grows by one per addition; `find(text, since=version)` finds only what was added after."""
        return len(self._log)

    def get(self, original: str) -> RecallEntry | None:
        return self._entries.get(original)

    def add(self, kind: str, original: str, pseudonym: str) -> bool:
        """Remember `original` if the recall rule allows it anywhere; True if it is new to the index."""
        return self.add_many(((kind, original, pseudonym),)) == 1

    def add_many(self, entries: Iterable[tuple[str, str, str]]) -> int:
        """`add` for every (kind, original, pseudonym); returns how many were new."""
        added = 0
        with self._lock:
            known, log, safe = self._entries, self._log, recall_safe
            for kind, original, pseudonym in entries:
                entry = known.get(original)
                if entry is not None and entry.kind == kind:  # known (it passed the rule): a pseudonym arrives
                    if entry.pseudonym != pseudonym:
                        known[original] = RecallEntry(kind, pseudonym)
                    continue
                if not safe(kind, original) or (not original.isascii() and matchable(original) is not original):
                    continue  # (an original with a lone surrogate cannot be matched; its context still masks it)
                if entry is None:
                    log.append(original)
                    added += 1
                else:
                    self.changed_at += 1  # the kind changed: automata that read it must look it up again
                known[original] = RecallEntry(kind, pseudonym)
        return added

    def discard(self, original: str) -> None:
        """Forget an original (its mapping expired or was deleted): it is no longer recalled."""
        with self._lock:
            if self._entries.pop(original, None) is not None:
                self._log.append("")  # a version step: searches cached before this are re-checked
                self.removed_at = len(self._log)
                self.changed_at += 1

    def clear(self) -> None:
        """Forget everything (the namespace was purged); versions keep growing so caches stay honest."""
        with self._lock:
            self._entries.clear()
            self._log.append("")  # a version step: every cached search is now stale
            self._levels = []
            self._cleared_at = self.removed_at = len(self._log)
            self.changed_at += 1

    def _automata(self, since: int) -> tuple[list[_Automaton], int]:
        """Automata covering log positions >= `since` (they may cover more: extra matches are harmless), and the
        first position they do not cover (the tail, searched by `str.find`).

        The log is covered by a short stack of automata over contiguous ranges, like a binary counter: originals
        wait in the tail until there are `_TAIL` of them, then get an automaton of their own, and neighbours merge
        while the older is less than twice the newer. Every original is rebuilt O(log n) times in all, a request
        that learns a few values builds nothing, and a text is scanned by O(log n) automata. The merges wait for
        `maintain` (up to `_MAX_LEVELS` automata): a caller runs it while it waits for I/O anyway; a caller with
        idle time runs `upkeep`, which also empties the tail into an automaton and merges further."""
        with self._lock:
            version = len(self._log)
            covered = self._levels[-1].hi if self._levels else self._cleared_at
            if version - covered >= _TAIL:
                self._levels.append(_Automaton(self._log, self._entries, covered, version, self.changed_at))
                if len(self._levels) > _MAX_LEVELS:
                    self._merge()
                covered = version
            lo = max(since, self._cleared_at)
            return [level for level in self._levels if level.hi > lo and level.automaton is not None], covered

    @property
    def pending(self) -> bool:
        """Whether `maintain` has merges to make."""
        levels = self._levels
        return len(levels) >= 2 and _size(levels[-2]) < 2 * _size(levels[-1])

    def maintain(self) -> None:
        """Make the merges the stack of automata is due (see `_automata`). The same work a search would
        otherwise do first; the async masker runs it while its mint is in flight."""
        with self._lock:
            self._merge()

    def _merge(self) -> None:
        levels = self._levels
        while len(levels) >= 2 and _size(levels[-2]) < 2 * _size(levels[-1]):
            # Built before the two it replaces are dropped: a failure leaves the stack covering what it did.
            levels[-2:] = [self._merged(levels[-2], levels[-1])]

    def _merged(self, older: _Automaton, newer: _Automaton) -> _Automaton:
        if older.built_at == newer.built_at == self.changed_at:
            return _Automaton.merged(self._log, older, newer)
        return _Automaton(self._log, self._entries, older.lo, newer.hi, self.changed_at)

    @property
    def untidy(self) -> bool:
        """Whether `upkeep` has work: originals waiting in the tail, or automata it would merge."""
        levels = self._levels
        covered = levels[-1].hi if levels else self._cleared_at
        return len(self._log) > covered or _tidy_merge(levels)

    def upkeep(self) -> bool:
        """One step of idle-time upkeep, for a caller with nothing else to do (the proxy between requests):
        merge the two newest automata if `maintain` would, or if the older is less than `_IDLE_GROWTH` times the
        newer and they hold at most `_IDLE_MERGE_MAX` together (fewer automata for every search to scan); else
        give the tail's originals an automaton of their own (the next search does no `str.find` for them). One
        automaton built per call, so the caller can stop between steps when a request arrives. False when there
        is nothing to do, or when another thread holds the index (a load, a search): this never waits for it."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            levels = self._levels
            if _tidy_merge(levels):
                levels[-2:] = [self._merged(levels[-2], levels[-1])]
                return True
            version = len(self._log)
            covered = levels[-1].hi if levels else self._cleared_at
            if version > covered:
                levels.append(_Automaton(self._log, self._entries, covered, version, self.changed_at))
                return True
            return False
        finally:
            self._lock.release()

    def compile(self) -> None:
        """Build the automata for everything added so far (a namespace just loaded: one automaton over the
        whole snapshot, built before the first request instead of during it)."""
        self._automata(0)
        self.maintain()

    def find(self, text: str, since: int = 0) -> list[Span]:
        """Every occurrence in `text` of an original added at version >= `since` (leftmost-longest, whole
        tokens for names and ids; secrets anywhere, since a secret glued to other text is still a secret)."""
        return [Span(start, end, kind) for start, end, kind in self.find_raw(text, since)]

    def find_raw(self, text: str, since: int = 0) -> list[tuple[int, int, str]]:
        """`find` as (start, end, kind) tuples, in order: a caller that drops most of them (the ones detection
        already found) makes no Span for those."""
        if not text or since >= len(self._log):
            return []
        return self._keep(text, self._all_valid(text, since))

    def find_raw_many(self, texts: Sequence[str], since: int = 0) -> list[list[tuple[int, int, str]]]:
        """`find_raw` of each of `texts`, in one search of them joined by NULs (one automaton call and one
        `str.find` per tail original for all of them, instead of one per text). Exactly the per-text answers: a
        match that crosses a NUL is in no text and is dropped before the leftmost-longest choice, which is then
        made text by text; a NUL next to a match counts as the text's edge does (not a word character)."""
        if len(texts) < 2 or since >= len(self._log):
            return [self.find_raw(text, since) for text in texts]
        joined, starts = join_texts(texts)
        buckets: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        for start, negative_end, kind in self._all_valid(joined, since):
            which = bisect.bisect_right(starts, start) - 1
            base = starts[which]
            if -negative_end > base + len(texts[which]):
                continue  # crosses into the next text: an occurrence in none of them
            buckets[which].append((start - base, negative_end + base, kind))
        return [self._keep(text, bucket) if bucket else bucket for text, bucket in zip(texts, buckets, strict=True)]

    def _all_valid(self, text: str, since: int) -> list[tuple[int, int, str]]:
        """Every valid occurrence (as `_valid` gives them) of an original added at or after `since`."""
        log = self._log
        lo = max(since, self._cleared_at)
        if len(log) - lo <= _FEW:
            return self._candidates(text, self._find_few(text, lo, len(log)))
        automata, tail = self._automata(since)
        valid: list[tuple[int, int, str]] = []
        for automaton in automata:
            valid += self._valid(text, automaton)
        valid += self._candidates(text, self._find_few(text, max(lo, tail), len(log)))
        return valid

    def _valid(self, text: str, automaton: _Automaton) -> list[tuple[int, int, str]]:
        """One automaton's matches in `text` that stand as their kind allows, as (start, -end, kind)."""
        found = automaton.matches(text)
        if not found:
            return []
        if automaton.built_at != self.changed_at:  # a removal or a kind change since it was built: look up
            positions = automaton.positions
            return self._candidates(text, [(positions[index], start, end) for index, start, end in found])
        kinds, edges = automaton.kinds, automaton.edges
        size = len(text)
        word = _WORD
        valid: list[tuple[int, int, str]] = []
        append = valid.append
        for index, start, end in found:
            edge = edges[index]
            if edge and (
                (edge & 2 and start > 0 and text[start - 1] in word) or (edge & 4 and end < size and text[end] in word)
            ):
                continue  # a name inside a longer word is another word
            append((start, -end, kinds[index]))
        return valid

    def _find_few(self, text: str, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Every occurrence of the originals at log positions [lo, hi), by `str.find` (overlapping ones too)."""
        found: list[tuple[int, int, int]] = []
        for index in range(lo, hi):
            original = self._log[index]
            if not original or original not in self._entries:
                continue
            start = text.find(original)
            while start != -1:
                found.append((index, start, start + len(original)))
                start = text.find(original, start + 1)
        return found

    def _candidates(self, text: str, matches: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, str]]:
        """Matches given by log position, checked against the live entries: (start, -end, kind) of the ones that
        stand as their kind allows (names and ids as whole tokens)."""
        valid: list[tuple[int, int, str]] = []
        entries = self._entries
        log = self._log
        size = len(text)
        for index, start, end in matches:
            original = log[index]
            entry = entries.get(original)
            if entry is None:
                continue
            if entry.kind not in SECRET_KINDS and (
                (start > 0 and text[start - 1] in _WORD and original[0] in _WORD)
                or (end < size and text[end] in _WORD and original[-1] in _WORD)
            ):
                continue  # a name inside a longer word is another word
            valid.append((start, -end, entry.kind))
        return valid

    @staticmethod
    def _keep(text: str, valid: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Leftmost-longest among the valid matches. They are all occurrences, overlapping ones included: a
        longer original glued to a word must not hide a shorter one that stands as a token at the same place
        (`bucket-2x` hiding `bucket`)."""
        valid.sort()
        out: list[tuple[int, int, str]] = []
        cursor = 0
        for start, negative_end, kind in valid:
            if start >= cursor:
                out.append((start, -negative_end, kind))
                cursor = -negative_end
        return out
