"""Optional parts (extras): import one, or fail with a one-line message naming the extra to install."""

from __future__ import annotations

import importlib
from typing import Any

from maskkit.errors import ConfigError

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> Any:
    """Import `module`; if it (not one of its own imports) is missing, raise ConfigError naming `extra`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != module.split(".")[0]:
            raise
        raise ConfigError(f"{what} needs the {extra} extra: pip install 'maskkit[{extra}]'") from None
