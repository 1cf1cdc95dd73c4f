"""`Masker`: detection + vault + the pure masker behind one API (sync and async). The proxy, MCP server,
magics and CLI all mask through this class, so they all mask the same way.

Detection results are cached by text (bounded), because Claude Code re-sends the whole conversation every turn;
the vault is still asked every time, so TTLs slide and stability holds across processes.
"""

from __future__ import annotations

import asyncio
import copy
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit.config import Settings, check_namespace, load_settings
from maskkit.core.messages import (
    apply_spans,
    map_json_strings,
    map_request_strings,
    replace_thinking,
    thinking_texts,
    unmask_text,
)
from maskkit.core.pseudonyms import canonical
from maskkit.core.restorer import MessageStreamRestorer, Restorer
from maskkit.detect.detector import LITERAL, Detector, find_originals, resolve_spans
from maskkit.errors import DetectionError, MaskkitError, MediaBlocked
from maskkit.types import Span
from maskkit.vault import Vault
from maskkit.vault.memo import recall_thinking, remember_thinking

__all__ = ["MaskResult", "Masker", "MediaBlocked"]


#: Originals shorter than this are not searched for across texts (too likely to be ordinary words).
_MIN_REPEAT = 4
_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MaskResult:
    """A masked text and the mapping used. The repr never shows originals."""

    text: str
    reverse: dict[str, str] = field(repr=False)
    kinds: dict[str, str] = field(repr=False)

    @property
    def pseudonyms(self) -> list[tuple[str, str]]:
        """(kind, pseudonym) for every pseudonym in the masked text, in first-seen order."""
        return [(self.kinds[p], p) for p in self.reverse]

    def __repr__(self) -> str:
        return f"MaskResult(text={self.text!r}, pseudonyms={[p for _, p in self.pseudonyms]})"


class _SpanCache:
    """An LRU of text -> spans, bounded by the total length of cached texts."""

    def __init__(self, max_chars: int = 32 << 20) -> None:
        self._items: OrderedDict[str, list[Span]] = OrderedDict()
        self._chars = 0
        self._max = max_chars

    def get(self, text: str) -> list[Span] | None:
        spans = self._items.get(text)
        if spans is not None:
            self._items.move_to_end(text)
        return spans

    def put(self, text: str, spans: list[Span]) -> None:
        if len(text) > self._max // 4 or text in self._items:
            return
        self._items[text] = spans
        self._chars += len(text)
        while self._chars > self._max:
            old, _ = self._items.popitem(last=False)
            self._chars -= len(old)


class Masker:
    """Masks text for one namespace, restores it, and builds streaming restorers."""

    def __init__(self, vault: Vault, detector: Detector | None = None, namespace: str = "default") -> None:
        check_namespace(namespace)
        self.vault = vault
        self.detector = detector or Detector()
        self.namespace = namespace
        self.grammar = self.detector.grammar
        self._prefixes = dict(self.detector.kinds)
        self._kind_of_prefix = {prefix: kind for kind, prefix in self._prefixes.items()}
        self._cache = _SpanCache()
        self._repeat_cache: dict[str, tuple[frozenset[str], tuple[Span, ...], list[Span] | None]] = {}
        self._last_known: list[frozenset[str]] = [_NOTHING]

    @classmethod
    def from_settings(cls, settings: Settings | None = None, namespace: str | None = None) -> Masker:
        """A Masker configured from MASKKIT_* settings (embedded vault unless MASKKIT_REDIS_URL is set)."""
        settings = settings or load_settings()
        return cls(
            Vault.from_settings(settings), detector_from_settings(settings), namespace or settings.namespace
        )

    def for_namespace(self, namespace: str) -> Masker:
        """The same vault, detector and caches (a shallow copy: the proxy calls this on every request), another
        namespace."""
        if namespace == self.namespace:
            return self
        other = copy.copy(self)
        other.namespace = check_namespace(namespace)
        return other

    # -- detection

    def spans(self, text: str) -> list[Span]:
        """The spans to mask in `text` (cached)."""
        cached = self._cache.get(text)
        if cached is None:
            try:
                cached = self.detector.detect(text)
            except Exception as exc:  # a detector bug must never let text through
                raise DetectionError(f"detection failed ({type(exc).__name__}); nothing was sent") from None
            self._cache.put(text, cached)
        return cached

    def _items(self, texts: Iterable[str]) -> tuple[dict[str, list[Span]], list[tuple[str, str]]]:
        """Spans of every text, then a second pass: an original detected in one text (where its context gave it
        away) is masked wherever else it appears in the same request, e.g. a bucket named in `--bucket` and
        later mentioned bare, or a password the model repeats in its thinking."""
        spans_by_text: dict[str, list[Span]] = {}
        known: dict[str, str] = {}
        for text in texts:
            if text in spans_by_text:
                continue
            spans = self.spans(text)
            spans_by_text[text] = spans
            for span in spans:
                if span.kind != LITERAL and span.end - span.start >= _MIN_REPEAT:
                    known.setdefault(text[span.start : span.end], span.kind)
        if known:
            known_set = frozenset(known)
            if known_set == self._last_known[0]:
                known_set = self._last_known[0]  # the same object as last time: cached texts match by identity
            self._last_known[0] = known_set
            for text, spans in spans_by_text.items():
                spans_by_text[text] = self._with_known(text, spans, known_set, known)
        items = [(s.kind, t[s.start : s.end]) for t, spans in spans_by_text.items() for s in spans]
        return spans_by_text, items

    def _with_known(self, text: str, spans: list[Span], known: frozenset[str], kinds: dict[str, str]) -> list[Span]:
        """`spans` plus every occurrence of a known original, cached per text: a re-sent conversation only
        searches its texts for originals they were not yet searched for."""
        checked, extra, merged = self._repeat_cache.get(text, (_NOTHING, (), None))
        if checked is known and merged is not None:
            return merged
        new = {o: kinds[o] for o in known if o not in checked and o in text}
        if new:
            extra = (*extra, *find_originals(text, new))
        merged = resolve_spans(text, [*spans, *extra]) if extra else spans
        if len(self._repeat_cache) > 50_000:
            self._repeat_cache.clear()
        self._repeat_cache[text] = (known, extra, merged)
        return merged

    def _finish(
        self, texts: Sequence[str], spans_by_text: dict[str, list[Span]], mapping: dict[tuple[str, str], str]
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        reverse: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for (kind, original), pseudonym in mapping.items():
            reverse[pseudonym] = original
            kinds[pseudonym] = kind

        def pseudonym_for(kind: str, original: str) -> str:
            return mapping[(kind, original)]

        masked = [apply_spans(t, spans_by_text[t], pseudonym_for) for t in texts]
        return masked, reverse, kinds

    # -- text

    def mask(self, text: str) -> MaskResult:
        """Mask `text`: every detected original becomes its pseudonym (one vault round trip)."""
        masked, reverse, kinds = self.mask_texts([text])
        return MaskResult(masked[0], reverse, kinds)

    async def amask(self, text: str) -> MaskResult:
        masked, reverse, kinds = await self.amask_texts([text])
        return MaskResult(masked[0], reverse, kinds)

    def mask_texts(self, texts: Sequence[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """Mask several texts with one vault round trip: (masked texts, pseudonym -> original, -> kind)."""
        spans_by_text, items = self._items(texts)
        mapping = self.vault.pseudonyms_for(self.namespace, items, self._prefixes)
        return self._finish(texts, spans_by_text, mapping)

    async def amask_texts(self, texts: Sequence[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
        spans_by_text, items = self._items(texts)
        mapping = await self.vault.apseudonyms_for(self.namespace, items, self._prefixes)
        return self._finish(texts, spans_by_text, mapping)

    def _tokens(self, text: str) -> list[str]:
        return list(dict.fromkeys(canonical(m.group()) for m in self.grammar.finditer(text)))

    def unmask(self, text: str) -> str:
        """Restore every pseudonym this namespace issued (still alive); leave everything else as written."""
        reverse = self.vault.originals_for(self.namespace, self._tokens(text))
        return unmask_text(text, reverse, self.grammar)

    async def aunmask(self, text: str) -> str:
        reverse = await self.vault.aoriginals_for(self.namespace, self._tokens(text))
        return unmask_text(text, reverse, self.grammar)

    def unmask_with(self, text: str, reverse: dict[str, str]) -> str:
        """Restore using a known mapping (a MaskResult's), without the vault."""
        return unmask_text(text, reverse, self.grammar)

    def kind_of(self, pseudonym: str) -> str | None:
        """The kind a pseudonym's prefix stands for (None if it is not pseudonym-shaped)."""
        prefix, _, number = canonical(pseudonym).rpartition("-")
        return self._kind_of_prefix.get(prefix) if number.isdigit() and len(number) >= 3 else None

    # -- streams

    def restorer(self, reverse: dict[str, str]) -> Restorer:
        """A streaming restorer for text masked with `reverse` (feed chunks, then flush)."""
        return Restorer(reverse, self.grammar)

    def stream_restorer(self, reverse: dict[str, str]) -> MessageStreamRestorer:
        """A restorer for a whole Messages API event stream (one Restorer per content block)."""
        return MessageStreamRestorer(reverse, self.grammar)

    # -- Messages bodies

    async def amask_request(
        self, body: dict[str, Any], *, media: str = "pass"
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Mask every model-readable string of a Messages request; returns (masked body, pseudonym -> original)."""
        texts: list[str] = []

        def collect(text: str) -> str:
            texts.append(text)
            return text

        map_request_strings(body, collect, media=media)  # raises MediaBlocked under media="block"
        thinking = thinking_texts(body)
        if thinking:
            # The memo read does not depend on the mint: both are in flight at once (latency of one round trip).
            minted, recalled = await asyncio.gather(
                self.amask_texts(texts), recall_thinking(self.vault, self.namespace, thinking), return_exceptions=True
            )
            if isinstance(minted, BaseException):
                raise minted
            if isinstance(recalled, BaseException):
                raise recalled
            (masked, reverse, _), memo = minted, recalled
        else:
            (masked, reverse, _), memo = await self.amask_texts(texts), {}
        table = dict(zip(texts, masked, strict=True))
        masked_body = map_request_strings(body, lambda t: table[t], media=media)
        if memo:
            masked_body = replace_thinking(body, masked_body, memo)
        return masked_body, reverse

    async def remember_thinking(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record (masked, restored) thinking texts so the next turn can send back exactly what was signed."""
        await remember_thinking(self.vault, self.namespace, pairs)

    async def amask_json(self, value: Any) -> tuple[Any, dict[str, str]]:
        """Mask every string value of any JSON document (for API routes maskkit does not know)."""
        texts: list[str] = []

        def collect(text: str) -> str:
            texts.append(text)
            return text

        map_json_strings(value, collect)
        masked, reverse, _ = await self.amask_texts(texts)
        table = dict(zip(texts, masked, strict=True))
        return map_json_strings(value, lambda t: table[t]), reverse


def detector_from_settings(settings: Settings) -> Detector:
    """The detector the settings describe: built-ins, user patterns, enabled kinds, private-IP policy."""
    try:
        detector = Detector(enabled=settings.kinds, mask_private_ips=settings.mask_private_ips)
        if settings.custom_patterns:
            detector = detector.with_patterns(settings.custom_patterns)
    except ValueError as exc:
        raise MaskkitError(f"invalid detection settings: {exc}") from None
    return detector
