"""`Masker`: the one place where the pure core meets the vault (sync and async). The proxy, MCP server, magic,
CLI and LiteLLM guardrail all mask through this class, so they all mask the same way and recall the same values.

Per request: plan (detection + recall + encoded forms, `maskkit.core.plan`), one mint round trip that also
brings what other workers learned since (applied before the answer is used), then the pure replacement.
Detection is cached by text (bounded) and recall by (text, index version), because Claude Code re-sends the
whole conversation every turn; the vault is still asked every time, so TTLs slide and stability holds across
processes. Each namespace's recall index is loaded from the vault on first use and lives in process memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

import maskkit.pieces as pieces
from maskkit.config import Settings, check_namespace, load_settings
from maskkit.core.encoded import ENCODED_KIND, encoded_runs, runs_holding
from maskkit.core.messages import (
    NumberMasker,
    apply_spans,
    map_json_strings,
    map_request_strings,
    number_originals,
    numbers_of,
    replace_thinking,
    structured_values,
    thinking_texts,
    unmask_text,
)
from maskkit.core.plan import (
    LITERAL,
    MaskPlan,
    NamespaceRecall,
    TextCache,
    learnable,
    merge_resolved,
    plan_mask,
    secret_in,
)
from maskkit.core.pseudonyms import canonical
from maskkit.core.recall_safe import recall_safe
from maskkit.core.restorer import MessageStreamRestorer, Restorer
from maskkit.detect.detector import SCAN_REACH, Detector, resolve_spans
from maskkit.errors import DetectionError, MaskkitError, MediaBlocked, RequestTooLarge
from maskkit.types import Span
from maskkit.vault import Vault
from maskkit.vault.memo import recall_thinking, remember_thinking
from maskkit.vault.store import JournalView, MintReply

__all__ = ["MaskResult", "Masker", "MediaBlocked"]

log = logging.getLogger("maskkit.masking")


#: Masking this many characters at once runs off the event loop (other requests keep being served meanwhile).
_OFFLOAD_CHARS = 256 * 1024
#: Beyond `SCAN_REACH`, how far a piece's window reaches past its own part (a context's own line or two).
_REACH_MARGIN = 4096
#: The piece scanned in this process is this much larger than a child's: a child's result reaches the parent
#: some 20 ms after the parent's own (its fork, pickling and pipe), measured on the 1.6 MB paste with two CPUs.
_OWN_PIECE = 1.2
#: A synchronous mask of a large text mints its detected values early, in a thread, when there are this many new.
_EARLY_ITEMS = 256
#: The async path mints early (`Masker._early_amint`) only when this much text is new: the overlap then saves
#: ~5-10 ms on a never-seen 150 KB body, but on 10 KB (or a growing conversation's new turn) it measured 0.3-0.9
#: ms slower at the median on the shared 2-vCPU box under load, where the script and the plan share a core.
_EARLY_ASYNC_CHARS = 32 * 1024
#: Values per mint script call. One call runs atomically in Redis: a huge one would stall every other client
#: (and could outlast the socket timeout), so a paste with more new values is minted in several calls.
_MINT_BATCH = 20_000
#: Rounds of "mint, learn what other workers minted, re-plan" before giving up (fail closed).
_MAX_ROUNDS = 4


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


@dataclass(frozen=True)
class _MintRequest:
    """What one round trip asks the vault: items to look up or mint, known pseudonyms to use (refresh)."""

    items: list[tuple[str, str]] = field(repr=False)
    refresh: list[str]
    local: dict[tuple[str, str], str] = field(repr=False)


@dataclass(frozen=True)
class _Masked:
    plan: MaskPlan
    mapping: dict[tuple[str, str], str] = field(repr=False)


class _Upkeep:
    """Shared by a Masker and its `for_namespace` copies: how many async masks are in flight (idle-time upkeep of
    the recall indexes steps aside for them) and the running upkeep task."""

    __slots__ = ("masking", "task")

    def __init__(self) -> None:
        self.masking = 0
        self.task: asyncio.Future[None] | None = None


def _upkeep_step(state: NamespaceRecall) -> bool:
    """One step of a namespace's recall index upkeep; False when it has none to make (or is loading)."""
    if state.view is None or state.loading.locked() or not state.index.untidy:
        return False
    try:
        return state.index.upkeep()
    except Exception as exc:  # a request merges instead: masking never depends on this
        log.warning("recall index upkeep failed: %s", type(exc).__name__)
        return False


def _keyed_spans(text: str, pairs: Sequence[tuple[str, str]]) -> list[Span]:
    """Where the values a JSON text's keys name occur in that text: as whole JSON strings (`"Bucket": "logs"`),
    and numbers as whole numbers (`"AccountId": 410295837716`)."""
    spans: list[Span] = []
    for kind, original in pairs:
        if original.isdigit():
            needle, shift = original, 0
        else:
            needle, shift = json.dumps(original, ensure_ascii=False), 1
        start = text.find(needle)
        while start != -1:
            end = start + len(needle)
            whole = not original.isdigit() or (
                (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
            )
            if whole:
                spans.append(Span(start + shift, end - shift, kind))
            start = text.find(needle, start + 1)
    return spans


def _batches(request: _MintRequest, size: int) -> list[tuple[list[tuple[str, str]], list[str]]]:
    """A mint request as script calls of at most `size` values each (usually one call)."""
    items, refresh = request.items, request.refresh
    if len(items) + len(refresh) <= size:
        return [(items, refresh)]
    batches: list[tuple[list[tuple[str, str]], list[str]]] = [
        (items[i : i + size], []) for i in range(0, len(items), size)
    ]
    return batches + [([], refresh[i : i + size]) for i in range(0, len(refresh), size)]


def _merged(replies: Sequence[MintReply]) -> MintReply:
    """The replies of one request's script calls as one: a reset anywhere is a reset (the caller reloads and
    plans again); otherwise every pseudonym, every mapping found gone, what other workers learned, the last view."""
    if len(replies) == 1 or replies[-1].reset:
        return replies[-1]
    pseudonyms: dict[tuple[str, str], str] = {}
    for reply in replies:
        pseudonyms.update(reply.pseudonyms)
    return MintReply(
        pseudonyms,
        [gone for reply in replies for gone in reply.missing],
        replies[-1].view,
        [entry for reply in replies for entry in reply.learned],
        reset=False,
    )


def _uncovered(request: _MintRequest, early: _MintRequest, reply: MintReply) -> _MintRequest | None:
    """What the protocol's mint `request` asks that an early mint (`early`, answered by `reply`) did not cover:
    values only the plan found, refreshes it did not make. None if nothing (or the early reply is a reset, which
    the protocol handles whole)."""
    if reply.reset:
        return None
    minted = reply.pseudonyms
    covered = set(early.refresh)
    rest = _MintRequest(
        [item for item in request.items if item not in minted],
        [pseudonym for pseudonym in request.refresh if pseudonym not in covered],
        {},
    )
    return rest if rest.items or rest.refresh else None


def _advance(
    rounds: Generator[_MintRequest | None, MintReply | None, _Masked], reply: MintReply | None
) -> _MintRequest | _Masked | None:
    """One step of the masking protocol: its next request, or (when it is done) its result."""
    try:
        return rounds.send(reply)
    except StopIteration as stop:
        result: _Masked = stop.value
        return result


class Masker:
    """Masks text for one namespace, restores it, and builds streaming restorers."""

    def __init__(
        self,
        vault: Vault,
        detector: Detector | None = None,
        namespace: str = "default",
        *,
        recall: bool = True,
        processes: int = 1,
    ) -> None:
        check_namespace(namespace)
        self.vault = vault
        self.detector = detector or Detector()
        self.namespace = namespace
        self.grammar = self.detector.grammar
        self._prefixes = dict(self.detector.kinds)
        self._kind_of_prefix = {prefix: kind for kind, prefix in self._prefixes.items()}
        self._cache = TextCache()
        self._runs = TextCache(8 << 20)
        self._keyed_found = TextCache(4 << 20)  # a JSON part's text -> what its keys name (`_keyed_parts`)
        self._last_runs: tuple[str, list[tuple[int, int, str]]] | None = None
        self._last_spans: tuple[str, list[Span]] | None = None
        self.recall = recall
        #: Values per mint script call (`_MINT_BATCH`).
        self.mint_batch = _MINT_BATCH
        #: Processes that may scan one large text (`maskkit.pieces`): 1 never forks, 0 is one per usable CPU.
        self.processes = processes
        #: A known mapping is refreshed in the vault (TTL slid, use counted, expiry noticed) at most this often
        #: by one process: a minute, or a hundredth of the TTL if that is shorter.
        self.refresh_seconds = min(60.0, vault.ttl / 100)
        self._recall: dict[str, NamespaceRecall] = {}  # shared by the for_namespace copies
        self._upkeep = _Upkeep()  # (shared too)
        #: Called after a successful plan with (namespace, kind -> recall hits): values masked because the
        #: namespace knew them, not because detection found them (the proxy counts them in /metrics).
        self.on_recall: Callable[[str, dict[str, int]], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, namespace: str | None = None) -> Masker:
        """A Masker configured from MASKKIT_* settings (embedded vault unless MASKKIT_REDIS_URL is set)."""
        settings = settings or load_settings()
        return cls(
            Vault.from_settings(settings),
            detector_from_settings(settings),
            namespace or settings.namespace,
            processes=settings.scan_processes,
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
        """The spans to mask in `text` from its own context (cached): detected values, plus encoded runs
        (base64, hex, percent) whose decoding holds a detected secret."""
        last = self._last_spans
        cached = last[1] if last is not None and last[0] is text else self._cache.get(text)
        if cached is None:
            try:
                count = self._piece_count(text)
                if count > 1:
                    spans, secret_runs = self._in_pieces(text, count)
                else:
                    spans = self.detector.detect(text, spread=False)  # the plan spreads, over every text
                    secret_runs = [
                        Span(start, end, ENCODED_KIND)
                        for start, end, plain in self._decoded_runs(text)
                        if secret_in(plain, self._detect_alone)
                    ]
                keyed = _keyed_spans(text, self.detector.detect_json(text)) if text.lstrip()[:1] in "{[" else []
                spans = merge_resolved(text, spans, keyed, resolve_spans)
                spans = merge_resolved(text, spans, secret_runs, resolve_spans)
            except Exception as exc:  # a detector bug must never let text through
                raise DetectionError(f"detection failed ({type(exc).__name__}); nothing was sent") from None
            self._cache.put(text, spans)
            self._last_spans = (text, spans)  # (a text too large for the cache is asked for twice per mask)
            return spans
        assert isinstance(cached, list)
        return cached

    def _piece_count(self, text: str) -> int:
        """In how many pieces to scan `text`: 1 (here, whole) unless it is large, several processes are allowed
        and usable, and forking is safe (`maskkit.pieces.can_fork`: no other thread in this process)."""
        if len(text) < pieces.MIN_CHARS or self.processes == 1:
            return 1
        count = min(self.processes or pieces.MAX_PROCESSES, pieces.usable_cpus(), pieces.MAX_PROCESSES)
        return count if count > 1 and pieces.can_fork() else 1

    def _in_pieces(self, text: str, count: int) -> tuple[list[Span], list[Span]]:
        """A large text's detected spans and secret-holding encoded runs, scanned in `count` pieces by forked
        children (`maskkit.pieces`; here, one after the other, when forking is not safe): what `detect` and the
        encoded-run check give for the whole text."""
        parts = pieces.parts(text, count, SCAN_REACH + _REACH_MARGIN, first=_OWN_PIECE)
        results = pieces.map_in_children(partial(self._scan_part, text), parts)
        literals: list[tuple[int, int, str]] = []
        runs: list[tuple[int, int, str]] = []
        secret_runs: list[Span] = []
        for _, part_literals, part_runs, part_secrets, sealed in results:
            self.vault.keep_sealed(self.namespace, sealed)
            literals += part_literals
            runs += part_runs
            secret_runs += [Span(start, end, ENCODED_KIND) for start, end in part_secrets]
        self._runs.put(text, runs)
        self._last_runs = (text, runs)
        # Scanner by scanner, piece after piece: `finish` gives each original the kind its first finder gave it.
        # (Plain tuples until the merge: a Span is made only for each merged span.)
        groups = zip(*(result[0] for result in results), strict=True)
        scanned = [span for group in groups for part in group for span in part]
        return self.detector.finish_raw(text, scanned, literals), secret_runs

    def _scan_part(
        self, text: str, part: pieces.Part
    ) -> tuple[
        list[list[tuple[int, int, str]]],
        list[tuple[int, int, str]],
        list[tuple[int, int, str]],
        list[tuple[int, int]],
        list[tuple[str, str, str, bytes]],
    ]:
        """What one piece of `text` holds that starts in its own part, as plain tuples (they may cross a pipe):
        scanner groups, literals, encoded runs, the runs whose decoding holds a secret, and its new values
        sealed for the mint (`Vault.seal`)."""
        piece = text[part.start : part.end]
        shift, low, high = part.start, part.own_start, part.own_end

        def own(spans: list[Span]) -> list[tuple[int, int, str]]:
            return [(s.start + shift, s.end + shift, s.kind) for s in spans if low <= s.start + shift < high]

        groups = [own(group) for group in self.detector.scan_groups(piece)]
        literals = own(self.detector.literals(piece))
        runs = [
            (start + shift, end + shift, plain)
            for start, end, plain in encoded_runs(piece)
            if low <= start + shift < high
        ]
        secrets = [(start, end) for start, end, plain in runs if secret_in(plain, self._detect_alone)]
        # The crypto the mint will need for this part's values the namespace does not know yet, done here, on
        # this CPU. (Values spread from other parts, or found by the plan, are sealed by the parent at the mint.)
        state = self._recall.get(self.namespace) if self.recall else None
        known = state.known if state is not None else {}
        items = [
            (kind, text[start:end])
            for group in groups
            for start, end, kind in group
            if (kind, text[start:end]) not in known
        ]
        return groups, literals, runs, secrets, self.vault.seal(self.namespace, items, self._prefixes)

    def _detect_alone(self, text: str) -> list[Span]:
        return self.detector.detect(text, spread=False)

    def _decoded_runs(self, text: str) -> list[tuple[int, int, str]]:
        """Encoded runs of `text` (cached; the last text too, since a paste too big for the cache is asked for
        twice per mask: by detection and by the plan)."""
        last = self._last_runs
        if last is not None and last[0] is text:
            return last[1]
        runs = self._runs.get(text)
        if runs is None:
            runs = list(encoded_runs(text))
            self._runs.put(text, runs)
        assert isinstance(runs, list)
        self._last_runs = (text, runs)
        return runs

    def _state(self) -> NamespaceRecall | None:
        if not self.recall:
            return None
        state = self._recall.get(self.namespace)
        if state is None:
            state = self._recall.setdefault(self.namespace, NamespaceRecall())
        return state

    def _plan(
        self, texts: Sequence[str], state: NamespaceRecall | None, keyed: Mapping[str, str] | None = None
    ) -> MaskPlan:
        try:
            return plan_mask(
                texts,
                self.spans,
                resolve_spans,
                state,
                decoded_runs=self._decoded_runs,
                enabled=self.detector.enabled,
                keyed=keyed,
            )
        except DetectionError:
            raise
        except Exception as exc:  # a planning bug must never let text through
            raise DetectionError(f"masking failed ({type(exc).__name__}); nothing was sent") from None

    def _split(self, items: Sequence[tuple[str, str]], state: NamespaceRecall | None) -> _MintRequest:
        """Which items the vault must answer for (not known here) and which known pseudonyms are due a use
        (refreshed at most once per `refresh_seconds` by this process: the TTL slides, the hit counts, and a
        mapping that expired or was deleted is found out)."""
        if state is None:
            return _MintRequest(list(items), [], {})
        now = time.monotonic()
        local: dict[tuple[str, str], str] = {}
        unknown: list[tuple[str, str]] = []
        due: list[str] = []
        with state.lock:
            if state.deletions != self.vault.deletions:  # this process deleted mappings: re-check them all
                state.deletions = self.vault.deletions
                state.refreshed.clear()
            for item in items:
                pseudonym = state.known.get(item)
                if pseudonym is None:
                    unknown.append(item)
                    continue
                local[item] = pseudonym
                if now - state.refreshed.get(pseudonym, -1e18) >= self.refresh_seconds:
                    due.append(pseudonym)
        return _MintRequest(unknown, due, local)

    def _learn(self, state: NamespaceRecall | None, request: _MintRequest, reply: MintReply) -> bool:
        """Apply a mint reply to this process's view of the namespace; True if something happened that could
        change the plan (another worker learned a value, or a known mapping expired)."""
        if state is None:
            return False
        changed = False
        now = time.monotonic()
        with state.lock:
            # A request sent without a view (the namespace was emptied by a reset after it was planned, and may be
            # loading now) read no journal: its reply must not mark the namespace loaded or move its position.
            if reply.view is not None:
                state.view = reply.view
            for pseudonym in reply.missing:
                state.forget(pseudonym)
                changed = True
            for pseudonym in request.refresh:
                state.refreshed[pseudonym] = now
            for kind, original, pseudonym in reply.learned:
                state.remember((kind, original), pseudonym)
            if reply.learned:
                changed |= state.index.add_many(reply.learned) > 0
            minted = [(kind, original, pseudonym) for (kind, original), pseudonym in reply.pseudonyms.items()]
            state.remember_many(minted)
            state.refreshed.update(dict.fromkeys(reply.pseudonyms.values(), now))
            state.index.add_many(entry for entry in minted if learnable(entry[0], entry[1]))
        return changed

    def _load(self, state: NamespaceRecall | None) -> None:
        """Load the namespace's originals into the recall index (once per process, and after a purge)."""
        if state is None or state.view is not None:
            return
        with state.loading:
            if state.view is not None:
                return  # another request loaded it while this one waited
            generation = state.generation

            def take(entries: list[tuple[str, str, str]]) -> None:
                # Batches join the index as they arrive; nothing is planned with it before `view` is set below.
                with state.lock:
                    if state.generation != generation:
                        return  # a reset emptied the index: what this cut-short load still reads is stale
                    state.index.add_many(entry for entry in entries if learnable(entry[0], entry[1]))
                    state.remember_many(entries)

            # A million originals are millions of new objects: the cyclic collector would walk them again and
            # again while they arrive (none of them forms a cycle), so it pauses for the load.
            collecting = gc.isenabled()
            gc.disable()
            try:
                view, _ = self.vault.recall_snapshot(self.namespace, sink=take)
                state.index.compile()  # the whole snapshot in one automaton, before the first find
            finally:
                if collecting:
                    gc.enable()
            with state.lock:
                if state.generation == generation:  # else a reset emptied the index mid-load: the next request reloads
                    state.view = view

    async def _aload(self, state: NamespaceRecall | None) -> None:
        """`_load` off the event loop. While another load of the namespace runs (the start-up warm-up, or another
        request's), wait here rather than in a worker thread: a burst of requests must not fill the thread pool
        that every other namespace's loads and large plans need."""
        while state is not None and state.view is None and state.loading.locked():
            await asyncio.sleep(0.005)
        await asyncio.to_thread(self._load, state)

    def warm(self, namespaces: Sequence[str] = ()) -> None:
        """Load the recall index of each namespace (default: this one) now, e.g. in a thread at start-up, so the
        first request does not wait for a large namespace. A request that arrives meanwhile waits for this load
        (`NamespaceRecall.loading`): no request is ever planned with a partly loaded index. Best effort: on a
        failure the first request loads the namespace itself (or fails closed)."""
        for namespace in namespaces or (self.namespace,):
            masker = self.for_namespace(namespace)
            try:
                masker._load(masker._state())
            except MaskkitError as exc:
                log.debug("warming namespace %s failed: %s", namespace, type(exc).__name__)

    @staticmethod
    def _loaded(state: NamespaceRecall | None) -> Generator[None, MintReply | None, None]:
        """Ask for the namespace to be loaded until it is (a load cut short by a concurrent purge leaves it
        unloaded): nothing is planned with a partly loaded index."""
        for _ in range(_MAX_ROUNDS):
            if state is None or state.view is not None:
                return
            yield None
        raise DetectionError("the namespace kept changing while its recall index loaded; nothing was sent, retry")

    def _rounds(
        self,
        texts: Sequence[str],
        keyed: Mapping[str, str] | None = None,
    ) -> Generator[_MintRequest | None, MintReply | None, _Masked]:
        """The masking protocol without I/O: yields None to ask for the recall index to be loaded, or a mint
        request; receives the mint reply. Other workers' new originals arrive with the reply and are applied
        before the answer is used: if they (or an expired mapping) change the plan, plan again and mint again,
        so a worker never sends a value another worker learned. (The reply to the first request may be an
        early mint's, made while this planned, completed for what it did not cover: `_with_early_mint`.)"""
        state = self._state()
        yield from self._loaded(state)
        plan = self._plan(texts, state, keyed)
        mapping: dict[tuple[str, str], str] = {}
        for _ in range(_MAX_ROUNDS):
            request = self._split(plan.items, state)
            reply = yield request
            assert reply is not None
            if reply.reset and state is not None:
                state.reset()
                yield from self._loaded(state)
                plan = self._plan(texts, state, keyed)
                continue
            mapping.update(request.local)
            mapping.update(reply.pseudonyms)
            for pseudonym in reply.missing:
                mapping = {item: p for item, p in mapping.items() if p != pseudonym}
            if self._learn(state, request, reply):
                plan = self._plan(texts, state, keyed)
            if all(item in mapping for item in plan.items):
                if plan.recalled and self.on_recall is not None:
                    self.on_recall(self.namespace, plan.recalled)
                return _Masked(plan, {item: mapping[item] for item in plan.items})
        raise DetectionError("the vault kept changing while this text was masked; nothing was sent, retry")

    def _view(self) -> JournalView | None:
        state = self._state()
        view = state.view if state is not None else None
        return view if isinstance(view, JournalView) else None

    def _finish(
        self, texts: Sequence[str], spans_by_text: dict[str, list[Span]], mapping: dict[tuple[str, str], str]
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        reverse = {pseudonym: original for (_, original), pseudonym in mapping.items()}
        kinds = {pseudonym: kind for (kind, _), pseudonym in mapping.items()}

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

    def mask_texts(
        self, texts: Sequence[str], keyed: Mapping[str, str] | None = None
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """Mask several texts together (usually one vault round trip): (masked texts, pseudonym -> original,
        pseudonym -> kind). `keyed` maps originals known from their JSON key to their kind."""
        rounds = self._rounds(texts, keyed)
        early = self._early_mint(texts)
        step = _advance(rounds, None)
        while not isinstance(step, _Masked):
            if step is None:
                self._load(self._state())
                step = _advance(rounds, None)
            elif early is not None:
                step = _advance(rounds, self._with_early_mint(step, *early))
                early = None
            else:
                step = _advance(rounds, self._mint_maintaining(step))
        return self._finish(texts, step.plan.spans, step.mapping)

    def _with_early_mint(self, request: _MintRequest, early: _MintRequest, wait: Callable[[], MintReply]) -> MintReply:
        """The reply to the protocol's first mint `request`, given the early mint (`_early_mint`): its reply, plus
        one more round trip only for what it did not cover. The protocol applies it (what other workers learned
        included, and plans again if that changes anything)."""
        self._maintain()  # (while the early mint's thread waits for the vault)
        reply = wait()
        rest = _uncovered(request, early, reply)
        return reply if rest is None else _merged([reply, self._mint(rest, reply.view)])

    def _mint(self, request: _MintRequest, view: JournalView | None) -> MintReply:
        """One mint request: one script call, or several for a very large one (`_MINT_BATCH`)."""
        replies: list[MintReply] = []
        for items, refresh in _batches(request, self.mint_batch):
            reply = self.vault.mint(self.namespace, items, self._prefixes, refresh=refresh, view=view)
            replies.append(reply)
            if reply.reset:
                break
            view = reply.view
        return _merged(replies)

    async def _amint(self, request: _MintRequest, view: JournalView | None) -> MintReply:
        replies: list[MintReply] = []
        for items, refresh in _batches(request, self.mint_batch):
            reply = await self.vault.amint(self.namespace, items, self._prefixes, refresh=refresh, view=view)
            replies.append(reply)
            if reply.reset:
                break
            view = reply.view
        return _merged(replies)

    def _detected_items(self, texts: Iterable[str]) -> dict[tuple[str, str], None]:
        """(kind, original) of every span detection finds in `texts`, in order (cached: the plan reads the same
        spans); pseudonym-shaped literals too, since they are minted like values. What an early mint sends."""
        return dict.fromkeys((span.kind, text[span.start : span.end]) for text in texts for span in self.spans(text))

    def _early_mint(self, texts: Sequence[str]) -> tuple[_MintRequest, Callable[[], MintReply]] | None:
        """For a large synchronous mask: detect now, and mint the detected values the namespace does not know in
        a thread, so that the vault's work (sealing aside, the script runs in the Redis process) overlaps the
        rest of the plan (the recall pass, encoded runs, merge). Returns the request and what waits for its
        reply (raising what the mint raised), or None when there is nothing worth it."""
        state = self._state()
        if state is None or sum(map(len, texts)) < _OFFLOAD_CHARS:
            return None
        self._load(state)
        if state.view is None:
            return None  # (a purge cut the load short: the protocol reloads; nothing early)
        request = self._split(list(self._detected_items(dict.fromkeys(texts))), state)
        if len(request.items) < _EARLY_ITEMS:
            return None
        return request, self._mint_in_thread(request, self._view(), "maskkit-early-mint")

    def _mint_in_thread(self, request: _MintRequest, view: JournalView | None, name: str) -> Callable[[], MintReply]:
        """Start `_mint(request, view)` in a thread (it lets go of the GIL while it waits for Redis) and return what
        waits for its reply, raising in the caller's thread what the mint raised (fail closed there)."""
        outcome: list[MintReply | BaseException] = []

        def mint() -> None:
            try:
                outcome.append(self._mint(request, view))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=mint, name=name, daemon=True)
        thread.start()

        def wait() -> MintReply:
            thread.join()
            reply = outcome[0]
            if isinstance(reply, BaseException):
                raise reply
            return reply

        return wait

    async def amask_texts(
        self, texts: Sequence[str], keyed: Mapping[str, str] | None = None
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        self._upkeep.masking += 1  # (idle-time upkeep waits: `aupkeep_soon`)
        try:
            return await self._amask_texts(texts, keyed)
        finally:
            self._upkeep.masking -= 1

    async def _amask_texts(
        self, texts: Sequence[str], keyed: Mapping[str, str] | None = None
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        # Planning is CPU work: for a large body it runs in a worker thread, so the event loop keeps serving.
        offload = sum(map(len, texts)) >= _OFFLOAD_CHARS
        rounds = self._rounds(texts, keyed)
        # Otherwise the values detection finds are minted while the rest of the plan (recall, encoded runs) runs.
        early = None if offload else self._early_amint(texts, keyed)
        if early is not None:
            await asyncio.sleep(0)  # the mint task seals and writes its script call now, before the plan runs

        async def advance(reply: MintReply | None) -> _MintRequest | _Masked | None:
            return await asyncio.to_thread(_advance, rounds, reply) if offload else _advance(rounds, reply)

        try:
            step = await advance(None)
            while not isinstance(step, _Masked):
                if step is None:
                    await self._aload(self._state())
                    if early is None and not offload:  # (this process's first request in the namespace)
                        early = self._early_amint(texts, keyed)
                        if early is not None:
                            await asyncio.sleep(0)
                    step = await advance(None)
                elif early is not None:
                    reply = await self._with_early(step, *early)
                    early = None
                    step = await advance(reply)
                else:
                    step = await advance(await self._amint_maintaining(step))
        finally:
            if early is not None:  # (planning failed: the early mint's outcome is not needed)
                early[1].cancel()
                with contextlib.suppress(BaseException):
                    await early[1]
        if offload:
            return await asyncio.to_thread(self._finish, texts, step.plan.spans, step.mapping)
        return self._finish(texts, step.plan.spans, step.mapping)

    def _early_amint(
        self, texts: Sequence[str], keyed: Mapping[str, str] | None
    ) -> tuple[_MintRequest, asyncio.Task[MintReply]] | None:
        """Detect the texts not planned before (cached: the plan reads the same spans) and start minting what they
        hold that this process does not know, so that the script runs in Redis while this process plans the rest
        (recall pass, encoded runs, merge): the mint reply is then usually there when the plan asks for it. None
        when there is little new text (`_EARLY_ASYNC_CHARS`) or nothing to mint, or the namespace is not loaded
        yet (the protocol loads it first) or has never minted."""
        state = self._state()
        if state is None or not isinstance(state.view, JournalView) or not state.view.offset:
            # (A namespace that never minted may not be bound yet: the vault binds it in a worker thread, which
            # the plan running meanwhile would starve of the GIL, 5 ms a switch.)
            return None
        planned = state.planned
        fresh = [text for text in dict.fromkeys(texts) if planned.get(text) is None]
        if sum(map(len, fresh)) < _EARLY_ASYNC_CHARS:
            return None
        items = self._detected_items(fresh)
        items.update(dict.fromkeys((kind, original) for original, kind in (keyed or {}).items()))
        # Encoded runs whose decoding holds a value the namespace knows, or one found here, are masked whole by the
        # plan: minted now too, or its first mint would need a second round trip for them (a fifth of growing
        # turns did). (A run taken here that the plan does not mask costs an unused mapping, nothing else.)
        runs = [(text, start, end, plain) for text in fresh for start, end, plain in self._decoded_runs(text)]
        if runs:
            found = [original for kind, original in items if kind != LITERAL and recall_safe(kind, original)]
            plains = [plain for _, _, _, plain in runs]
            hits = state.index.find_raw_many(plains) if len(state.index) else []
            holding = runs_holding(plains, found)
            for position, (text, start, end, _) in enumerate(runs):
                if (hits and hits[position]) or position in holding:
                    items[(ENCODED_KIND, text[start:end])] = None
        request = self._split(list(items), state)
        if not request.items:
            return None
        return request, asyncio.ensure_future(self._amint(request, state.view))

    async def _amint_maintaining(self, request: _MintRequest) -> MintReply:
        """`_amint`, with the recall index's due merges (`RecallIndex.maintain`) made while the script runs."""
        state = self._state()
        if state is None or not state.index.pending:
            return await self._amint(request, self._view())
        task = asyncio.ensure_future(self._amint(request, self._view()))
        await asyncio.sleep(0)  # (the script call is written)
        self._maintain()
        return await task

    def _mint_maintaining(self, request: _MintRequest) -> MintReply:
        """`_mint`, with the recall index's due merges made while the script runs, as the async masker does: when
        merges are due the mint runs in a thread (it lets go of the GIL while it waits for Redis) and the merges
        here. Without this a synchronous masker (the MCP server, the magic) left them to its searches, which
        scanned up to `_MAX_LEVELS` automata per text until one merged them all."""
        state = self._state()
        view = self._view()
        if state is None or not state.index.pending:
            return self._mint(request, view)
        wait = self._mint_in_thread(request, view, "maskkit-mint")
        self._maintain()  # (the thread seals and sends its script call before it first waits and lets go)
        return wait()

    def _maintain(self) -> None:
        state = self._state()
        if state is not None and state.index.pending:
            try:
                state.index.maintain()
            except Exception as exc:  # the next search merges instead: masking never depends on this
                log.warning("recall index maintenance failed: %s", type(exc).__name__)

    async def aupkeep_soon(self) -> None:
        """Start the idle-time upkeep of the recall indexes in the background and return at once: the proxy calls
        this once a response is sent (a Starlette background task), so the next request finds its new originals
        in an automaton and the due merges made (`RecallIndex.upkeep`: one automaton built per step, the event
        loop served between steps, and no step while a mask is in flight). ahocorasick-rs holds the GIL while it
        builds, so a thread would not help; idle time does (Claude Code leaves seconds between requests). A
        request that comes before the upkeep is done does what is left itself, as before (`_amint_maintaining`)."""
        upkeep = self._upkeep
        if upkeep.task is None or upkeep.task.done():
            upkeep.task = asyncio.ensure_future(self._aupkeep())

    async def _aupkeep(self) -> None:
        upkeep = self._upkeep
        await asyncio.sleep(0)  # (what was scheduled with this response goes first)
        for state in list(self._recall.values()):
            while not upkeep.masking and _upkeep_step(state):
                await asyncio.sleep(0)

    def upkeep(self) -> None:
        """The idle-time upkeep of every recall index this process holds, all of it now (see `aupkeep_soon`): for
        a synchronous caller with time between masks (a long-lived tool server between calls)."""
        for state in list(self._recall.values()):
            while _upkeep_step(state):
                pass

    async def _with_early(self, request: _MintRequest, early: _MintRequest, task: asyncio.Task[MintReply]) -> MintReply:
        """The reply to the protocol's mint `request`, given the early mint (`_early_amint`): its reply, plus one
        more round trip only for what it did not cover (values only the plan found, a refresh it did not make).
        Nothing of the early reply is applied here: the protocol applies it as the reply to `request` (what other
        workers learned included, so it plans again if that changes anything)."""
        if not task.done():
            self._maintain()
        reply = await task
        rest = _uncovered(request, early, reply)
        return reply if rest is None else _merged([reply, await self._amint(rest, reply.view)])

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
        """A restorer for a whole Messages API event stream (one Restorer per content block); a `ReverseMap`'s
        number pseudonyms written as whole JSON strings in a tool call's input come back as numbers."""
        return MessageStreamRestorer(reverse, self.grammar, numbers=numbers_of(reverse))

    # -- Messages bodies

    async def amask_request(
        self, body: dict[str, Any], *, media: str = "pass", max_chars: int | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Mask every model-readable string of a Messages request; returns (masked body, pseudonym -> original,
        with `kinds`: pseudonym -> kind). `max_chars`: RequestTooLarge, before any detection, if the text to
        mask is longer (MASKKIT_MAX_TEXT_BYTES in the proxy).

        One walk collects the texts and one writes the masked body; a text that occurs several times (Claude
        Code repeats reminders and tool results) is planned and replaced once."""
        texts: list[str] = []

        def collect(text: str) -> str:
            texts.append(text)
            return text

        map_request_strings(body, collect, media=media)  # raises MediaBlocked under media="block"
        _check_size(texts, max_chars)
        keyed = self._keyed_parts(structured_values(body))
        strings = list(dict.fromkeys(texts))
        numbers = number_originals(keyed)
        texts = _with_numbers(strings, numbers)
        thinking = thinking_texts(body)
        if thinking:
            # The memo read does not depend on the mint: both are in flight at once (latency of one round trip).
            minted, recalled = await asyncio.gather(
                self.amask_texts(texts, keyed),
                recall_thinking(self.vault, self.namespace, thinking),
                return_exceptions=True,
            )
            if isinstance(minted, BaseException):
                raise minted
            if isinstance(recalled, BaseException):
                raise recalled
            (masked, reverse, kinds), memo = minted, recalled
        else:
            (masked, reverse, kinds), memo = await self.amask_texts(texts, keyed), {}
        table = dict(zip(texts, masked, strict=True))
        numeric = NumberMasker(numbers, table)
        masked_body = map_request_strings(body, table.__getitem__, media=media, num=numeric if numbers else None)
        if memo:
            masked_body = replace_thinking(body, masked_body, memo)
        out = numeric.reverse(reverse, strings)
        out.kinds = kinds
        return masked_body, out

    def _keyed_parts(self, values: Sequence[Any]) -> dict[str, str]:
        """`_keyed`, one JSON part at a time, cached by the part's JSON text: Claude Code re-sends the same tool
        definitions and earlier tool calls every turn. The same answer as `_keyed(values)` (which reads the
        parts from the last), except that a part past the detector's item budget is still read whole."""
        pairs: dict[tuple[str, str], None] = {}
        for value in reversed(values):
            try:
                key = orjson.dumps(value).decode("utf-8")
            except (orjson.JSONEncodeError, TypeError):  # past 64-bit integers: not cached
                key = None
            found = self._keyed_found.get(key) if key is not None else None
            if found is None:
                try:
                    found = self.detector.detect_json([value])
                except Exception as exc:  # a detector bug must never let text through
                    raise DetectionError(f"detection failed ({type(exc).__name__}); nothing was sent") from None
                if key is not None:
                    self._keyed_found.put(key, found)
            assert isinstance(found, list)
            pairs.update(dict.fromkeys(found))
        return {original: kind for kind, original in pairs}

    def _keyed(self, values: Sequence[Any]) -> dict[str, str]:
        """original -> kind for every value of these JSON parts that its key names (`{"Password": "..."}`)."""
        if not values:
            return {}
        try:
            return {original: kind for kind, original in self.detector.detect_json(list(values))}
        except Exception as exc:  # a detector bug must never let text through
            raise DetectionError(f"detection failed ({type(exc).__name__}); nothing was sent") from None

    async def keep_thinking(self, pairs: Sequence[tuple[str, str]]) -> None:
        """`remember_thinking`, best effort: a lost memo costs an upstream signature error next turn, never a
        leak, so a vault error here is logged and not raised."""
        if not pairs:
            return
        try:
            await self.remember_thinking(pairs)
        except MaskkitError as exc:
            log.warning("could not record the thinking memo: %s", type(exc).__name__)

    async def remember_thinking(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record (masked, restored) thinking texts so the next turn can send back exactly what was signed."""
        await remember_thinking(self.vault, self.namespace, pairs)

    async def amask_json(self, value: Any, *, max_chars: int | None = None) -> tuple[Any, dict[str, str]]:
        """Mask every string value of any JSON document (for API routes maskkit does not know); `max_chars` as
        for `amask_request`."""
        texts: list[str] = []

        def collect(text: str) -> str:
            texts.append(text)
            return text

        map_json_strings(value, collect)
        _check_size(texts, max_chars)
        keyed = self._keyed([value])
        strings = list(dict.fromkeys(texts))
        numbers = number_originals(keyed)
        texts = _with_numbers(strings, numbers)
        masked, reverse, kinds = await self.amask_texts(texts, keyed)
        table = dict(zip(texts, masked, strict=True))
        numeric = NumberMasker(numbers, table)
        masked_value = map_json_strings(value, table.__getitem__, num=numeric if numbers else None)
        out = numeric.reverse(reverse, strings)
        out.kinds = kinds
        return masked_value, out


def _with_numbers(strings: list[str], numbers: list[str]) -> list[str]:
    """The texts to mask: the strings, then the digits of each keyed JSON number not already among them (each is
    masked as a whole text: the pseudonym string that replaces the number)."""
    if not numbers:
        return strings
    seen = set(strings)
    return [*strings, *(n for n in numbers if n not in seen)]


def _check_size(texts: Sequence[str], max_chars: int | None) -> None:
    """RequestTooLarge if `texts` (what masking will read: not images, signatures or other opaque data) are
    together longer than `max_chars`."""
    if max_chars is None:
        return
    total = sum(map(len, texts))
    if total > max_chars:
        raise RequestTooLarge(
            f"this request holds {total} characters of text to mask, over the limit of {max_chars} "
            "(MASKKIT_MAX_TEXT_BYTES): split it, or raise the limit where maskkit runs"
        )


def detector_from_settings(settings: Settings) -> Detector:
    """The detector the settings describe: built-ins, user patterns, enabled kinds, private-IP policy."""
    try:
        detector = Detector(enabled=settings.kinds, mask_private_ips=settings.mask_private_ips)
        if settings.custom_patterns:
            detector = detector.with_patterns(settings.custom_patterns)
        if settings.custom_rules:
            detector = detector.with_rules(settings.custom_rules)
    except ValueError as exc:
        raise MaskkitError(f"invalid detection settings: {exc}") from None
    return detector
