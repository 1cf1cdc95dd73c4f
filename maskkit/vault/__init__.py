"""The vault: pseudonym <-> original mappings in Redis, encrypted, per namespace, with a sliding TTL.

    keys.py      the vault key (AES-GCM + HMAC) and 0600 key files
    embedded.py  the private redis-server in the data dir
    store.py     the Vault: connections, the Lua scripts (mint, resolve), inspection and maintenance
    memo.py      the signed-thinking memo
    rotate.py    `maskkit vault rotate-key`
"""

from maskkit.vault.embedded import ensure_embedded_redis, stop_embedded_redis
from maskkit.vault.keys import VaultKey, generate_key
from maskkit.vault.rotate import Rotation, rotate_vault_key
from maskkit.vault.store import Entry, Vault

__all__ = [
    "Entry",
    "Rotation",
    "Vault",
    "VaultKey",
    "ensure_embedded_redis",
    "generate_key",
    "rotate_vault_key",
    "stop_embedded_redis",
]
