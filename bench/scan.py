"""`maskkit scan` throughput on the generated corpus, against a bare regex scanner measured in the same run.

Writes a synthetic AWS corpus (`mktests.awsgen`, fresh random identifiers, ~4 MB by default) as one file per
document into a temporary directory, then measures (best of `--repeat`):

- the floor: reading every file (the walk and the I/O, no detection);
- the baseline: a bare regex scanner, one `finditer` per rule of `maskkit.detect.plain_patterns()` (the same kinds
  in the same contexts as plain self-contained regexes), line/column computed per hit; no merging, no allowlist;
- `maskkit.scan.Scanner` in-process over the directory (what `maskkit scan DIR` does after start-up);
- `maskkit scan DIR` as a real process (start-up, text output), once.

Also reports recall on the planted values (a finding is counted when its line holds the value). Prints machine,
Python, commit and a table; the last line is one JSON object.

    uv run python bench/scan.py [--mb 4] [--seed N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchinfo
from mktests import awsgen

from maskkit.detect import Detector, plain_patterns
from maskkit.scan import Scanner

ROOT = Path(__file__).resolve().parents[1]

MB = 1_000_000


def best(fn: Callable[[], object], repeat: int) -> float:
    fastest = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def read_all(root: Path) -> int:
    return sum(len(p.read_bytes()) for p in files_of(root))


def regex_scan(root: Path) -> int:
    rules = [(p.compiled, p.validate) for p in plain_patterns()]
    hits = 0
    for path in files_of(root):
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        for regex, validate in rules:
            for match in regex.finditer(text):
                for value in match.groupdict().values():
                    if value and (validate is None or validate(value)):
                        bisect.bisect_right(starts, match.start())  # line number, as a scanner must report it
                        hits += 1
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng, seed = (random.Random(args.seed), args.seed) if args.seed is not None else awsgen.fresh_rng()
    docs = awsgen.generate_corpus(rng, int(args.mb * MB))
    with tempfile.TemporaryDirectory(prefix="maskkit-scan-bench-") as tmp:
        root = Path(tmp)
        for index, doc in enumerate(docs):
            (root / f"{index:05d}-{doc.kind}.txt").write_text(doc.text, encoding="utf-8")
        size = read_all(root)
        floor = best(lambda: read_all(root), args.repeat)
        baseline = best(lambda: regex_scan(root), args.repeat)

        def run_scanner() -> Scanner:
            scanner = Scanner(Detector())
            scanner.scan_paths([str(root)])
            return scanner

        scanner = run_scanner()
        scan_time = best(run_scanner, args.repeat)
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-m", "maskkit", "scan", str(root)], capture_output=True, timeout=600,
            env={**os.environ, "MASKKIT_HOME": str(root / ".home")},
        )
        cli_time = time.perf_counter() - started
        assert process.returncode == 1, process.stderr
        found_lines: dict[str, set[int]] = {}
        for finding in scanner.findings:
            found_lines.setdefault(finding.path, set()).add(finding.line)
        planted = caught = 0
        for index, doc in enumerate(docs):
            path = str(root / f"{index:05d}-{doc.kind}.txt")
            lines = doc.text.splitlines()
            for item in doc.planted:
                planted += 1
                head = item.value.splitlines()[0] if item.value.strip() else item.value
                numbers = {n for n, line in enumerate(lines, 1) if head in line}
                caught += bool(numbers & found_lines.get(path, set()))
    mbps = lambda seconds: size / MB / seconds  # noqa: E731
    print(f"maskkit scan throughput — {benchinfo.cpu()}, Python {platform.python_version()}, "
          f"commit {benchinfo.commit()}, seed {seed}")
    print(f"corpus: {len(docs)} files, {size / MB:.2f} MB, {planted} planted values")
    print(f"{'pass':<44} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in [
        ("floor: read every file", floor),
        ("baseline: bare regex scanner (plain_patterns)", baseline),
        ("maskkit.scan.Scanner (in-process)", scan_time),
        ("`maskkit scan DIR` (process, start-up incl.)", cli_time),
    ]:
        print(f"{name:<44} {seconds:>8.3f} {mbps(seconds):>8.2f}")
    print(f"findings: {len(scanner.findings)}; planted values on a reported line: {caught}/{planted} "
          f"({caught / planted:.3f})")
    print(json.dumps({
        "bench": "scan", "mb": round(size / MB, 3), "files": len(docs), "seed": seed,
        "floor_mb_s": round(mbps(floor), 2), "baseline_mb_s": round(mbps(baseline), 2),
        "scan_mb_s": round(mbps(scan_time), 2), "cli_s": round(cli_time, 3),
        "ratio_vs_baseline": round(baseline / scan_time, 2), "recall": round(caught / planted, 4),
        "commit": benchinfo.commit(),
    }))


if __name__ == "__main__":
    main()
