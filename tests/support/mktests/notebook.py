"""The notebooks' common setup: a throw-away MASKKIT_HOME, and the cleanup that stops what a notebook started.

One copy for every notebook in notebooks/: nothing from the developer's environment (keys, settings) leaks in,
and whatever the notebook starts is stopped at its last cell, or at interpreter exit if a cell failed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from maskkit.vault import stop_embedded_redis

_SCRUB = ("MASKKIT_", "ANTHROPIC_", "CLAUDE_", "AWS_")


class Sandbox(NamedTuple):
    home: Path  # MASKKIT_HOME, deleted by cleanup()
    started: contextlib.ExitStack  # what the notebook starts; cleanup() stops it in reverse order
    cleanup: Callable[[], None]  # stop what `started` holds and the embedded Redis, then delete `home`


def sandbox(**settings: str) -> Sandbox:
    """Scrub MASKKIT_/ANTHROPIC_/CLAUDE_/AWS_ variables, point MASKKIT_HOME at a new temporary directory, set
    `settings` (e.g. MASKKIT_TTL="3"), and register the cleanup at interpreter exit."""
    for name in list(os.environ):
        if name.startswith(_SCRUB):
            del os.environ[name]
    home = Path(tempfile.mkdtemp(prefix="maskkit-nb-"))
    os.environ["MASKKIT_HOME"] = str(home)
    os.environ.update(settings)
    started = contextlib.ExitStack()

    def cleanup() -> None:
        atexit.unregister(cleanup)  # once is enough: the last cell calls it, interpreter exit only after a failure
        started.close()
        stop_embedded_redis(home)
        shutil.rmtree(home, ignore_errors=True)

    atexit.register(cleanup)
    return Sandbox(home, started, cleanup)
