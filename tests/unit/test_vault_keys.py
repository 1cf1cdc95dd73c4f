"""The bulk sealing a large paste uses is the one-at-a-time sealing, exactly: same index ids, decryptable
blobs bound to their namespace and prefix, and a fresh nonce for every value."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit.errors import VaultKeyError
from maskkit.vault import VaultKey

KEY = VaultKey(secrets.token_bytes(32))

_items = st.lists(
    st.tuples(
        st.sampled_from(["S3_BUCKET", "PASSWORD", "ACCOUNT_ID"]),
        st.sampled_from(["s3", "pwd", "acct"]),
        st.text(min_size=1, max_size=80),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(namespace=st.text(min_size=1, max_size=12), items=_items)
def test_seal_many_is_index_and_encrypt_one_by_one(namespace: str, items: list[tuple[str, str, str]]) -> None:
    sealed = KEY.seal_many(namespace, items)
    assert [index for index, _ in sealed] == [KEY.index(namespace, kind, original) for kind, _, original in items]
    assert [KEY.decrypt(namespace, prefix, blob) for (_, prefix, _), (_, blob) in zip(items, sealed, strict=True)] == [
        original for _, _, original in items
    ]
    rows = [(prefix, blob) for (_, prefix, _), (_, blob) in zip(items, sealed, strict=True)]
    assert KEY.decrypt_many(namespace, rows) == [original for _, _, original in items]
    nonces = [blob[:12] for _, blob in sealed]
    assert len(set(nonces)) == len(nonces)


def test_a_sealed_value_cannot_move_to_another_namespace_or_prefix() -> None:
    ((_, blob),) = KEY.seal_many("team-a", [("S3_BUCKET", "s3", "acme-payroll-archive")])
    with pytest.raises(VaultKeyError):
        KEY.decrypt_many("team-b", [("s3", blob)])
    with pytest.raises(VaultKeyError):
        KEY.decrypt("team-a", "pwd", blob)
