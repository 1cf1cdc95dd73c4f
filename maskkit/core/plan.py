"""Planning a mask: which spans of which texts to replace, from detection, recall and encoded forms. Pure; no I/O.

For every text of a request:
  detected  what the detector finds from context (cached by the caller per text)
  recalled  every original the namespace knows, found in one linear pass (the recall index) -- including the
            ones this request just detected, which join the index first, so they spread over every text of it;
            a text planned before is only searched for what was learned since (cached by index version)
  encoded   base64 / hex / percent runs whose decoding holds a known original or a detected secret
The spans are merged (`resolve_spans`), and every (kind, original) becomes an item. Which items the vault must
mint and which this process already knows is the Masker's business (`NamespaceRecall.known`).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from maskkit.core.encoded import ENCODED_KIND
from maskkit.core.recall import RecallIndex
from maskkit.core.recall_safe import SECRET_KINDS
from maskkit.types import Span

__all__ = ["LITERAL", "MaskPlan", "NamespaceRecall", "TextCache", "merge_resolved", "plan_mask"]

LITERAL = "PSEUDONYM_LITERAL"

Detect = Callable[[str], list[Span]]
Resolve = Callable[[str, list[Span]], list[Span]]


class TextCache:
    """An LRU keyed by text, bounded by the total length of cached texts (Claude Code re-sends every turn)."""

    def __init__(self, max_chars: int = 32 << 20) -> None:
        self._items: OrderedDict[str, object] = OrderedDict()
        self._chars = 0
        self._max = max_chars
        self._lock = threading.Lock()

    def get(self, text: str) -> object | None:
        with self._lock:
            value = self._items.get(text)
            if value is not None:
                self._items.move_to_end(text)
            return value

    def put(self, text: str, value: object) -> None:
        if len(text) > self._max // 4:
            return
        with self._lock:
            if text not in self._items:
                self._chars += len(text)
            self._items[text] = value
            while self._chars > self._max:
                old, _ = self._items.popitem(last=False)
                self._chars -= len(old)


@dataclass
class NamespaceRecall:
    """A namespace's recall state in one process: the index, the journal position it is current at (`view`,
    opaque here; None until loaded from the vault), the mappings this process has used (`known`, so re-sent
    text costs no vault work beyond a periodic refresh) and per-text plans (by index version)."""

    index: RecallIndex = field(default_factory=RecallIndex)
    view: object | None = None
    known: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    item_of: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    refreshed: dict[str, float] = field(default_factory=dict, repr=False)
    planned: TextCache = field(default_factory=TextCache, repr=False)
    deletions: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    #: Held while the namespace loads: a second request waits for the load instead of loading it again (and
    #: no request is planned with a partly loaded index: `view` is set only once the whole snapshot is in).
    loading: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Grows with every `reset`.
    generation: int = 0

    def reset(self) -> None:
        """The namespace changed under us (purged): forget everything; the caller reloads it. A load running
        meanwhile sees `generation` change and does not mark the index loaded (it may have lost batches)."""
        with self.lock:
            self.generation += 1
            self.index.clear()
            self.view = None
            self.known.clear()
            self.item_of.clear()
            self.refreshed.clear()
            self.planned = TextCache()

    def remember(self, item: tuple[str, str], pseudonym: str) -> None:
        """Record a mapping this process used (bounded: past `_KNOWN_MAX` the cache starts over)."""
        if len(self.known) >= _KNOWN_MAX:
            self.known.clear()
            self.item_of.clear()
            self.refreshed.clear()
        self.known[item] = pseudonym
        self.item_of[pseudonym] = item

    def remember_many(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """`remember` for many (kind, original, pseudonym) at once (loading a namespace)."""
        if len(self.known) + len(entries) > _KNOWN_MAX:
            self.known.clear()
            self.item_of.clear()
            self.refreshed.clear()
        self.known.update({(kind, original): pseudonym for kind, original, pseudonym in entries})
        self.item_of.update({pseudonym: (kind, original) for kind, original, pseudonym in entries})

    def forget(self, pseudonym: str) -> None:
        """A mapping expired or was deleted in the vault: it is no longer used or recalled."""
        item = self.item_of.pop(pseudonym, None)
        self.refreshed.pop(pseudonym, None)
        if item is not None:
            self.known.pop(item, None)
            self.index.discard(item[1])


#: Mappings one process keeps per namespace before its cache starts over (the vault stays the authority).
_KNOWN_MAX = 2_000_000


@dataclass(slots=True)
class _Planned:
    """A text's merged spans, current at index `version` (moved forward in place when nothing learned since
    touches the text), with what detection gave for it and its encoded runs: a re-sent text costs this one
    lookup, not three."""

    version: int
    recalled: tuple[Span, ...]
    spans: list[Span]
    detected: list[Span]
    runs: Sequence[tuple[int, int, str]]
    #: The (kind, original) items of `spans` and the originals of `detected`, made when first asked for.
    items: tuple[tuple[str, str], ...] | None = None
    seen: frozenset[str] | None = None

    def items_of(self, text: str) -> tuple[tuple[str, str], ...]:
        if self.items is None:
            self.items = tuple(dict.fromkeys((span.kind, text[span.start : span.end]) for span in self.spans))
        return self.items

    def seen_of(self, text: str) -> frozenset[str]:
        if self.seen is None:
            self.seen = frozenset(text[span.start : span.end] for span in self.detected)
        return self.seen


@dataclass(frozen=True)
class MaskPlan:
    """Spans per text and the (kind, original) items they replace."""

    spans: dict[str, list[Span]] = field(repr=False)
    items: list[tuple[str, str]] = field(repr=False)
    #: kind -> how many of the items are masked only because the namespace knew them (recall hits: not found
    #: by detection in this request, known with a pseudonym before it). Kinds only, never values.
    recalled: dict[str, int] = field(default_factory=dict)


#: One text's recall search: the raw matches in it, and per encoded run whether its decoding holds a match.
_Searched = tuple[list[tuple[int, int, str]], list[bool]]


def _planned(
    text: str,
    state: NamespaceRecall,
    detected: list[Span],
    runs: Sequence[tuple[int, int, str]],
    resolve: Resolve,
    enabled: frozenset[str] | None,
    cached: object | None,
    version: int,
    searched: _Searched | None = None,
) -> _Planned:
    """The plan of `text`, its merged spans (`cached`: its plan from an earlier request, if any) at `version`:
    detected + known originals (and encoded runs holding one), searching only for what was learned since the
    text was last planned (`searched`: that search, made already for several texts at once)."""
    index = state.index
    if isinstance(cached, _Planned) and cached.version == version:
        return cached
    since, kept = 0, []
    if isinstance(cached, _Planned):
        since = cached.version
        if index.removed_at > since:
            kept = [s for s in cached.recalled if _still_known(text, s, index)]
        else:
            kept = list(cached.recalled)
    raw, hits = searched if searched is not None else _search(index, [text], {text: runs}, since)[0]
    if enabled is not None:
        raw = [r for r in raw if r[2] in enabled]
    # A recalled span where detection already put the same span (most of them, in a text seen for the first time)
    # cannot change the merge: it is only made a Span, and handed to `resolve`, when it differs.
    same = {(s.start, s.end) for s in detected if s.kind != LITERAL} if raw else set()
    found = [Span(start, end, kind) for start, end, kind in raw if (start, end) not in same]
    found += [Span(start, end, ENCODED_KIND) for (start, end, _), hit in zip(runs, hits, strict=True) if hit]
    if isinstance(cached, _Planned) and not found and len(kept) == len(cached.recalled):
        spans = cached.spans  # nothing learned since touches this text: the merged spans stand
        recalled = cached.recalled
    else:
        recalled = (*kept, *found)
        spans = merge_resolved(text, detected, recalled, resolve)
    planned = _Planned(version, recalled, spans, detected, runs)
    state.planned.put(text, planned)
    return planned


def _search(
    index: RecallIndex, texts: Sequence[str], runs: Mapping[str, Sequence[tuple[int, int, str]]], since: int
) -> list[_Searched]:
    """What was added to `index` at or after `since`, in each of `texts` and their decoded runs: one search of
    them all (`RecallIndex.find_raw_many`), not one (and one `str.find` per tail original) per text."""
    plains = [plain for text in texts for _, _, plain in runs[text]]
    found = index.find_raw_many([*texts, *plains], since) if plains else index.find_raw_many(texts, since)
    out: list[_Searched] = []
    position = len(texts)
    for which, text in enumerate(texts):  # (the plains' answers follow the texts')
        count = len(runs[text])
        out.append((found[which], [bool(hit) for hit in found[position : position + count]]))
        position += count
    return out


def _fresh(index: RecallIndex, detected: Sequence[tuple[str, Sequence[Span]]]) -> list[tuple[str, str, str]]:
    """(kind, original, "") of every detected span (pseudonym literals aside) whose original `index` does not
    hold, in order: what joins the index, pending, before the recall pass. Each (kind, original) once when no
    original comes with two kinds (a repeat is then a no-op for `RecallIndex.add_many`: the same entry, or the
    same refusal), else one per span as found, so that the index ends in the same state either way."""
    found = dict.fromkeys(
        (span.kind, text[span.start : span.end]) for text, spans in detected for span in spans if span.kind != LITERAL
    )
    get = index.get
    if len({original for _, original in found}) == len(found):
        return [(kind, original, "") for kind, original in found if get(original) is None]
    return [
        (span.kind, text[span.start : span.end], "")
        for text, spans in detected
        for span in spans
        if span.kind != LITERAL and get(text[span.start : span.end]) is None
    ]


def merge_resolved(
    text: str, resolved: list[Span], extra: Sequence[Span], resolve: Resolve, *, ratio: int = 16
) -> list[Span]:
    """`resolve(text, [*resolved, *extra])` when `resolved` is already `resolve`'s output (sorted, disjoint, not
    touching) and `extra` is short: only the spans that an extra one reaches (with the extras reaching them, and
    so on) are merged again; the rest stand as they are. Exactly the same result, since `resolve` merges each
    group of touching spans on its own, in input order; far cheaper when ten recalled spans join ten thousand
    detected ones. (With more than one extra span per `ratio` resolved ones, everything is resolved again.)"""
    if not extra:
        return resolved
    if not resolved or len(extra) * ratio > len(resolved):
        return resolve(text, [*resolved, *extra])
    # Each extra span widened alone (what `resolve` does first to every span), with its input position.
    widened = sorted(
        ((resolve(text, [span])[0], position) for position, span in enumerate(extra)),
        key=lambda item: (item[0].start, item[1]),
    )
    ends = [span.end for span in resolved]
    out: list[Span] = []
    taken = 0  # resolved[:taken] are placed
    index = 0
    while index < len(widened):
        group_start, group_end = widened[index][0].start, widened[index][0].end
        members = [widened[index][1]]
        index += 1
        low = bisect.bisect_left(ends, group_start, lo=taken)  # the first resolved span reaching the group
        high = low
        grown = True
        while grown:  # take in every resolved or extra span that touches the group, until none does
            grown = False
            while high < len(resolved) and resolved[high].start <= group_end:
                group_end = max(group_end, resolved[high].end)
                high += 1
                grown = True
            while index < len(widened) and widened[index][0].start <= group_end:
                group_end = max(group_end, widened[index][0].end)
                members.append(widened[index][1])
                index += 1
                grown = True
        out.extend(resolved[taken:low])
        # `resolve`'s input order within the group: the resolved spans, then the extras as they were given.
        out.extend(resolve(text, [*resolved[low:high], *(extra[position] for position in sorted(members))]))
        taken = high
    out.extend(resolved[taken:])
    return out


def _still_known(text: str, span: Span, index: RecallIndex) -> bool:
    return span.kind == ENCODED_KIND or index.get(text[span.start : span.end]) is not None


def plan_mask(
    texts: Sequence[str],
    detect: Detect,
    resolve: Resolve,
    state: NamespaceRecall | None,
    *,
    decoded_runs: Callable[[str], Sequence[tuple[int, int, str]]] | None = None,
    enabled: frozenset[str] | None = None,
    keyed: Mapping[str, str] | None = None,
) -> MaskPlan:
    """The plan for masking `texts` together. `detect` gives a text's spans from context, `decoded_runs` its
    encoded runs whose decoding is worth checking (both cached by the caller), `state` the namespace's recall
    (None: no recall, only this request's own detections are spread), `keyed` original -> kind for values this
    request's JSON keys name (a text that is exactly such a value is masked whole; recall-safe ones spread)."""
    keyed = keyed or {}
    unique = list(dict.fromkeys(texts))
    detected: dict[str, list[Span]] = {}
    runs: dict[str, Sequence[tuple[int, int, str]]] = {}
    spans_by_text: dict[str, list[Span]] = {}
    plans: dict[str, _Planned] = {}  # (with recall: each text's plan, which keeps its items)
    if state is not None:
        index = state.index
        # A text planned before brings what detection gave for it (and its encoded runs) with its plan.
        cached = {text: state.planned.get(text) for text in unique}
        for text in unique:
            plan = cached[text]
            if isinstance(plan, _Planned):
                detected[text], runs[text] = plan.detected, plan.runs
            else:
                detected[text] = detect(text)
                runs[text] = decoded_runs(text) if decoded_runs else ()
        # Originals detected in texts not planned before join the index first (pending: no pseudonym yet), so the
        # one recall pass also spreads them over every text of this request.
        fresh = _fresh(index, [(text, detected[text]) for text in unique if cached[text] is None])
        fresh += [(kind, original, "") for original, kind in keyed.items() if index.get(original) is None]
        if fresh:
            index.add_many(fresh)
        # Texts are searched in groups, joined, each group for what was learned since its texts were planned: the
        # texts not planned before for everything; re-sent ones (Claude Code sends the whole conversation every
        # turn) for what the index learned since, where usually nothing of it occurs in any of them, and one
        # search moves them all forward instead of one search (and cache write) each.
        version = index.version
        groups: dict[int, list[str]] = {}
        for text in unique:
            plan = cached[text]
            if not isinstance(plan, _Planned):
                groups.setdefault(0, []).append(text)
            elif plan.version == version:
                plans[text] = plan
            elif index.removed_at <= plan.version:
                groups.setdefault(plan.version, []).append(text)
            else:  # a removal since: its recalled spans are checked one by one
                plans[text] = _planned(text, state, detected[text], runs[text], resolve, enabled, plan, version)
        for since, group in groups.items():
            searched = _search(index, group, runs, since)
            if since and not any(raw or any(hits) for raw, hits in searched):
                for text in group:
                    plan = cached[text]
                    assert isinstance(plan, _Planned)
                    plan.version = version
                    plans[text] = plan
                continue
            for text, one in zip(group, searched, strict=True):
                plans[text] = _planned(
                    text, state, detected[text], runs[text], resolve, enabled, cached[text], version, one
                )
        spans_by_text = {text: plans[text].spans for text in unique}
    else:
        for text in unique:
            detected[text] = detect(text)
            runs[text] = decoded_runs(text) if decoded_runs else ()
        index = RecallIndex()
        index.add_many(
            (span.kind, text[span.start : span.end], "") for text in unique for span in detected[text]
            if span.kind != LITERAL
        )
        index.add_many((kind, original, "") for original, kind in keyed.items())
        for text in unique:
            found = index.find(text) if len(index) else []
            for start, end, plain in runs[text] if len(index) else ():
                if index.find(plain):
                    found.append(Span(start, end, ENCODED_KIND))
            spans_by_text[text] = merge_resolved(text, detected[text], found, resolve)
    for text in unique:
        kind = keyed.get(text)
        if kind is not None and (enabled is None or kind in enabled):
            spans_by_text[text] = [Span(0, len(text), kind)]
    items: dict[tuple[str, str], None] = {}
    for text in unique:
        spans = spans_by_text[text]
        plan = plans.get(text)
        if plan is not None and plan.spans is spans:  # (not a keyed text made one span)
            items.update(dict.fromkeys(plan.items_of(text)))
        else:
            for span in spans:
                items[(span.kind, text[span.start : span.end])] = None
    recalled: dict[str, int] = {}
    if state is not None:
        seen: set[str] = set(keyed)
        for text in unique:
            seen.update(plans[text].seen_of(text))
        for kind, original in items:
            if original in seen:
                continue
            entry = state.index.get(original) if kind != ENCODED_KIND else None
            if kind == ENCODED_KIND or (entry is not None and entry.pseudonym):
                recalled[kind] = recalled.get(kind, 0) + 1
    return MaskPlan(spans_by_text, list(items), recalled)


def secret_in(decoded: str, detect: Detect) -> bool:
    """True if the detector finds a secret (a key, token, password...) in a decoded run."""
    return any(span.kind in SECRET_KINDS for span in detect(decoded))


def learnable(kind: str, original: str) -> bool:
    """Whether a minted (kind, original) is offered to the recall index (which applies `recall_safe` itself):
    an encoded run is masked for what it holds, not recalled as a value of its own."""
    return kind != ENCODED_KIND
