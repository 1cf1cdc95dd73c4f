"""The vault's Lua scripts, one `.lua` file each, run with EVALSHA (EVAL once after a server forgot them).

A script that says `--@check` gets `check.lua` spliced in there: the key check every mapping script starts with.
Files are read on first use, not at import.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

__all__ = ["SCRIPTS", "Script", "script"]

#: Every script the vault runs (loaded together when a server does not know them).
SCRIPTS = ("mint", "resolve", "forget", "bind", "claim", "rekey", "finish", "fetch", "load", "view")


@dataclass(frozen=True)
class Script:
    """A Lua script's text and its SHA-1 (what EVALSHA names it by)."""

    name: str
    text: str
    sha: str


@functools.cache
def script(name: str) -> Script:
    """The script `name` (`mint`, `resolve`, ...), with `check.lua` spliced in."""
    folder = resources.files(__package__)
    text = folder.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    if "--@check" in text:
        text = text.replace("--@check\n", folder.joinpath("check.lua").read_text(encoding="utf-8"))
    # Comment lines stay in the files: the server gets code only (SCRIPT LOAD puts the source in the AOF).
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")) + "\n"
    return Script(name, text, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())
