"""maskkit: use Claude on real AWS work without the model ever seeing your AWS identifiers or secrets.

Importing the package does no work: every public name is loaded on first use (PEP 562), so `import maskkit`
pulls in no Redis, crypto or HTTP library, and a command that needs none of them starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from maskkit._version import __version__

if TYPE_CHECKING:
    from maskkit.config import Settings, load_settings
    from maskkit.core.restorer import Restorer
    from maskkit.detect import Detector
    from maskkit.errors import (
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
    from maskkit.masking import Masker, MaskResult
    from maskkit.types import Span
    from maskkit.vault import Entry, Vault

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

#: public name -> the module that defines it
_LAZY = {
    "Settings": "maskkit.config",
    "load_settings": "maskkit.config",
    "Restorer": "maskkit.core.restorer",
    "Detector": "maskkit.detect",
    "Masker": "maskkit.masking",
    "MaskResult": "maskkit.masking",
    "Span": "maskkit.types",
    "Entry": "maskkit.vault",
    "Vault": "maskkit.vault",
    **{
        name: "maskkit.errors"
        for name in (
            "ConfigError",
            "DetectionError",
            "MaskkitError",
            "StreamError",
            "UnknownPseudonym",
            "UpstreamError",
            "VaultError",
            "VaultFull",
            "VaultKeyError",
            "VaultUnavailable",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maskkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def audit(namespace: str | None = None, kind: str | None = None, reveal: bool = False, **kwargs: Any) -> Any:
    """The vault as a pandas DataFrame (see maskkit.notebook.audit); imported lazily because pandas is heavy."""
    from maskkit._extras import require

    require("pandas", "notebook", "maskkit.audit()")
    from maskkit.notebook.audit import audit as _audit

    return _audit(namespace=namespace, kind=kind, reveal=reveal, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext maskkit` registers `%%safeclaude` (see maskkit.notebook.magics)."""
    from maskkit.notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext maskkit` removes what `%load_ext maskkit` added."""
    from maskkit.notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)
