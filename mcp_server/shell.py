"""Runs one shell command with a time limit and an output limit, and reads and writes files within size limits.
I/O only: no masking here (server.py restores the command before and masks the output after).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from maskkit.childenv import scrubbed_environ

__all__ = ["CommandResult", "FileTooLarge", "read_text_file", "run_command", "write_text_file"]


@dataclass(frozen=True)
class CommandResult:
    """What a command did. Output is decoded as UTF-8 (invalid bytes replaced) and cut at the output limit."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool


class _Sink:
    """Keeps the first `limit` bytes of a stream and reads (and drops) the rest, so the command never blocks
    on a full pipe."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.truncated = False
        self._limit = limit

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            room = self._limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > room:
                self.truncated = True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_command(command: str, *, timeout: float, max_output: int, cwd: str | None = None) -> CommandResult:
    """Run `command` with /bin/sh in its own process group; kill the whole group when `timeout` expires.

    The command ends when its output pipes close, so a background job that keeps them open counts as running.
    """
    env = scrubbed_environ(os.environ)  # no maskkit setting or key, no upstream credential (maskkit.childenv)
    process = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = _Sink(max_output), _Sink(max_output)
    readers = asyncio.gather(out.drain(process.stdout), err.drain(process.stderr))
    timed_out = False
    code: int | None = None
    try:
        await asyncio.wait_for(asyncio.shield(readers), timeout)
        code = await asyncio.wait_for(process.wait(), 5.0)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        # A process that left the group may still hold the pipes: give up on them after a moment.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), 2.0)
        readers.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 2.0)
    except BaseException:
        _kill_group(process.pid)
        readers.cancel()
        raise
    return CommandResult(
        exit_code=code,
        stdout=out.data.decode("utf-8", "replace"),
        stderr=err.data.decode("utf-8", "replace"),
        timed_out=timed_out,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )


class FileTooLarge(Exception):
    """Raised when a file is over the size limit (the message gives both sizes)."""


def read_text_file(path: Path, limit: int) -> tuple[str, int, int]:
    """(text, size in bytes, number of invalid UTF-8 sequences replaced). Refuses files over `limit` and
    files that look binary (a NUL byte in the first 8 KB)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise FileTooLarge(f"the file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"the file is over the {limit / 2**20:.0f} MB limit")
    if b"\0" in data[:8192]:
        raise ValueError("the file looks binary (it contains NUL bytes); only text files can be masked")
    text = data.decode("utf-8", "replace")
    replaced = 0 if "\ufffd" not in text else text.count("\ufffd") - data.decode("utf-8", "ignore").count("\ufffd")
    return text, len(data), replaced


def write_text_file(path: Path, text: str, *, overwrite: bool) -> int:
    """Write `text` (UTF-8) atomically: a temp file in the same folder, then rename. A new file is 0600 (it
    holds originals); an overwritten one keeps its mode. Returns the bytes written."""
    data = text.encode("utf-8", "surrogateescape")
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(path.parent)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return len(data)
