"""The vault against real Redis (the embedded redis-server maskkit ships, or a plain one on a unix socket):
configuration, persistence, round trips per call, atomic minting, TTLs, encryption at rest, keys and their
rotation, namespaces, a full vault, outages, and the memory a mapping costs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mktests.awsgen import fresh_rng, generate_documents, planted_values
from mktests.vaulttime import let_time_pass

from maskkit import Masker, UnknownPseudonym, VaultFull, VaultKeyError, VaultUnavailable, load_settings
from maskkit.config import Settings
from maskkit.errors import http_error_for
from maskkit.vault import Vault, VaultKey, generate_key, rotate_vault_key, stop_embedded_redis


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def sg_id() -> str:
    """A security group id: 20 characters."""
    return "sg-" + secrets.token_hex(9)[:17]


def settings_for(home: Path, key: str | None, namespace: str = "default", **extra: str) -> Settings:
    env = {"MASKKIT_HOME": str(home), "MASKKIT_NAMESPACE": namespace, **extra}
    if key is not None:
        env["MASKKIT_VAULT_KEY"] = key
    return load_settings(env)


@contextlib.contextmanager
def open_masker(home: Path, key: str | None, namespace: str = "default", **extra: str) -> Iterator[Masker]:
    masker = Masker.from_settings(settings_for(home, key, namespace, **extra))
    try:
        yield masker
    finally:
        masker.vault.close()


@contextlib.contextmanager
def plain_client(sock: Path) -> Iterator[redis.Redis]:
    client = redis.Redis(unix_socket_path=str(sock))
    try:
        yield client
    finally:
        client.close()


def keys_of(client: redis.Redis, namespace: str, part: str) -> set[bytes]:
    return set(client.scan_iter(match=f"mk:{{{namespace}}}:{part}:*", count=1000))


def mapping_key(client: redis.Redis, namespace: str, pseudonym: str) -> str:
    """The mapping key of one pseudonym, checked to have its forward-index field (the namespace's forward hash:
    its id -> the pseudonym)."""
    pkey = f"mk:{{{namespace}}}:p:{pseudonym}"
    index = client.hget(pkey, "i")
    assert index is not None, f"{pseudonym} has no mapping in {namespace}"
    assert client.hget(f"mk:{{{namespace}}}:f", index) == pseudonym.encode(), f"{pseudonym} has no forward field"
    return pkey


# --- the embedded server -------------------------------------------------------------------------------------------


def test_embedded_server_is_configured_as_a_vault(vault_home: Path) -> None:
    with plain_client(vault_home / "redis.sock") as client:
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("save")["save"] != ""


def test_embedded_server_files_are_private_to_the_user(private_home: Path) -> None:
    with open_masker(private_home, generate_key()) as masker:
        masker.mask(instance_id())
    assert stat.S_IMODE(private_home.stat().st_mode) == 0o700
    files = [p for p in private_home.iterdir() if p.name.startswith(("appendonly", "redis.log"))]
    assert files, sorted(p.name for p in private_home.iterdir())
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name} is readable by others"


def test_redis_url_selects_an_external_server_and_starts_no_embedded_one(external_redis: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    original = instance_id()
    with open_masker(home, generate_key(), MASKKIT_REDIS_URL=f"unix://{external_redis}") as masker:
        result = masker.mask(f"start {original}")
        assert result.text == "start ec2-001"
        assert masker.unmask(result.text) == f"start {original}"
    assert not (home / "redis.sock").exists()
    with plain_client(external_redis) as client:
        assert client.exists("mk:{default}:p:ec2-001") == 1


# --- one round trip, atomic minting ---------------------------------------------------------------------------------


def _replies_and_evals(client: redis.Redis) -> tuple[int, int, int]:
    info = client.info("all")
    return (
        int(info["total_writes_processed"]),
        sum(int(info.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("eval", "evalsha")),
        int(info["total_connections_received"]),
    )


def test_mask_costs_one_round_trip_however_many_identifiers(private_home: Path) -> None:
    """Counted on a server nobody else uses: every reply Redis writes is one round trip of some client."""
    with plain_client(private_home / "redis.sock") as client, open_masker(private_home, generate_key()) as masker:
        known = [instance_id() for _ in range(20)]
        masker.mask(" ".join(known))  # connects, and makes some identifiers already known
        before = _replies_and_evals(client)
        idle = _replies_and_evals(client)
        info_alone = idle[0] - before[0]  # the first INFO's own reply

        text = " ".join(known + [sg_id() for _ in range(150)] + ["ec2-001", "lit-001"])
        start = _replies_and_evals(client)
        result = masker.mask(text)
        end = _replies_and_evals(client)
        assert len(result.reverse) == 172
        assert end[0] - start[0] - info_alone == 1, "mask() needed more than one round trip"
        assert end[1] - start[1] == 1
        assert end[2] == start[2], "mask() opened a new connection"

        start = _replies_and_evals(client)
        assert masker.unmask(result.text) == text
        end = _replies_and_evals(client)
        assert end[0] - start[0] - info_alone == 1, "unmask() needed more than one round trip"


def test_async_mask_costs_one_round_trip(private_home: Path) -> None:
    async def scenario(masker: Masker, client: redis.Redis) -> None:
        await masker.vault.aping()  # connects
        await masker.amask("warm-up")  # the first mask of a namespace in a process also loads its recall index
        before = _replies_and_evals(client)
        info_alone = _replies_and_evals(client)[0] - before[0]
        start = _replies_and_evals(client)
        result = await masker.amask(" ".join(instance_id() for _ in range(50)))
        end = _replies_and_evals(client)
        assert len(result.reverse) == 50
        assert end[0] - start[0] - info_alone == 1
        await masker.vault.aclose()

    with plain_client(private_home / "redis.sock") as client, open_masker(private_home, generate_key()) as masker:
        asyncio.run(scenario(masker, client))


_WORKER = r"""
import sys
from maskkit import Masker
masker = Masker.from_settings()
masker.vault.ping()
print("ready", flush=True)
text = sys.stdin.readline().rstrip("\n")
sys.stdout.write(masker.mask(text).text + "\n")
"""


def test_processes_masking_the_same_new_values_at_once_agree_and_never_share_a_number(
    env: dict[str, str], namespace: str, masker: Masker
) -> None:
    shared = [instance_id() for _ in range(30)]
    own = [[instance_id() for _ in range(30)] for _ in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in own
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        for worker, values in zip(workers, own, strict=True):  # everyone is waiting: release them together
            assert worker.stdin is not None
            worker.stdin.write(" ".join(shared + values) + "\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=60)[0].split() for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert all(worker.returncode == 0 for worker in workers)
    shared_pseudonyms = {tuple(out[: len(shared)]) for out in outputs}
    assert len(shared_pseudonyms) == 1, "processes disagreed on the pseudonyms of the same new values"
    everything = [p for out in outputs for p in out[len(shared) :]] + list(outputs[0][: len(shared)])
    assert len(everything) == len(set(everything)) == 30 + 4 * 30, "a pseudonym was issued twice"
    # and the vault agrees with what the processes printed
    assert masker.mask(" ".join(shared)).text.split() == list(outputs[0][: len(shared)])


def test_threads_masking_disjoint_new_values_never_get_the_same_pseudonym(settings: Settings) -> None:
    maskers = [Masker.from_settings(settings) for _ in range(8)]
    barrier = threading.Barrier(len(maskers))
    results: list[list[str]] = [[] for _ in maskers]

    def work(index: int) -> None:
        barrier.wait()
        for _ in range(10):
            results[index] += maskers[index].mask(" ".join(instance_id() for _ in range(10))).text.split()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(maskers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for masker in maskers:
            masker.vault.close()
    issued = [p for chunk in results for p in chunk]
    assert len(issued) == 8 * 10 * 10
    assert len(set(issued)) == len(issued), "two threads got the same pseudonym for different values"
    assert sorted(issued, key=lambda p: int(p.rpartition("-")[2])) == [f"ec2-{n:03d}" for n in range(1, 801)]


# --- TTL ------------------------------------------------------------------------------------------------------------


def test_mappings_live_seven_days_by_default(masker: Masker, vault_home: Path) -> None:
    result = masker.mask(instance_id())
    (pseudonym,) = result.reverse
    with plain_client(vault_home / "redis.sock") as client:
        pkey = mapping_key(client, masker.namespace, pseudonym)
        assert 7 * 24 * 3600 - 10 <= client.ttl(pkey) <= 7 * 24 * 3600
        assert client.ttl(f"mk:{{{masker.namespace}}}:f") == -1, "the forward index is one hash, swept, not expired"
        assert not keys_of(client, masker.namespace, "f"), "a forward key of the old layout was written"


def test_using_a_mapping_refreshes_its_ttl(vault_home: Path, vault_key: str, namespace: str) -> None:
    with (
        open_masker(vault_home, vault_key, namespace, MASKKIT_TTL="100") as masker,
        plain_client(vault_home / "redis.sock") as client,
    ):
        masker.refresh_seconds = 0  # by default one process refreshes a mapping at most once a minute
        original = instance_id()
        result = masker.mask(original)
        pkey = mapping_key(client, namespace, "ec2-001")
        refresh = lambda: masker.vault.mint(namespace, [], {}, refresh=["ec2-001"])  # noqa: E731 (a recall hit)
        for use in (lambda: masker.unmask("ec2-001"), lambda: masker.mask(original), refresh):
            client.pexpire(pkey, 5000)  # as if 95 s had passed
            use()
            assert 99 <= client.ttl(pkey) <= 100
        assert result.text == "ec2-001"
        assert masker.vault.lookup(namespace, "ec2-001").hits == 4


def test_expired_mappings_disappear_and_their_numbers_are_never_reused(
    vault_home: Path, vault_key: str, namespace: str
) -> None:
    with (
        open_masker(vault_home, vault_key, namespace, MASKKIT_TTL="1") as masker,
        plain_client(vault_home / "redis.sock") as client,
    ):
        # Every use asks the vault: this process's own refresh window (TTL/100 of wall time) is not under test.
        masker.refresh_seconds = 0
        first, second = instance_id(), instance_id()
        assert masker.mask(first).text == "ec2-001"
        assert 0 < client.pttl(mapping_key(client, namespace, "ec2-001")) <= 1000  # MASKKIT_TTL=1 was applied
        let_time_pass(client, 1.0, match=f"mk:{{{namespace}}}:*")
        assert not keys_of(client, namespace, "p") and not keys_of(client, namespace, "f")
        with pytest.raises(UnknownPseudonym):
            masker.vault.lookup(namespace, "ec2-001")
        assert masker.unmask("ec2-001") == "ec2-001"
        forward, recall = f"mk:{{{namespace}}}:f", f"mk:{{{namespace}}}:r"
        assert b"ec2-001" in client.hvals(forward), "(the expired mapping's forward field waits for a sweep)"
        assert masker.mask(second).text == "ec2-002"
        assert b"ec2-001" not in client.hvals(forward), "the next mint did not sweep the expired forward field"
        assert not client.hexists(recall, "ec2-001"), "the sweep left the expired mapping's recall field"
        assert masker.mask(first).text == "ec2-003", "an expired value came back with its old number"


@pytest.mark.parametrize("per_call", [300, 20], ids=["large-calls", "small-calls"])
def test_the_forward_index_and_recall_set_stay_near_the_live_mappings_as_mappings_expire(
    vault_home: Path, vault_key: str, namespace: str, per_call: int
) -> None:
    """Their fields do not expire with the mappings (a hash field has no TTL): the mint script sweeps them, so in
    steady use (every round's 300 mappings expire while new ones are minted) neither grows with the history.
    With small calls the hashes stay in Redis' compact encoding, which the script sweeps whole, less often."""
    with (
        open_masker(vault_home, vault_key, namespace, MASKKIT_TTL="100") as masker,
        plain_client(vault_home / "redis.sock") as client,
    ):
        prefixes = {"S3_BUCKET": "s3"}
        for round_ in range(15):
            items = [("S3_BUCKET", f"steady-{round_:02d}-{i:04d}-bucket") for i in range(300)]
            for start in range(0, 300, per_call):
                minted = masker.vault.pseudonyms_for(namespace, items[start : start + per_call], prefixes)
                assert len(set(minted.values())) == per_call
            let_time_pass(client, 101, match=f"mk:{{{namespace}}}:p:*")  # every mapping so far expires
        forward, recall = client.hlen(f"mk:{{{namespace}}}:f"), client.hlen(f"mk:{{{namespace}}}:r")
        assert forward <= 1000 and recall <= 1000, (forward, recall)  # 4 500 were minted in all


# --- encryption at rest, keys ---------------------------------------------------------------------------------------


def _leaks(blob: bytes, originals: set[str], pseudonyms: set[str]) -> list[str]:
    """Originals (or any 10-byte piece of a longer one) found in `blob`, pseudonyms aside; only their lengths are
    reported.

    A piece that is also part of a pseudonym (`eipalloc-0` of `eipalloc-001`) is stored legitimately.
    """
    # Pseudonyms are blanked first: in a binary file (RDB) a pseudonym sits next to whatever byte follows it, and
    # `subnet-018` + `7` would read as a piece of `subnet-0187a3…`; the original's later pieces still count.
    for pseudonym in sorted(pseudonyms, key=len, reverse=True):
        blob = blob.replace(pseudonym.encode(), b"\0" * len(pseudonym))
    windows = {blob[i : i + 10] for i in range(len(blob) - 9)}
    legit = "\n".join(sorted(pseudonyms)).encode()
    found = []
    for original in originals:
        data = original.encode("utf-8", "surrogatepass")
        if len(data) < 6:
            continue
        pieces = [data] if len(data) <= 10 else [data[i : i + 10] for i in range(len(data) - 9)]
        if any((piece in windows if len(piece) == 10 else piece in blob) and piece not in legit for piece in pieces):
            found.append(f"an original of {len(data)} bytes")
    return found


def test_no_original_is_stored_in_plaintext_in_redis_or_on_disk(private_home: Path) -> None:
    rng, seed = fresh_rng()
    docs = generate_documents(rng, count=30)
    originals = planted_values(docs)
    pseudonyms: set[str] = set()
    with open_masker(private_home, generate_key(), "audit") as masker:
        for doc in docs:
            result = masker.mask(doc.text)
            originals |= {o for p, o in result.reverse.items() if result.kinds[p] != "PSEUDONYM_LITERAL"}
            pseudonyms |= set(result.reverse)
        assert masker.unmask(masker.mask(docs[0].text).text) == docs[0].text
    with plain_client(private_home / "redis.sock") as client:
        stored = bytearray()
        # Every value read as what it is, each on its own line. Not DUMP: it packs a hash's fields side by side with
        # binary headers, so a pseudonym (`subnet-018`) next to a header byte that happens to be `7` reads as a
        # 10-byte piece of the original `subnet-0187a3…` (a false leak, seen once in CI).
        for key in client.scan_iter(count=1000):
            stored += key + b"\n"
            kind = client.type(key)
            if kind == b"hash":
                stored += b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
            elif kind == b"string":
                stored += client.get(key) or b""
            elif kind == b"set":
                stored += b"\n".join(client.smembers(key))
            elif kind == b"list":
                stored += b"\n".join(client.lrange(key, 0, -1))
            elif kind == b"zset":
                stored += b"\n".join(client.zrange(key, 0, -1))
            else:  # a type this test does not read: its serialized form, searched all the same
                stored += client.dump(key) or b""
            stored += b"\n"
        assert len(stored) > 10_000
    leaks = _leaks(bytes(stored), originals, pseudonyms)
    assert not leaks, f"{leaks} stored in Redis (awsgen seed={seed})"
    stop_embedded_redis(private_home)  # flushes the AOF and writes the RDB
    for path in private_home.iterdir():
        if path.is_file():
            leaks = _leaks(path.read_bytes(), originals, pseudonyms)
            assert not leaks, f"{leaks} in {path.name} (awsgen seed={seed})"


def test_vault_key_file_is_created_0600_once_even_by_racing_processes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings_ = settings_for(home, None)
    fingerprints: list[str] = []

    def load() -> None:
        fingerprints.append(VaultKey.from_settings(settings_).fingerprint)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    path = home / "vault.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert len(set(fingerprints)) == 1 and len(fingerprints) == 8
    assert VaultKey.parse(path.read_text(), "vault.key").fingerprint == fingerprints[0]
    assert sorted(p.name for p in home.iterdir()) == ["vault.key"], "temporary key files were left behind"


def test_wrong_key_is_refused_with_a_clear_message_and_no_original(settings: Settings, masker: Masker) -> None:
    original = instance_id()
    masked = masker.mask(f"on {original}").text
    with open_masker(settings.home, generate_key(), settings.namespace) as wrong:
        for attempt in (
            lambda: wrong.mask(f"on {original}"),
            lambda: wrong.mask(f"on {instance_id()}"),
            lambda: wrong.unmask(masked),
            lambda: wrong.vault.lookup(settings.namespace, "ec2-001", reveal=True),
        ):
            with pytest.raises(VaultKeyError) as caught:
                attempt()
            text = "".join(traceback.format_exception(caught.value))
            assert "MASKKIT_VAULT_KEY" in str(caught.value)
            assert original not in text
    assert masker.unmask(masked) == f"on {original}", "the refused attempts changed the vault"


def test_ciphertexts_are_bound_to_their_namespace(vault_home: Path, settings: Settings, masker: Masker) -> None:
    """Copying a ciphertext into another namespace's mapping does not decrypt there (AES-GCM associated data)."""
    masker.mask(instance_id())
    other = "o" + settings.namespace
    planted = f"mk:{{{other}}}:p:ec2-001"
    with plain_client(vault_home / "redis.sock") as client:
        blob = client.hget(f"mk:{{{settings.namespace}}}:p:ec2-001", "c")
        client.hset(planted, mapping={"c": blob, "k": 1, "i": "x"})
        client.expire(planted, 60)
        try:
            with pytest.raises(VaultKeyError):
                masker.for_namespace(other).unmask("ec2-001")
        finally:  # (the session vault is shared: an audit of every namespace must not meet this mapping)
            client.delete(planted)


# --- namespaces, forget, purge --------------------------------------------------------------------------------------


def test_namespaces_keep_tenants_apart(masker: Masker, namespace: str) -> None:
    team_b = masker.for_namespace(namespace + "b")
    nobody = masker.for_namespace(namespace + "c")
    a_value, b_value = instance_id(), instance_id()
    assert masker.mask(a_value).text == "ec2-001"
    assert team_b.mask(b_value).text == "ec2-001", "numbering is per namespace"
    assert team_b.mask(a_value).text == "ec2-002", "the same original is a new mapping in another namespace"
    assert masker.unmask("ec2-001") == a_value
    assert team_b.unmask("ec2-001 ec2-002") == f"{b_value} {a_value}"
    assert nobody.unmask("ec2-001 and ec2-002") == "ec2-001 and ec2-002"
    with pytest.raises(UnknownPseudonym):
        nobody.vault.lookup(nobody.namespace, "ec2-001")
    assert masker.unmask("ec2-002") == "ec2-002", "namespace A resolved B's pseudonym"


def test_forget_and_purge_remove_mappings_but_never_recycle_numbers(masker: Masker, namespace: str) -> None:
    vault = masker.vault
    other = masker.for_namespace(namespace + "x")
    values = [instance_id() for _ in range(3)]
    assert masker.mask(" ".join(values)).text == "ec2-001 ec2-002 ec2-003"
    other_value = instance_id()
    assert other.mask(other_value).text == "ec2-001"

    assert vault.forget(namespace, "ec2-002") is True
    assert vault.forget(namespace, "ec2-002") is False
    assert masker.unmask("ec2-001 ec2-002") == f"{values[0]} ec2-002"
    assert masker.mask(values[1]).text == "ec2-004"

    assert vault.purge(namespace) == 3
    assert masker.unmask("ec2-001 ec2-003") == "ec2-001 ec2-003"
    assert namespace not in vault.stats()
    assert other.unmask("ec2-001") == other_value, "purge touched another namespace"
    assert masker.mask(values[0]).text == "ec2-005", "a purged number was issued again"


def test_stats_and_lookup_report_kinds_without_originals(masker: Masker, namespace: str) -> None:
    result = masker.mask(f"{instance_id()} {instance_id()} {sg_id()} AKIA{secrets.token_hex(8).upper()}")
    assert result.text == "ec2-001 ec2-002 sg-001 iam-001"
    stats = masker.vault.stats()[namespace]
    assert stats == {"INSTANCE_ID": 2, "SECURITY_GROUP_ID": 1, "ACCESS_KEY_ID": 1}
    entry = masker.vault.lookup(namespace, "sg-001")
    assert (entry.kind, entry.hits, entry.original) == ("SECURITY_GROUP_ID", 1, None)
    assert entry.first_seen == entry.last_seen and abs(entry.first_seen - time.time()) < 60
    revealed = masker.vault.lookup(namespace, "sg-001", reveal=True)
    assert revealed.original == result.reverse["sg-001"]
    assert revealed.original not in repr(revealed)


# --- round trip properties with the real vault ----------------------------------------------------------------------

_ATOMS = [
    "i-1234567890abcdef0",
    "vpc-0a1b2c3d4e5f67890",
    "sg-12345678",
    "AKIAIOSFODNN7EXAMPLE",
    "arn:aws:iam::123456789012:role/Admin",
    "OwnerId: 123456789012",
    "s3://prod-logs-1234/x",
    "ec2-001",
    "EC2-001",
    "lit-001",
    "lit-002",
    "ec2\u2011001",
    "ec2-0010",
    "xec2-001",
    "vpc-001",
    "203.0.113.9",
    "password=hunter2",
    " ",
    "\n",
    "\r\n",
    "\x00",
    "\\",
    '"',
    "\u00e9",
    "\U0001f600",
    "\udc80",
    "-",
    "_",
]

_TEXTS = st.lists(st.sampled_from(_ATOMS) | st.text(max_size=6), max_size=12).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXTS)
def test_round_trip_through_the_real_vault_is_exact_and_stable(masker: Masker, text: str) -> None:
    first = masker.mask(text)
    assert masker.unmask(first.text) == text
    assert masker.mask(text).text == first.text, "masking the same text twice gave other pseudonyms"
    assert masker.unmask_with(first.text, first.reverse) == text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXTS)
def test_async_mask_and_unmask_match_sync(masker: Masker, text: str) -> None:
    async def both() -> tuple[str, str]:
        try:
            masked = (await masker.amask(text)).text
            return masked, await masker.aunmask(masked)
        finally:
            await masker.vault.aclose()

    masked, restored = asyncio.run(both())
    assert masked == masker.mask(text).text
    assert restored == text == masker.unmask(masked)


# --- a full vault, an outage ----------------------------------------------------------------------------------------


def _snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def test_a_full_vault_fails_closed_and_drops_nothing(private_home: Path) -> None:
    with plain_client(private_home / "redis.sock") as client, open_masker(private_home, generate_key()) as masker:
        known = instance_id()
        masked = masker.mask(f"old {known}").text
        before = _snapshot(client)
        client.config_set("maxmemory", "1")
        try:
            with pytest.raises(VaultFull) as caught:
                masker.mask(f"old {known} new {instance_id()}")
            assert http_error_for(caught.value) == (503, "api_error")

            async def amask_new() -> None:
                try:
                    await masker.amask(instance_id())
                finally:
                    await masker.vault.aclose()

            with pytest.raises(VaultFull):
                asyncio.run(amask_new())
            assert masker.mask(f"old {known}").text == masked, "known values should still mask"
            assert masker.unmask(masked) == f"old {known}"
            assert _snapshot(client) == before, "a full vault changed or dropped mappings"
        finally:
            client.config_set("maxmemory", "0")
        assert masker.mask(instance_id()).text == "ec2-002"


def test_the_vault_recovers_by_itself_after_the_embedded_server_stops(private_home: Path) -> None:
    with open_masker(private_home, generate_key()) as masker:
        first = instance_id()
        assert masker.mask(first).text == "ec2-001"
        stop_embedded_redis(private_home)
        with pytest.raises(VaultUnavailable):
            masker.mask(instance_id())
        assert masker.mask(first).text == "ec2-001", "the embedded server was not restarted with its data"
        assert masker.unmask("ec2-001") == first
        assert masker.mask(instance_id()).text == "ec2-002"

        async def async_outage() -> None:
            assert await masker.aunmask("ec2-001") == first
            stop_embedded_redis(private_home)
            with pytest.raises(VaultUnavailable):
                await masker.aunmask("ec2-001")
            assert await masker.aunmask("ec2-001") == first
            await masker.vault.aclose()

        asyncio.run(async_outage())


# --- key rotation ---------------------------------------------------------------------------------------------------


def forward_index(client: redis.Redis, namespaces: Iterable[str]) -> dict[tuple[str, str], str]:
    """(namespace, id) -> pseudonym of the namespaces' forward hashes (the "#" marker left out)."""
    return {
        (ns, index.decode()): pseudonym.decode()
        for ns in namespaces
        for index, pseudonym in client.hgetall(f"mk:{{{ns}}}:f").items()
        if index != b"#"
    }


def test_rotate_key_keeps_every_pseudonym_and_retires_the_old_key(private_home: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    texts = {ns: " ".join(instance_id() for _ in range(5)) + f" {sg_id()}" for ns in ("alpha", "beta")}
    masked = {}
    with plain_client(private_home / "redis.sock") as client:
        with open_masker(private_home, old_key, "alpha") as old:
            for ns, text in texts.items():
                masked[ns] = old.for_namespace(ns).mask(text).text
            old_index = forward_index(client, texts)
            assert len(old_index) == 12

            rotation = rotate_vault_key(settings_for(private_home, old_key), new_key=new_key)
            assert rotation.rotated == 12 and rotation.key_file is None

            with pytest.raises(VaultKeyError):  # a process still holding the old key cannot write under it
                old.mask(instance_id())
            with pytest.raises(VaultKeyError):
                old.unmask(masked["alpha"])

        new_index = forward_index(client, texts)
        assert len(new_index) == 12 and not (set(new_index) & set(old_index)), "old forward entries were left behind"
        for (ns, index), pseudonym in new_index.items():  # each entry names its mapping, which names it back
            assert client.hget(f"mk:{{{ns}}}:p:{pseudonym}", "i") == index.encode()
        assert client.get("mk:keycheck") == VaultKey.parse(new_key, "new").fingerprint.encode()

    with open_masker(private_home, new_key, "alpha") as new:
        for ns, text in texts.items():
            space = new.for_namespace(ns)
            assert space.unmask(masked[ns]) == text
            assert space.mask(text).text == masked[ns], "a pseudonym changed in the rotation"
        assert new.mask(instance_id()).text == "ec2-006"
    with open_masker(private_home, old_key) as stale, pytest.raises(VaultKeyError):
        stale.mask(instance_id())


def test_an_interrupted_rotation_blocks_everyone_and_resumes(
    private_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = generate_key(), generate_key()
    with open_masker(private_home, old_key) as masker:
        text = " ".join(instance_id() for _ in range(30))
        masked = masker.mask(text).text

        real_rekey = Vault._rekey
        calls = []

        def crash_after_one_batch(self: Vault, *args: object) -> int:
            if calls:
                raise RuntimeError("interrupted")
            calls.append(1)
            return real_rekey(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(Vault, "_rekey", crash_after_one_batch)
        vault = Vault.from_settings(settings_for(private_home, old_key))
        with pytest.raises(RuntimeError):
            vault.rotate_key(VaultKey.parse(new_key, "new"), batch=5)
        vault.close()
        monkeypatch.undo()

        for holder in (old_key, new_key):
            with open_masker(private_home, holder) as waiting, pytest.raises(VaultKeyError, match="being rotated"):
                waiting.mask(instance_id())

        rotation = rotate_vault_key(settings_for(private_home, old_key), new_key=new_key)
        assert 0 < rotation.rotated < 30
    with open_masker(private_home, new_key) as new:
        assert new.unmask(masked) == text
        assert new.mask(text).text == masked


def test_rotate_key_with_a_key_file_keeps_a_private_backup(private_home: Path) -> None:
    with open_masker(private_home, None) as masker:
        original = instance_id()
        assert masker.mask(original).text == "ec2-001"
    old_text = (private_home / "vault.key").read_text()
    rotation = rotate_vault_key(settings_for(private_home, None))
    assert rotation.rotated == 1
    assert rotation.key_file == private_home / "vault.key" and rotation.backup == private_home / "vault.key.old"
    assert (private_home / "vault.key.old").read_text() == old_text
    assert (private_home / "vault.key").read_text() != old_text
    assert not (private_home / "vault.key.new").exists()
    for name in ("vault.key", "vault.key.old"):
        assert stat.S_IMODE((private_home / name).stat().st_mode) == 0o600
    with open_masker(private_home, None) as masker:
        assert masker.unmask("ec2-001") == original
    with open_masker(private_home, old_text.strip()) as stale, pytest.raises(VaultKeyError):
        stale.unmask("ec2-001")


# --- namespaces written before the forward index was one hash -------------------------------------------------------


def to_old_layout(client: redis.Redis, namespace: str) -> int:
    """Rewrite a namespace's forward index as the releases before the forward hash wrote it: one string key
    `f:<id>` -> pseudonym per mapping, with the mapping's TTL, and no hash (no "#"). Everything else (mappings,
    kinds, counters, journal, recall set) was already written the same way. Returns how many keys it wrote."""
    base = f"mk:{{{namespace}}}:"
    written = 0
    for index, pseudonym in client.hgetall(base + "f").items():
        left = client.pttl(base + "p:" + pseudonym.decode())
        if index != b"#" and left > 0:
            client.set(base + "f:" + index.decode(), pseudonym, px=left)
            written += 1
    client.delete(base + "f", base + "fs")
    return written


def test_a_namespace_of_the_old_layout_keeps_every_pseudonym_and_its_forward_keys_slide(
    vault_home: Path, vault_key: str, namespace: str
) -> None:
    with (
        open_masker(vault_home, vault_key, namespace, MASKKIT_TTL="100") as masker,
        plain_client(vault_home / "redis.sock") as client,
    ):
        masker.refresh_seconds = 0
        old = [instance_id() for _ in range(3)]
        assert masker.mask(" ".join(old)).text == "ec2-001 ec2-002 ec2-003"
        assert to_old_layout(client, namespace) == 3
        forward_keys = sorted(keys_of(client, namespace, "f"))
        # A new process (nothing cached): the old values are found through their old keys, new ones are minted
        # into the hash; the namespace stays one that reads both.
        with open_masker(vault_home, vault_key, namespace, MASKKIT_TTL="100") as fresh:
            fresh.refresh_seconds = 0
            new = instance_id()
            assert fresh.mask(f"{old[1]} {new} {old[0]}").text == "ec2-002 ec2-004 ec2-001"
            assert masker.vault.pseudonyms_for(namespace, [("INSTANCE_ID", old[2])], {"INSTANCE_ID": "ec2"}) == {
                ("INSTANCE_ID", old[2]): "ec2-003"
            }
            assert not client.hexists(f"mk:{{{namespace}}}:f", "#")
            assert sorted(keys_of(client, namespace, "f")) == forward_keys, "old forward keys must stay readable"
            mapping_key(client, namespace, "ec2-004")
            # Every use slides an old mapping's forward key with it (else the value would later get a second
            # pseudonym while its mapping lives): a known value masked, a pseudonym unmasked, a recall hit.
            uses = [
                lambda: fresh.mask(old[0]),
                lambda: fresh.unmask("ec2-001"),
                lambda: fresh.vault.mint(namespace, [], {}, refresh=["ec2-001"]),
            ]
            pkey = f"mk:{{{namespace}}}:p:ec2-001"
            (fkey,) = [k for k in forward_keys if client.get(k) == b"ec2-001"]
            for use in uses:
                client.pexpire(pkey, 5000)
                client.pexpire(fkey, 5000)
                use()
                assert 99 <= client.ttl(pkey) <= 100 and 99 <= client.ttl(fkey) <= 100
            # Expiry: the old forward key goes with its mapping, nothing comes back.
            client.delete(f"mk:{{{namespace}}}:p:ec2-002")
            assert fresh.mask(old[1]).text == "ec2-005", "a gone mapping came back through its old forward key"
            # forget deletes an old forward key; purge deletes them all and marks the namespace as hash-only.
            assert fresh.vault.forget(namespace, "ec2-003") is True
            assert fkey.decode().endswith(client.hget(pkey, "i").decode())
            assert len(keys_of(client, namespace, "f")) == 2  # ec2-001's; ec2-002's (its mapping is gone)
            assert fresh.vault.purge(namespace) == 3
            assert not keys_of(client, namespace, "f") and not keys_of(client, namespace, "p")
            assert client.hgetall(f"mk:{{{namespace}}}:f") == {b"#": b"1"}
            assert fresh.mask(old[0]).text == "ec2-006"
            assert not keys_of(client, namespace, "f")
            mapping_key(client, namespace, "ec2-006")


def test_the_old_layouts_recall_set_is_still_swept_and_rotation_moves_its_forward_keys_into_the_hash(
    private_home: Path,
) -> None:
    old_key, new_key = generate_key(), generate_key()
    prefixes = {"INSTANCE_ID": "ec2"}
    with plain_client(private_home / "redis.sock") as client:
        with open_masker(private_home, old_key, "legacy") as masker:
            vault = masker.vault
            values = [instance_id() for _ in range(600)]  # past 512 fields: small hashes are not swept
            minted = vault.pseudonyms_for("legacy", [("INSTANCE_ID", v) for v in values], prefixes)
            assert to_old_layout(client, "legacy") == 600
            (gone,) = [k for k in keys_of(client, "legacy", "f") if client.get(k) == b"ec2-004"]
            client.delete("mk:{legacy}:p:ec2-004", gone)  # expired (both keys had the same TTL)
            for _ in range(5):  # mints: each sweeps part of the recall set (the old mappings have no forward field)
                vault.pseudonyms_for("legacy", [("INSTANCE_ID", instance_id()) for _ in range(500)], prefixes)
                if not client.hexists("mk:{legacy}:r", "ec2-004"):
                    break
            assert not client.hexists("mk:{legacy}:r", "ec2-004"), "the old layout's recall set was not swept"
            assert client.hexists("mk:{legacy}:r", "ec2-001")
            live = len(list(client.scan_iter(match="mk:{legacy}:p:*", count=1000)))
        assert rotate_vault_key(settings_for(private_home, old_key, "legacy"), new_key=new_key).rotated == live
        assert not keys_of(client, "legacy", "f"), "rotation left forward keys of the old layout"
        assert len(forward_index(client, ["legacy"])) == live
    with open_masker(private_home, new_key, "legacy") as rotated:
        again = rotated.vault.pseudonyms_for("legacy", [("INSTANCE_ID", v) for v in values], prefixes)
        kept = {item: p for item, p in minted.items() if p != "ec2-004"}
        assert {item: again[item] for item in kept} == kept, "a pseudonym changed in the rotation"
        assert rotated.unmask("ec2-001 ec2-004") == f"{values[0]} ec2-004"


# --- memory ---------------------------------------------------------------------------------------------------------


def test_a_mapping_of_a_20_character_id_costs_at_most_300_bytes(private_home: Path) -> None:
    with plain_client(private_home / "redis.sock") as client, open_masker(private_home, generate_key()) as masker:
        # 500 mappings: the forward index is past the compact (listpack) size, as in any real namespace.
        result = masker.mask(" ".join(sg_id() for _ in range(500)))
        assert all(len(o) == 20 for o in result.reverse.values()) and len(result.reverse) == 500
        forward_share = int(client.memory_usage("mk:{default}:f", samples=0)) // 500
        sizes = []
        for pseudonym in result.reverse:
            pkey = mapping_key(client, "default", pseudonym)
            sizes.append(int(client.memory_usage(pkey, samples=0)) + forward_share)
    report = {"min": min(sizes), "mean": sum(sizes) / len(sizes), "max": max(sizes)}
    print("bytes per mapping:", json.dumps(report))
    assert max(sizes) <= 300, report


def test_numbers_skip_eight_digits_also_when_one_call_mints_across_them(masker: Masker) -> None:
    """8-digit numbers would read like EC2 ids (sg-12345678): the counter jumps to 9 digits, even in the middle
    of one call's range."""
    client = masker.vault._client()
    client.set(f"mk:{{{masker.namespace}}}:n:s3", 9_999_998)
    items = [("S3_BUCKET", f"skip-bucket-{i:04d}") for i in range(3)]
    minted = masker.vault.pseudonyms_for(masker.namespace, items, dict(masker.detector.kinds))
    assert sorted(minted.values()) == ["s3-100000000", "s3-100000001", "s3-9999999"]
    prefixes = dict(masker.detector.kinds)
    more = masker.vault.pseudonyms_for(masker.namespace, [("S3_BUCKET", "skip-bucket-9999")], prefixes)
    assert list(more.values()) == ["s3-100000002"]


def test_one_mint_call_packs_many_kinds_and_any_original(masker: Masker) -> None:
    """The mint script gets all new items packed in a few strings (lengths in bytes): multi-byte, long and
    near-identical originals of many kinds in one call each get their own pseudonym, and read back exactly."""
    prefixes = dict(masker.detector.kinds)
    kinds = sorted(prefixes)[:12]
    originals = ["plain-value-0001", "ünïcödé-wërt-😀-0002", "x" * 70_000, "plain-value-0001 ", "\u2028line\u2029", "a"]
    items = [(kind, f"{kind}:{original}") for kind in kinds for original in originals]
    vault = masker.vault
    minted = vault.pseudonyms_for(masker.namespace, items, prefixes)
    assert len(set(minted.values())) == len(items)
    for kind, original in items:
        assert minted[(kind, original)].rpartition("-")[0] == prefixes[kind]
    assert vault.originals_for(masker.namespace, minted.values()) == {p: o for (_, o), p in minted.items()}
    again = vault.pseudonyms_for(masker.namespace, [*reversed(items), (kinds[0], "one-more-value-0003")], prefixes)
    assert {item: again[item] for item in items} == minted, "a known item got another pseudonym"
