"""maskkit's exception tree, and the table that turns each error into an Anthropic-shaped HTTP error.

    MaskkitError
    ├── ConfigError          bad settings (MASKKIT_* values, key file, custom patterns)
    ├── DetectionError       detection or masking failed: nothing may be sent
    │   └── MediaBlocked         images / binary documents under MASKKIT_MEDIA=block
    ├── RequestRefused       the client's request is refused before anything is sent (HTTP edge: 4xx)
    │   ├── BadRequest           malformed or unsafe input: 400 invalid_request_error
    │   ├── NotAuthenticated     missing or wrong key: 401
    │   ├── PermissionRefused    the route or option is off here: 403
    │   ├── RequestTooLarge      over a size limit: 413
    │   └── UnsupportedMedia     a body maskkit cannot read (not JSON): 415
    ├── Overloaded           too much at once; retry later: 529 overloaded_error with retry-after
    ├── VaultError           the vault refused or failed an operation
    │   ├── VaultBusy            every pooled connection is busy (the vault is fine): 529, retry
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
    "STATUS_TYPES",
    "BadRequest",
    "ConfigError",
    "DetectionError",
    "MaskkitError",
    "MediaBlocked",
    "NotAuthenticated",
    "Overloaded",
    "PermissionRefused",
    "RequestRefused",
    "RequestTooLarge",
    "StreamError",
    "UnknownPseudonym",
    "UnsupportedMedia",
    "UpstreamError",
    "UpstreamTimeout",
    "VaultBusy",
    "VaultError",
    "VaultFull",
    "VaultKeyError",
    "VaultUnavailable",
    "error_type_for_status",
    "http_error_for",
]


class MaskkitError(Exception):
    """Base class of every error maskkit raises on purpose."""


class ConfigError(MaskkitError):
    """Raised when a setting is missing, malformed or unsafe."""


class DetectionError(MaskkitError):
    """Raised when text could not be masked; the caller must not send it anywhere."""


class MediaBlocked(DetectionError):
    """Raised when a request holds images or binary documents and the media policy is `block`."""


class RequestRefused(MaskkitError):
    """Raised when a client's request is refused before anything is sent; the message names no original."""


class BadRequest(RequestRefused):
    """Raised for malformed or unsafe input: bad JSON, a lone surrogate, a credential in a URL or header."""


class NotAuthenticated(RequestRefused):
    """Raised when the caller's key is missing or wrong."""


class PermissionRefused(RequestRefused):
    """Raised when a route or an option is switched off where the proxy runs."""


class RequestTooLarge(RequestRefused):
    """Raised when a body (or the text to mask in it) is over its limit."""


class UnsupportedMedia(RequestRefused):
    """Raised for a body maskkit cannot read, and so does not forward (anything but JSON)."""


class Overloaded(MaskkitError):
    """Raised when the proxy has too much in flight: the client should retry after a moment."""


class VaultError(MaskkitError):
    """Raised when the vault fails an operation."""


class VaultBusy(VaultError):
    """Raised when every pooled vault connection of this process is busy: backpressure, not an outage."""


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
    MediaBlocked: (400, "invalid_request_error"),
    RequestRefused: (400, "invalid_request_error"),
    BadRequest: (400, "invalid_request_error"),
    NotAuthenticated: (401, "authentication_error"),
    PermissionRefused: (403, "permission_error"),
    RequestTooLarge: (413, "request_too_large"),
    UnsupportedMedia: (415, "invalid_request_error"),
    Overloaded: (529, "overloaded_error"),
    VaultError: (503, "api_error"),
    VaultBusy: (529, "overloaded_error"),
    VaultUnavailable: (503, "api_error"),
    VaultKeyError: (503, "api_error"),
    VaultFull: (503, "api_error"),
    UnknownPseudonym: (404, "not_found_error"),
    UpstreamError: (502, "api_error"),
    UpstreamTimeout: (504, "api_error"),
    StreamError: (502, "api_error"),
    MaskkitError: (500, "api_error"),
}


#: HTTP status -> Anthropic error type, for statuses that arrive without a type (an upstream error that is not
#: JSON, a LiteLLM failure). Anthropic's errors page; anything else is `api_error`.
STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    """The Anthropic error type of an HTTP status (`api_error` when the page names none)."""
    return STATUS_TYPES.get(status, "api_error")


def http_error_for(exc: MaskkitError) -> tuple[int, str]:
    """Return (status, Anthropic error type) for `exc`, walking its MRO so subclasses map precisely."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "api_error"
