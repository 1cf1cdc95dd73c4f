"""The vault: pseudonym <-> original mappings in Redis, encrypted, per namespace, with a sliding TTL.

Layout. Every key a script touches carries the namespace's hash tag `{ns}`, so one namespace lives in one Redis
Cluster slot and every script runs on one node; the same layout serves a single server, unchanged.

    mk:{ns}:f              -> hash <id> -> pseudonym: the forward index; <id> is an HMAC of (ns, kind, original),
                              never the value. No TTL: a field whose mapping is gone is ignored and swept by the
                              mint script; the field "#" says the namespace has no forward keys of the old layout
    mk:{ns}:f:<id>         -> pseudonym: the old layout's forward index (one key per mapping, with the mapping's
                              TTL), still read and kept alive in namespaces without "#" (mint.lua)
    mk:{ns}:p:<pseudonym>  -> hash c=nonce+AES-GCM(original; bound to ns and prefix) k=kind code f=first seen
                              l=last seen h=hits i=<id>
    mk:{ns}:n:<prefix>     -> counter (no TTL, kept by purge: a number is never issued twice in a namespace)
    mk:{ns}:kinds          -> hash kind -> small code ("#" holds the last code): the mapping stores 1-2 bytes
    mk:{ns}:keycheck       -> fingerprint of the vault key the namespace is bound to ("pending:<fp>" while it is
                              being bound, "rotating:<new fp>" while rotate-key runs)
    mk:{ns}:t:<hmac>       -> the thinking memo (maskkit.vault.memo)
    mk:{ns}:j              -> the recall journal: the latest pseudonyms in minting order (pseudonyms only); each
                              mint call returns what others appended since the caller's offset (docs/recall.md);
                              trimmed from its head by length and by expiry
    mk:{ns}:jb             -> how many entries were trimmed from the journal's head (offsets are absolute)
    mk:{ns}:je             -> the journal's epoch (new after a purge: every process reloads its recall index)
    mk:{ns}:r              -> the recall set: hash pseudonym -> kind code "|" ciphertext, what a new process loads
                              its recall index from; mk:{ns}:rc marks it complete; mk:{ns}:rw is its sweep cursor
                              (namespaces of the old layout only; earlier releases kept theirs in mk:{ns}:rs, in a
                              format without the prefixes of mint.lua's sweep)
    mk:{ns}:fs             -> the forward index's sweep cursor (the sweep also deletes gone mappings' recall fields)
    mk:keycheck            -> fingerprint of the vault key: the vault-wide authority a namespace is checked against
                              when it is bound (never read by a script)
    mk:namespaces          -> set of namespaces (written when a namespace is bound, never by a script)

About 200 bytes of Redis memory per mapping of a 20-character original in namespace `default` (the mapping's
key and its forward field, `MEMORY USAGE`; a longer namespace name adds up to ~15 bytes), plus its field in the
recall set (~125 bytes).
Timestamps are stored as ziplist integers.

The scripts are `.lua` files in `scripts/`, run by EVALSHA. Minting runs in one script per call, which also compares
the namespace's key check with the caller's fingerprint: a text with a hundred identifiers costs one round trip (on
a Cluster too: the script's keys share one slot), two processes masking the same new value at once get the same
pseudonym, and a process holding an old key can never write under it. The first use of a namespace binds it to the
key (`_bind`, a few round trips, once per namespace): that step checks `mk:keycheck` outside any script, because on
a Cluster it lives elsewhere.

`MASKKIT_REDIS_URL=redis+cluster://host:port[,host:port...]` (or `rediss+cluster://` for TLS) selects Redis
Cluster (redis-py's RedisCluster); iteration (stats, purge, rotate-key) then SCANs every primary.

Redis and socket errors are turned into maskkit errors here (`_REDIS_ERRORS`); nothing above this module sees a
redis exception. Originals never appear in keys, values, log lines or messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import struct
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import redis
import redis.asyncio as aredis
import redis.asyncio.cluster as acluster
import redis.cluster as rcluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from maskkit.config import Settings
from maskkit.errors import (
    ConfigError,
    UnknownPseudonym,
    VaultBusy,
    VaultError,
    VaultFull,
    VaultKeyError,
    VaultUnavailable,
)
from maskkit.vault.embedded import _socket_alive, ensure_embedded_redis
from maskkit.vault.keys import VaultKey
from maskkit.vault.scripts import SCRIPTS, script

__all__ = ["Entry", "JournalView", "MintReply", "Vault"]

log = logging.getLogger("maskkit.vault")

_KEYCHECK = "mk:keycheck"
_NAMESPACES = "mk:namespaces"
_ROTATING = "rotating:"
_PENDING = "pending:"
_ARG_CACHE_SIZE = 100_000  # (index, ciphertext) pairs kept per Vault, so re-sent text costs no crypto
_JOURNAL_KEEP = 20_000
#: Fields per HSCAN call when loading a recall set (larger counts were slower per field, measured on Redis 6 and 7).
_HSCAN_COUNT = 1000









_KEY_MISMATCH = (
    "this vault was created with a different vault key; set MASKKIT_VAULT_KEY (or restore vault.key) to "
    "that key, or use another MASKKIT_HOME / MASKKIT_REDIS_URL"
)
_KEY_ROTATING = (
    "the vault key is being rotated (`maskkit vault rotate-key`); nothing was masked or sent. Retry with the "
    "new key once the rotation has finished (or rerun it if it was interrupted)"
)


def _prefix(pseudonym: str) -> str:
    return pseudonym.rpartition("-")[0]


# --- errors ------------------------------------------------------------------------------------------------------

class _Saturated(VaultBusy):
    """Every pooled connection of this process is busy: the vault itself is fine, so the pool is kept and the
    client is told to retry (529 overloaded_error), never that the vault is down."""


def _pool_wait_expired(exc: BaseException) -> bool:
    """redis-py's BlockingConnectionPool reports a wait that timed out as a ConnectionError raised from
    asyncio's TimeoutError (a connect timeout is a redis TimeoutError instead): that is saturation."""
    return isinstance(exc, redis.exceptions.ConnectionError) and isinstance(
        exc.__cause__, (asyncio.TimeoutError, TimeoutError)
    )


_REDIS_ERRORS: tuple[tuple[type[BaseException], type[VaultError]], ...] = (
    (redis.exceptions.OutOfMemoryError, VaultFull),
    (redis.exceptions.MaxConnectionsError, _Saturated),
    (redis.exceptions.ConnectionError, VaultUnavailable),
    (redis.exceptions.TimeoutError, VaultUnavailable),
    (redis.exceptions.BusyLoadingError, VaultUnavailable),
    # Cluster: slots not served (CLUSTERDOWN, a master failing over), a slot moving right now (TRYAGAIN), too many
    # redirections, or no node reachable to learn the topology from (RedisClusterException, not a RedisError).
    (redis.exceptions.ClusterDownError, VaultUnavailable),
    (redis.exceptions.TryAgainError, VaultUnavailable),
    (redis.exceptions.ClusterError, VaultUnavailable),
    (redis.exceptions.RedisClusterException, VaultUnavailable),
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
        if _pool_wait_expired(exc):
            raise _Saturated(_vault_message(_Saturated)) from None
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
    if error is _Saturated:
        return (
            "every connection to the vault is busy (too many requests at once in this process): nothing was masked "
            "or sent; retry"
        )
    if error is VaultUnavailable:
        return "the vault (Redis) is unreachable: nothing was masked or sent; start it or check MASKKIT_REDIS_URL"
    return "the vault (Redis) failed the operation: nothing was masked or sent"


# --- the vault ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalView:
    """How far a caller has read a namespace's recall journal (the list of pseudonyms in minting order)."""

    epoch: str = ""
    offset: int = 0


@dataclass(frozen=True)
class MintReply:
    """What one mint round trip returns. Its repr never shows originals.

    `view` is where the caller's view of the journal stands after applying `learned`; None when the call was
    made without a view (it read no journal, so its position says nothing about what the caller has seen)."""

    pseudonyms: dict[tuple[str, str], str] = field(repr=False)
    missing: list[str]
    view: JournalView | None
    learned: list[tuple[str, str, str]] = field(repr=False)
    reset: bool


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
_CHECK_KEY = re.compile(r"mk:\{(?P<ns>[^}]+)\}:keycheck")
_ENTRY_FIELDS = ("k", "c", "f", "l", "h")
_CONNECTION: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}
# An asyncio worker (the proxy) runs hundreds of requests at once, each one EVAL of well under a millisecond: a
# bounded pool that waits for a free connection serves them all; an unbounded one would open hundreds of sockets,
# and redis-py's default (100, then MaxConnectionsError) fails requests under load. redis-py's async Cluster
# client cannot wait for a connection, so its per-node cap is set far above one worker's concurrency instead.
_ASYNC_POOL_SIZE = 64
_ASYNC_POOL_WAIT = 10.0
_ASYNC_CLUSTER_POOL_SIZE = 1024
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

_SyncClient: TypeAlias = redis.Redis | rcluster.RedisCluster
_AsyncClient: TypeAlias = aredis.Redis | acluster.RedisCluster


def _eval(client: _SyncClient, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """Run the vault script `name` by EVALSHA. A server that does not know it (new, or restarted) is sent every
    vault script once, so each script costs one round trip from then on."""
    lua = script(name)
    try:
        return client.evalsha(lua.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        for each in SCRIPTS:
            client.script_load(script(each).text)
        return client.evalsha(lua.sha, len(keys), *keys, *args)


async def _aeval(client: _AsyncClient, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    lua = script(name)
    try:
        return await client.evalsha(lua.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        for each in SCRIPTS:
            await client.script_load(script(each).text)
        return await client.evalsha(lua.sha, len(keys), *keys, *args)


def _ahead(call: Callable[[Any], tuple[Any, list[Any]]]) -> Iterator[list[Any]]:
    """The batches of a cursor walk (`call(cursor) -> (next cursor, batch)`, "0" first and last), fetched by a
    thread one step ahead of the consumer: the server gathers the next batch while this process decrypts the
    last one. The thread's errors are raised here; it stops when the consumer does."""
    ready: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: list[Any] | BaseException | None) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def walk() -> None:
        cursor: Any = "0"
        try:
            while not stop.is_set():
                cursor, batch = call(cursor)
                put(batch)
                if cursor in (0, b"0", "0"):
                    break
            put(None)
        except BaseException as exc:  # handed to the consumer, which maps it like its own
            put(exc)

    thread = threading.Thread(target=walk, name="maskkit-recall-load", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class _Eval:
    """An operation's step: run the vault script `name` (EVALSHA)."""

    name: str
    keys: Sequence[Any]
    args: Sequence[Any] = field(repr=False)


@dataclass(frozen=True)
class _Get:
    """An operation's step: GET one key."""

    key: str


@dataclass(frozen=True)
class _Bind:
    """An operation's step: bind a namespace to the vault key (`Vault._bind`, a few round trips, once)."""

    namespace: str


_T = TypeVar("_T")
#: A vault operation: yields steps, receives each step's result, returns its own.
_Op: TypeAlias = Generator[_Eval | _Get | _Bind, Any, _T]


def _keycheck(namespace: str) -> str:
    return _base(namespace) + "keycheck"


def _kinds(namespace: str) -> str:
    return _base(namespace) + "kinds"


def _kind_table(table: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """code -> kind, from a kinds hash (kind -> code, plus the "#" counter)."""
    return {_text(code): _text(kind) for kind, code in table.items() if _text(kind) != "#"}


def _cluster_url(url: str) -> tuple[str, list[tuple[str, int]]] | None:
    """`redis+cluster://[user:password@]host:port[,host:port...][/][?options]` (or `rediss+cluster://`): a redis-py
    URL of the first seed node and the other seeds; None for any other URL (a single server).

    More than one seed lets a replica start while one node is down; the rest of the topology is discovered.
    """
    scheme, sep, rest = url.partition("://")
    plain = _CLUSTER_SCHEMES.get(scheme.lower())
    if not sep or plain is None:
        return None
    split = re.match(r"([^/?#]*)(.*)", rest, re.DOTALL)
    assert split is not None  # the pattern matches every string
    userinfo, at, hosts = split[1].rpartition("@")
    seeds = [seed for seed in hosts.split(",") if seed]
    if not seeds:
        raise ConfigError("MASKKIT_REDIS_URL: a redis+cluster:// URL needs at least one host:port")
    nodes = []
    for seed in seeds:
        host, colon, port = seed.rpartition(":") if not seed.endswith("]") else (seed, "", "")
        if not colon:
            host, port = seed, "6379"
        if not port.isdigit() or not host:
            raise ConfigError(f"MASKKIT_REDIS_URL: {seed!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    first = f"{plain}://{userinfo}{at}{seeds[0]}{split[2]}"
    return first, nodes[1:]


class Vault:
    """Mappings in Redis. The hot-path methods exist twice, `x()` (sync) and `ax()` (asyncio): each is one
    operation (`_mint`, `_originals`, `_ping`: a generator of Redis steps) run by `_run_sync` or `_run_async`.

    Construct with `Vault.from_settings(settings)`: it starts the embedded Redis unless MASKKIT_REDIS_URL is set
    (a `redis+cluster://` URL selects Redis Cluster). After an outage the next call reconnects (and restarts the
    embedded server). `namespace` is the one `ping()` checks (and binds, on first use).
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
        namespace: str = "default",
    ) -> None:
        self.key = key
        self._arg_cache = {}
        self.ttl = ttl
        self.home = home
        self.namespace = namespace
        self._url = url
        self._cluster = _cluster_url(url) if url else None
        self._socket = unix_socket
        self._maxmemory = maxmemory
        self._sync: _SyncClient | None = None
        self._async: _AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._checked = False
        #: Grows whenever this object deletes mappings (forget, purge): maskers re-check what they know.
        self.deletions = 0
        #: The recall journal keeps its last `journal_keep` to `2 journal_keep` entries; a process further behind
        #: than `journal_keep` reloads the namespace instead of catching up (docs/recall.md).
        self.journal_keep = _JOURNAL_KEEP

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        key = VaultKey.from_settings(settings)
        if settings.redis_url:
            return cls(key, ttl=settings.ttl, url=settings.redis_url, namespace=settings.namespace)
        sock = settings.home / "redis.sock"
        return cls(
            key,
            ttl=settings.ttl,
            unix_socket=sock,
            home=settings.home,
            maxmemory=settings.redis_maxmemory,
            namespace=settings.namespace,
        )

    @property
    def cluster(self) -> bool:
        """True when the vault is a Redis Cluster (`redis+cluster://` / `rediss+cluster://`)."""
        return self._cluster is not None

    # -- connections

    def _start_embedded(self) -> None:
        if self.home is not None and not _socket_alive(self.home / "redis.sock"):
            with _redis_errors():
                ensure_embedded_redis(self.home, self._maxmemory)

    def _client(self) -> _SyncClient:
        if self._sync is None:
            self._start_embedded()
            # One quick retry: a pooled connection may be stale after the server restarted; longer retry loops
            # would only delay the fail-closed answer. A Cluster client also refreshes its slot map on a retry.
            retry = Retry(ConstantBackoff(0.05), 1, supported_errors=(redis.exceptions.ConnectionError,))
            if self._cluster is not None:
                url, seeds = self._cluster
                nodes = [rcluster.ClusterNode(host, port) for host, port in seeds]  # type: ignore[no-untyped-call]
                self._sync = rcluster.RedisCluster.from_url(url, startup_nodes=nodes, retry=retry, **_CONNECTION)
            elif self._url:
                self._sync = redis.Redis.from_url(self._url, retry=retry, **_CONNECTION)
            else:
                self._sync = redis.Redis(unix_socket_path=str(self._socket), retry=retry, **_CONNECTION)
        return self._sync

    async def _aclient(self) -> _AsyncClient:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # A client belongs to the event loop it was made in; a new loop (asyncio.run again) needs a new one.
            await asyncio.to_thread(self._start_embedded)
            retry = AsyncRetry(ConstantBackoff(0.05), 1, supported_errors=(redis.exceptions.ConnectionError,))
            if self._cluster is not None:
                url, seeds = self._cluster
                nodes = [acluster.ClusterNode(host, port) for host, port in seeds]
                self._async = acluster.RedisCluster.from_url(
                    url, startup_nodes=nodes, retry=retry, max_connections=_ASYNC_CLUSTER_POOL_SIZE, **_CONNECTION
                )
            else:
                pool_options: dict[str, Any] = {
                    "max_connections": _ASYNC_POOL_SIZE, "timeout": _ASYNC_POOL_WAIT, "retry": retry, **_CONNECTION
                }
                if self._url:
                    pool = aredis.BlockingConnectionPool.from_url(self._url, **pool_options)
                else:
                    pool = aredis.BlockingConnectionPool(
                        connection_class=aredis.UnixDomainSocketConnection, path=str(self._socket), **pool_options
                    )
                self._async = aredis.Redis.from_pool(pool)
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
        except _Saturated:
            raise
        except VaultUnavailable:
            with contextlib.suppress(Exception):
                self.close()
            self._sync = None
            self._async = None
            self._async_loop = None
            self._checked = False
            raise

    # -- the key check: scripts compare the namespace's keycheck; other reads compare it (or mk:keycheck) here

    def _verify(self, stored: bytes | str | None) -> None:
        """Raise VaultKeyError unless a keycheck's value lets this key in: absent, ours, or being bound by us."""
        if stored is None:
            return
        text = _text(stored)
        if text not in (self.key.fingerprint, _PENDING + self.key.fingerprint):
            raise VaultKeyError(_KEY_ROTATING if text.startswith(_ROTATING) else _KEY_MISMATCH)

    def _check_key(self, client: _SyncClient) -> None:
        if not self._checked:
            self._verify(client.get(_KEYCHECK))
            self._checked = True

    def _verify_namespace(self, client: _SyncClient, namespace: str) -> None:
        stored = client.get(_keycheck(namespace))
        self._verify(client.get(_KEYCHECK) if stored is None else stored)

    def _bind(self, namespace: str) -> None:
        """Bind a namespace to this key on its first use (or its first use after a purge); a few round trips, once.

        No script may read mk:keycheck (on a Cluster it lives in another slot), so this happens here: mk:keycheck is
        claimed for our key if the vault is new, and must name our key; the namespace is registered; its keycheck
        goes to `pending:<fp>`; mk:keycheck is read again; only then does the keycheck become `<fp>` (scripts run
        from then on). A rotation that claims mk:keycheck in between finds the pending keycheck in its SCAN (it
        existed before the claim) and claims it too, so the promotion fails: a namespace is never bound to a key
        being retired.
        """
        client = self._client()
        fingerprint = self.key.fingerprint
        stored = client.get(_KEYCHECK)
        if stored is None:
            client.set(_KEYCHECK, fingerprint, nx=True)
            stored = client.get(_KEYCHECK)
        self._verify(stored)
        self._checked = True
        client.sadd(_NAMESPACES, namespace)
        if _text(_eval(client, "bind", [_keycheck(namespace)], [fingerprint, "pending"])) == "ready":
            return
        self._verify(client.get(_KEYCHECK))
        _eval(client, "bind", [_keycheck(namespace)], [fingerprint, "promote"])

    # -- operations: each vault operation is written once, as a generator of Redis steps; `_run_sync` runs it
    # with the sync client and `_run_async` with the asyncio client: no sync/async copies of the same logic

    def _script(
        self, namespace: str, name: str, keys: Sequence[str], args: Sequence[Any],
        *, reread: Sequence[Any] | None = None,
    ) -> _Op[Any]:
        """Run a namespace's script. If the namespace is not bound yet: bind it and run again; or, to only read it,
        check mk:keycheck here and run again with the `reread` arguments (reading never binds a namespace)."""
        try:
            return (yield _Eval(name, keys, args))
        except redis.exceptions.ResponseError as exc:
            if "MKINIT" not in str(exc):
                raise
        if reread is None:
            yield _Bind(namespace)
        else:
            self._verify((yield _Get(_KEYCHECK)))
        return (yield _Eval(name, keys, args if reread is None else reread))

    def _run_sync(self, operation: _Op[_T]) -> _T:
        """Run an operation with the sync client."""
        with self._guard():
            client = self._client()
            value: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = operation.send(value) if error is None else operation.throw(error)
                except StopIteration as stop:
                    result: _T = stop.value
                    return result
                value, error = None, None
                try:
                    if isinstance(step, _Eval):
                        value = _eval(client, step.name, step.keys, step.args)
                    elif isinstance(step, _Get):
                        value = client.get(step.key)
                    else:
                        self._bind(step.namespace)
                except Exception as exc:  # handed to the operation, which may handle it (MKINIT)
                    error = exc

    async def _run_async(self, operation: _Op[_T]) -> _T:
        """Run an operation with the asyncio client (binding a namespace, once, uses the sync client in a
        thread: it keeps `_bind` in one copy)."""
        with self._guard():
            client = await self._aclient()
            value: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = operation.send(value) if error is None else operation.throw(error)
                except StopIteration as stop:
                    result: _T = stop.value
                    return result
                value, error = None, None
                try:
                    if isinstance(step, _Eval):
                        value = await _aeval(client, step.name, step.keys, step.args)
                    elif isinstance(step, _Get):
                        value = await client.get(step.key)
                    else:
                        await asyncio.to_thread(self._bind, step.namespace)
                except Exception as exc:
                    error = exc

    # -- minting

    def _mint_args(self, namespace: str, items: Sequence[tuple[str, str]], prefixes: dict[str, str]) -> list[Any]:
        """The mint script's kinds and packed items (see `mint.lua`): m, m (prefix, kind) pairs, then four strings
        for all the items (ids, kind numbers, ciphertext lengths, ciphertexts). A handful of arguments whatever
        the number of items: four arguments per item cost more to build, send and parse than minting them."""
        cache = self._arg_cache
        fingerprint = self.key.fingerprint
        # Claude Code re-sends the whole conversation every turn: HMAC and encryption are done once per value
        # (`seal`, `keep_sealed`). The cached memos are read before new ones are kept (keeping may empty a full
        # cache).
        numbers: dict[str, int] = {}
        order: list[int] = []
        memos: list[tuple[str, bytes] | None] = []
        for kind, original in items:
            number = numbers.get(kind)
            if number is None:
                if kind not in prefixes:
                    raise ConfigError(f"no pseudonym prefix for kind {kind}")
                number = numbers[kind] = len(numbers)
            order.append(number)
            memos.append(cache.get((fingerprint, namespace, kind, original)))
        if None in memos:
            sealed = self.seal(namespace, items, prefixes)
            self.keep_sealed(namespace, sealed)
            fresh = {(kind, original): (index, blob) for kind, original, index, blob in sealed}
            memos = [memo or fresh[item] for item, memo in zip(items, memos, strict=True)]
        if len(numbers) > 0xFFFF:
            raise ConfigError("too many kinds in one call")
        ids = "".join([memo[0] for memo in memos])  # type: ignore[index]
        blobs = [memo[1] for memo in memos]  # type: ignore[index]
        count = len(memos)
        args: list[Any] = [len(numbers)]
        for kind in numbers:
            args += [prefixes[kind], kind]
        args += [
            ids,
            struct.pack(f">{count}H", *order),
            struct.pack(f">{count}I", *map(len, blobs)),
            b"".join(blobs),
        ]
        return args

    _arg_cache: dict[tuple[str, str, str, str], tuple[str, bytes]]

    def seal(
        self, namespace: str, items: Sequence[tuple[str, str]], prefixes: dict[str, str]
    ) -> list[tuple[str, str, str, bytes]]:
        """(kind, original, index, ciphertext) of (kind, original) items this Vault has not sealed yet: the
        crypto a mint of them needs, done ahead. Pure computation (no Redis), so a forked child that scans a
        piece of a large text (`maskkit.pieces`) can do it for its values; `keep_sealed` hands them back."""
        cache, fingerprint = self._arg_cache, self.key.fingerprint
        new = [
            (kind, prefixes[kind], original)
            for kind, original in dict.fromkeys(items)
            if kind in prefixes and (fingerprint, namespace, kind, original) not in cache
        ]
        if not new:
            return []
        return [
            (kind, original, index, blob)
            for (kind, _, original), (index, blob) in zip(new, self.key.seal_many(namespace, new), strict=True)
        ]

    def keep_sealed(self, namespace: str, sealed: Sequence[tuple[str, str, str, bytes]]) -> None:
        """Keep what `seal` made (maybe in another process with this key): the next mint of those items does
        not seal them again. (A ciphertext is only ever reused for the same value under the same key.)"""
        cache, fingerprint = self._arg_cache, self.key.fingerprint
        if len(cache) + len(sealed) > _ARG_CACHE_SIZE:
            cache.clear()
        for kind, original, index, blob in sealed:
            cache[(fingerprint, namespace, kind, original)] = (index, blob)

    @staticmethod
    def _mint_keys(namespace: str) -> tuple[str, ...]:
        base = _base(namespace)
        return (
            base, _keycheck(namespace), _kinds(namespace), base + "j", base + "je", base + "jb", base + "r",
            base + "rw", base + "rc", base + "f", base + "fs",
        )

    def _mint_call(
        self,
        namespace: str,
        items: Iterable[tuple[str, str]],
        prefixes: dict[str, str],
        refresh: Sequence[str],
        view: JournalView | None,
    ) -> tuple[list[tuple[str, str]], list[Any]]:
        unique = list(dict.fromkeys(items))
        head = [
            self.key.fingerprint,
            int(time.time()),
            self.ttl,
            "*" if view is None else view.epoch,
            0 if view is None else view.offset,
            self.journal_keep,
            len(unique),
        ]
        return unique, [*head, *self._mint_args(namespace, unique, prefixes), *refresh]

    def _mint_reply(
        self,
        namespace: str,
        unique: list[tuple[str, str]],
        refresh: Sequence[str],
        reply: list[Any],
        asked: JournalView | None,
    ) -> MintReply:
        found, epoch, offset, tail, missing = reply
        pseudonyms = dict(zip(unique, _text(found).split(" "), strict=True)) if unique else {}
        gone = [refresh[int(position) - 1] for position in missing]
        view = None if asked is None else JournalView(_text(epoch), int(offset))
        if isinstance(tail, bytes | str):  # 'reset': the caller's view of the journal is stale
            return MintReply(pseudonyms, gone, view, [], reset=True)
        learned = []
        for index in range(0, len(tail), 3):
            pseudonym, kind = _text(tail[index]), _text(tail[index + 1])
            learned.append((kind, self.key.decrypt(namespace, _prefix(pseudonym), tail[index + 2]), pseudonym))
        return MintReply(pseudonyms, gone, view, learned, reset=False)

    def _mint(
        self,
        namespace: str,
        items: Iterable[tuple[str, str]],
        prefixes: dict[str, str],
        refresh: Sequence[str],
        view: JournalView | None,
    ) -> _Op[MintReply]:
        unique, args = self._mint_call(namespace, items, prefixes, refresh, view)
        reply = yield from self._script(namespace, "mint", self._mint_keys(namespace), args)
        return self._mint_reply(namespace, unique, refresh, reply, view)

    def mint(
        self,
        namespace: str,
        items: Iterable[tuple[str, str]],
        prefixes: dict[str, str],
        *,
        refresh: Sequence[str] = (),
        view: JournalView | None = None,
    ) -> MintReply:
        """The pseudonym of every (kind, original), minting the missing ones; a use (TTL slide, hit) of every
        pseudonym in `refresh`, reporting those that no longer exist; and what other callers minted since
        `view`. One round trip, atomic."""
        return self._run_sync(self._mint(namespace, items, prefixes, refresh, view))

    async def amint(
        self,
        namespace: str,
        items: Iterable[tuple[str, str]],
        prefixes: dict[str, str],
        *,
        refresh: Sequence[str] = (),
        view: JournalView | None = None,
    ) -> MintReply:
        return await self._run_async(self._mint(namespace, items, prefixes, refresh, view))

    def _pseudonyms(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> _Op[dict[tuple[str, str], str]]:
        items = list(items)
        if not items:
            return {}
        return (yield from self._mint(namespace, items, prefixes, (), None)).pseudonyms

    def pseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        """The pseudonym of every (kind, original), minting the missing ones: one round trip, atomic."""
        return self._run_sync(self._pseudonyms(namespace, items, prefixes))

    async def apseudonyms_for(
        self, namespace: str, items: Iterable[tuple[str, str]], prefixes: dict[str, str]
    ) -> dict[tuple[str, str], str]:
        return await self._run_async(self._pseudonyms(namespace, items, prefixes))

    # -- recall: the namespace's originals, for the recall index

    def recall_snapshot(
        self,
        namespace: str,
        batch: int = 20_000,
        *,
        sink: Callable[[list[tuple[str, str, str]]], None] | None = None,
    ) -> tuple[JournalView, list[tuple[str, str, str]]]:
        """Every (kind, original, pseudonym) of a namespace's recall set, decrypted, and the journal position they
        are current at (read first: what is minted during the walk comes again through the journal, harmlessly).

        The recall set (`mk:{ns}:r`, pseudonym -> kind code and ciphertext, written by the mint script) is read by
        HSCAN, `batch` fields a call, by a thread one call ahead of the decryption. It may still hold a mapping
        that expired since the last sweep: a process that recalls one refreshes it before use, learns it is gone
        and drops it (as for any mapping that expires while a process knows it), so nothing is sent on its
        strength. A namespace written before the recall set existed is walked once by SCAN (`load.lua`), which
        fills the set and marks it complete. With `sink`, each decrypted batch is handed to it as it arrives
        (while the server gathers the next) and the list returned is empty."""
        base = _base(namespace)
        with self._guard():
            client = self._client()
            epoch, offset, complete = _eval(client, "view", [base + "j", base + "je", base + "jb", base + "rc"], [])
            pipe = client.pipeline(transaction=False)
            pipe.get(_keycheck(namespace))
            pipe.hgetall(_kinds(namespace))
            stored, table = pipe.execute()
            self._verify(client.get(_KEYCHECK) if stored is None else stored)
            kinds = {code.encode(): kind for code, kind in _kind_table(table).items()}
            if complete:
                def call(cursor: Any) -> tuple[Any, list[Any]]:
                    following, fields = client.hscan(base + "r", int(cursor), count=_HSCAN_COUNT)
                    assert isinstance(fields, dict)
                    return following, list(fields.items())
            else:
                copied = ["1"]

                def call(cursor: Any) -> tuple[Any, list[Any]]:
                    cursor, flat, ok = _eval(
                        client, "load", [base, base + "r", base + "rc"], [cursor, 4 * batch, batch, copied[0]]
                    )
                    copied[0] = "1" if copied[0] == "1" and ok in (b"1", "1") else "0"
                    return cursor, [(flat[i], flat[i + 1] + b"|" + flat[i + 2]) for i in range(0, len(flat), 3)]

            out: list[tuple[str, str, str]] = []
            for fields in _ahead(call):
                pseudonyms, rows, codes = [], [], []
                for field, value in fields:
                    pseudonym = field.decode()
                    code, _, blob = value.partition(b"|")
                    if code in kinds:
                        pseudonyms.append(pseudonym)
                        codes.append(kinds[code])
                        rows.append((pseudonym.rpartition("-")[0], blob))
                originals = self.key.decrypt_many(namespace, rows)
                if sink is None:
                    out += zip(codes, originals, pseudonyms, strict=True)
                else:
                    sink(list(zip(codes, originals, pseudonyms, strict=True)))
        return JournalView(_text(epoch), int(offset)), out

    # -- resolving

    def _decode_resolved(self, namespace: str, pseudonyms: Sequence[str], blobs: list[Any]) -> dict[str, str]:
        return {
            p: self.key.decrypt(namespace, _prefix(p), blob) for p, blob in zip(pseudonyms, blobs, strict=True) if blob
        }

    def _resolve_args(self, pseudonyms: Sequence[str], unbound_ok: bool) -> list[Any]:
        return [self.key.fingerprint, int(time.time()), self.ttl, "1" if unbound_ok else "0", *pseudonyms]

    def _originals(self, namespace: str, pseudonyms: Iterable[str]) -> _Op[dict[str, str]]:
        unique = list(dict.fromkeys(pseudonyms))
        if not unique:
            return {}
        keys = (_base(namespace), _keycheck(namespace))
        args, reread = self._resolve_args(unique, False), self._resolve_args(unique, True)
        blobs = yield from self._script(namespace, "resolve", keys, args, reread=reread)
        return self._decode_resolved(namespace, unique, blobs)

    def originals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        """pseudonym -> original for those this namespace issued (others are absent). Refreshes their TTL."""
        return self._run_sync(self._originals(namespace, pseudonyms))

    async def aoriginals_for(self, namespace: str, pseudonyms: Iterable[str]) -> dict[str, str]:
        return await self._run_async(self._originals(namespace, pseudonyms))

    # -- inspection and maintenance

    def _scan(self, client: _SyncClient, match: str, count: int, namespace: str | None = None) -> Iterator[list[Any]]:
        """Batches of the keys matching `match`, by SCAN (never KEYS): on a Cluster, on every primary, or only on the
        node holding `namespace` (a namespace is one slot)."""
        if isinstance(client, rcluster.RedisCluster):
            target: Any = rcluster.RedisCluster.PRIMARIES
            if namespace:
                target = client.get_node_from_key(_base(namespace))  # type: ignore[no-untyped-call]
            batch: list[Any] = []
            for key in client.scan_iter(match=match, count=count, target_nodes=target):
                batch.append(key)
                if len(batch) >= count:
                    yield batch
                    batch = []
            if batch:
                yield batch
            return
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor, match=match, count=count)
            if keys:
                yield keys
            if cursor == 0:
                return

    def _kinds_of(self, client: _SyncClient, namespace: str, cache: dict[str, dict[str, str]]) -> dict[str, str]:
        """code -> kind in a namespace."""
        if namespace not in cache:
            cache[namespace] = _kind_table(client.hgetall(_kinds(namespace)))
        return cache[namespace]

    def _entry(
        self, namespace: str, pseudonym: str, row: list[Any], ttl: int, reveal: bool, kinds: dict[str, str]
    ) -> Entry:
        code, blob, first, last, hits = row
        return Entry(
            namespace=namespace,
            pseudonym=pseudonym,
            kind="UNKNOWN" if code is None else kinds.get(_text(code), "UNKNOWN"),
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
            pipe = client.pipeline(transaction=False)  # one slot: one node, one round trip
            pipe.get(_keycheck(namespace))
            pipe.hmget(pkey, *_ENTRY_FIELDS)
            pipe.ttl(pkey)
            pipe.hgetall(_kinds(namespace))
            stored, row, ttl, table = pipe.execute()
            self._verify(client.get(_KEYCHECK) if stored is None else stored)
        if row[1] is None:
            raise UnknownPseudonym(f"{pseudonym} was never issued in namespace {namespace!r}, or it has expired")
        return self._entry(namespace, pseudonym, row, ttl, reveal, _kind_table(table))

    def namespaces(self) -> list[str]:
        with self._guard():
            return sorted(_text(n) for n in self._client().smembers(_NAMESPACES))

    def iter_entries(self, namespace: str | None = None, *, reveal: bool = False, batch: int = 2000) -> Iterator[Entry]:
        """Every live mapping (of one namespace or all), via SCAN and pipelined HMGET: never KEYS."""
        kinds: dict[str, dict[str, str]] = {}
        with self._guard():
            client = self._client()
            if namespace is None:
                self._check_key(client)
            else:
                self._verify_namespace(client, namespace)
            match = (_base(namespace) if namespace else "mk:{*}:") + "p:*"
            for keys in self._scan(client, match, batch, namespace):
                for key, row, ttl in self._fetch_rows(client, keys):
                    found = _MAPPING_KEY.fullmatch(_text(key))
                    if found is not None and row[1] is not None:
                        space = found["ns"]
                        yield self._entry(space, found["p"], row, ttl, reveal, self._kinds_of(client, space, kinds))

    def _fetch_rows(self, client: _SyncClient, keys: list[Any]) -> Iterator[tuple[Any, list[Any], int]]:
        """(key, [k, c, f, l, h], ttl) of each mapping key that still exists."""
        if not keys:
            return
        if self._cluster is None:
            flat = _eval(client, "fetch", keys, [])
            for index in range(0, len(flat), 3):
                code, first, last, hits, ttl = _text(flat[index + 1]).split("|")
                yield flat[index], [code or None, flat[index + 2], first, last, hits], int(ttl)
            return
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, *_ENTRY_FIELDS)
            pipe.ttl(key)
        results = pipe.execute()
        for index, key in enumerate(keys):
            yield key, results[2 * index], results[2 * index + 1]

    def stats(self) -> dict[str, dict[str, int]]:
        """namespace -> kind -> number of live mappings."""
        out: dict[str, dict[str, int]] = {}
        for entry in self.iter_entries():
            counts = out.setdefault(entry.namespace, {})
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return out

    def forget(self, namespace: str, pseudonym: str) -> bool:
        """Delete one mapping (both directions). Its number is not reused."""
        self.deletions += 1
        with self._guard():
            base = _base(namespace)
            return bool(_eval(self._client(), "forget", [base + "p:" + pseudonym], [base, pseudonym]))

    def purge(self, namespace: str) -> int:
        """Delete every mapping of a namespace; returns how many were removed.

        The counters and the kind table stay: a pseudonym still written in old conversations must never come to
        mean another value. The namespace is unregistered and unbound; its next use binds it again. Its forward
        index starts again marked as holding no key of the old layout (all were deleted).
        """
        removed = 0
        self.deletions += 1
        with self._guard():
            client = self._client()
            for part in ("p:*", "f:*"):
                for keys in self._scan(client, _base(namespace) + part, 2000, namespace):
                    deleted = client.delete(*keys)
                    if part == "p:*":
                        removed += int(deleted)
            base = _base(namespace)
            # Every process reloads (a new journal epoch); the forward index starts again, hash-only.
            client.delete(base + "j", base + "je", base + "jb", base + "r", base + "rc", base + "rs", base + "rw")
            client.delete(base + "f", base + "fs")
            client.hset(base + "f", "#", "1")
            client.srem(_NAMESPACES, namespace)
            client.delete(_keycheck(namespace))
        return removed

    def rotate_key(self, new: VaultKey, *, batch: int = 500) -> int:
        """Re-encrypt every mapping under `new` and re-key the forward index; no pseudonym changes.

        mk:keycheck is claimed first (no namespace can be bound from then on), then every namespace's keycheck (no
        script runs there from then on), so nothing is written under the old key while it runs: every other client
        is refused (VaultKeyError). Re-running it with the same new key resumes an interrupted rotation. Returns how
        many mappings changed.
        """
        rotated = 0
        old_fp, new_fp = self.key.fingerprint, new.fingerprint
        with self._guard():
            client = self._client()
            _eval(client, "claim", [_KEYCHECK], [old_fp, new_fp])
            checks = [
                _text(key)
                for keys in self._scan(client, "mk:{*}:keycheck", batch)
                for key in keys
                if _CHECK_KEY.fullmatch(_text(key))
            ]
            for check in checks:
                _eval(client, "claim", [check], [old_fp, new_fp])
            kinds: dict[str, dict[str, str]] = {}
            for keys in self._scan(client, "mk:{*}:p:*", batch):
                rotated += self._rekey(client, new, keys, kinds)
            for check in checks:
                _eval(client, "finish", [check], [new_fp])
            _eval(client, "finish", [_KEYCHECK], [new_fp])
        self.key = new
        self._checked = False
        return rotated

    def _rekey(
        self, client: _SyncClient, new: VaultKey, keys: Sequence[bytes | str], kinds: dict[str, dict[str, str]]
    ) -> int:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "c", "k", "i")
        rows = pipe.execute()
        by_namespace: dict[str, tuple[list[str], list[Any]]] = {}  # one script per namespace: one slot each
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
            kind = self._kinds_of(client, namespace, kinds).get(_text(code or b""))
            if kind is None:  # without its kind the forward index could not be rebuilt: stop before changing it
                raise VaultError(f"{pseudonym} in namespace {namespace!r} has an unknown kind code; rotation stopped")
            new_id = new.index(namespace, kind, original)
            base = _base(namespace)
            script_keys, script_args = by_namespace.setdefault(namespace, ([base + "f"], []))
            script_keys += [_text(key), base + "f:" + _text(old_id)]
            script_args += [blob, new.encrypt(namespace, prefix, original), old_id, new_id, pseudonym]
        return sum(
            int(_eval(client, "rekey", script_keys, script_args))
            for script_keys, script_args in by_namespace.values()
        )

    def _ping(self) -> _Op[None]:
        self._checked = False
        stored = yield _Get(_keycheck(self.namespace))
        if stored is None or _text(stored).startswith(_PENDING):
            yield _Bind(self.namespace)
        else:
            self._verify(stored)

    def ping(self) -> None:
        """Raise VaultError unless the vault answers and the key matches. Binds the configured namespace if it is
        new, so the first mask() after a ping costs one round trip like every other."""
        self._run_sync(self._ping())

    async def aping(self) -> None:
        await self._run_async(self._ping())
