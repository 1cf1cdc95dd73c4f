"""Self-tests of the AWS document generator used by the leak tests and the benchmarks."""

from __future__ import annotations

import ast
import functools
import ipaddress
import json
import random
import re
from pathlib import Path

import pytest
import yaml
from mktests import awsgen

SEEDS = range(40)

EC2_ID = re.compile(r"^(?P<prefix>[a-z]+(?:-[a-z]+)?)-(?P<hex>[0-9a-f]{17}|[0-9a-f]{8})$")
FORMATS: dict[str, re.Pattern[str]] = {
    "access_key_id": re.compile(r"^(AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA|ABIA|ACCA|AIPA)[A-Z2-7]{16}$"),
    "secret_access_key": re.compile(r"^[A-Za-z0-9/+]{40}$"),
    "session_token": re.compile(
        r"^(IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9/+]{200,400}={0,2}$|^(FQoDYXdz|AQoDYXdz)[A-Za-z0-9/+]{150,250}$"
    ),
    "account_id": re.compile(r"^\d{12}$|^\d{4}-\d{4}-\d{4}$"),
    "rds_snapshot": re.compile(r"^[a-z][a-z0-9-]{0,254}$"),
    "aws_host_id": re.compile(r"^[0-9A-F]{32}$|^[a-z]{2}[1-9]$|^proxy-[a-z0-9]{12}$|^search-[a-z]+-[a-z0-9]{26}$"),
    "ip_pool_id": re.compile(r"^ipv[46]pool-ec2-[0-9a-f]{17}$"),
    "fleet_id": re.compile(r"^fleet-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    "task_id": re.compile(r"^(export-ami|import-snap)-[0-9a-f]{17}$"),
    "secret_value": re.compile(r"^[A-Za-z0-9/+%\\\n]{6,80}$"),
    "canonical_user_id": re.compile(r"^[0-9a-f]{64}$"),
    "kms_key_id": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    "bucket": re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
    "rds_endpoint_hash": re.compile(r"^[a-z0-9]{12}$"),
    "rds_instance": re.compile(r"^[a-z][a-z0-9-]{0,62}$"),
    "rds_resource_id": re.compile(r"^db-[A-Z0-9]{26}$"),
    "load_balancer_name": re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]$"),
    "load_balancer_id": re.compile(r"^[0-9a-f]{16}$"),
    "cloudfront_id": re.compile(r"^E[A-Z0-9]{13}$"),
    "hosted_zone_id": re.compile(r"^Z[A-Z0-9]{13,20}$"),
    "ec2_public_dns": re.compile(
        r"^ec2-(\d{1,3}-){3}\d{1,3}\.([a-z]{2}-[a-z]+-\d\.compute|compute-1)\.amazonaws\.com$"
    ),
    "public_ip": re.compile(r"^(\d{1,3}\.){3}\d{1,3}$"),
    "pem_private_key": re.compile(r"^MII[A-Za-z0-9/+]{60}[A-Za-z0-9/+]((\n|\\n)[A-Za-z0-9/+=]{1,64})+$"),
}


@functools.cache  # seeded, so the same every call: generated once per run, read by several tests
def _docs(seeds: range = SEEDS) -> list[awsgen.Document]:
    return [make(random.Random(f"{kind}-{seed}")) for seed in seeds for kind, make in awsgen.DOCUMENT_KINDS.items()]


def _by_label(docs: list[awsgen.Document]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for doc in docs:
        for p in doc.planted:
            out.setdefault(p.label, set()).add(p.value)
    return out


@pytest.mark.parametrize("kind", sorted(awsgen.DOCUMENT_KINDS))
def test_every_kind_contains_its_planted_values_and_decoys(kind: str) -> None:
    for seed in SEEDS:
        doc = awsgen.DOCUMENT_KINDS[kind](random.Random(seed))
        assert doc.kind == kind
        assert len(doc.planted) >= 5, doc.planted
        assert doc.decoys, kind
        for p in doc.planted:
            assert p.label in awsgen.LABELS
            assert p.value and p.value in doc.text, (seed, p)
        for decoy in doc.decoys:
            assert decoy in doc.text, (seed, decoy)
        awsgen.check_document(doc)  # every decoy also occurs outside all planted values


def test_every_label_and_ec2_prefix_is_produced() -> None:
    by_label = _by_label(_docs())
    assert set(by_label) == awsgen.LABELS
    prefixes = {
        EC2_ID.match(v).group("prefix") for label in set(awsgen.EC2_PREFIX_LABELS.values()) for v in by_label[label]
    }
    assert prefixes == set(awsgen.EC2_PREFIX_LABELS)
    lengths = {len(EC2_ID.match(v).group("hex")) for v in by_label["instance_id"]}
    assert lengths == {8, 17}
    key_prefixes = {v[:4] for v in by_label["access_key_id"]}
    assert {"AKIA", "ASIA", "AIDA", "AROA", "AGPA", "AIPA", "APKA"} <= key_prefixes


def test_identifier_formats() -> None:
    by_label = _by_label(_docs())
    for label, values in by_label.items():
        for value in values:
            if label in {
                "password",
                "role_name",
                "user_name",
                "group_name",
                "policy_name",
                "function_name",
                "topic_name",
                "queue_name",
                "table_name",
            }:
                assert re.fullmatch(r"[A-Za-z0-9._~!#%^*+=@/-]{4,80}", value), (label, value)
            elif label in FORMATS:
                assert FORMATS[label].match(value), (label, value)
            else:
                match = EC2_ID.match(value)
                assert match and awsgen.EC2_PREFIX_LABELS[match.group("prefix")] == label, (label, value)
    assert all(len(v) == 20 for v in by_label["access_key_id"])
    assert all(len(v) == 40 for v in by_label["secret_access_key"])
    assert all(len(v.replace("-", "")) == 12 and v.replace("-", "").isdigit() for v in by_label["account_id"])
    assert any(v.startswith("0") for v in by_label["account_id"])  # a few leading zeros
    for host in by_label["rds_instance"]:
        assert 1 <= len(host) <= 63
    for pem in by_label["pem_private_key"]:
        lines = re.split(r"\n|\\n", pem)
        assert all(len(line) == 64 for line in lines[:-1]) and 0 < len(lines[-1]) <= 64


def _is_public(ip: str) -> bool:
    addr = ipaddress.IPv4Address(ip)
    return not (
        addr.is_private
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_unspecified
        or addr in ipaddress.IPv4Network("100.64.0.0/10")
    )


def test_public_ips_are_public() -> None:
    by_label = _by_label(_docs())
    ips = set(by_label["public_ip"])
    ips |= {re.match(r"ec2-([\d-]+)\.", h).group(1).replace("-", ".") for h in by_label["ec2_public_dns"]}
    assert len(ips) > 50
    assert all(_is_public(ip) for ip in ips), [ip for ip in ips if not _is_public(ip)]


def test_rng_none_is_fresh_every_call() -> None:
    first, second = awsgen.generate_documents(count=33), awsgen.generate_documents(count=33)
    a, b = awsgen.planted_values(first), awsgen.planted_values(second)
    assert len(a) > 300 and len(b) > 300
    assert not a & b


def test_fresh_rng_seed_reproduces_the_documents() -> None:
    rng, seed = awsgen.fresh_rng()
    assert isinstance(seed, int)
    assert awsgen.generate_documents(rng, 12) == awsgen.generate_documents(random.Random(seed), 12)


def test_generate_documents_mixes_all_kinds() -> None:
    docs = awsgen.generate_documents(random.Random(7), count=len(awsgen.DOCUMENT_KINDS) * 2)
    assert len(docs) == 2 * len(awsgen.DOCUMENT_KINDS)
    assert {d.kind for d in docs} == set(awsgen.DOCUMENT_KINDS)
    assert len(awsgen.generate_documents(random.Random(7), count=3)) == 3


def test_generate_corpus_reaches_target_bytes() -> None:
    target = 150_000
    docs = awsgen.generate_corpus(random.Random(3), target)
    sizes = [len(d.text.encode()) for d in docs]
    assert sum(sizes) >= target
    assert sum(sizes) - sizes[-1] < target  # stops as soon as the target is reached
    assert {d.kind for d in docs} == set(awsgen.DOCUMENT_KINDS)
    assert awsgen.generate_corpus(random.Random(3), 0) == []


def test_decoys_are_never_planted() -> None:
    docs = _docs()
    assert not awsgen.decoy_values(docs) & awsgen.planted_values(docs)
    decoys = awsgen.decoy_values(docs)
    assert any(re.fullmatch(r"[0-9a-f]{40}", v) for v in decoys)  # git SHAs
    assert any(FORMATS["kms_key_id"].fullmatch(v) for v in decoys)  # trace / request UUIDs
    assert any(re.fullmatch(r"\d{10}", v) for v in decoys) and any(re.fullmatch(r"\d{13}", v) for v in decoys)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", v) for v in decoys)
    assert {"us-east-1", "t3.micro"} <= decoys


def test_secret_looking_decoys_are_not_next_to_secrets() -> None:
    secret_words = re.compile(r"secret|session_token|password|private_key|PRIVATE KEY", re.IGNORECASE)
    for doc in _docs(range(10)):
        long_decoys = [v for v in doc.decoys if len(v) >= 10 and re.fullmatch(r"[0-9a-f-]+", v)]
        for line in doc.text.splitlines():
            if secret_words.search(line):
                assert not [v for v in long_decoys if v in line], (doc.kind, line)


def test_structured_documents_parse() -> None:
    for seed in range(10):
        rng = random.Random(seed)
        text = awsgen.DOCUMENT_KINDS["describe_instances"](rng).text
        assert json.loads(text.split("\n", 1)[1])["Reservations"]
        cfn = yaml.safe_load(awsgen.DOCUMENT_KINDS["cloudformation_yaml"](rng).text)
        assert cfn["Resources"]["ArtifactsBucket"]["Properties"]["BucketName"]
        trail = awsgen.DOCUMENT_KINDS["cloudtrail_event"](rng).text
        if trail.startswith("$ "):
            trail = trail.split("\n", 1)[1]
        decoder, pos, events = json.JSONDecoder(), 0, []
        while trail[pos:].strip():
            obj, end = decoder.raw_decode(trail, pos + len(trail[pos:]) - len(trail[pos:].lstrip()))
            events += obj.get("Records", [obj])
            pos = end
        assert events and all(e["eventSource"].endswith(".amazonaws.com") for e in events)


def test_check_document_rejects_inconsistent_documents() -> None:
    iid = "i-0123456789abcdef0"
    awsgen.check_document(
        awsgen.Document("x", f"{iid} in us-east-1", (awsgen.Planted("instance_id", iid),), ("us-east-1",))
    )
    with pytest.raises(ValueError, match="not in text"):
        awsgen.check_document(awsgen.Document("x", "nothing", (awsgen.Planted("instance_id", "i-1234abcd"),)))
    with pytest.raises(ValueError, match="unknown label"):
        awsgen.check_document(awsgen.Document("x", "abc", (awsgen.Planted("nope", "abc"),)))
    bucket = awsgen.Planted("bucket", "my-bucket-us-east-1")
    with pytest.raises(ValueError, match="outside planted"):
        awsgen.check_document(awsgen.Document("x", bucket.value, (bucket,), ("us-east-1",)))


def test_generator_does_not_import_maskkit() -> None:
    tree = ast.parse(Path(awsgen.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in {"maskkit", "mcp_server"}}
