"""Run an MCP stdio server as a child, relay its stdin/stdout unchanged, and create MARKER once the server has
answered `tools/list`: a test can wait for "the client has the server's tools" as a condition, never by time.

    python -m mktests.stdio_tap MARKER COMMAND [ARGS...]

Claude Code starts MCP servers in the background and may send its first model request before one has connected;
the stand-in model then waits for MARKER before it asks for the tool again. The relay changes no byte.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO


def _relay_stdin(source: IO[bytes], child: subprocess.Popen[bytes]) -> None:
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        for line in source:
            child.stdin.write(line)
            child.stdin.flush()
    with contextlib.suppress(BrokenPipeError, OSError):
        child.stdin.close()  # EOF: the server stops, as it would without the tap


def _answers_tools_list(line: bytes) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and isinstance(message.get("result"), dict) and "tools" in message["result"]


def main(argv: list[str]) -> int:
    marker, command = Path(argv[0]), argv[1:]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    threading.Thread(target=_relay_stdin, args=(sys.stdin.buffer, child), daemon=True).start()
    assert child.stdout is not None
    for line in child.stdout:  # newline-delimited JSON-RPC
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
        if not marker.exists() and _answers_tools_list(line):
            marker.touch()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
