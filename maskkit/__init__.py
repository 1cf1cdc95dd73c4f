"""maskkit: use Claude on real AWS work without the model ever seeing your AWS identifiers or secrets."""

from __future__ import annotations

from typing import Any

from .config import Settings, load_settings
from .detectors import Detector
from .engine import Masker, MaskResult
from .errors import (
    ConfigError,
    DetectionError,
    MaskkitError,
    StreamError,
    UnknownPseudonym,
    UpstreamError,
    VaultError,
    VaultFull,
    VaultKeyError,
    VaultUnavailable,
)
from .restorer import Restorer
from .types import Span
from .vault import Entry, Vault

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DetectionError",
    "Detector",
    "Entry",
    "MaskResult",
    "Masker",
    "MaskkitError",
    "Restorer",
    "Settings",
    "Span",
    "StreamError",
    "UnknownPseudonym",
    "UpstreamError",
    "Vault",
    "VaultError",
    "VaultFull",
    "VaultKeyError",
    "VaultUnavailable",
    "__version__",
    "audit",
    "load_ipython_extension",
    "load_settings",
    "unload_ipython_extension",
]


def audit(namespace: str | None = None, kind: str | None = None, reveal: bool = False, **kwargs: Any) -> Any:
    """The vault as a pandas DataFrame (see maskkit.audit); imported lazily because pandas is heavy."""
    from .audit import audit as _audit

    return _audit(namespace=namespace, kind=kind, reveal=reveal, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext maskkit` registers `%%safeclaude` (see maskkit.magics)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext maskkit` removes what `%load_ext maskkit` added."""
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
