"""A purge that lands while a process loads its recall index, between two batches of the recall set: the load
is never taken for current, the next request reloads, and nothing is planned with a partly loaded index.

Deterministic: the purge (and the concurrent request's reply) run inside the load, from the callback that hands
each decrypted batch to the index (`Vault.recall_snapshot(sink=...)`), after the first batch and before the
rest. Real vault, real second worker, the masking protocol driven step by step as `Masker.mask_texts` drives it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from maskkit import Masker, Settings
from maskkit.masking import _advance

#: Enough originals for the recall set to come back in several HSCAN batches (1000 fields a call).
MANY = 2500
FRESH = "fresh-after-purge-bucket-4471"


def bucket(number: int) -> str:
    return f"acme-loaded-bucket-{number:05d}"



def learn_many(worker: Masker, start: int = 0) -> None:
    worker.mask("\n".join(f"aws s3 ls s3://{bucket(n)}/" for n in range(start, start + MANY)))


def hook_load(monkeypatch: pytest.MonkeyPatch, masker: Masker, between: Callable[[], None]) -> list[int]:
    """Make `masker`'s next load call `between()` once, after its first batch joined the index. Returns the sizes
    of the batches of every load, and a 0 after each load that ended."""
    real = masker.vault.recall_snapshot
    seen: list[int] = []

    def snapshot(namespace: str, batch: int = 20_000, *, sink: Any = None) -> Any:
        def each(entries: list[tuple[str, str, str]]) -> None:
            sink(entries)
            seen.append(len(entries))
            if len(seen) == 1:
                between()

        try:
            return real(namespace, batch, sink=each)
        finally:
            seen.append(0)

    monkeypatch.setattr(masker.vault, "recall_snapshot", snapshot)
    return seen


def test_a_purge_between_two_load_batches_is_noticed_before_anything_is_sent(
    settings: Settings, other: Masker, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn_many(other)
    newcomer = Masker.from_settings(settings)  # a worker that loads the namespace on its first request
    try:

        def purge_and_learn() -> None:
            other.vault.purge(other.namespace)
            other.mask(f"s3://{FRESH}/x")  # a new epoch, learned after the purge

        seen = hook_load(monkeypatch, newcomer, purge_and_learn)
        text = f"copy {FRESH} to {bucket(MANY - 1)} and {bucket(0)}"
        result = newcomer.mask(text)
        assert seen[0] < MANY, "the purge must land mid-load"
        assert seen.count(0) == 2, "the load the purge cut short must be followed by a reload"
        assert FRESH not in result.text, "a value learned after the purge must be recalled"
        # The purged values are no longer known: they are not masked with a pseudonym of the old epoch.
        assert bucket(0) in result.text and bucket(MANY - 1) in result.text
        assert newcomer.vault.originals_for(newcomer.namespace, result.reverse) == result.reverse
        assert newcomer.unmask(result.text) == text
    finally:
        newcomer.vault.close()


def test_a_reset_during_a_load_leaves_the_namespace_unloaded_and_the_next_request_reloads(
    masker: Masker, other: Masker, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn_many(other)
    masker.mask("warm up")
    state = masker._state()
    assert state is not None and state.view is not None
    # A request planned (and its mint sent) before the purge; its reply arrives during the load below.
    late = masker._rounds([f"aws s3 ls s3://{bucket(7)}/"])
    late_request = next(late)
    assert late_request is not None
    late_view = masker._view()
    other.vault.purge(other.namespace)
    other.mask(f"s3://{FRESH}/x")
    learn_many(other, MANY)  # the namespace's new life is large too: the load below reads several batches
    # The request that notices the purge first: its reply says 'reset', so it empties the index and loads.
    first = masker._rounds([f"read {FRESH}"])
    first_request = next(first)
    assert first_request is not None
    reply = masker._mint(first_request, masker._view())
    assert reply.reset
    assert _advance(first, reply) is None  # it asks for the load

    def late_reply_arrives() -> None:
        late_reply = masker._mint(late_request, late_view)
        assert late_reply.reset
        assert _advance(late, late_reply) is None  # resets the state again, mid-load, and asks for a load itself

    seen = hook_load(monkeypatch, masker, late_reply_arrives)
    masker._load(state)
    assert seen[0] < MANY and seen[-1] == 0
    assert state.view is None, "a load cut short by a reset must not be taken for current"
    assert len(state.index) == 0, "batches read after the reset must not join the index"
    # The next request reloads before it plans: the value learned after the purge is recalled.
    text = f"read {FRESH} and {bucket(7)} and {bucket(2 * MANY - 1)}"
    result = masker.mask(text)
    assert state.view is not None
    assert seen.count(0) == 2
    assert FRESH not in result.text and bucket(2 * MANY - 1) not in result.text
    assert bucket(7) in result.text, "a purged value must not be recalled with its old pseudonym"
    assert masker.unmask(result.text) == text


def test_a_reply_to_a_request_sent_unloaded_does_not_mark_a_loading_namespace_loaded(
    masker: Masker, other: Masker, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn_many(other)
    masker.mask("warm up")
    state = masker._state()
    assert state is not None
    # Planned while loaded; its mint goes out after the namespace was emptied (no journal view to send).
    late = masker._rounds([f"aws s3 ls s3://{bucket(3)}/"])
    late_request = next(late)
    assert late_request is not None
    state.reset()  # what another request's 'reset' reply does
    during: list[object] = []

    def late_reply_arrives() -> None:
        late_reply = masker._mint(late_request, masker._view())
        _advance(late, late_reply)
        # A third request, while the load is half done: it must wait for the load, not plan with half an index.
        during.append(next(masker._rounds([f"compare {bucket(MANY - 1)}"])))

    seen = hook_load(monkeypatch, masker, late_reply_arrives)
    masker._load(state)
    assert seen[0] < MANY
    assert during == [None], "a request was planned with a partly loaded recall index"
    assert state.view is not None
    assert bucket(MANY - 1) not in masker.mask(f"compare {bucket(MANY - 1)}").text
