"""`maskkit vault rotate-key`: re-encrypt every mapping under a new key, with the key files swapped safely."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from maskkit.config import Settings
from maskkit.vault.keys import VaultKey, generate_key, write_secret_file
from maskkit.vault.store import Vault

__all__ = ["Rotation", "rotate_vault_key"]


@dataclass(frozen=True)
class Rotation:
    """The outcome of `rotate_vault_key`: how many mappings were re-encrypted and where the keys went."""

    rotated: int
    key_file: Path | None = None
    backup: Path | None = None


def rotate_vault_key(
    settings: Settings, *, new_key: str | None = None, announce: Callable[[str], None] | None = None
) -> Rotation:
    """Rotate the vault key: re-encrypt every mapping, then swap the key.

    Key-file users: the new key goes to `vault.key.new` (0600) before anything changes, so an interrupted run
    resumes where it stopped; at the end the old key is kept as `vault.key.old` (0600) and the new one becomes
    `vault.key`. MASKKIT_VAULT_KEY users: the new key (generated unless `new_key` is given) is handed to
    `announce` before anything changes; they must set it themselves.
    """
    vault = Vault.from_settings(settings)  # loads the current key first: a missing or bad one fails before any change
    try:
        if settings.vault_key:
            if new_key is None:
                new_key = generate_key()
                if announce is not None:
                    announce(new_key)
            rotated = vault.rotate_key(VaultKey.parse(new_key, "the new vault key"))
            return Rotation(rotated)
        path = settings.home / "vault.key"
        pending = settings.home / "vault.key.new"
        backup = settings.home / "vault.key.old"
        if new_key is not None:
            VaultKey.parse(new_key, "the new vault key")
            write_secret_file(pending, new_key, replace=True)
        elif not pending.exists():
            write_secret_file(pending, generate_key(), replace=False)
        new = VaultKey.parse(pending.read_text(encoding="ascii"), str(pending))
        rotated = vault.rotate_key(new)
        write_secret_file(backup, path.read_text(encoding="ascii"), replace=True)
        os.replace(pending, path)
        return Rotation(rotated, path, backup)
    finally:
        vault.close()
