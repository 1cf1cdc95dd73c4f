"""The vault key: AES-256-GCM for originals, HMAC-SHA256 for the forward index, and 0600 key files. No Redis here."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maskkit.config import Settings
from maskkit.errors import ConfigError, VaultKeyError
from maskkit.vault.embedded import private_dir

__all__ = ["VaultKey", "generate_key", "write_secret_file"]


class VaultKey:
    """The vault's secret: encrypts originals (AES-256-GCM) and keys the forward index (HMAC-SHA256).

    Both keys are derived with HKDF from one 32-byte master key, so a single value needs backing up.
    """

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ConfigError("the vault key must be 32 bytes (44 characters of urlsafe base64)")
        self._aead = AESGCM(_derive(master, b"maskkit v1 encryption"))
        self._mac = _derive(master, b"maskkit v1 index")
        # HMAC-SHA256's padded-key states, hashed once: `seal_many` copies them per value.
        padded = self._mac.ljust(64, b"\0")
        self._inner_pad = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
        self._outer_pad = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))
        self.fingerprint = hmac.new(self._mac, b"maskkit key check", hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"VaultKey(fingerprint={self.fingerprint[:12]}...)"

    @classmethod
    def parse(cls, text: str, source: str) -> VaultKey:
        """A key from its urlsafe base64 text; `source` names where it came from in error messages."""
        return cls(_decode_key(text.strip(), source))

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultKey:
        """MASKKIT_VAULT_KEY if set; else `$MASKKIT_HOME/vault.key`, created (0600) on first use."""
        if settings.vault_key:
            return cls.parse(settings.vault_key, "MASKKIT_VAULT_KEY")
        path = settings.home / "vault.key"
        private_dir(settings.home)
        if not path.exists():
            write_secret_file(path, generate_key(), replace=False)  # loses quietly to a concurrent creator
        return cls.parse(path.read_text(encoding="ascii"), str(path))

    def index(self, namespace: str, kind: str, original: str) -> str:
        """The forward-index id of an original: an HMAC (96 bits, 16 characters), so Redis never holds the value."""
        message = f"{namespace}\0{kind}\0{original}".encode("utf-8", "surrogatepass")
        return base64.urlsafe_b64encode(hmac.digest(self._mac, message, "sha256")[:12]).decode()

    def encrypt(self, namespace: str, prefix: str, original: str) -> bytes:
        """nonce + AES-GCM(original), bound to the namespace and pseudonym prefix (it cannot be moved elsewhere)."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, original.encode("utf-8", "surrogatepass"), _aad(namespace, prefix))

    def seal_many(self, namespace: str, items: Sequence[tuple[str, str, str]]) -> list[tuple[str, bytes]]:
        """(`index`, `encrypt`) of many (kind, prefix, original) of one namespace: what minting a large paste
        needs, with one call for all the nonces, one base64 call for all the ids, and the associated data built
        once per prefix."""
        encrypt = self._aead.encrypt
        nonces = secrets.token_bytes(12 * len(items))
        aads: dict[str, bytes] = {}
        # HMAC-SHA256 from its definition, with the padded-key states (and the "namespace\0kind\0" head) hashed
        # once per kind and copied per original: a third of the cost of one `hmac.digest` call each.
        heads: dict[str, Any] = {}
        outer = self._outer_pad
        tags: list[bytes] = []
        blobs: list[bytes] = []
        start = 0
        for kind, prefix, original in items:
            plain = original.encode("utf-8", "surrogatepass")
            head = heads.get(kind)
            if head is None:
                head = heads[kind] = self._inner_pad.copy()
                head.update(f"{namespace}\0{kind}\0".encode("utf-8", "surrogatepass"))
            aad = aads.get(prefix)
            if aad is None:
                aad = aads[prefix] = _aad(namespace, prefix)
            inner = head.copy()
            inner.update(plain)
            tag = outer.copy()
            tag.update(inner.digest())
            tags.append(tag.digest()[:12])
            nonce = nonces[start : start + 12]
            start += 12
            blobs.append(nonce + encrypt(nonce, plain, aad))
        # 12 bytes are 16 base64 characters without padding: the ids encoded together are the ids one by one.
        ids = base64.urlsafe_b64encode(b"".join(tags)).decode()
        return [(ids[16 * position : 16 * position + 16], blob) for position, blob in enumerate(blobs)]

    def decrypt(self, namespace: str, prefix: str, blob: bytes) -> str:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], _aad(namespace, prefix))
        except (InvalidTag, ValueError):
            raise VaultKeyError(
                "the vault key cannot decrypt this vault's mappings; set MASKKIT_VAULT_KEY to the key the "
                "vault was created with"
            ) from None
        return plain.decode("utf-8", "surrogatepass")

    def decrypt_many(self, namespace: str, rows: Iterable[tuple[str, bytes]]) -> list[str]:
        """`decrypt` for many (prefix, blob) pairs of one namespace at once (loading a recall index: a million
        mappings), with the associated data built once per prefix."""
        aead, aads = self._aead, dict[str, bytes]()
        out = []
        try:
            for prefix, blob in rows:
                aad = aads.get(prefix)
                if aad is None:
                    aad = aads[prefix] = _aad(namespace, prefix)
                out.append(aead.decrypt(blob[:12], blob[12:], aad).decode("utf-8", "surrogatepass"))
        except (InvalidTag, ValueError):
            raise VaultKeyError(
                "the vault key cannot decrypt this vault's mappings; set MASKKIT_VAULT_KEY to the key the "
                "vault was created with"
            ) from None
        return out

    def prove(self, challenge: str) -> str:
        """An HMAC over `challenge`: lets a peer check that we hold the same vault key without revealing it."""
        return hmac.new(self._mac, b"maskkit proof\0" + challenge.encode(), hashlib.sha256).hexdigest()


def _aad(namespace: str, prefix: str) -> bytes:
    return f"{namespace}\0{prefix}".encode()


def generate_key() -> str:
    """A fresh master key, urlsafe base64 (what MASKKIT_VAULT_KEY expects)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(f"{source} is not urlsafe base64; generate one with `maskkit vault new-key`") from None
    if len(key) != 32:
        raise ConfigError(f"{source} must decode to 32 bytes; generate one with `maskkit vault new-key`")
    return key


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def write_secret_file(path: Path, text: str, *, replace: bool) -> None:
    """Write a key file with mode 0600, atomically: readers see no file or the whole key, never a partial one.

    `replace=False` creates it only if absent (a concurrent creator wins and its key is kept).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text.strip() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
