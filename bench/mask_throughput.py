"""Masking throughput with the real vault, against a bare regex masker on the same text.

Builds a synthetic AWS corpus with `mktests.awsgen` (fresh random identifiers, ~4 MB by default), starts an
embedded vault in a temporary MASKKIT_HOME (always stopped at the end), and measures:

- `Detector.detect` alone, per document;
- `Masker.mask` per document on a fresh namespace (every mapping is minted: the pessimistic case), again on
  the same namespace (every mapping exists), and the whole corpus in one call (fresh namespace);
- the baseline: a bare regex masker, one `re.sub` per rule with the rules written as plain self-contained
  regexes (`maskkit.detect.plain_patterns()`: the same kinds in the same contexts), replaced from a dict.
  No vault, no merging or widening, no literal escaping, no prefilter, no dispatch.

The Masker's span cache is disabled, so every call really detects. Bytes per mapping are Redis `MEMORY USAGE`
of both keys of a mapping (`p:` hash and `f:` index), for originals up to 64 characters; long originals
(session tokens, PEM bodies) are reported on their own line. Prints machine, Python, commit and a table; the
last line is one JSON object.

    uv run python bench/mask_throughput.py [--mb 4] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from mktests import awsgen

from maskkit import Masker, load_settings
from maskkit.core.plan import TextCache
from maskkit.core.pseudonyms import format_pseudonym
from maskkit.detect.detector import Detector, plain_patterns
from maskkit.vault import ensure_embedded_redis, generate_key, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]

MB = 1_000_000


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    if git("status", "--porcelain", "--untracked-files=no").strip():
        commit += "+dirty"
    return {
        "machine": f"{cpu} ({platform.machine()}, {_cpus()} CPUs), {platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "commit": commit,
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class RegexBaseline:
    """The bare masker: each rule is one `re.sub` over the text (its checks applied), pseudonyms from a dict."""

    def __init__(self) -> None:
        self.rules = [(p.compiled, p.kind, p.validate) for p in plain_patterns()]
        self.forward: dict[tuple[str, str], str] = {}
        self.counters: dict[str, int] = {}

    def _pseudonym(self, kind: str, original: str) -> str:
        key = (kind, original)
        found = self.forward.get(key)
        if found is None:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            found = self.forward[key] = format_pseudonym(kind.lower().replace("_", ""), self.counters[kind])
        return found

    def _replace(self, default_kind: str, validate: Callable[[str], bool] | None) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            whole, base = match.group(0), match.start()
            pieces, cursor = [], 0
            for name, value in match.groupdict().items():
                if not value or (validate is not None and not validate(value)):
                    continue
                start, end = match.start(name) - base, match.end(name) - base
                if start < cursor:
                    continue
                kind = default_kind if name.startswith("v") else name
                pieces += [whole[cursor:start], self._pseudonym(kind, value)]
                cursor = end
            return "".join(pieces) + whole[cursor:]

        return replace

    def mask(self, text: str) -> str:
        for regex, kind, validate in self.rules:
            text = regex.sub(self._replace(kind, validate), text)
        return text


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fresh_masker(home: Path, key: str, namespace: str, detector: Detector) -> Masker:
    settings = load_settings({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": key, "MASKKIT_NAMESPACE": namespace})
    masker = Masker.from_settings(settings)
    masker.detector = detector
    masker._cache = TextCache(max_chars=0)  # measure detection every time, not the cache
    return masker


def bytes_per_mapping(sock: Path, namespace: str) -> tuple[float, float, int, int, float]:
    """(mean bytes per mapping with original <= 64 chars, mean for longer originals, count short, count long,
    mean length of the short originals)."""
    client = redis.Redis(unix_socket_path=str(sock))
    base = f"mk:{{{namespace}}}:"
    short: list[int] = []
    long: list[int] = []
    lengths: list[int] = []
    try:
        # The forward index is one hash per namespace: each mapping is charged its share of it.
        entries = max(1, int(client.hlen(base + "f")) - 1)  # (its "#" field aside)
        forward_share = (client.memory_usage(base + "f", samples=0) or 0) / entries
        for key in client.scan_iter(match=base + "p:*", count=1000):
            index, blob = client.hmget(key, "i", "c")
            if index is None or blob is None:
                continue
            used = (client.memory_usage(key, samples=0) or 0) + forward_share
            original_length = len(blob) - 12 - 16  # AES-GCM: nonce + tag
            (short if original_length <= 64 else long).append(used)
            if original_length <= 64:
                lengths.append(original_length)
    finally:
        client.close()
    return (
        statistics.fmean(short) if short else 0.0,
        statistics.fmean(long) if long else 0.0,
        len(short),
        len(long),
        statistics.fmean(lengths) if lengths else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=4.0, help="corpus size in MB (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="awsgen seed (default: fresh)")
    args = parser.parse_args()

    rng, seed = (random.Random(args.seed), args.seed) if args.seed is not None else awsgen.fresh_rng()
    docs = awsgen.generate_corpus(rng, int(args.mb * MB))
    texts = [doc.text for doc in docs]
    whole = "\n".join(texts)
    size = len(whole.encode()) / MB
    info = machine()
    for name, value in info.items():
        print(f"{name:8} {value}")
    print(f"corpus   {size:.2f} MB, {len(texts)} documents, awsgen seed={seed}")

    detector = Detector()
    for text in texts[:50]:  # warm up regex caches
        detector.detect(text)
    t_detect = timed(lambda: [detector.detect(t) for t in texts], repeat=2)

    def baseline_per_doc() -> None:
        baseline = RegexBaseline()
        for text in texts:
            baseline.mask(text)

    t_base = timed(baseline_per_doc, repeat=2)
    t_base_whole = timed(lambda: RegexBaseline().mask(whole))

    home = Path(tempfile.mkdtemp(prefix="mkb", dir="/tmp"))
    try:
        sock = ensure_embedded_redis(home)
        key = generate_key()
        cold = fresh_masker(home, key, "default", detector)  # the namespace most users have
        t_cold = timed(lambda: [cold.mask(t) for t in texts])
        t_warm = timed(lambda: [cold.mask(t) for t in texts])
        roundtrip_ok = all(cold.unmask(cold.mask(t).text) == t for t in texts[:200])
        one_call = fresh_masker(home, key, "benchwhole", detector)
        t_whole = timed(lambda: one_call.mask(whole))
        per_map, per_long, n_short, n_long, mean_len = bytes_per_mapping(sock, "default")
        cold.vault.close()
        one_call.vault.close()
    finally:
        stop_embedded_redis(home)
        shutil.rmtree(home, ignore_errors=True)

    rows = [
        ("Detector.detect, per document", t_detect),
        ("Masker.mask, per document, new mappings", t_cold),
        ("Masker.mask, per document, known mappings", t_warm),
        ("Masker.mask, whole corpus in one call", t_whole),
        ("baseline re.sub masker, per document", t_base),
        ("baseline re.sub masker, whole corpus", t_base_whole),
    ]
    print(f"\n{'measurement':46} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in rows:
        print(f"{name:46} {seconds:8.3f} {size / seconds:8.2f}")
    print(
        f"\nvault bytes per mapping (original <= 64 chars, mean {mean_len:.1f} chars, namespace `default`): "
        f"{per_map:.0f} over {n_short} mappings"
    )
    print(f"vault bytes per mapping (longer originals: session tokens, PEM): {per_long:.0f} over {n_long} mappings")
    print(f"round trip through the vault exact on 200 documents: {roundtrip_ok}")
    mask_mb_s, baseline_mb_s = size / t_cold, size / t_base
    print(
        json.dumps(
            {
                "mask_mb_s": round(mask_mb_s, 3),
                "baseline_mb_s": round(baseline_mb_s, 3),
                "ratio": round(mask_mb_s / baseline_mb_s, 3),
                "vault_bytes_per_mapping": round(per_map),
                "vault_bytes_per_long_mapping": round(per_long),
                "mask_mb_s_known": round(size / t_warm, 3),
                "mask_mb_s_whole": round(size / t_whole, 3),
                "detect_mb_s": round(size / t_detect, 3),
                "corpus_mb": round(size, 3),
                "seed": seed,
            }
        )
    )


if __name__ == "__main__":
    main()
