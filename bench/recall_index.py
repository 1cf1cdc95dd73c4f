"""The recall index at scale: build time and memory per original, load time from the vault, cost per request.

For N known originals (default 100k and 1M, generated with the shapes of real AWS names: buckets, RDS ids,
role names, secrets), measures:

- build: adding N originals to a `RecallIndex` and compiling its automata (seconds, bytes of process memory per
  original, from RSS before and after);
- per request: `find` on a fresh 10 KB AWS text (never seen: a full scan) and on the same text again after one
  new original was learned (the catch-up a re-sent conversation turn costs), against the floor of scanning that
  text with one plain `re` pattern;
- a stream of new requests: N known, then requests of a new 10 KB AWS text that each teach the index 50 new
  originals (found in that text, as detection would have): the index's CPU per request (learning them, the
  search, the merges a request makes while its mint is in flight) when the process has no idle time, and when
  it runs the idle-time upkeep (`RecallIndex.upkeep`, what the proxy does once a response is sent) between
  requests (its CPU reported apart); the same stream, same index size, in the same run;
- load: a new process's first mask in a namespace holding N mappings (the vault is filled through the mint
  script in batches first; `--no-vault` skips this part): from the recall set (HSCAN), and once more as for a
  namespace written before the recall set existed (the one-time server-side SCAN that fills it).

Prints a table; the last line is one JSON object.

    uv run python bench/recall_index.py [--sizes 100000,1000000] [--no-vault]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import redis
from benchinfo import commit, cpu
from mktests import awsgen

from maskkit import Masker, load_settings
from maskkit.core.recall import RecallIndex
from maskkit.vault import ensure_embedded_redis, generate_key, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def originals(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = ["billing", "payroll", "exports", "logs", "prod", "staging", "etl", "archive", "data", "web", "api"]
    out = []
    for i in range(n):
        shape = i % 4
        if shape == 0:
            out.append(("S3_BUCKET", f"{rng.choice(words)}-{rng.choice(words)}-{i:07d}"))
        elif shape == 1:
            out.append(("RDS_INSTANCE", f"{rng.choice(words)}-pg-{i:07d}"))
        elif shape == 2:
            out.append(("IAM_ROLE", f"{rng.choice(words).title()}Role{i:07d}"))
        else:
            out.append(("PASSWORD", "".join(rng.choices(string.ascii_letters + string.digits, k=16))))
    return out


def timed(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def bench_index(n: int, text: str) -> dict[str, float]:
    values = originals(n, n)
    gc.collect()
    before = rss()
    start = time.perf_counter()
    index = RecallIndex()
    for kind, original in values:
        index.add(kind, original, "x-001")
    index.find("warm")  # compiles the automata
    build = time.perf_counter() - start
    gc.collect()
    grown = rss() - before
    sample = " ".join(o for _, o in values[:: max(1, n // 50)])
    page = text + "\n" + sample
    scan = timed(lambda: index.find(page))
    version = index.version
    index.add("S3_BUCKET", "just-learned-bucket-1", "s3-999")
    catch_up = timed(lambda: index.find(page, since=version))
    floor_re = re.compile(r"arn:aws:[a-z0-9-]+:")
    floor = timed(lambda: floor_re.findall(page))
    return {
        "originals": n,
        "build_s": round(build, 3),
        "bytes_per_original": round(grown / n),
        "find_10kb_ms": round(scan * 1000, 3),
        "catch_up_ms": round(catch_up * 1000, 3),
        "one_regex_floor_ms": round(floor * 1000, 3),
        "automata": len(index._levels),
    }


def bench_stream(n: int, docs_text: str, requests: int) -> dict[str, float]:
    """Per-request CPU of the index for a stream of new texts, each teaching it 50 new originals, on top of `n`
    known: without idle time (merges while the mint is in flight only) and with the idle-time upkeep between
    requests. Texts and originals are the same for both."""
    rng = random.Random(n + 7)
    stream = []
    for r in range(requests + 20):
        new = [(kind, f"{original}-r{r}") for kind, original in originals(50, n + 1000 + r)]
        start = rng.randrange(0, len(docs_text) - 8_000)
        chunk = docs_text[start : start + 8_000]
        stream.append((new, chunk + "\n" + " ".join(original for _, original in new)))
    out: dict[str, float] = {"originals": n, "requests": requests}
    for mode in ("no_idle", "idle"):
        index = RecallIndex()
        index.add_many((kind, original, "x-001") for kind, original in originals(n, n))
        index.compile()
        gc.collect()
        cpu_times, idle_times, levels = [], [], []
        for number, (new, text) in enumerate(stream):
            start = time.thread_time()
            index.add_many((kind, original, "") for kind, original in new)  # (the plan: pending, no pseudonym)
            index.find_raw_many([text, text[:200]])
            index.add_many((kind, original, "x-002") for kind, original in new)  # (the mint's reply)
            if index.pending:
                index.maintain()  # (made while the mint is in flight: on the request's CPU all the same)
            spent = time.thread_time() - start
            if mode == "idle":
                start = time.thread_time()
                while index.upkeep():
                    pass
                idle_times.append(time.thread_time() - start)
            if number >= 20:  # (the first ones settle the stack)
                cpu_times.append(spent)
                levels.append(len(index._levels))
        cpu_times.sort()
        out[f"{mode}_median_ms"] = round(statistics.median(cpu_times) * 1000, 3)
        out[f"{mode}_mean_ms"] = round(statistics.mean(cpu_times) * 1000, 3)
        out[f"{mode}_p99_ms"] = round(cpu_times[int(len(cpu_times) * 0.99)] * 1000, 3)
        out[f"{mode}_automata"] = round(statistics.mean(levels), 1)
        if idle_times:
            out["idle_upkeep_ms_per_request"] = round(statistics.mean(idle_times) * 1000, 3)
        del index
    out["mean_ratio_idle_vs_no_idle"] = round(out["idle_mean_ms"] / out["no_idle_mean_ms"], 2)
    return out


def _first_mask(env: dict[str, str], first: str, last: str) -> float:
    """Seconds a new Masker takes for its first mask of two known names (which loads the namespace's index);
    both must come out masked."""
    masker = Masker.from_settings(load_settings(env))
    start = time.perf_counter()
    result = masker.mask(f"bare names: {first} {last}")
    seconds = time.perf_counter() - start
    assert first not in result.text and last not in result.text
    masker.vault.close()
    return seconds


def bench_load(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mkrecall", dir="/tmp") as tmp:
        home = Path(tmp) / "home"
        ensure_embedded_redis(home)
        try:
            env = {"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": generate_key(), "MASKKIT_NAMESPACE": "bench"}
            filler = Masker.from_settings(load_settings(env))
            values = originals(n, n + 1)
            prefixes = dict(filler.detector.kinds)
            start = time.perf_counter()
            for offset in range(0, n, 10_000):
                filler.vault.mint("bench", values[offset : offset + 10_000], prefixes)
            fill = time.perf_counter() - start
            filler.vault.close()
            load = _first_mask(env, values[0][1], values[-1][1])
            # A namespace written before the recall set existed: loaded once by the server-side SCAN, which fills
            # the set (one-time cost after an upgrade).
            client = filler.vault._client()
            client.delete("mk:{bench}:r", "mk:{bench}:rc")
            filler.vault.close()
            scan = _first_mask(env, values[0][1], values[-1][1])
        finally:
            # SHUTDOWN SAVE of millions of keys outlasts the client's socket timeout: empty the server first.
            with redis.Redis(unix_socket_path=str(home / "redis.sock"), socket_timeout=None) as client:
                client.flushall()
            stop_embedded_redis(home)
    return {"originals": n, "fill_s": round(fill, 2), "first_mask_with_load_s": round(load, 2),
            "first_mask_scan_load_s": round(scan, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-vault", action="store_true")
    parser.add_argument("--requests", type=int, default=300, help="requests of the stream workload")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    docs = awsgen.generate_corpus(random.Random(3), 10_000)
    text = "\n".join(d.text for d in docs)[:10_000]
    print(f"# recall index | commit {commit()} | {cpu()} | Python {sys.version.split()[0]}")
    rows = [bench_index(n, text) for n in sizes]
    print(f"{'originals':>10}{'build s':>9}{'B/orig':>8}{'find 10KB ms':>14}{'catch-up ms':>13}{'1 regex ms':>12}")
    for row in rows:
        print(f"{row['originals']:>10}{row['build_s']:>9}{row['bytes_per_original']:>8}{row['find_10kb_ms']:>14}"
              f"{row['catch_up_ms']:>13}{row['one_regex_floor_ms']:>12}")
    corpus = "\n".join(d.text for d in awsgen.generate_corpus(random.Random(4), 300_000))
    streams = [bench_stream(n, corpus, args.requests) for n in sizes]
    print(f"{'originals':>10}  stream of new 10 KB texts (+50 originals each), index CPU per request, ms")
    print(f"{'':>10}{'no idle: median':>17}{'mean':>7}{'p99':>8}{'automata':>9}"
          f"{'idle: median':>14}{'mean':>7}{'p99':>8}{'automata':>9}{'upkeep':>8}")
    for row in streams:
        print(f"{row['originals']:>10}{row['no_idle_median_ms']:>17}{row['no_idle_mean_ms']:>7}{row['no_idle_p99_ms']:>8}"
              f"{row['no_idle_automata']:>9}{row['idle_median_ms']:>14}{row['idle_mean_ms']:>7}{row['idle_p99_ms']:>8}"
              f"{row['idle_automata']:>9}{row['idle_upkeep_ms_per_request']:>8}")
    loads = []
    for n in [] if args.no_vault else sizes:
        loads.append(bench_load(n))
        print(json.dumps(loads[-1]), flush=True)
    for load in loads:
        print(f"vault with {load['originals']} originals: filled in {load['fill_s']} s; a new process's first mask "
              f"(loads the index) {load['first_mask_with_load_s']} s; from a namespace without a recall set "
              f"(server-side SCAN, once) {load['first_mask_scan_load_s']} s")
    print(json.dumps({"bench": "recall_index", "commit": commit(), "index": rows, "stream": streams, "load": loads}))


if __name__ == "__main__":
    main()
