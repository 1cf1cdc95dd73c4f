"""Detection quality: recall per label on a generated AWS corpus, false positives per decoy class, and the
share of replaced spans that are over-masking.

Recall: `mktests.awsgen` writes a corpus (~2 MB by default, fresh random identifiers) and records every
sensitive value it planted, with a label. Each document is masked with `Detector().detect` (pseudonyms from a
dict, no vault); a planted value counts as found when it no longer occurs anywhere in the masked document.
Measured twice: each document alone, and documents in groups of 10 joined into one text (what a long
conversation looks like: in-text repetition spreads what it learned across documents).

Over-masking share: of all spans replaced in the corpus, the share that overlap a decoy (a value awsgen wrote
on purpose as must-survive: regions, local zones, ordinary words, JSON keys, managed names, versions,
timestamps ...) outside every planted value. Alone and grouped.

False positives: each decoy is written into a line (several contexts per class, rotated) and detected on its
own; it counts as a false positive when any span overlaps its last occurrence (for the `spread` contexts, the
first occurrence is a name field and the last a mention in prose). Classes: git SHAs, UUIDs outside any AWS
context, timestamps (ISO 8601, epoch s/ms, compact `YYYYMMDDhhmm`, bare), order/phone numbers, every region,
AZ, local zone and AZ id (also inside name fields), ordinary words (in context and spread), JSON keys and
JMESPath names, AWS managed policy names and AWS alias-target zone ids, versions and multicast addresses,
generated English-ish words and identifiers. And the bare-number policy's other side: recall on account ids
written in prose, `--output text` rows and dashed. Nothing is downloaded.

Speed (CPU seconds, best of `--repeat`, in this process): `Detector().detect(text, spread=False)` on a 1.6 MB
awsgen corpus (seed 7, the text of bench/mask_cli.py's headline) against the bare 11-regex masker of
bench/mask_cli.py on the same text; per call on forty ~10 KB AWS texts (the proxy's "10 KB of new text per
request", bench/proxy_overhead.py's `aws_text`) and on their first 1 KB; `encoded_runs` on both. With
`--against DIR` (a maskkit tree, e.g. `git archive 662be44 | tar -x -C /tmp/base`), the same figures are measured
for that tree in a subprocess, alternating with this one, and the ratios printed; both must find the same spans
(a digest of every span list is compared).

Prints machine, Python, commit, the maskkit used, and tables; the last line is one JSON object. To measure an
older detector's quality on the same corpus, put its tree first on the path:
`git archive <commit> maskkit | tar -x -C /tmp/old && PYTHONPATH=/tmp/old uv run python bench/detection.py`.

    uv run python bench/detection.py [--mb 2] [--seed N] [--repeat 5] [--against DIR] [--speed-only]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mask_throughput import machine
from mktests import awsgen

import maskkit
from maskkit.core.messages import apply_spans
from maskkit.detect.detector import Detector
from maskkit.types import Span

ROOT = Path(__file__).resolve().parents[1]

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


GROUP = 10


def _groups(docs: list[awsgen.Document], size: int) -> list[list[awsgen.Document]]:
    return [docs[i : i + size] for i in range(0, len(docs), size)]


def _occurrences(text: str, needle: str) -> list[int]:
    out, start = [], text.find(needle)
    while start != -1:
        out.append(start)
        start = text.find(needle, start + 1)
    return out


def recall(docs: list[awsgen.Document], detector: Detector, group: int = 1) -> dict[str, tuple[int, int]]:
    """label -> (found, planted) over (document, value) pairs; `group` documents are masked as one text."""
    counts: dict[str, list[int]] = {}
    for batch in _groups(docs, group):
        text = "\n".join(doc.text for doc in batch)
        masked = apply_spans(text, detector.detect(text), lambda kind, original: f"<{kind}>")
        for doc in batch:
            for planted in doc.planted:
                entry = counts.setdefault(planted.label, [0, 0])
                entry[1] += 1
                entry[0] += planted.value not in masked
    return {label: (found, total) for label, (found, total) in sorted(counts.items())}


def over_masking(docs: list[awsgen.Document], detector: Detector, group: int = 1) -> tuple[int, int, dict[str, int]]:
    """(over-masking spans, replaced spans, decoy -> hits): a replaced span is over-masking when it overlaps an
    occurrence of a decoy that lies outside every planted value."""
    bad, total, by_decoy = 0, 0, dict[str, int]()
    for batch in _groups(docs, group):
        text = "\n".join(doc.text for doc in batch)
        spans: list[Span] = detector.detect(text)
        total += len(spans)
        planted = bytearray(len(text))
        for doc in batch:
            for p in doc.planted:
                for start in _occurrences(text, p.value):
                    planted[start : start + len(p.value)] = b"\1" * len(p.value)
        decoy_at: list[str | None] = [None] * len(text)
        for doc in batch:
            for decoy in doc.decoys:
                for start in _occurrences(text, decoy):
                    end = start + len(decoy)
                    if not any(planted[start:end]):
                        decoy_at[start:end] = [decoy] * len(decoy)
        for doc in batch:
            for snippet in doc.allowed:
                for start in _occurrences(text, snippet):
                    decoy_at[start : start + len(snippet)] = [None] * len(snippet)
        for span in spans:
            hit = next((d for d in decoy_at[span.start : span.end] if d is not None), None)
            if hit is not None:
                bad += 1
                by_decoy[hit] = by_decoy.get(hit, 0) + 1
    return bad, total, by_decoy


def _rotate(contexts: list[str], values: list[str]) -> Iterator[tuple[str, str]]:
    for index, value in enumerate(values):
        yield contexts[index % len(contexts)].format(value, value), value


def false_positive_rate(lines: Iterator[tuple[str, str]], detector: Detector) -> tuple[float, int, int, list[str]]:
    """(rate, hits, total, a few examples): a hit is a span overlapping the decoy's last occurrence in its line."""
    hits, total, examples = 0, 0, list[str]()
    for line, value in lines:
        total += 1
        start = line.rindex(value)
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


def compact_numbers(rng: random.Random) -> list[str]:
    """Compact timestamps `YYYYMMDDhhmm` (12 digits, like an account id)."""
    start = datetime(2015, 1, 1, tzinfo=UTC)
    return [(start + timedelta(minutes=rng.randrange(12 * 365 * 1440))).strftime("%Y%m%d%H%M") for _ in range(N)]


def order_numbers(rng: random.Random) -> list[str]:
    """12-digit order, invoice and phone numbers (the phone ones written with a `+`)."""
    return [str(rng.randrange(10**11, 10**12)) for _ in range(N)]


def account_ids(rng: random.Random) -> list[str]:
    return [str(rng.randrange(10**11, 10**12)) for _ in range(N)]


_LOCAL_ZONES = (
    "us-west-2-lax-1a us-west-2-lax-1b us-east-1-bos-1a us-east-1-mia-1a eu-central-1-ham-1a eu-central-1-waw-1a "
    "us-east-1-wl1-bos-wlz-1 ap-northeast-1-wl1-nrt-wlz-1 use1-az1 use1-az6 usw2-az2 euc1-az3 apne1-az4 usw2-lax1-az1"
).split()
_WORDS = (
    "default latest admin prod test system buckets main master staging production dev primary replica backup "
    "logs archive public private internal Default Prod Admin SYSTEM Staging Latest Main Buckets"
).split()
_JSON_KEYS = (
    "DBClusterIdentifier DBInstanceIdentifier LoadBalancerName TableName BucketName FunctionName RoleName "
    "UserName QueueName TopicName GroupName PolicyName DBSnapshotIdentifier SecretId HostedZoneId"
).split()
_MANAGED = (
    "AdministratorAccess PowerUserAccess ReadOnlyAccess SecurityAudit ViewOnlyAccess AmazonS3ReadOnlyAccess "
    "AmazonEC2FullAccess AmazonSSMManagedInstanceCore AWSLambdaBasicExecutionRole CloudWatchAgentServerPolicy "
    "AmazonEC2ContainerRegistryReadOnly AmazonDynamoDBFullAccess AWSCloudTrail_ReadOnlyAccess"
).split()
_AWS_ZONES = "Z35SXDOTRQ7X7K Z2FDTNDATAQYW2 Z1H1FL5HABSF5 Z32O12XQLNTSW2 Z215JYRZR1TBD5 Z3AQBSTGFYJSTF".split()
_VERSIONS = (
    "19.3.0.1.ru5 12.1.0.2.220719 v1.2.3.4 224.0.0.251 239.255.255.250 224.0.0.22 8.0.35.1.beta2 233.252.0.1 10.2.3.4.5"
).split()


def _repeat(values: list[str], n: int = N) -> list[str]:
    return [values[i % len(values)] for i in range(n)]


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
    "compact_ts": (compact_numbers, ["build {} passed", "{}\tINFO started", '"stamp": {}', "release-{}", "ts {}"]),
    "order_phone": (
        order_numbers,
        ["order {} shipped", "Invoice #{} paid", "call +{}", '"Size": {}', '"ContentLength": {}', "tracking {}"],
    ),
    "region": (
        lambda rng: _repeat(REGIONS + _LOCAL_ZONES, 2000),
        [
            '"GroupName": "{}"',
            '"PlacementGroupName": "{}", "Strategy": "cluster"',
            "--group-name {} then {} again",
            '"AvailabilityZone": "{}"',
            "NetworkBorderGroup: {}",
            "--db-cluster-identifier {}\nthe region {} is fine",
        ],
    ),
    "word_spread": (
        lambda rng: _repeat(_WORDS, 2000),
        [
            "--db-cluster-identifier {} ... the {} one is fine",
            "--user-name {}\nsee https://docs.aws.amazon.com/IAM/latest/UserGuide/{}.html",
            '"TableName": "{}", "Note": "copy of {}"',
            "aws ecs describe-clusters --clusters {} # {} cluster",
            "--bucket {}-tmp && echo {}",
        ],
    ),
    "json_key": (
        lambda rng: _repeat(_JSON_KEYS, 2000),
        [
            "--query 'Items[].{{{}:{}}}'",
            '"{}": "{}"',
            '--query "Items[].[{}]" --output text  # {}',
            "{}: {}",
            "jq '.[] | .{}' # {}",
        ],
    ),
    "managed_policy": (
        lambda rng: _repeat(_MANAGED, 2000),
        ['"PolicyName": "{}"', "--policy-name {} then {}", "attached {} to the role", "policy/{} and {}"],
    ),
    "aws_zone": (
        lambda rng: _repeat(_AWS_ZONES, 2000),
        ['"AliasTarget": {{"HostedZoneId": "{}"}}', "--hosted-zone-id {}", '"CanonicalHostedZoneId": "{}"', "{}"],
    ),
    "version": (
        lambda rng: _repeat(_VERSIONS, 2000),
        ["Oracle {} installed", "mDNS on {}", "version {}", "SSDP {} port 1900", "patch {} applied"],
    ),
}

#: The other side of the bare-number policy: account ids written with no AWS key or ARN around them.
ACCOUNT_PROSE = [
    "for AWS account {} only",
    "the account is {}",
    "RESERVATIONS\t{}\tr-0123456789abcdef0",
    "ACCOUNTS\tarn:aws:organizations::o/x\tops@example.com\t{}\tACTIVE",
    "billed to {dashed}",
    "prod lives in {} and dev in another one",
    "{} (prod)",
]


def account_recall(rng: random.Random, detector: Detector) -> tuple[float, int, int]:
    found, total = 0, 0
    for index, value in enumerate(account_ids(rng)[:2000]):
        context = ACCOUNT_PROSE[index % len(ACCOUNT_PROSE)]
        shown = f"{value[:4]}-{value[4:8]}-{value[8:]}" if "{dashed}" in context else value
        line = context.replace("{dashed}", "{}").format(shown)
        start = line.index(shown)
        total += 1
        found += any(s.start <= start and start + len(shown) <= s.end for s in detector.detect(line))
    return found / total, found, total


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


def _best_cpu(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def speed(repeat: int) -> dict[str, float | str]:
    """CPU seconds of detection and of `encoded_runs` (see the module docstring), best of `repeat`, and a digest
    of every span list (two trees that find the same spans give the same digest)."""
    from mask_cli import Baseline
    from proxy_overhead import aws_text

    from maskkit.core.encoded import encoded_runs

    big = "\n\n".join(doc.text for doc in awsgen.generate_corpus(random.Random(7), int(1.6 * MB)))
    rng = random.Random(11)
    small = [aws_text(rng, 10_000) for _ in range(40)]
    tiny = [text[:1000] for text in small]
    detector = Detector()
    digest = hashlib.sha256()
    for text in [big, *small, *tiny]:
        digest.update(repr(detector.detect(text, spread=False)).encode())
        digest.update(repr(list(encoded_runs(text))).encode())

    def each(texts: list[str], work: Callable[[str], object]) -> Callable[[], None]:
        def run() -> None:
            for text in texts:
                work(text)

        return run

    def detect(text: str) -> object:
        return detector.detect(text, spread=False)

    def encoded(text: str) -> object:
        return list(encoded_runs(text))

    return {
        "detect_1_6mb_s": _best_cpu(lambda: detect(big), repeat),
        "baseline_1_6mb_s": _best_cpu(lambda: Baseline().mask(big), repeat),
        "detect_10kb_ms": _best_cpu(each(small, detect), repeat * 3) / len(small) * 1e3,
        "detect_1kb_ms": _best_cpu(each(tiny, detect), repeat * 3) / len(tiny) * 1e3,
        "encoded_1_6mb_s": _best_cpu(lambda: encoded(big), repeat),
        "encoded_10kb_ms": _best_cpu(each(small, encoded), repeat * 3) / len(small) * 1e3,
        "spans_digest": digest.hexdigest()[:16],
    }


def _speed_of(tree: str, repeat: int) -> dict[str, float | str]:
    """`speed` measured for the maskkit tree at `tree`, in a subprocess started there (its maskkit first on the
    path; this script's bench helpers and mktests as here)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, str(Path(__file__).parent)])}
    out = subprocess.run(
        [sys.executable, __file__, "--speed-only", "--repeat", str(repeat)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float | str] = json.loads(out.strip().splitlines()[-1])
    return result


def speed_table(repeat: int, against: str | None) -> dict[str, float | str | bool]:
    """Print the speed figures (and the ratios to `against`, measured alternately); return them for the JSON."""
    ours: dict[str, float | str] = {}
    theirs: dict[str, float | str] = {}
    for _ in range(2 if against else 1):
        for target, measured in ((ours, speed(repeat)), (theirs, _speed_of(against, repeat) if against else {})):
            for key, value in measured.items():
                previous = target.get(key)
                keep = value if isinstance(value, str) or previous is None else min(float(previous), value)
                target[key] = keep
    print(f"\n{'speed (CPU, best of ' + str(repeat) + ')':34} {'this':>10} {'against':>10} {'ratio':>7}")
    out: dict[str, float | str | bool] = {}
    for key, value in ours.items():
        if isinstance(value, str):
            continue
        other = theirs.get(key)
        ratio = f"{float(other) / value:7.2f}" if isinstance(other, float) and value else ""
        shown = f"{float(other):10.4f}" if isinstance(other, float) else ""
        print(f"{key:34} {value:10.4f} {shown:>10} {ratio:>7}")
        out[key] = round(value, 5)
        if isinstance(other, float):
            out[f"against_{key}"] = round(other, 5)
            out[f"speedup_{key}"] = round(other / value, 3) if value else 0.0
    base_ratio = float(ours["baseline_1_6mb_s"]) / float(ours["detect_1_6mb_s"])
    print(f"detect 1.6 MB vs the bare 11-regex masker (mask_cli.Baseline): {base_ratio:.2f}x (>1: detect is faster)")
    out["detect_vs_bare_masker"] = round(base_ratio, 3)
    if against:
        same = ours["spans_digest"] == theirs["spans_digest"]
        verdict = "same" if same else "DIFFERENT"
        print(f"spans digest: this {ours['spans_digest']}, against {theirs['spans_digest']}: {verdict}")
        out["same_spans_as_against"] = same
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2.0, help="corpus size in MB (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="awsgen and decoy seed (default: fresh)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per speed figure (the best is kept)")
    parser.add_argument("--against", default=None, help="a maskkit tree to compare the speed figures with")
    parser.add_argument("--speed-only", action="store_true", help="only the speed figures, as one JSON line")
    args = parser.parse_args()
    if args.speed_only:
        print(json.dumps(speed(args.repeat)))
        return
    rng, seed = (random.Random(args.seed), args.seed) if args.seed is not None else awsgen.fresh_rng()

    for name, value in machine().items():
        print(f"{name:8} {value}")
    print(f"maskkit  {Path(maskkit.__file__).parent}")
    detector = Detector()
    started = time.perf_counter()
    docs = awsgen.generate_corpus(rng, int(args.mb * MB))
    size = sum(len(doc.text.encode()) for doc in docs) / MB
    print(f"corpus   {size:.2f} MB, {len(docs)} documents, seed={seed}\n")

    per_label = recall(docs, detector)
    grouped = recall(docs, detector, GROUP)
    print(f"{'label':22} {'planted':>8} {'found':>8} {'recall':>8} {'grouped':>8}")
    for label, (hit, total) in per_label.items():
        ghit, gtotal = grouped[label]
        print(f"{label:22} {total:8d} {hit:8d} {hit / total:8.4f} {ghit / gtotal:8.4f}")
    found_all = sum(hit for hit, _ in per_label.values())
    planted_all = sum(total for _, total in per_label.values())
    overall = found_all / planted_all
    worst_label, (worst_hit, worst_total) = min(per_label.items(), key=lambda item: item[1][0] / item[1][1])
    print(f"{'all':22} {planted_all:8d} {found_all:8d} {overall:8.4f}")
    grouped_all = sum(hit for hit, _ in grouped.values()) / planted_all
    print(f"{'all':22} {'':8} {'':8} {'':8} {grouped_all:8.4f}  (groups of {GROUP} documents)")
    missing = sorted(awsgen.LABELS - set(per_label))
    if missing:
        print(f"labels not planted in this corpus: {missing}")
    over_alone, spans_alone, _ = over_masking(docs, detector)
    over_group, spans_group, by_decoy = over_masking(docs, detector, GROUP)
    share_alone, share_group = over_alone / max(spans_alone, 1), over_group / max(spans_group, 1)
    print(f"\nover-masking: alone {over_alone}/{spans_alone} replaced spans = {share_alone:.4%}, grouped")
    print(f"  {over_group}/{spans_group} = {share_group:.4%}; worst decoys (grouped): ", end="")
    print(sorted(by_decoy.items(), key=lambda item: -item[1])[:8])

    print(f"\n{'decoy set':14} {'lines':>7} {'masked':>7} {'fp rate':>9}  examples")
    rates: dict[str, float] = {}
    for name, (make, contexts) in FP_SETS.items():
        rate, hits, total, examples = false_positive_rate(_rotate(contexts, make(rng)), detector)
        rates[name] = rate
        print(f"{name:14} {total:7d} {hits:7d} {rate:9.5f}  {examples}")
    rate, hits, total, examples = false_positive_rate(region_lines(), detector)
    rates["region_plain"] = rate
    print(f"{'region_plain':14} {total:7d} {hits:7d} {rate:9.5f}  {examples}")
    acct_rate, acct_hits, acct_total = account_recall(rng, detector)
    print(f"\naccount ids in prose / text output / dashed: {acct_hits}/{acct_total} masked = {acct_rate:.4f}")
    speeds = speed_table(args.repeat, args.against)
    print(f"elapsed {time.perf_counter() - started:.1f} s")
    print(
        json.dumps(
            {
                "recall": round(overall, 5),
                "recall_grouped": round(grouped_all, 5),
                "recall_min_label": round(worst_hit / worst_total, 5),
                "recall_account_prose": round(acct_rate, 5),
                "over_masking_alone": round(share_alone, 5),
                "over_masking_grouped": round(share_group, 5),
                **{f"fp_rate_{name}": round(rate, 5) for name, rate in rates.items()},
                "recall_min_label_name": worst_label,
                "planted": planted_all,
                "corpus_mb": round(size, 3),
                "seed": seed,
                **speeds,
            }
        )
    )


if __name__ == "__main__":
    main()
