"""The mint script's cost: Redis CPU per new mapping, per known one and per refresh, and the Python side of a call.

For each N (default 6 000 and 60 000), a fresh embedded redis-server (the maskkit config: AOF on, noeviction) and
a fresh, bound namespace; then, through `Vault`'s own packing and parsing, in calls of at most 20 000 values (what
`Masker` sends, `_MINT_BATCH`):

- new:     mint N never-seen (kind, original) values (4 kinds, 19-40 characters; sealed beforehand, as the forked
           scanners of `maskkit mask` do, so no crypto is timed);
- known:   mint the same N values again (all found through the forward index: a use each);
- refresh: the N pseudonyms sent as refreshes (what a process sends for values its recall index knows);
- resolve: the N pseudonyms resolved to ciphertexts (unmask);
- small:   6 000 more never-seen values in calls of 60 (a proxy request's worth: the per-call work shows).

Redis CPU is the server's own `used_cpu_user + used_cpu_sys` (INFO cpu, getrusage: µs resolution, the AOF
thread included), read before and after each step, per value. Wall is per script call. `pack` / `parse` are
the Python side of the calls (building the arguments, reading the reply), per value.

Before/after: `--base REV` (default: the commit this branch started from) is extracted with `git archive` into a
temporary directory and run from there; each variant runs in its own process, against its own server, and the
variants alternate `--repeat` times (medians reported): both sides see the same box at nearly the same time.

    uv run python bench/mint.py [--sizes 6000,60000] [--repeat 3] [--base 662be44]

Prints a table; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchinfo import commit, cpu

ROOT = Path(__file__).resolve().parents[1]
BATCH = 20_000
KINDS = {"INSTANCE_ID": "ec2", "S3_BUCKET": "s3", "SECRET_ACCESS_KEY": "secret", "IAM_ROLE": "role"}
STEPS = ("new", "known", "refresh", "resolve", "small")
SMALL, SMALL_CALL = 6000, 60


def values(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = list(KINDS)[i % 4]
        if kind == "INSTANCE_ID":
            original = "i-" + "".join(rng.choices("0123456789abcdef", k=17))
        elif kind == "S3_BUCKET":
            original = f"acme-{rng.choice(['logs', 'payroll', 'exports'])}-{i:08d}-{rng.randrange(10**6):06d}"
        elif kind == "SECRET_ACCESS_KEY":
            original = "".join(rng.choices(string.ascii_letters + string.digits + "/+", k=40))
        else:
            original = f"svc-{rng.choice(['etl', 'web', 'api'])}-{i:07d}-role"
        out.append((kind, original))
    return out


def server_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def child(n: int, sock: str) -> dict[str, Any]:
    """One variant, one N: runs in a process whose `maskkit` is the variant's (PYTHONPATH)."""
    import redis

    from maskkit.vault import Vault, generate_key
    from maskkit.vault.keys import VaultKey
    from maskkit.vault.store import JournalView, _eval

    namespace = "bench"
    vault = Vault(VaultKey.parse(generate_key(), "bench key"), ttl=604800, url=f"unix://{sock}", namespace=namespace)
    vault.ping()  # binds the namespace: the first mint below finds it new (no kind table yet), as a fresh CLI does
    items = values(n, seed=n)
    small = values(SMALL, seed=n + 1)
    vault.keep_sealed(namespace, vault.seal(namespace, items + small, KINDS))
    admin = redis.Redis(unix_socket_path=sock)
    client = vault._client()
    keys = vault._mint_keys(namespace)
    out: dict[str, Any] = {}
    view = JournalView()
    pseudonyms: list[str] = []

    def mint(batch: list[tuple[str, str]], refresh: list[str]) -> tuple[float, float, float, Any]:
        nonlocal view
        t0 = time.perf_counter()
        unique, args = vault._mint_call(namespace, batch, KINDS, refresh, view)
        t1 = time.perf_counter()
        raw = _eval(client, "mint", keys, args)
        t2 = time.perf_counter()
        reply = vault._mint_reply(namespace, unique, refresh, raw, view)
        t3 = time.perf_counter()
        assert not reply.reset and not reply.missing
        view = reply.view
        return t1 - t0, t2 - t1, t3 - t2, reply

    for step in STEPS:
        pack = call = parse = 0.0
        calls = 0
        before = server_cpu(admin)
        if step == "small":
            for start in range(0, SMALL, SMALL_CALL):
                calls += 1
                a, b, c, reply = mint(small[start : start + SMALL_CALL], [])
                pack, call, parse = pack + a, call + b, parse + c
        for start in range(0, n if step != "small" else 0, BATCH):
            calls += 1
            if step == "resolve":
                t0 = time.perf_counter()
                found = vault.originals_for(namespace, pseudonyms[start : start + BATCH])
                call += time.perf_counter() - t0
                assert len(found) == len(pseudonyms[start : start + BATCH])
                continue
            batch = items[start : start + BATCH] if step != "refresh" else []
            refresh = pseudonyms[start : start + BATCH] if step == "refresh" else []
            a, b, c, reply = mint(batch, refresh)
            pack, call, parse = pack + a, call + b, parse + c
            if step == "new":
                pseudonyms += [reply.pseudonyms[item] for item in batch]
            elif step == "known":
                assert [reply.pseudonyms[item] for item in batch] == pseudonyms[start : start + BATCH]
        spent = server_cpu(admin) - before
        count = SMALL if step == "small" else n
        out[step] = {
            "redis_us": round(spent / count * 1e6, 2),
            "wall_ms_per_call": round(call / calls * 1e3, 2),
            "pack_us": round(pack / count * 1e6, 2),
            "parse_us": round(parse / count * 1e6, 2),
        }
    assert len(set(pseudonyms)) == n
    out["memory_per_mapping"] = round(int(admin.info("memory")["used_memory"]) / (n + SMALL))
    vault.close()
    admin.close()
    return out


def run_variant(tree: Path, n: int) -> dict[str, Any]:
    from maskkit.vault import ensure_embedded_redis, stop_embedded_redis

    with tempfile.TemporaryDirectory(prefix="mkmint", dir="/tmp") as tmp:
        home = Path(tmp)
        sock = ensure_embedded_redis(home)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--socket", str(sock)],
                cwd=tree, env=env, capture_output=True, text=True, timeout=1200,
            )
            if done.returncode != 0:
                raise SystemExit(f"variant {tree} failed:\n{done.stderr}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            return result
        finally:
            stop_embedded_redis(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="6000,60000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", default="662be44", help="the commit to compare with (git archive)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.socket)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="mkmintbase", dir="/tmp") as tmp:
        base = Path(tmp)
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        variants = {f"base {args.base}": base, f"this {commit()}": ROOT}
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for _ in range(args.repeat):
            for n in sizes:
                for name, tree in variants.items():
                    runs.setdefault((name, n), []).append(run_variant(tree, n))
    print(f"# bench/mint.py  commit {commit()}  cpu {cpu()}  python {sys.version.split()[0]}  "
          f"medians of {args.repeat}, variants alternated")
    print(f"{'variant':<24} {'N':>6} {'step':<8} {'redis µs/value':>15} {'wall ms/call':>13} "
          f"{'pack µs':>8} {'parse µs':>9}")
    summary: dict[str, Any] = {"bench": "mint", "commit": commit(), "repeat": args.repeat}
    for n in sizes:
        for name in variants:
            rows = runs[(name, n)]
            for step in STEPS:
                med = {f: statistics.median(r[step][f] for r in rows) for f in rows[0][step]}
                print(f"{name:<24} {n:>6} {step:<8} {med['redis_us']:>15.2f} {med['wall_ms_per_call']:>13.2f} "
                      f"{med['pack_us']:>8.2f} {med['parse_us']:>9.2f}")
                summary[f"{name.split()[0]}_{n}_{step}_redis_us"] = med["redis_us"]
                summary[f"{name.split()[0]}_{n}_{step}_wall_ms"] = med["wall_ms_per_call"]
            summary[f"{name.split()[0]}_{n}_bytes_per_mapping"] = statistics.median(
                r["memory_per_mapping"] for r in rows)
        for step in STEPS:
            before, after = summary[f"base_{n}_{step}_redis_us"], summary[f"this_{n}_{step}_redis_us"]
            summary[f"{n}_{step}_redis_speedup"] = round(before / after, 2) if after else None
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
