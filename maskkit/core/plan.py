"""Planning a mask: which spans of which texts to replace, from detection, recall and encoded forms. Pure; no I/O.

For every text of a request:
  detected  what the detector finds from context (cached by the caller per text)
  recalled  every original the namespace already knows, found in one linear pass (the recall index); a text
            searched before is only searched for what was learned since (cached by index version)
  spread    originals detected in *this* request, wherever else they occur in it (recall-safe ones only)
  encoded   base64 / hex / percent runs whose decoding holds a known original or a detected secret
The spans are merged (`resolve_spans`), and every (kind, original) becomes an item for the vault. An item known
only from the index is `recall_only`: the vault refreshes it but never mints it, so a mapping that expired is no
longer recalled (TTL semantics hold).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from maskkit.core.encoded import ENCODED_KIND
from maskkit.core.recall import RecallIndex
from maskkit.core.recall_safe import SECRET_KINDS
from maskkit.types import Span

__all__ = ["LITERAL", "MaskPlan", "NamespaceRecall", "TextCache", "plan_mask"]

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
    opaque here; None until loaded from the vault) and per-text search results."""

    index: RecallIndex = field(default_factory=RecallIndex)
    view: object | None = None
    searched: TextCache = field(default_factory=TextCache)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """The namespace changed under us (purged): forget everything; the caller reloads it."""
        self.index.clear()
        self.view = None
        self.searched = TextCache()


@dataclass(frozen=True)
class _Searched:
    version: int
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class MaskPlan:
    """Spans per text, the (kind, original) items to look up, and which of them must not be minted."""

    spans: dict[str, list[Span]] = field(repr=False)
    items: list[tuple[str, str]] = field(repr=False)
    recall_only: frozenset[tuple[str, str]] = field(repr=False)


def _recalled(text: str, state: NamespaceRecall, decoded: Sequence[tuple[int, int, str]]) -> list[Span]:
    """Known originals in `text` (and encoded runs holding one), searching only for what was learned since the
    text was last searched."""
    index = state.index
    version = index.version
    cached = state.searched.get(text)
    if isinstance(cached, _Searched) and cached.version == version:
        return list(cached.spans)
    since = cached.version if isinstance(cached, _Searched) else 0
    kept = [s for s in cached.spans if _still_known(text, s, index)] if isinstance(cached, _Searched) else []
    found = index.find(text, since)
    for start, end, plain in decoded:
        if index.find(plain, since):
            found.append(Span(start, end, ENCODED_KIND))
    spans = (*kept, *found)
    state.searched.put(text, _Searched(version, spans))
    return list(spans)


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
) -> MaskPlan:
    """The plan for masking `texts` together. `detect` gives a text's spans from context, `decoded_runs` its
    encoded runs whose decoding is worth checking (both cached by the caller), `state` the namespace's recall."""
    unique = list(dict.fromkeys(texts))
    detected: dict[str, list[Span]] = {text: detect(text) for text in unique}
    runs: dict[str, Sequence[tuple[int, int, str]]] = {
        text: (decoded_runs(text) if decoded_runs else ()) for text in unique
    }
    recalled: dict[str, list[Span]] = {}
    if state is not None and len(state.index):
        for text in unique:
            spans = _recalled(text, state, runs[text])
            if enabled is not None:
                spans = [s for s in spans if s.kind in enabled or s.kind == ENCODED_KIND]
            recalled[text] = spans
    # Originals detected in this request are masked wherever else they occur in it (recall-safe ones only).
    fresh = RecallIndex()
    for text, spans in detected.items():
        for span in spans:
            original = text[span.start : span.end]
            if span.kind != LITERAL and (state is None or state.index.get(original) is None):
                fresh.add(span.kind, original, "")
    spread: dict[str, list[Span]] = {}
    if len(fresh):
        for text in unique:
            found = fresh.find(text)
            for start, end, plain in runs[text]:
                if fresh.find(plain):
                    found.append(Span(start, end, ENCODED_KIND))
            spread[text] = found
    spans_by_text: dict[str, list[Span]] = {}
    items: dict[tuple[str, str], None] = {}
    from_context: set[tuple[str, str]] = set()
    for text in unique:
        extra = [*recalled.get(text, ()), *spread.get(text, ())]
        for span in detected[text]:
            from_context.add((span.kind, text[span.start : span.end]))
        for span in spread.get(text, ()):
            from_context.add((span.kind, text[span.start : span.end]))
        merged = resolve(text, [*detected[text], *extra]) if extra else detected[text]
        spans_by_text[text] = merged
        for span in merged:
            items[(span.kind, text[span.start : span.end])] = None
    recall_only = frozenset(
        item
        for item in items
        if item not in from_context
        and state is not None
        and (entry := state.index.get(item[1])) is not None
        and entry.kind == item[0]
    )
    return MaskPlan(spans_by_text, list(items), recall_only)


def secret_in(decoded: str, detect: Detect) -> bool:
    """True if the detector finds a secret (a key, token, password...) in a decoded run."""
    return any(span.kind in SECRET_KINDS for span in detect(decoded))


def learnable(kind: str, original: str) -> bool:
    """Whether a minted (kind, original) is offered to the recall index (which applies `recall_safe` itself):
    an encoded run is masked for what it holds, not recalled as a value of its own."""
    return kind != ENCODED_KIND
