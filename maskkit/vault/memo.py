"""The thinking memo: restored thinking text -> the exact masked text the model signed.

Claude signs its thinking blocks, and clients send them back verbatim on the next turn. Re-masking the restored
text gives back the signed text in the ordinary case, but not always (the model may echo `EC2-001`, invent
`ec2-017`, or write an id of its own). So whenever a restored thinking text differs from what the model wrote, the
proxy remembers the pair, keyed by an HMAC of the restored text and encrypted like every original, with the
vault's TTL; the next request puts back exactly the signed text. I/O (through the vault's connection).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from maskkit.vault import Vault

__all__ = ["recall_thinking", "remember_thinking"]

_KIND = "thinkingmemo"


def _key(vault: Vault, namespace: str, restored: str) -> str:
    digest = hmac.new(vault.key.index(namespace, _KIND, "").encode(), restored.encode("utf-8", "surrogatepass"),
                      hashlib.sha256).hexdigest()[:32]
    return f"mk:{{{namespace}}}:t:{digest}"


async def remember_thinking(vault: Vault, namespace: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Store (masked, restored) pairs whose texts differ."""
    differing = [(m, r) for m, r in pairs if m != r]
    if not differing:
        return
    with vault._guard():
        client = await vault._aclient()
        pipe = client.pipeline(transaction=False)
        for masked, restored in differing:
            pipe.set(_key(vault, namespace, restored), vault.key.encrypt(namespace, _KIND, masked), ex=vault.ttl)
        await pipe.execute()


async def recall_thinking(vault: Vault, namespace: str, texts: Sequence[str]) -> dict[str, str]:
    """restored text -> signed masked text, for the texts that have a memo."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    with vault._guard():
        client = await vault._aclient()
        blobs = await client.mget([_key(vault, namespace, t) for t in unique])
    return {
        text: vault.key.decrypt(namespace, _KIND, blob if isinstance(blob, bytes) else blob.encode("latin-1"))
        for text, blob in zip(unique, blobs, strict=True)
        if blob
    }
