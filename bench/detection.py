"""Detection quality: recall per label on a generated AWS corpus, and false positives on decoy sets.

Recall: `tests/awsgen.py` writes a corpus (~2 MB by default, fresh random identifiers) and records every
sensitive value it planted, with a label. Each document is masked with `Detector().detect` (pseudonyms from a
dict, no vault); a planted value counts as found when it no longer occurs anywhere in the masked document.

False positives: each decoy is written into a neutral line (several contexts per set, rotated) and detected on
its own; it counts as a false positive when any span overlaps it. Sets: 10k git SHAs, 10k UUIDs outside any
AWS context, 10k timestamps (ISO 8601 variants, epoch seconds and milliseconds, compact `YYYYMMDDhhmm`), every
AWS region and availability zone, 10k generated English-ish words and identifiers. Nothing is downloaded.

Prints machine, Python, commit and tables; the last line is one JSON object.

    uv run python bench/detection.py [--mb 2] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import awsgen  # noqa: E402
from mask_throughput import machine  # noqa: E402

from maskkit.core.messages import apply_spans  # noqa: E402
from maskkit.detect.detector import Detector  # noqa: E402

MB = 1_000_000
N = 10_000

#: Every commercial, GovCloud and China region (2026), and the ISO partitions' best-known ones.
REGIONS = (
    "us-east-1 us-east-2 us-west-1 us-west-2 af-south-1 ap-east-1 ap-east-2 ap-south-1 ap-south-2 ap-southeast-1 "
    "ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-7 ap-northeast-1 ap-northeast-2 "
    "ap-northeast-3 ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-west-1 eu-west-2 eu-west-3 eu-south-1 "
    "eu-south-2 eu-north-1 il-central-1 me-south-1 me-central-1 mx-central-1 sa-east-1 us-gov-east-1 us-gov-west-1 "
    "cn-north-1 cn-northwest-1 us-iso-east-1 us-iso-west-1 us-isob-east-1"
).split()


def recall(docs: list[awsgen.Document], detector: Detector) -> dict[str, tuple[int, int]]:
    """label -> (found, planted) over (document, value) pairs."""
    counts: dict[str, list[int]] = {}
    for doc in docs:
        masked = apply_spans(doc.text, detector.detect(doc.text), lambda kind, original: f"<{kind}>")
        for planted in doc.planted:
            entry = counts.setdefault(planted.label, [0, 0])
            entry[1] += 1
            entry[0] += planted.value not in masked
    return {label: (found, total) for label, (found, total) in sorted(counts.items())}


def _rotate(contexts: list[str], values: list[str]) -> Iterator[tuple[str, str]]:
    for index, value in enumerate(values):
        yield contexts[index % len(contexts)].format(value), value


def false_positive_rate(lines: Iterator[tuple[str, str]], detector: Detector) -> tuple[float, int, int, list[str]]:
    """(rate, hits, total, a few examples): a hit is a span overlapping the decoy's occurrence in its line."""
    hits, total, examples = 0, 0, []
    for line, value in lines:
        total += 1
        start = line.index(value)
        end = start + len(value)
        if any(span.start < end and start < span.end for span in detector.detect(line)):
            hits += 1
            if len(examples) < 3:
                examples.append(line)
    return hits / max(total, 1), hits, total, examples


def git_shas(rng: random.Random) -> list[str]:
    return [f"{rng.getrandbits(160):040x}" for _ in range(N)]


def uuids(rng: random.Random) -> list[str]:
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(N)]


def timestamps(rng: random.Random) -> list[str]:
    out = []
    start = datetime(2015, 1, 1, tzinfo=UTC)
    for index in range(N):
        moment = start + timedelta(seconds=rng.randrange(12 * 365 * 86400), microseconds=rng.randrange(10**6))
        style = index % 7
        if style == 0:
            out.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif style == 1:
            out.append(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z")
        elif style == 2:
            out.append(moment.isoformat())
        elif style == 3:
            out.append(str(int(moment.timestamp())))
        elif style == 4:
            out.append(str(int(moment.timestamp() * 1000)))
        elif style == 5:
            out.append(moment.strftime("%Y%m%d%H%M"))  # 12 digits, like an account id
        else:
            out.append(moment.strftime("%Y%m%dT%H%M%SZ"))
    return out


_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gr pl pr sh sl st str th tr".split()
_VOWELS = "a e i o u ai ea ee oo ou io".split()
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck"]


def words(rng: random.Random) -> list[str]:
    """English-ish words and the identifiers programmers build from them (snake, camel, kebab, upper, dotted)."""

    def word() -> str:
        return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(1, 3)))

    out = []
    for index in range(N):
        parts = [word() for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.15:
            parts.append(rng.choice(["v2", "2", "s3", "py3", "utf8", "x64", "10", "42"]))
        style = index % 6
        if style == 0:
            out.append(parts[0])
        elif style == 1:
            out.append("_".join(parts))
        elif style == 2:
            out.append(parts[0] + "".join(p.capitalize() for p in parts[1:]))
        elif style == 3:
            out.append("".join(p.capitalize() for p in parts))
        elif style == 4:
            out.append("-".join(parts))
        else:
            out.append("_".join(parts).upper())
    return out


FP_SETS: dict[str, tuple[Callable[[random.Random], list[str]], list[str]]] = {
    "sha": (git_shas, ["commit {}", "RELEASE_SHA={}", '"sha": "{}"', "{}", "deploy {} to prod", "  revision: {}"]),
    "uuid": (
        uuids,
        ["trace_id={}", '"requestId": "{}"', "X-Request-Id: {}", "{}", '"MessageId": "{}"', "job {} done"],
    ),
    "timestamp": (
        timestamps,
        ['"eventTime": "{}"', "ts={}", '"CreatedAt": {}', "{} INFO request done", "Date: {}", '"stamp": "{}"'],
    ),
    "words": (words, ["{}", "the {} job finished", '"Description": "{}"', "{}.py", "def {}():", "- {}"]),
}


def region_lines() -> Iterator[tuple[str, str]]:
    contexts = [
        "--region {}",
        '"awsRegion": "{}"',
        "region = {}",
        "AWS_DEFAULT_REGION={}",
        "https://ec2.{}.amazonaws.com/",
        "com.amazonaws.{}.s3",
    ]
    for region in REGIONS:
        for context in contexts:
            yield context.format(region), region
        for zone in "abc":
            yield f'"AvailabilityZone": "{region}{zone}"', f"{region}{zone}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2.0, help="corpus size in MB (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="awsgen and decoy seed (default: fresh)")
    args = parser.parse_args()
    rng, seed = (random.Random(args.seed), args.seed) if args.seed is not None else awsgen.fresh_rng()

    for name, value in machine().items():
        print(f"{name:8} {value}")
    detector = Detector()
    started = time.perf_counter()
    docs = awsgen.generate_corpus(rng, int(args.mb * MB))
    size = sum(len(doc.text.encode()) for doc in docs) / MB
    print(f"corpus   {size:.2f} MB, {len(docs)} documents, seed={seed}\n")

    per_label = recall(docs, detector)
    print(f"{'label':22} {'planted':>8} {'found':>8} {'recall':>8}")
    for label, (hit, total) in per_label.items():
        print(f"{label:22} {total:8d} {hit:8d} {hit / total:8.4f}")
    found_all = sum(hit for hit, _ in per_label.values())
    planted_all = sum(total for _, total in per_label.values())
    overall = found_all / planted_all
    worst_label, (worst_hit, worst_total) = min(per_label.items(), key=lambda item: item[1][0] / item[1][1])
    print(f"{'all':22} {planted_all:8d} {found_all:8d} {overall:8.4f}")
    missing = sorted(awsgen.LABELS - set(per_label))
    if missing:
        print(f"labels not planted in this corpus: {missing}")

    print(f"\n{'decoy set':12} {'lines':>7} {'masked':>7} {'fp rate':>9}  examples")
    rates: dict[str, float] = {}
    for name, (make, contexts) in FP_SETS.items():
        rate, hits, total, examples = false_positive_rate(_rotate(contexts, make(rng)), detector)
        rates[name] = rate
        print(f"{name:12} {total:7d} {hits:7d} {rate:9.5f}  {examples}")
    rate, hits, total, examples = false_positive_rate(region_lines(), detector)
    rates["region"] = rate
    print(f"{'region':12} {total:7d} {hits:7d} {rate:9.5f}  {examples}")
    print(f"elapsed {time.perf_counter() - started:.1f} s")
    print(
        json.dumps(
            {
                "recall": round(overall, 5),
                "recall_min_label": round(worst_hit / worst_total, 5),
                "fp_rate_sha": round(rates["sha"], 5),
                "fp_rate_uuid": round(rates["uuid"], 5),
                "fp_rate_timestamp": round(rates["timestamp"], 5),
                "fp_rate_region": round(rates["region"], 5),
                "fp_rate_words": round(rates["words"], 5),
                "recall_min_label_name": worst_label,
                "planted": planted_all,
                "corpus_mb": round(size, 3),
                "seed": seed,
            }
        )
    )


if __name__ == "__main__":
    main()
