"""The recall journal is trimmed by expiry as well as by length: entries whose mapping expired, or was minted more
than a TTL ago, leave its head, and a worker that was behind them reloads the namespace and misses nothing."""

from __future__ import annotations

import time

from mktests.vaulttime import let_time_pass

from maskkit import Masker


def journal(masker: Masker) -> tuple[int, int]:
    """(entries kept, entries trimmed from the head) of the namespace's journal."""
    client = masker.vault._client()
    base = f"mk:{{{masker.namespace}}}:"
    return int(client.llen(base + "j")), int(client.get(base + "jb") or 0)


def pseudonym_of(result_reverse: dict[str, str], original: str) -> str:
    return next(p for p, o in result_reverse.items() if o == original)


def test_expired_entries_leave_the_journal_and_a_worker_behind_them_reloads(masker: Masker, other: Masker) -> None:
    masker.mask("aws s3 ls s3://seed-bucket-0000/")
    other.mask("warm up")  # loaded, and current at offset 1
    masker.mask("aws s3 ls s3://soon-expired-bucket-0001/")
    assert journal(masker) == (2, 0)
    let_time_pass(masker.vault._client(), masker.vault.ttl + 1, f"mk:{{{masker.namespace}}}:*")
    masker.mask("aws s3 ls s3://young-bucket-0002/")
    assert journal(masker) == (1, 2), "entries of expired mappings must leave the journal (it keeps 20 000 by length)"
    result = other.mask("compare young-bucket-0002 and soon-expired-bucket-0001")
    assert "young-bucket-0002" not in result.text, "a worker behind the trimmed point missed a value"
    assert "soon-expired-bucket-0001" in result.text, "an expired mapping must not be recalled"


def test_entries_minted_more_than_a_ttl_ago_leave_the_journal_even_when_the_mapping_lives_on(
    masker: Masker, other: Masker
) -> None:
    masker.mask("aws s3 ls s3://seed-bucket-0000/")
    other.mask("warm up")
    first = masker.mask("aws s3 ls s3://long-lived-bucket-0001/")
    masker.mask("aws s3 ls s3://young-bucket-0002/")
    client = masker.vault._client()
    base = f"mk:{{{masker.namespace}}}:"
    # As if the first two had been minted two TTLs ago and kept alive by use since (a use never moves `f`).
    long_ago = int(time.time()) - 2 * masker.vault.ttl
    client.hset(base + "p:" + pseudonym_of(first.reverse, "long-lived-bucket-0001"), "f", long_ago)
    journal_head = client.lindex(base + "j", 0)
    assert journal_head is not None
    client.hset(base + "p:" + journal_head.decode(), "f", long_ago)
    masker.mask("aws s3 ls s3://newest-bucket-0003/")
    assert journal(masker) == (2, 2)
    result = other.mask("compare long-lived-bucket-0001 young-bucket-0002 newest-bucket-0003")
    for bucket in ("long-lived-bucket-0001", "young-bucket-0002", "newest-bucket-0003"):
        assert bucket not in result.text, "a worker behind the trimmed point missed a value"


def test_a_young_journal_is_not_trimmed(masker: Masker, other: Masker) -> None:
    other.mask("warm up")
    for n in range(5):
        masker.mask(f"aws s3 ls s3://young-bucket-{n:04d}/")
    assert journal(masker) == (5, 0)
    state = other._state()
    assert state is not None
    index = state.index
    assert "young-bucket-0004" not in other.mask("list young-bucket-0004").text
    assert other._state() is state and state.index is index, "a current worker must catch up, not reload"
