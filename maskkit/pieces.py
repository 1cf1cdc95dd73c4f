"""One large text scanned in pieces on several CPUs: forked children scan overlapping windows, the caller
finishes the whole.

`maskkit mask` on a multi-megabyte paste spends most of its time in detection, pure Python on one core. Scanning
is local (`maskkit.detect.detector.SCAN_REACH`: no context reaches further than that from the value it gives
away), so a text cut at line starts into parts, each scanned in a window reaching `SCAN_REACH` (and a margin)
beyond its part, finds piece by piece what the whole text gives: a piece keeps what starts in its own part.
What is not local (one kind per original, merging) is done once, over the whole text, by the caller.

Forking is safe only in a process with one thread (the child gets a copy of every lock, held or not, and only
the forking thread), so `map_in_children` forks only then, on POSIX with 2+ usable CPUs; otherwise, and for any
piece whose child fails, the work runs here. The result is the same either way: never less masked.
"""

from __future__ import annotations

import gc
import itertools
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

__all__ = ["MIN_CHARS", "Part", "can_fork", "map_in_children", "parts", "usable_cpus"]

#: Texts shorter than this are scanned in one piece (a fork and its pipe cost a few milliseconds).
MIN_CHARS = 512 * 1024
#: More processes than this bring little: the pieces' overlap and the finishing step are not divided.
MAX_PROCESSES = 4

A = TypeVar("A")
R = TypeVar("R")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether forking children now is safe and useful: POSIX fork, one thread, 2+ CPUs."""
    return hasattr(os, "fork") and threading.active_count() == 1 and usable_cpus() >= 2


class Part(NamedTuple):
    """A piece of a text: it owns [own_start, own_end) and is scanned in the window [start, end) around it."""

    start: int
    end: int
    own_start: int
    own_end: int


def _line_start(text: str, pos: int) -> int:
    """The start of the line holding `pos` (0 at the top)."""
    return 0 if pos <= 0 else text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    """Just past the end of the line holding `pos` (its newline included), or the end of the text."""
    if pos >= len(text):
        return len(text)
    found = text.find("\n", pos)
    return len(text) if found == -1 else found + 1


def parts(text: str, count: int, reach: int, first: float = 1.0) -> list[Part]:
    """`text` cut at line starts into `count` owned parts, each with a window reaching `reach` characters
    (rounded out to whole lines) beyond it on both sides. The parts are of about equal size, except the first,
    `first` times the size of each other (`map_in_children` computes it in the caller, which has no fork to
    make and no result to read back through a pipe). Fewer parts if the text has few lines; always at least
    one, and the owned parts always tile the text."""
    size = len(text)
    total = first + count - 1
    cuts = [0]
    for index in range(1, count):
        cut = _line_start(text, int(size * (first + index - 1) / total))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(size)
    return [
        Part(_line_start(text, own_start - reach), _line_end(text, own_end + reach), own_start, own_end)
        for own_start, own_end in itertools.pairwise(cuts)
    ]


def map_in_children(func: Callable[[A], R], args: Sequence[A]) -> list[R]:
    """`[func(arg) for arg in args]`, with all but the first computed in forked children when `can_fork()`
    (results come back pickled through a pipe; nothing touches the disk). A child that fails or cannot be
    started has its piece computed here instead. A child ends with `os._exit`: it flushes no buffer and runs
    no cleanup of the parent's (connections, temp files), and prints no traceback."""
    if len(args) < 2 or not can_fork():
        return [func(arg) for arg in args]
    children: list[tuple[int, int] | None] = []
    try:
        for arg in args[1:]:
            children.append(_fork(func, arg))
        results = [func(args[0])]
        for arg, child in zip(args[1:], children, strict=True):
            result: tuple[R] | None = _collect(child) if child is not None else None
            results.append(func(arg) if result is None else result[0])
        return results
    finally:
        for child in children:  # on an error here (or an interrupt), no child is left behind
            if child is not None:
                _reap(child)


def _fork(func: Callable[[A], R], arg: A) -> tuple[int, int] | None:
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child
        status = 1
        try:
            os.close(read)
            gc.disable()  # it lives for one piece: collecting would only copy the parent's pages
            data = pickle.dumps((func(arg),), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _collect(child: tuple[int, int]) -> tuple[R] | None:
    """The child's result (a 1-tuple), or None if it failed."""
    pid, read = child
    with os.fdopen(os.dup(read), "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    result = pickle.loads(data)  # noqa: S301 (our own forked child's bytes, through a pipe we made)
    return result if isinstance(result, tuple) and len(result) == 1 else None


def _reap(child: tuple[int, int]) -> None:
    pid, read = child
    try:
        os.close(read)
    except OSError:
        pass
    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already collected
