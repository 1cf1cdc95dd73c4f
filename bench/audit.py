"""Benchmark: how fast `maskkit.audit()` reads a large vault into a DataFrame (target: >= 50 000 rows/s).

Fills a fresh embedded vault (a temporary MASKKIT_HOME, its own redis-server, always stopped) with 100 000
mappings through `Vault.pseudonyms_for` in big batches (one Lua round trip each), then times `audit()` over every
namespace, redacted (the default) and revealed. Prints machine, Python, commit and a table; the last line is one
JSON object with the redacted figures.

    uv run python bench/audit.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchinfo import commit as _commit

from maskkit.config import load_settings
from maskkit.detect.detector import Detector
from maskkit.notebook.audit import audit
from maskkit.vault import Vault, ensure_embedded_redis, generate_key, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]
NAMESPACES = ("bench-a", "bench-b", "bench-c", "bench-d")
TARGET_ROWS_PER_S = 50_000


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _upper(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


#: kind -> original factory (fresh random values, shaped like the real thing).
FACTORIES: dict[str, Callable[[random.Random], str]] = {
    "INSTANCE_ID": lambda r: "i-" + _hex(r, 17),
    "VPC_ID": lambda r: "vpc-" + _hex(r, 17),
    "SUBNET_ID": lambda r: "subnet-" + _hex(r, 17),
    "SECURITY_GROUP_ID": lambda r: "sg-" + _hex(r, 17),
    "ACCOUNT_ID": lambda r: str(r.randrange(10**11, 10**12)),
    "ACCESS_KEY_ID": lambda r: "AKIA" + _upper(r, 16),
}




def _fill(vault: Vault, rows: int, rng: random.Random, batch: int = 5000) -> float:
    prefixes = dict(Detector().kinds)
    kinds = list(FACTORIES)
    started = time.perf_counter()
    done = 0
    while done < rows:
        size = min(batch, rows - done)
        namespace = NAMESPACES[(done // batch) % len(NAMESPACES)]
        items = []
        for index in range(size):
            kind = kinds[(done + index) % len(kinds)]
            items.append((kind, FACTORIES[kind](rng)))
        done += len(vault.pseudonyms_for(namespace, items, prefixes))
    return time.perf_counter() - started


def _time_audit(vault: Vault, reveal: bool, repeat: int) -> tuple[int, float, float]:
    """(rows, median wall seconds, median CPU seconds of this process: steadier on a busy machine)."""
    seconds, cpu = [], []
    rows = 0
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        frame = audit(reveal=reveal, vault=vault)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        rows = len(frame)
    return rows, statistics.median(seconds), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is reported)")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="mkbench-"))
    try:
        ensure_embedded_redis(home)
        settings = load_settings({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": generate_key()})
        vault = Vault.from_settings(settings)
        try:
            fill_seconds = _fill(vault, args.rows, random.Random(20261101))
            redacted_rows, redacted_s, redacted_cpu = _time_audit(vault, False, args.repeat)
            revealed_rows, revealed_s, revealed_cpu = _time_audit(vault, True, args.repeat)
        finally:
            vault.close()
    finally:
        stop_embedded_redis(home)
        shutil.rmtree(home, ignore_errors=True)

    if redacted_rows != args.rows:
        print(f"error: audit returned {redacted_rows} rows, expected {args.rows}", file=sys.stderr)
        return 1
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()} cpus={os.cpu_count()} {platform.system()} (load average {load})")
    print(f"python:  {platform.python_version()} ({platform.python_implementation()})")
    print(f"commit:  {_commit()}")
    print(f"rows:    {args.rows} in {len(NAMESPACES)} namespaces, {len(FACTORIES)} kinds; median of {args.repeat}")
    print()
    print(f"{'step':<24}{'seconds':>10}{'rows/s':>12}{'cpu s':>10}")
    print(f"{'fill (pseudonyms_for)':<24}{fill_seconds:>10.3f}{args.rows / fill_seconds:>12,.0f}")
    print(f"{'audit() redacted':<24}{redacted_s:>10.3f}{redacted_rows / redacted_s:>12,.0f}{redacted_cpu:>10.3f}")
    print(f"{'audit(reveal=True)':<24}{revealed_s:>10.3f}{revealed_rows / revealed_s:>12,.0f}{revealed_cpu:>10.3f}")
    rate = redacted_rows / redacted_s
    verdict = "meets" if rate >= TARGET_ROWS_PER_S else "BELOW"
    print(f"\n{verdict} the target of {TARGET_ROWS_PER_S:,} rows/s")
    print(
        json.dumps(
            {
                "audit_rows": redacted_rows,
                "audit_seconds": round(redacted_s, 4),
                "audit_rows_per_s": round(rate),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
