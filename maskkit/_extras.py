"""Optional parts live in extras (`maskkit[notebook]`, `[litellm]`, `[headless]`, `[all]`); this names the one to
install when a face needs a library that is not there, in one line instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from maskkit.errors import ConfigError

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import `module`, or raise ConfigError naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{what} needs the {module.split('.')[0]} package: install it with `pip install 'maskkit[{extra}]'` "
            f"(or `uv sync --extra {extra}`)"
        ) from None
