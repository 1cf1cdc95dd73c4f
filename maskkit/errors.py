"""maskkit's exception tree, and the table that turns each error into an Anthropic-shaped HTTP error.

    MaskkitError
    ├── ConfigError          bad settings (MASKKIT_* values, key file, custom patterns)
    ├── DetectionError       detection or masking failed: nothing may be sent
    ├── VaultError           the vault refused or failed an operation
    │   ├── VaultUnavailable     Redis cannot be reached (or the embedded server cannot start)
    │   ├── VaultKeyError        the vault key cannot decrypt what the vault holds (wrong key)
    │   └── VaultFull            Redis is out of memory (noeviction): nothing is dropped, masking stops
    ├── UnknownPseudonym     a lookup asked for a pseudonym this namespace never issued
    ├── UpstreamError        the model API could not be reached or broke the protocol
    │   └── UpstreamTimeout
    └── StreamError          a stream could not be restored safely

Messages never contain an original: they name kinds, pseudonyms and what to do next.
"""

from __future__ import annotations

__all__ = [
    "ERROR_TABLE",
    "ConfigError",
    "DetectionError",
    "MaskkitError",
    "StreamError",
    "UnknownPseudonym",
    "UpstreamError",
    "UpstreamTimeout",
    "VaultError",
    "VaultFull",
    "VaultKeyError",
    "VaultUnavailable",
    "http_error_for",
]


class MaskkitError(Exception):
    """Base class of every error maskkit raises on purpose."""


class ConfigError(MaskkitError):
    """Raised when a setting is missing, malformed or unsafe."""


class DetectionError(MaskkitError):
    """Raised when text could not be masked; the caller must not send it anywhere."""


class VaultError(MaskkitError):
    """Raised when the vault fails an operation."""


class VaultUnavailable(VaultError):
    """Raised when the Redis server behind the vault cannot be reached or started."""


class VaultKeyError(VaultError):
    """Raised when the vault key does not decrypt the vault's ciphertexts (wrong MASKKIT_VAULT_KEY)."""


class VaultFull(VaultError):
    """Raised when Redis refuses writes for lack of memory; mappings are never evicted to make room."""


class UnknownPseudonym(MaskkitError):
    """Raised when a pseudonym was never issued in the namespace asked (or has expired)."""


class UpstreamError(MaskkitError):
    """Raised when the model API is unreachable or answers outside the protocol."""


class UpstreamTimeout(UpstreamError):
    """Raised when the model API does not answer in time."""


class StreamError(MaskkitError):
    """Raised when a streamed answer cannot be restored safely."""


#: MaskkitError subclass -> (HTTP status, Anthropic error type). The most specific class wins.
ERROR_TABLE: dict[type[MaskkitError], tuple[int, str]] = {
    ConfigError: (500, "api_error"),
    DetectionError: (500, "api_error"),
    VaultError: (503, "api_error"),
    VaultUnavailable: (503, "api_error"),
    VaultKeyError: (503, "api_error"),
    VaultFull: (503, "api_error"),
    UnknownPseudonym: (404, "not_found_error"),
    UpstreamError: (502, "api_error"),
    UpstreamTimeout: (504, "api_error"),
    StreamError: (502, "api_error"),
    MaskkitError: (500, "api_error"),
}


def http_error_for(exc: MaskkitError) -> tuple[int, str]:
    """Return (status, Anthropic error type) for `exc`, walking its MRO so subclasses map precisely."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "api_error"
