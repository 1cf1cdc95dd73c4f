"""The headline: `maskkit mask` on one big paste, in one call, never-seen identifiers, a fresh MASKKIT_HOME.

What a user meets when they pipe a large log or `describe-*` dump through `maskkit mask`. For each size (1x,
4x, 16x of `--mb`, default 0.2 MB -> 0.8 -> 3.2 MB; plus the 1.6 MB headline) it generates a corpus with
`mktests.awsgen`, runs `python -m maskkit mask FILE` as a real process on a fresh data dir (its embedded
redis-server started by it), and reports wall time and CPU seconds (the CLI process plus the redis-server, read
from /proc), each minus the same run on a tiny input (start-up: interpreter, imports, the embedded server).

Baseline, measured in the same run on the same text: a bare regex masker with the fewest plain patterns that
cover the kinds (EC2-family ids, access key ids, secret keys and session tokens after their names, account ids
in ARNs and ECR hosts, `s3://` and `arn:aws:s3:::` buckets, EC2/RDS/ELB hosts): one `re.sub` each, pseudonyms
from a dict, no vault. Ratio = baseline time / maskkit wall time (>= 1.0 means maskkit is as fast); CPU ratio =
baseline time / maskkit CPU seconds (a large input is scanned on every usable CPU: `maskkit.pieces`, so the two
differ). Each figure is the median of `--repeat` runs (default 3; 7 under 1 MB), each paired with a start-up run
just before it; the baseline is the median of as many runs.

The headline row also carries a detect-only micro figure, in this process: `Detector().detect(text,
spread=False)` on the same text (best of 3) against the same baseline (best of 3): detection alone, without
the vault, recall or start-up.

`--big` adds the stress case: 20 MB with ~250k distinct identifiers (MB/s and peak RSS), and then the same
after 1M originals are already in the namespace (its start-up, measured the same way, includes loading their
recall index, so the row is the masking alone).

    uv run python bench/mask_cli.py [--mb 0.2] [--big]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import commit, cpu
from mktests import awsgen

ROOT = Path(__file__).resolve().parents[1]

MB = 1_000_000
TICK = os.sysconf("SC_CLK_TCK")

BASELINE = [
    r"\b(?:i|ami|vol|snap|sg|subnet|vpc|eni|igw|rtb|nat|acl|eipalloc|lt|tgw|pcx|vpce|r)-(?:[0-9a-f]{17}|[0-9a-f]{8})\b",
    r"\b(?:AKIA|ASIA|AROA|AIDA|ANPA|AGPA|AIPA)[A-Z0-9]{16}\b",
    r"(?i)(?:secret_?access_?key|secret_key)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})",
    r"(?i)(?:session_?token|security_?token)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{100,})",
    r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):",
    r"\b(\d{12})\.dkr\.ecr\.",
    r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
    r"arn:aws:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
    r"\bec2-\d+-\d+-\d+-\d+\.[a-z0-9.-]*amazonaws\.com\b",
    r"\b[a-z0-9-]+\.[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com\b",
    r"\b[a-z0-9-]+-\d+\.[a-z0-9-]+\.elb\.amazonaws\.com\b",
]


class Baseline:
    """One `re.sub` per plain pattern; the whole match (or its group) becomes a pseudonym from a dict."""

    def __init__(self) -> None:
        self.rules = [re.compile(p) for p in BASELINE]
        self.forward: dict[str, str] = {}

    def _sub(self, match: re.Match[str]) -> str:
        value = match.group(1) if match.re.groups else match.group(0)
        pseudonym = self.forward.setdefault(value, f"id-{len(self.forward) + 1:03d}")
        if not match.re.groups:
            return pseudonym
        start, end = match.span(1)
        whole = match.group(0)
        return whole[: start - match.start()] + pseudonym + whole[end - match.start() :]

    def mask(self, text: str) -> str:
        for rule in self.rules:
            text = rule.sub(self._sub, text)
        return text


def corpus(megabytes: float, seed: int) -> tuple[str, int]:
    docs = awsgen.generate_corpus(random.Random(seed), int(megabytes * MB))
    return "\n\n".join(d.text for d in docs), len(awsgen.planted_values(docs))


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def run_cli(home: Path, path: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the CLI and its redis-server, peak RSS KB) for one `maskkit mask`."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "maskkit", "mask", str(path)],
        env={**env, "MASKKIT_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"maskkit mask failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    pid_file = home / "redis.pid"
    server = _proc_cpu(int(pid_file.read_text())) if pid_file.exists() else 0.0
    return wall, usage.ru_utime + usage.ru_stime + server, usage.ru_maxrss


def stop(home: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "maskkit", "vault", "stop"], env={**env, "MASKKIT_HOME": str(home)},
                   capture_output=True, timeout=60)


def measure(text: str, workdir: Path, env: dict[str, str], label: str, repeat: int = 3,
            fill: int = 0) -> dict[str, float]:
    """`repeat` runs of the big input, each minus a run of the tiny one (start-up) just before it, each on a fresh
    data dir (with `fill` originals already in the namespace when asked): the median; the baseline's median
    of `repeat` runs."""
    path = workdir / f"{label}.txt"
    path.write_text(text)
    tiny = workdir / "tiny.txt"
    tiny.write_text("reboot i-0123456789abcdef0\n")
    walls: list[float] = []
    cpus: list[float] = []
    startups: list[float] = []
    rss = 0
    for attempt in range(repeat):
        home_tiny, home = workdir / f"h-{label}-{attempt}-tiny", workdir / f"h-{label}-{attempt}"
        try:
            if fill:
                prefill(home, env, fill)
                prefill(home_tiny, env, fill)
            wall0, cpu0, _ = run_cli(home_tiny, tiny, env)
            wall, cpu_s, peak = run_cli(home, path, env)
        finally:
            stop(home_tiny, env)
            stop(home, env)
        # Each run paired with the start-up measured just before it: a slow moment of the box cancels out.
        walls.append(wall - wall0)
        cpus.append(cpu_s - cpu0)
        startups.append(wall0)
        rss = max(rss, peak)
    baselines = []
    for _ in range(repeat):
        base = Baseline()
        t = time.perf_counter()
        base.mask(text)
        baselines.append(time.perf_counter() - t)
    baseline = statistics.median(baselines)
    size = len(text.encode()) / MB
    net_wall, net_cpu = max(statistics.median(walls), 1e-6), max(statistics.median(cpus), 1e-6)
    return {
        "mb": round(size, 3),
        "wall_s": round(net_wall, 3),
        "cpu_s": round(net_cpu, 3),
        "mb_per_s": round(size / net_wall, 2),
        "cpu_s_per_mb": round(net_cpu / size, 3),
        "baseline_s": round(baseline, 3),
        "baseline_mb_per_s": round(size / baseline, 2),
        "ratio": round(baseline / net_wall, 2),
        "cpu_ratio": round(baseline / net_cpu, 2),
        "peak_rss_mb": round(rss / 1024, 1),
        "startup_s": round(statistics.median(startups), 3),
    }


def prefill(home: Path, env: dict[str, str], count: int) -> None:
    """`count` originals in the namespace of a fresh data dir (through the vault's own mint, in batches)."""
    from maskkit import Masker, load_settings

    masker = Masker.from_settings(load_settings({**env, "MASKKIT_HOME": str(home)}))
    prefixes = dict(masker.detector.kinds)
    rng = random.Random(count)
    for offset in range(0, count, 10_000):
        batch = [("S3_BUCKET", f"known-{rng.getrandbits(40):010x}-{offset + i:07d}") for i in range(10_000)]
        masker.vault.mint(masker.namespace, batch[: count - offset], prefixes)
    masker.vault.close()


def dense_corpus(megabytes: float, ids: int, seed: int) -> tuple[str, int]:
    """The generated corpus, with `describe-*`-style text lines mixed in until it holds about `ids` distinct
    never-seen identifiers (the issue's 20 MB case names 250k; the plain corpus carries ~4k per MB)."""
    text, planted = corpus(megabytes * 0.6, seed)
    rng = random.Random(seed)
    lines = []
    extra = max(0, ids - planted)
    for n in range(0, extra, 4):
        account = f"{rng.randrange(10**11, 10**12)}"
        lines.append(
            f"INSTANCES\ti-{rng.getrandbits(68):017x}\tvol-{rng.getrandbits(68):017x}\t"
            f"subnet-{rng.getrandbits(68):017x}\tarn:aws:iam::{account}:instance-profile/app-{n:07d}"
        )
    rows = "\n".join(lines)
    return text + "\n\n" + rows + "\n", planted + extra


def detect_micro(text: str) -> dict[str, float]:
    """Detection alone, in this process (best of 3 each, interleaved): seconds and ratio to the baseline."""
    from maskkit.detect.detector import Detector

    detector = Detector()
    detector.detect("warm-up i-0123456789abcdef0", spread=False)
    best_detect = best_base = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        detector.detect(text, spread=False)
        best_detect = min(best_detect, time.perf_counter() - t)
        t = time.perf_counter()
        Baseline().mask(text)
        best_base = min(best_base, time.perf_counter() - t)
    return {
        "detect_s": round(best_detect, 3),
        "detect_baseline_s": round(best_base, 3),
        "detect_ratio": round(best_base / best_detect, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the best is kept)")
    parser.add_argument("--big", action="store_true", help="also 20 MB / 250k ids, and with 1M known originals")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKKIT_")}
    print(f"# maskkit mask, one call, fresh data dir | commit {commit()} | {cpu()} | Python {sys.version.split()[0]}")
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mkbench", dir="/tmp") as tmp:
        work = Path(tmp)
        text, planted = corpus(1.6, args.seed)
        rows["headline 1.6 MB"] = {**measure(text, work, env, "headline", args.repeat), "ids": planted}
        micro = detect_micro(text)
        for factor in (1, 4, 16):
            text, planted = corpus(args.mb * factor, args.seed + factor)
            # A small input is a small difference between two start-ups: more runs to find each one's best.
            repeat = args.repeat if len(text) >= MB else max(args.repeat, 7)
            rows[f"{factor}x"] = {**measure(text, work, env, f"x{factor}", repeat), "ids": planted}
        if args.big:
            text, planted = dense_corpus(20, 250_000, args.seed + 99)
            rows["20 MB"] = {**measure(text, work, env, "big", 1), "ids": planted}
            rows["20 MB, 1M known"] = {**measure(text, work, env, "bigknown", 1, fill=1_000_000), "ids": planted}
    print(f"{'case':<18}{'MB':>7}{'ids':>8}{'wall s':>9}{'MB/s':>8}{'CPU s/MB':>10}{'regex MB/s':>12}"
          f"{'ratio':>7}{'CPU ratio':>10}{'RSS MB':>8}")
    for name, row in rows.items():
        print(f"{name:<18}{row['mb']:>7}{row['ids']:>8}{row['wall_s']:>9}{row['mb_per_s']:>8}{row['cpu_s_per_mb']:>10}"
              f"{row['baseline_mb_per_s']:>12}{row['ratio']:>7}{row['cpu_ratio']:>10}{row['peak_rss_mb']:>8}")
    print(f"detect only, 1.6 MB in-process: {micro['detect_s']} s vs baseline {micro['detect_baseline_s']} s "
          f"= {micro['detect_ratio']}x")
    growth = rows["16x"]["cpu_s_per_mb"] / max(rows["1x"]["cpu_s_per_mb"], 1e-6)
    print(f"CPU per MB, 16x vs 1x: {growth:.2f}x (target <= 1.5)")
    summary = {
        "bench": "mask_cli",
        "commit": commit(),
        "rows": rows,
        "detect_only": micro,
        "cpu_per_mb_growth_16x": round(growth, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
