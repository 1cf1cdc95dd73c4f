"""docs/deploy.md's ACL user, checked against a real redis-server: a user restricted to exactly the documented
commands runs every vault operation (mask, unmask, lookup, stats, audit, forget, purge, recall loads, the thinking
memo, rotate-key, vault status), and a command outside the list is refused.

The command list is read from the doc itself, so the doc and this test cannot drift apart."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from maskkit import Masker
from maskkit.config import load_settings
from maskkit.vault import generate_key
from maskkit.vault.memo import recall_thinking, remember_thinking

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
BUCKET = "acme-acl-payroll-archive-5521"
PASSWORD = "Qw7vLm3xPz9rTk2"
CONTEXT = f"aws s3 cp out.csv s3://{BUCKET}/x; psql postgres://app:{PASSWORD}@db.internal/billing"


def documented_rules(cluster: bool = False) -> list[str]:
    """The rules of the `ACL SETUSER maskkit ...` block in docs/deploy.md, password excluded; with `cluster`, plus
    the rules of its Cluster-only line."""
    text = DEPLOY.read_text(encoding="utf-8")
    block = re.search(r"```\n(ACL SETUSER maskkit on .*?)```", text, re.DOTALL)
    assert block is not None, "docs/deploy.md lost its ACL SETUSER block"
    first, _, more = block[1].partition("\nACL SETUSER maskkit ")  # the Cluster-only line is a separate command
    words = first.split()[3:]  # after "ACL SETUSER maskkit"
    if cluster:
        assert "Cluster" in more, "docs/deploy.md lost its Cluster-only ACL line"
        words += more.split("#", 1)[0].split()
    return [w for w in words if not w.startswith(">")]


@pytest.fixture
def acl_env(external_redis: Path, tmp_path: Path) -> dict[str, str]:
    password = secrets.token_hex(16)
    with redis.Redis(unix_socket_path=str(external_redis)) as admin:
        admin.execute_command("ACL", "SETUSER", "maskkit", f">{password}", *documented_rules())
    return {
        "MASKKIT_HOME": str(tmp_path / "home"),
        "MASKKIT_REDIS_URL": f"unix://maskkit:{password}@{external_redis}",
        "MASKKIT_VAULT_KEY": generate_key(),
        "MASKKIT_NAMESPACE": "acl-team",
    }


def cli(env: dict[str, str], *args: str, input: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input.encode(), env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, f"maskkit {args[0]} failed under the documented ACL: {done.stderr.decode()}"
    return done.stdout.decode()


def test_the_documented_acl_user_runs_every_vault_operation(
    acl_env: dict[str, str], external_redis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "-@all" in documented_rules()
    masked = cli(acl_env, "mask", input=CONTEXT)
    assert BUCKET not in masked and PASSWORD not in masked
    assert cli(acl_env, "unmask", input=masked) == CONTEXT
    bucket = re.search(r"s3://(\S+)/x", masked)
    assert bucket is not None
    pseudonym = bucket[1]
    # A new process recalls the bare values: it loads the namespace (journal view, HSCAN of the recall set).
    recalled = cli(acl_env, "mask", input=f"compare {BUCKET} and {PASSWORD}")
    assert BUCKET not in recalled and PASSWORD not in recalled
    # The same from a namespace without a complete recall set (a vault from an earlier release): load.lua SCANs.
    with redis.Redis(unix_socket_path=str(external_redis)) as admin:
        assert admin.delete("mk:{acl-team}:rc") == 1
    assert BUCKET not in cli(acl_env, "mask", input=f"compare {BUCKET}")
    assert BUCKET in cli(acl_env, "lookup", "--reveal", pseudonym)
    assert "acl-team" in cli(acl_env, "stats")
    cli(acl_env, "audit")
    assert "external Redis" in cli(acl_env, "vault", "status")

    # The proxy's path: the asyncio client, and the thinking memo.
    for name, value in acl_env.items():
        monkeypatch.setenv(name, value)
    masker = Masker.from_settings(load_settings())

    async def proxy_path() -> tuple[str, dict[str, str]]:
        result = await masker.amask(f"again s3://{BUCKET}/y")
        await remember_thinking(masker.vault, masker.namespace, [("masked thought", "restored thought")])
        memo = await recall_thinking(masker.vault, masker.namespace, ["restored thought"])
        await masker.vault.aclose()
        return result.text, memo

    text, memo = asyncio.run(proxy_path())
    assert BUCKET not in text and memo == {"restored thought": "masked thought"}
    masker.vault.ping()

    announced = cli(acl_env, "vault", "rotate-key", "--yes")
    new_key = next(line for line in announced.split() if len(line) == 44)
    rotated = {**acl_env, "MASKKIT_VAULT_KEY": new_key}
    assert cli(rotated, "unmask", input=masked) == CONTEXT

    assert pseudonym in cli(rotated, "vault", "forget", pseudonym)
    assert cli(rotated, "unmask", input=masked) != CONTEXT
    assert "purged" in cli(rotated, "vault", "purge", "--yes")
    assert cli(rotated, "unmask", input=masked) == masked


def test_commands_outside_the_documented_list_are_refused(acl_env: dict[str, str]) -> None:
    with redis.Redis.from_url(acl_env["MASKKIT_REDIS_URL"]) as client:
        client.set("mk:{acl-team}:probe", "1")  # the user itself works
        refused = (
            ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "maxmemory"), ("DEBUG", "SLEEP", "0"),
            ("CLIENT", "LIST"), ("CLIENT", "KILL", "ID", "1"),  # other clients are none of its business
        )
        for command in refused:
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("not-maskkit", "1")  # keys outside mk:*
        with pytest.raises(redis.exceptions.ResponseError, match="can't run this command"):
            client.eval("return redis.call('FLUSHALL')", 0)  # a script cannot step outside the list either


def test_the_documented_acl_user_runs_the_vault_on_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mktests.rediscluster import running_cluster

    with running_cluster() as cluster:
        password = secrets.token_hex(16)
        for port in cluster.ports:  # ACL users are per node
            cluster.client(port).execute_command("ACL", "SETUSER", "maskkit", f">{password}", *documented_rules(True))
        env = {
            "MASKKIT_HOME": str(tmp_path / "home"),
            "MASKKIT_REDIS_URL": f"redis+cluster://maskkit:{password}@127.0.0.1:{cluster.ports[0]}",
            "MASKKIT_VAULT_KEY": generate_key(),
            "MASKKIT_NAMESPACE": "acl-cluster",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        first = Masker.from_settings(load_settings())
        masked = first.mask(CONTEXT)
        assert BUCKET not in masked.text and first.unmask(masked.text) == CONTEXT
        second = Masker.from_settings(load_settings())  # loads the namespace from the recall set
        assert BUCKET not in second.mask(f"compare {BUCKET}").text

        async def proxy_path() -> str:
            result = await second.amask(f"again s3://{BUCKET}/y")
            await second.vault.aclose()
            return result.text

        assert BUCKET not in asyncio.run(proxy_path())
        assert first.vault.stats()["acl-cluster"]
        pseudonym = next(p for p, o in masked.reverse.items() if o == BUCKET)
        assert first.vault.lookup("acl-cluster", pseudonym, reveal=True).original == BUCKET
        assert first.vault.forget("acl-cluster", pseudonym)
        assert first.vault.purge("acl-cluster") == 1
        assert "external Redis" in cli(env, "vault", "status")
        first.vault.close()
        second.vault.close()
