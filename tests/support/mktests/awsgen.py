"""Generator of realistic AWS documents with fresh random identifiers.

Every sensitive value the generator writes into a document is recorded in
``Document.planted`` (with a label naming what it is), and every non-sensitive
look-alike it writes on purpose (regions, git SHAs, trace UUIDs, timestamps,
instance types, ordinary words ...) is recorded in ``Document.decoys``.  Leak
tests mask the documents and fail if a planted value survives (or a decoy does
not); ``bench/`` uses :func:`generate_corpus` to build a synthetic corpus.

The ground truth comes from this generator only: it never imports maskkit, so
the tests do not depend on the detectors' own idea of what an identifier is.

With ``rng=None`` a freshly seeded ``random.Random`` is used, so every run sees
identifiers nobody has seen before.  To make a failure reproducible, create the
generator with :func:`fresh_rng`, print the seed, and rerun with
``random.Random(seed)``::

    rng, seed = fresh_rng()
    docs = generate_documents(rng)
    ...
    assert not leaked, f"leaks {leaked} (reproduce with awsgen seed={seed})"

Values written to a document but neither planted nor decoys are things that are
neither secret nor a useful decoy (a masker may or may not replace them): private
IPv4 addresses and hostnames, MAC addresses, the numeric part of ELB DNS names,
AWS-owned canonical hosted zone ids, SQS message ids and MD5s, CloudFront
invalidation ids, Route 53 caller references, generic key-pair / security-group /
profile / DB user names.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import string
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "BRIEF_LABELS",
    "DOCUMENT_KINDS",
    "EC2_PREFIX_LABELS",
    "EXTRA_LABELS",
    "LABELS",
    "OVERMASK_CLASSES",
    "REAL_OUTPUT_LABELS",
    "Document",
    "Planted",
    "check_document",
    "decoy_values",
    "fresh_rng",
    "generate_corpus",
    "generate_documents",
    "planted_values",
]


# --------------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    """One sensitive value written into a document.  ``label`` is one of :data:`LABELS`."""

    label: str
    value: str


@dataclass(frozen=True)
class Document:
    """A generated text of a given ``kind`` with the sensitive values and decoys it contains.

    Every planted value and every decoy occurs verbatim in ``text``; every decoy also
    occurs at least once outside all planted values (see :func:`check_document`).
    """

    kind: str
    text: str
    planted: tuple[Planted, ...]
    decoys: tuple[str, ...] = ()
    #: Snippets of the text inside which masking a decoy is fine: its context names it (`--db-cluster-identifier
    #: prod` masks `prod` there; only its other mentions must survive).
    allowed: tuple[str, ...] = ()


EC2_PREFIX_LABELS: dict[str, str] = {
    "i": "instance_id",
    "ami": "ami_id",
    "vol": "volume_id",
    "snap": "snapshot_id",
    "sg": "security_group_id",
    "subnet": "subnet_id",
    "vpc": "vpc_id",
    "eni": "eni_id",
    **{
        p: "ec2_resource_id"
        for p in (
            "igw",
            "eigw",
            "rtb",
            "acl",
            "nat",
            "eipalloc",
            "eipassoc",
            "pcx",
            "tgw",
            "tgw-attach",
            "vpce",
            "lt",
            "dopt",
            "cgw",
            "vgw",
            "vpn",
            "fl",
            "key",
            "r",
        )
    },
}
"""Resource-id prefix (without the dash) -> label used when planting an EC2-style id."""

#: Labels asked for by the original specification.
BRIEF_LABELS: frozenset[str] = frozenset(
    {
        *EC2_PREFIX_LABELS.values(),
        "access_key_id",
        "secret_access_key",
        "session_token",
        "account_id",
        "role_name",
        "user_name",
        "function_name",
        "kms_key_id",
        "topic_name",
        "queue_name",
        "table_name",
        "bucket",
        "rds_instance",
        "rds_endpoint_hash",
        "load_balancer_name",
        "public_ip",
        "ec2_public_dns",
        "cloudfront_id",
        "hosted_zone_id",
        "password",
        "pem_private_key",
    }
)
#: Further sensitive values that realistic output contains (filter them out if not yet masked):
#: IAM group and customer-managed policy names, RDS ``DbiResourceId`` (``db-`` + 26 chars)
#: and the 16-hex id at the end of an ELBv2 load balancer ARN.
EXTRA_LABELS: frozenset[str] = frozenset({"group_name", "policy_name", "rds_resource_id", "load_balancer_id"})
#: Shapes found leaking on real AWS output (issue 14): RDS snapshot ids, ids in customer-specific AWS host
#: names (EKS, RDS Proxy, OpenSearch), BYOIP pools, EC2 Fleet ids, export/import task ids, secrets of any
#: length (or encoded: ``\\/``, ``%2F``, wrapped) under secret-like names, S3 canonical user ids.
REAL_OUTPUT_LABELS: frozenset[str] = frozenset(
    {
        "rds_snapshot",
        "aws_host_id",
        "ip_pool_id",
        "fleet_id",
        "task_id",
        "secret_value",
        "canonical_user_id",
    }
)
LABELS: frozenset[str] = BRIEF_LABELS | EXTRA_LABELS | REAL_OUTPUT_LABELS


# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------

REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "eu-north-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-south-1",
    "ca-central-1",
    "sa-east-1",
)
INSTANCE_TYPES = (
    "t3.micro",
    "t3.small",
    "t3.medium",
    "t3a.large",
    "t2.micro",
    "m5.large",
    "m6i.xlarge",
    "c6g.2xlarge",
    "r5.large",
    "m7g.medium",
    "c5.xlarge",
)
DB_INSTANCE_CLASSES = ("db.t3.medium", "db.t4g.large", "db.r6g.xlarge", "db.m5.large")
WORDS = (
    "nightly",
    "reconcile",
    "throughput",
    "invoice",
    "thumbnail",
    "onboarding",
    "migration",
    "rollback",
    "heartbeat",
    "quarterly",
    "warehouse",
    "shipping",
    "forecast",
    "newsletter",
    "payroll",
    "sunflower",
    "lighthouse",
    "marathon",
    "harvest",
    "compass",
)
ENVS = ("prod", "production", "staging", "stage", "dev", "qa", "sandbox", "uat")
SHORT_ENVS = ("prod", "stg", "dev", "qa", "uat")
APPS = (
    "billing",
    "orders",
    "payments",
    "ingest",
    "etl",
    "search",
    "auth",
    "catalog",
    "inventory",
    "reporting",
    "media",
    "notifications",
    "ledger",
    "checkout",
    "analytics",
    "crm",
    "telemetry",
    "fraud",
    "webshop",
    "geo",
)
COMPANIES = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "wayne",
    "stark",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "oscorp",
    "pied-piper",
)
FIRST = ("jane", "john", "maria", "wei", "amit", "olga", "lucas", "fatima", "kenji", "sara", "noah")
LAST = ("doe", "smith", "garcia", "chen", "patel", "ivanova", "silva", "khan", "tanaka", "berg")
ROLE_WORDS = (
    "deployer",
    "reader",
    "writer",
    "worker",
    "admin",
    "ci",
    "lambda-exec",
    "ecs-task",
    "readonly",
    "operator",
    "sync",
    "backup",
)
CFN_ROLE_WORDS = ("LambdaExecutionRole", "TaskRole", "InstanceRole", "ServiceRole", "DeployRole")
VERBS = (
    "process-events",
    "resize-images",
    "sync-users",
    "export-report",
    "handle-webhook",
    "rotate-keys",
    "ingest",
    "notify",
    "enrich-records",
)
ENTITIES = ("orders", "sessions", "users", "events", "invoices", "locks", "audit", "carts")
PURPOSES = (
    "logs",
    "artifacts",
    "backups",
    "assets",
    "data-lake",
    "uploads",
    "terraform-state",
    "athena-results",
    "cloudtrail",
    "static-site",
    "exports",
)
# AWS-owned (public, per-region) canonical hosted zone ids of load balancers: not sensitive.
ELB_ZONE_IDS = ("Z35SXDOTRQ7X7K", "Z1H1FL5HABSF5", "Z32O12XQLNTSW2", "Z215JYRZR1TBD5", "Z1LMS91P8CMLE5")

_HEX = "0123456789abcdef"
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_B32 = string.ascii_uppercase + "234567"
_B64 = string.ascii_letters + string.digits + "+/"
_SECRET = string.ascii_letters + string.digits + "/+"


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _cap(word: str) -> str:
    return "".join(part.capitalize() for part in word.replace("_", "-").split("-"))


def fresh_rng() -> tuple[random.Random, int]:
    """Return a freshly seeded generator and its seed (print the seed so a failure can be replayed: set
    MKTESTS_AWSGEN_SEED to it and run the test again)."""
    replay = os.environ.get("MKTESTS_AWSGEN_SEED")
    seed = int(replay) if replay else secrets.randbits(64)
    return random.Random(seed), seed


def _random_datetime(rng: random.Random) -> datetime:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(6 * 365 * 86400), microseconds=rng.randrange(10**6))


def _public_ipv4(rng: random.Random) -> str:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if (
            addr.is_global
            and not addr.is_multicast
            and not addr.is_reserved
            and not addr.is_private
            and addr.packed[-1] not in (0, 255)
        ):
            return str(addr)


def _private_ipv4(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind == 1:
        return f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# --------------------------------------------------------------------------------------------------
# Per-document builder: random values + bookkeeping of what was planted
# --------------------------------------------------------------------------------------------------


class _Doc:
    """Generates values for one document and records the planted ones and the decoys."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._planted: dict[tuple[str, str], None] = {}
        self._decoys: dict[str, None] = {}
        self._allowed: dict[str, None] = {}
        self.region = rng.choice(REGIONS)
        self.account = self.account_id()

    # bookkeeping --------------------------------------------------------------------------------
    def plant(self, label: str, value: str) -> str:
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}")
        self._planted[(label, value)] = None
        return value

    def decoy(self, value: str) -> str:
        self._decoys[value] = None
        return value

    def allow(self, snippet: str) -> str:
        """`snippet` may be masked although it holds a decoy (its context names the value)."""
        self._allowed[snippet] = None
        return snippet

    def finish(self, kind: str, text: str) -> Document:
        doc = Document(
            kind=kind,
            text=text,
            planted=tuple(Planted(label, value) for label, value in self._planted),
            decoys=tuple(self._decoys),
            allowed=tuple(self._allowed),
        )
        check_document(doc)
        return doc

    # small helpers ------------------------------------------------------------------------------
    def sfx(self) -> str:
        """Short random suffix such as ``7f3k`` (at least one letter and one digit)."""
        rng = self.rng
        while True:
            s = _rand(rng, _LOWER_ALNUM, rng.randint(4, 6))
            if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
                return s

    def cfn_sfx(self) -> str:
        """CloudFormation physical-id suffix such as ``1XK2J3P9QW0ZR``."""
        return _rand(self.rng, _UPPER_ALNUM, self.rng.choice((12, 13)))

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def private_ip(self) -> str:
        return _private_ipv4(self.rng)

    def private_dns(self, ip: str) -> str:
        host = "ip-" + ip.replace(".", "-")
        return f"{host}.ec2.internal" if self.region == "us-east-1" else f"{host}.{self.region}.compute.internal"

    def mac(self) -> str:
        return "0a:" + ":".join(_rand(self.rng, _HEX, 2) for _ in range(5))

    # sensitive values -----------------------------------------------------------------------------
    def ec2(self, prefix: str) -> str:
        """EC2-style id: ``<prefix>-`` + 17 hex (usually starting with 0) or, sometimes, 8 hex."""
        rng = self.rng
        if rng.random() < 0.15:
            body = _rand(rng, _HEX, 8)
        else:
            body = ("0" if rng.random() < 0.8 else rng.choice(_HEX)) + _rand(rng, _HEX, 16)
        return self.plant(EC2_PREFIX_LABELS[prefix], f"{prefix}-{body}")

    def unique_id(self, prefix: str) -> str:
        """IAM unique id / access key id: 4-letter prefix + 16 chars of ``[A-Z2-7]``."""
        return self.plant("access_key_id", prefix + _rand(self.rng, _B32, 16))

    def access_key(self, temporary: bool = False) -> str:
        return self.unique_id("ASIA" if temporary else "AKIA")

    def secret_key(self) -> str:
        return self.plant("secret_access_key", _rand(self.rng, _SECRET, 40))

    def session_token(self) -> str:
        rng = self.rng
        head = "IQoJb3JpZ2lu" if rng.random() < 0.85 else "FwoGZXIvYXdz"
        body = _rand(rng, _B64, rng.randint(200, 400))
        if rng.random() < 0.3:
            body = body[: len(body) - len(body) % 4] + "=="
        return self.plant("session_token", head + body)

    def account_id(self) -> str:
        rng = self.rng
        first = rng.choice("123456789") if rng.random() < 0.9 else "0"
        return self.plant("account_id", first + _rand(rng, string.digits, 11))

    def role_name(self) -> str:
        rng, env, app = self.rng, self.rng.choice(ENVS), self.rng.choice(APPS)
        style = rng.randrange(4)
        if style == 0:
            name = f"{env}-{app}-{rng.choice(ROLE_WORDS)}-{self.sfx()}"
        elif style == 1:
            name = f"{_cap(app)}Stack-{rng.choice(CFN_ROLE_WORDS)}-{self.cfn_sfx()}"
        elif style == 2:
            name = f"{app}-{rng.choice(ROLE_WORDS)}-role-{self.sfx()}"
        else:
            kind = rng.choice(("Deployer", "ReadOnly", "Admin", "Automation"))
            name = f"{_cap(env)}{_cap(app)}{kind}-{self.sfx()}"
        return self.plant("role_name", name)

    def user_name(self) -> str:
        rng = self.rng
        style = rng.randrange(4)
        if style == 0:
            name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}-{self.sfx()}"
        elif style == 1:
            name = f"svc-{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}-{self.sfx()}"
        elif style == 2:
            name = f"{rng.choice(APPS)}-ci-bot-{self.sfx()}"
        else:
            name = f"{rng.choice(FIRST)[0]}{rng.choice(LAST)}{self.sfx()}"
        return self.plant("user_name", name)

    def group_name(self) -> str:
        rng = self.rng
        team = rng.choice(("admins", "developers", "readonly", "oncall", "data-eng", "billing-ops"))
        return self.plant("group_name", f"{rng.choice(APPS)}-{team}-{self.sfx()}")

    def policy_name(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            access = rng.choice(("S3Read", "DeployAccess", "KmsDecrypt", "QueueWorker", "TableWriter"))
            name = f"{_cap(rng.choice(APPS))}{access}Policy-{self.sfx()}"
        else:
            name = f"{rng.choice(SHORT_ENVS)}-{rng.choice(APPS)}-access-{self.sfx()}"
        return self.plant("policy_name", name)

    def function_name(self) -> str:
        rng, app, verb = self.rng, self.rng.choice(APPS), self.rng.choice(VERBS)
        style = rng.randrange(3)
        if style == 0:
            name = f"{app}-{rng.choice(SHORT_ENVS)}-{verb}-{self.sfx()}"
        elif style == 1:
            name = f"{_cap(app)}Stack-{_cap(verb)}Function-{self.cfn_sfx()}"
        else:
            name = f"{app}_{verb.replace('-', '_')}_{self.sfx()}"
        return self.plant("function_name", name)

    def kms_key_id(self) -> str:
        return self.plant("kms_key_id", self.uuid4())

    def topic_name(self) -> str:
        rng = self.rng
        kind = rng.choice(("events", "alerts", "notifications", "updates"))
        name = f"{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}-{kind}-{self.sfx()}"
        return self.plant("topic_name", name + (".fifo" if rng.random() < 0.15 else ""))

    def queue_name(self) -> str:
        rng = self.rng
        kind = rng.choice(("jobs", "tasks", "events", "ingest", "emails"))
        dlq = "-dlq" if rng.random() < 0.25 else ""
        name = f"{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}-{kind}{dlq}-{self.sfx()}"
        return self.plant("queue_name", name + (".fifo" if rng.random() < 0.2 else ""))

    def table_name(self) -> str:
        rng, app, entity = self.rng, self.rng.choice(APPS), self.rng.choice(ENTITIES)
        if rng.random() < 0.6:
            name = f"{app}-{entity}-{rng.choice(SHORT_ENVS)}-{self.sfx()}"
        else:
            name = f"{_cap(app)}{_cap(entity)}Table-{self.cfn_sfx()}"
        return self.plant("table_name", name)

    def bucket(self) -> str:
        rng = self.rng
        while True:
            style = rng.randrange(5)
            if style <= 1:
                name = f"{rng.choice(COMPANIES)}-{rng.choice(ENVS)}-{rng.choice(PURPOSES)}-{self.sfx()}"
            elif style == 2:
                name = f"{rng.choice(COMPANIES)}-{rng.choice(PURPOSES)}-{self.account}-{self.region}"
            elif style == 3:
                tail = _rand(rng, _LOWER_ALNUM, rng.randint(8, 12))
                name = f"{rng.choice(APPS)}-{rng.choice(PURPOSES)}-{tail}"
            else:
                name = f"cdk-hnb659fds-assets-{self.account}-{self.region}"
            if 3 <= len(name) <= 63:
                return self.plant("bucket", name)

    def rds_instance(self) -> str:
        rng = self.rng
        engine = rng.choice(("db", "postgres", "mysql", "aurora", "pg"))
        return self.plant("rds_instance", f"{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}-{engine}-{self.sfx()}")

    def rds_endpoint(self, instance: str) -> str:
        h = self.plant("rds_endpoint_hash", _rand(self.rng, _LOWER_ALNUM, 12))
        return f"{instance}.{h}.{self.region}.rds.amazonaws.com"

    def rds_resource_id(self) -> str:
        return self.plant("rds_resource_id", "db-" + _rand(self.rng, _UPPER_ALNUM, 26))

    def load_balancer_name(self) -> str:
        rng = self.rng
        kind = rng.choice(("alb", "elb", "web", "api"))
        return self.plant("load_balancer_name", f"{rng.choice(SHORT_ENVS)}-{rng.choice(APPS)}-{kind}-{self.sfx()}")

    def elb_dns(self, name: str, internal: bool = False) -> str:
        digits = self.rng.choice("123456789") + _rand(self.rng, string.digits, 9)
        return f"{'internal-' if internal else ''}{name}-{digits}.{self.region}.elb.amazonaws.com"

    def load_balancer_id(self) -> str:
        return self.plant("load_balancer_id", _rand(self.rng, _HEX, 16))

    def public_ip(self) -> str:
        return self.plant("public_ip", _public_ipv4(self.rng))

    def public_dns(self, ip: str | None = None) -> str:
        """EC2 public DNS name (planted whole); ``ip`` defaults to a fresh public IP not planted alone."""
        dashed = (ip or _public_ipv4(self.rng)).replace(".", "-")
        if self.region == "us-east-1" and self.rng.random() < 0.5:
            host = f"ec2-{dashed}.compute-1.amazonaws.com"
        else:
            host = f"ec2-{dashed}.{self.region}.compute.amazonaws.com"
        return self.plant("ec2_public_dns", host)

    def cloudfront_id(self) -> str:
        return self.plant("cloudfront_id", "E" + _rand(self.rng, _UPPER_ALNUM, 13))

    def hosted_zone_id(self) -> str:
        return self.plant("hosted_zone_id", "Z" + _rand(self.rng, _UPPER_ALNUM, self.rng.randint(13, 20)))

    def password(self, url_safe: bool = True) -> str:
        rng = self.rng
        alphabet = string.ascii_letters + string.digits + ("-_.~" if url_safe else "-_.~!#%^*+=")
        while True:
            pw = _rand(rng, alphabet, rng.randint(14, 28))
            if (
                any(c.isdigit() for c in pw)
                and any(c.islower() for c in pw)
                and any(c.isupper() for c in pw)
                and pw[0].isalnum()
            ):
                return self.plant("password", pw)

    def pem(self, escaped: bool = False) -> str:
        """A PEM private key block; plants its base64 body lines joined as they appear in the text.

        With ``escaped`` the line breaks are written as the two characters ``\\n`` (JSON string).
        """
        rng = self.rng
        if rng.random() < 0.3:
            header, start = "PRIVATE KEY", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ"
        else:
            header, start = "RSA PRIVATE KEY", rng.choice(("MIIEpAIBAAKCAQEA", "MIIEowIBAAKCAQEA"))
        total = rng.choice((1588, 1592, 1596, 1620, 1624, 1628))
        body = start + _rand(rng, _B64, total - len(start))
        if rng.random() < 0.3:
            body = body[:-1] + "="
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        sep = "\\n" if escaped else "\n"
        joined = self.plant("pem_private_key", sep.join(lines))
        return f"-----BEGIN {header}-----{sep}{joined}{sep}-----END {header}-----"

    # decoys ---------------------------------------------------------------------------------------
    def region_decoy(self) -> str:
        return self.decoy(self.region)

    def az(self) -> str:
        return self.decoy(self.region + self.rng.choice("abc"))

    def instance_type(self) -> str:
        return self.decoy(self.rng.choice(INSTANCE_TYPES))

    def word(self) -> str:
        return self.decoy(self.rng.choice(WORDS))

    def git_sha(self) -> str:
        return self.decoy(_rand(self.rng, _HEX, 40))

    def trace_uuid(self) -> str:
        return self.decoy(self.uuid4())

    def iso_time(self, style: str | None = None) -> str:
        dt = _random_datetime(self.rng)
        style = style or self.rng.choice(("Z", "ms", "+00:00"))
        if style == "Z":
            value = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif style == "ms":
            value = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
        else:
            value = dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return self.decoy(value)

    def epoch(self, millis: bool | None = None) -> str:
        dt = _random_datetime(self.rng)
        if millis is None:
            millis = self.rng.random() < 0.5
        return self.decoy(str(int(dt.timestamp() * 1000) if millis else int(dt.timestamp())))


def _json(obj: object, indent: int | None = 4) -> str:
    return json.dumps(obj, indent=indent)


# --------------------------------------------------------------------------------------------------
# Document kinds
# --------------------------------------------------------------------------------------------------


def describe_instances(rng: random.Random) -> Document:
    """``aws ec2 describe-instances`` JSON output."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    team = d.word()
    vpc = d.ec2("vpc")
    counts = [rng.randint(1, 2) for _ in range(rng.randint(1, 3))]
    subnets = [d.ec2("subnet") for _ in range(min(rng.randint(1, 3), sum(counts)))]
    sgs = [(f"{rng.choice(APPS)}-sg", d.ec2("sg")) for _ in range(rng.randint(1, 2))]
    ami = d.ec2("ami")
    profile = d.role_name()
    profile_id = d.unique_id("AIPA")
    template = d.ec2("lt")
    itype = d.instance_type()
    reservations = []
    n = 0
    for count in counts:
        instances = []
        for _ in range(count):
            iid, subnet, az = d.ec2("i"), subnets[n % len(subnets)], d.az()
            n += 1
            priv = d.private_ip()
            pub = d.public_ip() if rng.random() < 0.75 else None
            dns = d.public_dns(pub) if pub else ""
            launch = d.iso_time("+00:00")
            groups = [{"GroupName": n, "GroupId": g} for n, g in sgs]
            eni: dict[str, object] = {
                "Attachment": {
                    "AttachTime": launch,
                    "DeleteOnTermination": True,
                    "DeviceIndex": 0,
                    "Status": "attached",
                    "NetworkCardIndex": 0,
                },
                "Description": "",
                "Groups": groups,
                "Ipv6Addresses": [],
                "MacAddress": d.mac(),
                "NetworkInterfaceId": d.ec2("eni"),
                "OwnerId": acct,
                "PrivateDnsName": d.private_dns(priv),
                "PrivateIpAddress": priv,
                "SourceDestCheck": True,
                "Status": "in-use",
                "SubnetId": subnet,
                "VpcId": vpc,
                "InterfaceType": "interface",
            }
            if pub:
                eni = {"Association": {"IpOwnerId": "amazon", "PublicDnsName": dns, "PublicIp": pub}, **eni}
            inst: dict[str, object] = {
                "AmiLaunchIndex": 0,
                "ImageId": ami,
                "InstanceId": iid,
                "InstanceType": itype,
                "KeyName": rng.choice(("deploy", "ops-keypair", "default")),
                "LaunchTime": launch,
                "Monitoring": {"State": "disabled"},
                "Placement": {"AvailabilityZone": az, "GroupName": "", "Tenancy": "default"},
                "PrivateDnsName": d.private_dns(priv),
                "PrivateIpAddress": priv,
                "ProductCodes": [],
                "PublicDnsName": dns,
                **({"PublicIpAddress": pub} if pub else {}),
                "State": {"Code": 16, "Name": "running"},
                "StateTransitionReason": "",
                "SubnetId": subnet,
                "VpcId": vpc,
                "Architecture": "x86_64",
                "BlockDeviceMappings": [
                    {
                        "DeviceName": "/dev/xvda",
                        "Ebs": {
                            "AttachTime": launch,
                            "DeleteOnTermination": True,
                            "Status": "attached",
                            "VolumeId": d.ec2("vol"),
                        },
                    }
                ],
                "EbsOptimized": False,
                "EnaSupport": True,
                "Hypervisor": "xen",
                "IamInstanceProfile": {
                    "Arn": f"arn:aws:iam::{acct}:instance-profile/{profile}",
                    "Id": profile_id,
                },
                "NetworkInterfaces": [eni],
                "RootDeviceName": "/dev/xvda",
                "RootDeviceType": "ebs",
                "SecurityGroups": groups,
                "SourceDestCheck": True,
                "Tags": [
                    {
                        "Key": "Name",
                        "Value": f"{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}-{rng.randint(1, 9)}",
                    },
                    {"Key": "Team", "Value": team},
                    {"Key": "aws:ec2launchtemplate:id", "Value": template},
                    {"Key": "aws:ec2launchtemplate:version", "Value": str(rng.randint(1, 12))},
                ],
                "VirtualizationType": "hvm",
                "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2},
                "MetadataOptions": {
                    "State": "applied",
                    "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 2,
                    "HttpEndpoint": "enabled",
                },
            }
            instances.append(inst)
        reservations.append({"Groups": [], "Instances": instances, "OwnerId": acct, "ReservationId": d.ec2("r")})
    cmd = f"$ aws ec2 describe-instances --region {region} --filters Name=tag:Team,Values={team}\n"
    return d.finish("describe_instances", cmd + _json({"Reservations": reservations}) + "\n")


def credentials_file(rng: random.Random) -> Document:
    """``~/.aws/credentials`` (and sometimes ``~/.aws/config``) INI files."""
    d = _Doc(rng)
    region = d.region_decoy()
    profile = rng.choice(("staging", "prod-admin", "sandbox", "ci", "data"))
    lines = [
        "$ cat ~/.aws/credentials",
        "[default]",
        f"aws_access_key_id = {d.access_key()}",
        f"aws_secret_access_key = {d.secret_key()}",
        "",
        f"[{profile}]",
        f"aws_access_key_id = {d.access_key(temporary=True)}",
        f"aws_secret_access_key = {d.secret_key()}",
        f"aws_session_token = {d.session_token()}",
    ]
    if rng.random() < 0.5:
        lines += [
            "",
            "[legacy]",
            f"aws_access_key_id={d.access_key()}",
            f"aws_secret_access_key={d.secret_key()}",
        ]
    lines += [
        "",
        "$ cat ~/.aws/config",
        "[default]",
        f"region = {region}",
        "output = json",
        "",
        f"[profile {profile}]",
        f"region = {region}",
        f"role_arn = arn:aws:iam::{d.account}:role/{d.role_name()}",
        "source_profile = default",
        f"mfa_serial = arn:aws:iam::{d.account}:mfa/{d.user_name()}",
        "",
        f"# last refreshed {d.iso_time()} by the {d.word()} credential helper",
    ]
    return d.finish("credentials_file", "\n".join(lines) + "\n")


def dotenv(rng: random.Random) -> Document:
    """A ``.env`` file, or a shell rc with ``export AWS_SECRET_ACCESS_KEY="..."`` lines."""
    d = _Doc(rng)
    export = rng.random() < 0.4
    region = d.region_decoy()
    release, job = d.git_sha(), d.word()
    temporary = rng.random() < 0.5
    rds = d.rds_instance()
    db_url = f"postgres://app_user:{d.password()}@{d.rds_endpoint(rds)}:5432/{rng.choice(APPS)}"
    bucket, queue = d.bucket(), d.queue_name()
    pairs = [
        ("APP_ENV", rng.choice(ENVS)),
        ("RELEASE_SHA", release),
        ("JOB_NAME", job),
        ("DEFAULT_INSTANCE_TYPE", d.instance_type()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", d.access_key(temporary)),
        ("AWS_SECRET_ACCESS_KEY", d.secret_key()),
    ]
    if temporary:
        pairs.append(("AWS_SESSION_TOKEN", d.session_token()))
    pairs += [
        ("DATABASE_URL", db_url),
        ("S3_BUCKET", bucket),
        ("SQS_QUEUE_URL", f"https://sqs.{region}.amazonaws.com/{d.account}/{queue}"),
        ("LOG_LEVEL", "info"),
    ]
    if export:
        head = "$ cat ~/.zshrc.local\n# aws creds for the staging account\n"
        body = "\n".join(f'export {k}="{v}"' for k, v in pairs)
    else:
        head = "# .env (local development only, do not commit)\n"
        body = "\n".join(f"{k}={v}" for k, v in pairs)
    return d.finish("dotenv", head + body + "\n")


def _cloudtrail_identity(d: _Doc) -> tuple[dict[str, object], str]:
    rng, acct = d.rng, d.account
    if rng.random() < 0.6:
        role = d.role_name()
        role_id = d.unique_id("AROA")
        kind = rng.randrange(3)
        if kind == 0:
            session = d.ec2("i")
        elif kind == 1:
            session = d.user_name()
        else:
            session = f"botocore-session-{rng.randint(1_600_000_000, 1_750_000_000)}"
        identity: dict[str, object] = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": d.access_key(temporary=True),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{acct}:role/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": d.iso_time("Z"), "mfaAuthenticated": "false"},
            },
        }
    else:
        user = d.user_name()
        identity = {
            "type": "IAMUser",
            "principalId": d.unique_id("AIDA"),
            "arn": f"arn:aws:iam::{acct}:user/{user}",
            "accountId": acct,
            "accessKeyId": d.access_key(),
            "userName": user,
        }
    src = d.public_ip() if rng.random() < 0.85 else f"{rng.choice(('lambda', 'ec2', 'ecs-tasks'))}.amazonaws.com"
    return identity, src


def cloudtrail_event(rng: random.Random) -> Document:
    """CloudTrail JSON (a single event, or a ``Records`` file with several events)."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    identity, src = _cloudtrail_identity(d)
    bucket = d.bucket()
    key = f"{rng.choice(('reports', 'exports', 'uploads'))}/{d.word()}/{rng.randint(1, 999)}.csv"
    agent = "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/s3.cp]"
    base = {"eventVersion": "1.09", "userIdentity": identity}
    events: list[dict[str, object]] = [
        {
            **base,
            "eventTime": d.iso_time("Z"),
            "eventSource": "s3.amazonaws.com",
            "eventName": rng.choice(("GetObject", "PutObject", "DeleteObject")),
            "awsRegion": region,
            "sourceIPAddress": src,
            "userAgent": agent,
            "requestParameters": {
                "bucketName": bucket,
                "Host": f"{bucket}.s3.{region}.amazonaws.com",
                "key": key,
            },
            "responseElements": None,
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": "Mk5x",
                "bytesTransferredOut": 0,
            },
            "requestID": d.trace_uuid(),
            "eventID": d.trace_uuid(),
            "readOnly": False,
            "resources": [
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ],
            "eventType": "AwsApiCall",
            "managementEvent": False,
            "recipientAccountId": acct,
            "eventCategory": "Data",
        }
    ]
    if rng.random() < 0.6:
        iid = d.ec2("i")
        events.append(
            {
                **base,
                "eventTime": d.iso_time("Z"),
                "eventSource": "ec2.amazonaws.com",
                "eventName": "StopInstances",
                "awsRegion": region,
                "sourceIPAddress": src,
                "userAgent": agent,
                "requestParameters": {"instancesSet": {"items": [{"instanceId": iid}]}, "force": False},
                "responseElements": {
                    "requestId": d.trace_uuid(),
                    "instancesSet": {
                        "items": [
                            {
                                "instanceId": iid,
                                "currentState": {"code": 64, "name": "stopping"},
                                "previousState": {"code": 16, "name": "running"},
                            }
                        ]
                    },
                },
                "requestID": d.trace_uuid(),
                "eventID": d.trace_uuid(),
                "readOnly": False,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": acct,
                "eventCategory": "Management",
            }
        )
    if rng.random() < 0.6:
        key_arn = f"arn:aws:kms:{region}:{acct}:key/{d.kms_key_id()}"
        events.append(
            {
                "eventVersion": "1.09",
                "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
                "eventTime": d.iso_time("Z"),
                "eventSource": "kms.amazonaws.com",
                "eventName": "Decrypt",
                "awsRegion": region,
                "sourceIPAddress": "s3.amazonaws.com",
                "userAgent": "s3.amazonaws.com",
                "requestParameters": {
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}"},
                },
                "responseElements": None,
                "requestID": d.trace_uuid(),
                "eventID": d.trace_uuid(),
                "readOnly": True,
                "resources": [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key_arn}],
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": acct,
                "eventCategory": "Management",
            }
        )
    if len(events) > 1 and rng.random() < 0.5:
        text = _json({"Records": events}, indent=None) + "\n"
    elif rng.random() < 0.5:
        text = "\n".join(_json(e, indent=2) for e in events) + "\n"
    else:
        text = "\n".join(_json(e, indent=None) for e in events) + "\n"
    stamp = _random_datetime(rng).strftime("%Y%m%dT%H%MZ")
    log_file = f"{acct}_CloudTrail_{region}_{stamp}_{_rand(rng, string.ascii_letters + string.digits, 16)}.json.gz"
    prefix = f"$ zcat {log_file}\n" if rng.random() < 0.5 else ""
    return d.finish("cloudtrail_event", prefix + text)


def _tf_block(header: str, rows: list[tuple[str, str, str]], hidden: int = 0) -> str:
    """Render a ``terraform plan`` resource block: rows are (marker, attribute, rendered value)."""
    width = max(len(a) for _, a, _ in rows)
    lines = [f"      {m} {a.ljust(width)} = {v}" if m else f"        {a.ljust(width)} = {v}" for m, a, v in rows]
    if hidden:
        lines.append(f"        # ({hidden} unchanged attributes hidden)")
    return header + " {\n" + "\n".join(lines) + "\n    }"


def terraform_plan(rng: random.Random) -> Document:
    """``terraform plan`` text output: refresh lines, resource blocks with ids and ARNs."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    sha, stamp = d.git_sha(), d.epoch(False)
    vpc, sg = d.ec2("vpc"), d.ec2("sg")
    subnets = [d.ec2("subnet") for _ in range(rng.randint(2, 3))]
    iid, ami, bucket, role = d.ec2("i"), d.ec2("ami"), d.bucket(), d.role_name()
    key_id = d.kms_key_id()
    key_arn = f"arn:aws:kms:{region}:{acct}:key/{key_id}"
    refresh = [f"aws_vpc.main: Refreshing state... [id={vpc}]"]
    refresh += [f"aws_subnet.private[{n}]: Refreshing state... [id={s}]" for n, s in enumerate(subnets)]
    refresh += [
        f"aws_security_group.web: Refreshing state... [id={sg}]",
        f"aws_kms_key.data: Refreshing state... [id={key_id}]",
        f"aws_s3_bucket.artifacts: Refreshing state... [id={bucket}]",
        f"aws_iam_role.app: Refreshing state... [id={role}]",
        f"aws_instance.web: Refreshing state... [id={iid}]",
    ]
    network = [
        ("aws_internet_gateway", "gw", "igw"),
        ("aws_egress_only_internet_gateway", "v6", "eigw"),
        ("aws_route_table", "private", "rtb"),
        ("aws_network_acl", "main", "acl"),
        ("aws_nat_gateway", "this[0]", "nat"),
        ("aws_eip", "nat[0]", "eipalloc"),
        ("aws_vpc_peering_connection", "shared", "pcx"),
        ("aws_ec2_transit_gateway", "hub", "tgw"),
        ("aws_ec2_transit_gateway_vpc_attachment", "hub", "tgw-attach"),
        ("aws_vpc_endpoint", "s3", "vpce"),
        ("aws_vpc_dhcp_options", "main", "dopt"),
        ("aws_customer_gateway", "office", "cgw"),
        ("aws_vpn_gateway", "vgw", "vgw"),
        ("aws_vpn_connection", "office", "vpn"),
        ("aws_flow_log", "vpc", "fl"),
    ]
    for rtype, rname, prefix in rng.sample(network, rng.randint(3, 6)):
        refresh.append(f"module.network.{rtype}.{rname}: Refreshing state... [id={d.ec2(prefix)}]")
    if rng.random() < 0.5:
        refresh.append(f"module.network.aws_eip_association.nat: Refreshing state... [id={d.ec2('eipassoc')}]")

    ip = d.public_ip()
    old_type, new_type = d.instance_type(), d.instance_type()
    blocks = [
        "  # aws_instance.web will be updated in-place\n"
        + _tf_block(
            '  ~ resource "aws_instance" "web"',
            [
                ("", "ami", f'"{ami}"'),
                ("", "arn", f'"arn:aws:ec2:{region}:{acct}:instance/{iid}"'),
                ("", "availability_zone", f'"{d.az()}"'),
                ("", "iam_instance_profile", f'"{role}"'),
                ("", "id", f'"{iid}"'),
                ("~", "instance_type", f'"{old_type}" -> "{new_type}"'),
                ("", "private_ip", f'"{d.private_ip()}"'),
                ("", "public_dns", f'"{d.public_dns(ip)}"'),
                ("", "public_ip", f'"{ip}"'),
                ("", "subnet_id", f'"{subnets[0]}"'),
                ("", "vpc_security_group_ids", f'[\n            "{sg}",\n        ]'),
            ],
            hidden=rng.randint(25, 40),
        ),
        "  # aws_s3_bucket_versioning.artifacts will be created\n"
        + _tf_block(
            '  + resource "aws_s3_bucket_versioning" "artifacts"',
            [
                ("+", "bucket", f'"{bucket}"'),
                ("+", "id", "(known after apply)"),
                ("+", "expected_bucket_owner", f'"{acct}"'),
            ],
        ),
        "  # aws_s3_bucket_server_side_encryption_configuration.artifacts will be created\n"
        + _tf_block(
            '  + resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts"',
            [
                ("+", "bucket", f'"{bucket}"'),
                ("+", "kms_master_key_id", f'"{key_arn}"'),
                ("+", "sse_algorithm", '"aws:kms"'),
            ],
        ),
    ]
    if rng.random() < 0.7:
        rds = d.rds_instance()
        blocks.append(
            "  # aws_db_instance.main will be created\n"
            + _tf_block(
                '  + resource "aws_db_instance" "main"',
                [
                    ("+", "address", "(known after apply)"),
                    ("+", "identifier", f'"{rds}"'),
                    ("+", "instance_class", f'"{rng.choice(DB_INSTANCE_CLASSES)}"'),
                    ("+", "kms_key_id", f'"{key_arn}"'),
                    ("+", "password", "(sensitive value)"),
                    ("+", "username", '"dbadmin"'),
                    ("+", "vpc_security_group_ids", f'[\n          + "{sg}",\n        ]'),
                ],
            )
        )
    if rng.random() < 0.7:
        fn = d.function_name()
        blocks.append(
            "  # aws_lambda_function.worker will be created\n"
            + _tf_block(
                '  + resource "aws_lambda_function" "worker"',
                [
                    ("+", "arn", "(known after apply)"),
                    ("+", "function_name", f'"{fn}"'),
                    ("+", "handler", '"app.handler"'),
                    ("+", "role", f'"arn:aws:iam::{acct}:role/{role}"'),
                    ("+", "runtime", '"python3.12"'),
                ],
            )
        )
    if rng.random() < 0.6:
        blocks.append(
            "  # aws_sns_topic_subscription.queue will be created\n"
            + _tf_block(
                '  + resource "aws_sns_topic_subscription" "queue"',
                [
                    ("+", "endpoint", f'"arn:aws:sqs:{region}:{acct}:{d.queue_name()}"'),
                    ("+", "protocol", '"sqs"'),
                    ("+", "topic_arn", f'"arn:aws:sns:{region}:{acct}:{d.topic_name()}"'),
                ],
            )
        )
    if rng.random() < 0.5:
        blocks.append(
            "  # aws_dynamodb_table.state will be created\n"
            + _tf_block(
                '  + resource "aws_dynamodb_table" "state"',
                [
                    ("+", "billing_mode", '"PAY_PER_REQUEST"'),
                    ("+", "hash_key", '"pk"'),
                    ("+", "name", f'"{d.table_name()}"'),
                ],
            )
        )
    if rng.random() < 0.4:
        blocks.append(
            "  # aws_ebs_volume.restore will be created\n"
            + _tf_block(
                '  + resource "aws_ebs_volume" "restore"',
                [
                    ("+", "availability_zone", f'"{d.az()}"'),
                    ("+", "snapshot_id", f'"{d.ec2("snap")}"'),
                    ("+", "type", '"gp3"'),
                ],
            )
        )
    adds = len(blocks) - 1
    text = "\n".join(
        [
            "$ git rev-parse HEAD",
            sha,
            f"$ terraform plan -var 'region={region}' -out=tfplan-{stamp}",
            *refresh,
            "",
            "Terraform used the selected providers to generate the following execution plan. "
            "Resource actions are indicated with the following symbols:",
            "  + create",
            "  ~ update in-place",
            "",
            "Terraform will perform the following actions:",
            "",
            "\n\n".join(blocks),
            "",
            f"Plan: {adds} to add, 1 to change, 0 to destroy.",
            "",
            "Changes to Outputs:",
            f'  + bucket_arn = "arn:aws:s3:::{bucket}"',
            f'  + vpc_id     = "{vpc}"',
            "",
            f"Saved the plan to: tfplan-{stamp}",
        ]
    )
    return d.finish("terraform_plan", text + "\n")


def shell_session(rng: random.Random) -> Document:
    """An interactive terminal transcript mixing aws CLI, ssh, psql, docker and git."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    parts: list[str] = []

    def caller_identity() -> str:
        if rng.random() < 0.5:
            user = d.user_name()
            out = {"UserId": d.unique_id("AIDA"), "Account": acct, "Arn": f"arn:aws:iam::{acct}:user/{user}"}
        else:
            role, session = d.role_name(), d.user_name()
            out = {
                "UserId": f"{d.unique_id('AROA')}:{session}",
                "Account": acct,
                "Arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            }
        return "$ aws sts get-caller-identity\n" + _json(out)

    def s3_ls() -> str:
        bucket = d.bucket()
        word = d.word()
        rows = [f"                           PRE {p}/" for p in ("logs", word)]
        rows += [
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 0{rng.randint(0, 9)}:1{rng.randint(0, 9)}:0"
            f"{rng.randint(0, 9)} {rng.randint(100, 99999):>10} {name}"
            for name in ("report.csv", "manifest.json")
        ]
        return f"$ aws s3 ls s3://{bucket}/\n" + "\n".join(rows)

    def security_groups() -> str:
        sg, vpc, ip = d.ec2("sg"), d.ec2("vpc"), d.public_ip()
        out = {
            "SecurityGroups": [
                {
                    "Description": "bastion access",
                    "GroupName": "bastion-sg",
                    "IpPermissions": [
                        {
                            "FromPort": 22,
                            "IpProtocol": "tcp",
                            "IpRanges": [{"CidrIp": f"{ip}/32", "Description": "office"}],
                            "ToPort": 22,
                        }
                    ],
                    "OwnerId": acct,
                    "GroupId": sg,
                    "VpcId": vpc,
                }
            ]
        }
        return f"$ aws ec2 describe-security-groups --group-ids {sg} --region {region}\n" + _json(out)

    def ssh() -> str:
        host, client = d.public_dns(), d.public_ip()
        priv = d.private_ip()
        return "\n".join(
            [
                f"$ ssh -i ~/.ssh/deploy.pem ec2-user@{host}",
                f"Last login: Tue May  7 09:12:44 2024 from {client}",
                f"[ec2-user@ip-{priv.replace('.', '-')} ~]$ uptime",
                " 09:15:02 up 12 days,  3:41,  1 user,  load average: 0.08, 0.03, 0.01",
                f"[ec2-user@ip-{priv.replace('.', '-')} ~]$ exit",
                f"Connection to {host} closed.",
            ]
        )

    def psql() -> str:
        rds = d.rds_instance()
        db = rng.choice(APPS)
        return "\n".join(
            [
                f'$ psql "postgres://{rng.choice(("app_user", "dbadmin", "postgres"))}:{d.password()}@'
                f'{d.rds_endpoint(rds)}:5432/{db}"',
                "psql (16.2, server 15.5)",
                "SSL connection (protocol: TLSv1.3, cipher: TLS_AES_256_GCM_SHA384, compression: off)",
                'Type "help" for help.',
                "",
                f"{db}=> \\q",
            ]
        )

    def ecr() -> str:
        registry = f"{acct}.dkr.ecr.{region}.amazonaws.com"
        app = rng.choice(APPS)
        return "\n".join(
            [
                f"$ aws ecr get-login-password --region {region} "
                f"| docker login --username AWS --password-stdin {registry}",
                "Login Succeeded",
                f"$ docker push {registry}/{app}:v{rng.randint(1, 9)}.{rng.randint(0, 30)}.0",
            ]
        )

    def sqs() -> str:
        url = f"https://sqs.{region}.amazonaws.com/{acct}/{d.queue_name()}"
        out = {"MD5OfMessageBody": _rand(rng, _HEX, 32), "MessageId": d.uuid4()}
        return f'$ aws sqs send-message --queue-url {url} --message-body \'{{"job": "{d.word()}"}}\'\n' + _json(out)

    def git_log() -> str:
        rows = ["$ git log -2"]
        for _ in range(2):
            rows += [
                f"commit {d.git_sha()}",
                f"Author: {_cap(rng.choice(FIRST))} {_cap(rng.choice(LAST))} <dev@example.com>",
                f"Date:   Mon Apr {rng.randint(10, 28)} {rng.randint(10, 19)}:{rng.randint(10, 59)}:12 2024 +0200",
                "",
                f"    Fix {d.word()} job retries",
                "",
            ]
        return "\n".join(rows[:-1])

    def app_log() -> str:
        return "\n".join(
            [
                "$ tail -n 2 /var/log/app/server.log",
                f"{d.iso_time('ms')} INFO request completed trace_id={d.trace_uuid()} "
                f"duration_ms={rng.randint(3, 900)}",
                f"{d.iso_time('ms')} WARN slow query trace_id={d.trace_uuid()} ts={d.epoch()}",
            ]
        )

    def kms() -> str:
        key_id = d.kms_key_id()
        out = {
            "KeyMetadata": {
                "AWSAccountId": acct,
                "KeyId": key_id,
                "Arn": f"arn:aws:kms:{region}:{acct}:key/{key_id}",
                "Enabled": True,
                "Description": "application data key",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyState": "Enabled",
                "Origin": "AWS_KMS",
                "KeyManager": "CUSTOMER",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "MultiRegion": False,
            }
        }
        return f"$ aws kms describe-key --key-id alias/{rng.choice(APPS)}-data\n" + _json(out)

    def groups() -> str:
        user, group = d.user_name(), d.group_name()
        out = {
            "Groups": [
                {
                    "Path": "/",
                    "GroupName": group,
                    "GroupId": d.unique_id("AGPA"),
                    "Arn": f"arn:aws:iam::{acct}:group/{group}",
                    "CreateDate": d.iso_time("Z"),
                }
            ]
        }
        return f"$ aws iam list-groups-for-user --user-name {user}\n" + _json(out)

    def snapshot() -> str:
        vol = d.ec2("vol")
        out = {
            "Description": "pre-upgrade",
            "Encrypted": True,
            "OwnerId": acct,
            "Progress": "",
            "SnapshotId": d.ec2("snap"),
            "StartTime": d.iso_time("ms"),
            "State": "pending",
            "VolumeId": vol,
            "VolumeSize": rng.choice((8, 20, 100)),
            "Tags": [],
        }
        return f"$ aws ec2 create-snapshot --volume-id {vol} --description pre-upgrade\n" + _json(out)

    def exports() -> str:
        return "\n".join(
            [
                f"$ export AWS_ACCESS_KEY_ID={d.access_key()}",
                f'$ export AWS_SECRET_ACCESS_KEY="{d.secret_key()}"',
            ]
        )

    def configured_region() -> str:
        return f"$ aws configure get region\n{region}"

    required = [configured_region, caller_identity, git_log, app_log]
    optional = [s3_ls, security_groups, ssh, psql, ecr, sqs, kms, groups, snapshot, exports]
    chosen = required + rng.sample(optional, rng.randint(3, len(optional)))
    rng.shuffle(chosen)
    for snippet in chosen:
        parts.append(snippet())
    return d.finish("shell_session", "\n".join(parts) + "\n$ \n")


def boto3_script(rng: random.Random) -> Document:
    """A Python script with hard-coded credentials and resource names."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    sha, trace, ts = d.git_sha(), d.trace_uuid(), d.iso_time("ms")
    temporary = rng.random() < 0.3
    key, secret = d.access_key(temporary), d.secret_key()
    token_line = f"    aws_session_token='{d.session_token()}',\n" if temporary else ""
    bucket = d.bucket()
    ids = [d.ec2("i") for _ in range(rng.randint(1, 3))]
    queue_url = f"https://sqs.{region}.amazonaws.com/{acct}/{d.queue_name()}"
    table = d.table_name()
    fn = d.function_name()
    word = d.word()
    text = f'''#!/usr/bin/env python3
"""{_cap(word)} maintenance script (deploy-tools rev {sha})."""
# Example log line: {ts} INFO done trace_id={trace}
import json

import boto3

session_kwargs = dict(region_name='{region}')

s3 = boto3.client(
    's3',
    aws_access_key_id='{key}',
    aws_secret_access_key='{secret}',
{token_line}    region_name='{region}',
)
ec2 = boto3.client('ec2', **session_kwargs)
sqs = boto3.client('sqs', **session_kwargs)
dynamodb = boto3.resource('dynamodb', **session_kwargs)
lambda_ = boto3.client('lambda', **session_kwargs)

BUCKET = '{bucket}'
INSTANCE_IDS = {ids!r}
INSTANCE_TYPE = '{d.instance_type()}'


def main() -> None:
    s3.upload_file('report.csv', Bucket=BUCKET, Key='reports/{word}.csv')
    s3.download_file(Bucket='{bucket}', Key='config/settings.json', Filename='/tmp/settings.json')
    ec2.stop_instances(InstanceIds=['{ids[0]}'])
    ec2.modify_instance_attribute(InstanceId=INSTANCE_IDS[-1], InstanceType={{'Value': INSTANCE_TYPE}})
    sqs.send_message(QueueUrl='{queue_url}', MessageBody=json.dumps({{'job': '{word}'}}))
    dynamodb.Table('{table}').put_item(Item={{'pk': 'run', 'status': 'ok'}})
    lambda_.invoke(FunctionName='arn:aws:lambda:{region}:{acct}:function:{fn}', InvocationType='Event')


if __name__ == '__main__':
    main()
'''
    return d.finish("boto3_script", text)


def iam_policy(rng: random.Random) -> Document:
    """An IAM identity policy (sometimes wrapped in get-policy-version output) or a bucket policy."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    team = d.word()
    bucket, role = d.bucket(), d.role_name()
    key_id = d.kms_key_id()
    statements: list[dict[str, object]] = [
        {
            "Sid": "ReadArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        },
        {
            "Sid": "AssumeDeployer",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": f"arn:aws:iam::{acct}:role/{role}",
        },
        {
            "Sid": "UseDataKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": f"arn:aws:kms:{region}:{acct}:key/{key_id}",
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
    ]
    if rng.random() < 0.7:
        statements.append(
            {
                "Sid": "InvokeWorker",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"arn:aws:lambda:{region}:{acct}:function:{d.function_name()}",
            }
        )
    if rng.random() < 0.7:
        statements.append(
            {
                "Sid": "Messaging",
                "Effect": "Allow",
                "Action": ["sns:Publish", "sqs:SendMessage"],
                "Resource": [
                    f"arn:aws:sns:{region}:{acct}:{d.topic_name()}",
                    f"arn:aws:sqs:{region}:{acct}:{d.queue_name()}",
                ],
            }
        )
    if rng.random() < 0.7:
        table = d.table_name()
        statements.append(
            {
                "Sid": "StateTable",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                "Resource": [
                    f"arn:aws:dynamodb:{region}:{acct}:table/{table}",
                    f"arn:aws:dynamodb:{region}:{acct}:table/{table}/index/*",
                ],
            }
        )
    statements.append(
        {
            "Sid": "RegionAndTeam",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": region, "aws:PrincipalTag/team": team},
                "NotIpAddress": {"aws:SourceIp": [f"{d.public_ip()}/32"]},
            },
        }
    )
    policy: dict[str, object] = {"Version": "2012-10-17", "Statement": statements}
    style = rng.randrange(3)
    if style == 0:
        text = _json(policy) + "\n"
    elif style == 1:
        name = d.policy_name()
        out = {
            "PolicyVersion": {
                "Document": policy,
                "VersionId": f"v{rng.randint(1, 5)}",
                "IsDefaultVersion": True,
                "CreateDate": d.iso_time("+00:00"),
            }
        }
        text = (
            f"$ aws iam get-policy-version --policy-arn arn:aws:iam::{acct}:policy/{name} "
            f"--version-id v2\n{_json(out)}\n"
        )
    else:
        other = d.account_id()
        user = d.user_name()
        bucket_policy = {
            "Version": "2012-10-17",
            "Id": f"{team}-access",
            "Statement": [
                {
                    "Sid": "CrossAccountRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{other}:root", f"arn:aws:iam::{acct}:user/{user}"]},
                    "Action": ["s3:GetObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                },
                {
                    "Sid": "EnforceTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
        text = f"{_json(policy, indent=2)}\n\n// bucket policy ({region})\n{_json(bucket_policy, indent=2)}\n"
    return d.finish("iam_policy", text)


def rds_elb_describe(rng: random.Random) -> Document:
    """``describe-db-instances`` and ``describe-load-balancers`` (ELBv2 or classic) output."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    vpc, sg = d.ec2("vpc"), d.ec2("sg")
    subnets = [d.ec2("subnet") for _ in range(2)]
    rds = d.rds_instance()
    endpoint = d.rds_endpoint(rds)
    az = d.az()
    engine, port = rng.choice((("postgres", 5432), ("mysql", 3306)))
    parts: list[str] = []
    if rng.random() < 0.5:
        parts.append(
            f"$ aws rds modify-db-instance --db-instance-identifier {rds} "
            f"--master-user-password '{d.password(url_safe=False)}' --apply-immediately"
        )
    else:
        req = {
            "DBInstanceIdentifier": rds,
            "Engine": engine,
            "MasterUsername": "dbadmin",
            "MasterUserPassword": d.password(url_safe=False),
            "AllocatedStorage": 100,
        }
        parts.append(
            f"$ cat create-db.json\n{_json(req, indent=2)}\n"
            "$ aws rds create-db-instance --cli-input-json file://create-db.json > /dev/null"
        )
    db = {
        "DBInstances": [
            {
                "DBInstanceIdentifier": rds,
                "DBInstanceClass": d.decoy(rng.choice(DB_INSTANCE_CLASSES)),
                "Engine": engine,
                "DBInstanceStatus": "available",
                "MasterUsername": "dbadmin",
                "DBName": rng.choice(APPS),
                "Endpoint": {"Address": endpoint, "Port": port, "HostedZoneId": "Z2R2ITUGPM61AM"},
                "AllocatedStorage": 100,
                "InstanceCreateTime": d.iso_time("ms"),
                "PreferredBackupWindow": "03:00-04:00",
                "BackupRetentionPeriod": 7,
                "VpcSecurityGroups": [{"VpcSecurityGroupId": sg, "Status": "active"}],
                "AvailabilityZone": az,
                "DBSubnetGroup": {
                    "DBSubnetGroupName": f"{rng.choice(APPS)}-db-subnets",
                    "VpcId": vpc,
                    "SubnetGroupStatus": "Complete",
                    "Subnets": [
                        {
                            "SubnetIdentifier": s,
                            "SubnetAvailabilityZone": {"Name": az},
                            "SubnetStatus": "Active",
                        }
                        for s in subnets
                    ],
                },
                "MultiAZ": False,
                "PubliclyAccessible": False,
                "StorageEncrypted": True,
                "KmsKeyId": f"arn:aws:kms:{region}:{acct}:key/{d.kms_key_id()}",
                "DbiResourceId": d.rds_resource_id(),
                "DBInstanceArn": f"arn:aws:rds:{region}:{acct}:db:{rds}",
                "IAMDatabaseAuthenticationEnabled": False,
            }
        ]
    }
    parts.append(f"$ aws rds describe-db-instances --db-instance-identifier {rds}\n{_json(db)}")
    name = d.load_balancer_name()
    zone = rng.choice(ELB_ZONE_IDS)
    if rng.random() < 0.6:
        internal = rng.random() < 0.25
        lb: dict[str, object] = {
            "LoadBalancers": [
                {
                    "LoadBalancerArn": f"arn:aws:elasticloadbalancing:{region}:{acct}:"
                    f"loadbalancer/app/{name}/{d.load_balancer_id()}",
                    "DNSName": d.elb_dns(name, internal),
                    "CanonicalHostedZoneId": zone,
                    "CreatedTime": d.iso_time("ms"),
                    "LoadBalancerName": name,
                    "Scheme": "internal" if internal else "internet-facing",
                    "VpcId": vpc,
                    "State": {"Code": "active"},
                    "Type": "application",
                    "AvailabilityZones": [
                        {"ZoneName": az, "SubnetId": s, "LoadBalancerAddresses": []} for s in subnets
                    ],
                    "SecurityGroups": [sg],
                    "IpAddressType": "ipv4",
                }
            ]
        }
        parts.append(f"$ aws elbv2 describe-load-balancers --names {name}\n{_json(lb)}")
    else:
        dns = d.elb_dns(name)
        lb = {
            "LoadBalancerDescriptions": [
                {
                    "LoadBalancerName": name,
                    "DNSName": dns,
                    "CanonicalHostedZoneName": dns,
                    "CanonicalHostedZoneNameID": zone,
                    "ListenerDescriptions": [
                        {
                            "Listener": {
                                "Protocol": "HTTP",
                                "LoadBalancerPort": 80,
                                "InstanceProtocol": "HTTP",
                                "InstancePort": 8080,
                            },
                            "PolicyNames": [],
                        }
                    ],
                    "AvailabilityZones": [az],
                    "Subnets": subnets,
                    "VPCId": vpc,
                    "Instances": [{"InstanceId": d.ec2("i")} for _ in range(rng.randint(1, 3))],
                    "SecurityGroups": [sg],
                    "CreatedTime": d.iso_time("ms"),
                    "Scheme": "internet-facing",
                }
            ]
        }
        parts.append(f"$ aws elb describe-load-balancers --load-balancer-names {name} --region {region}\n{_json(lb)}")
    return d.finish("rds_elb_describe", "\n".join(parts) + "\n")


def cloudformation_yaml(rng: random.Random) -> Document:
    """A CloudFormation template in YAML with concrete ids, names, a KMS key id and a DB password."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    word, sha, built = d.word(), d.git_sha(), d.iso_time("Z")
    vpc = d.ec2("vpc")
    subnets = [d.ec2("subnet") for _ in range(rng.randint(2, 3))]
    sg, ami, snap, rtb = d.ec2("sg"), d.ec2("ami"), d.ec2("snap"), d.ec2("rtb")
    key_id = d.kms_key_id()
    bucket, rds, role = d.bucket(), d.rds_instance(), d.role_name()
    subnet_yaml = "\n".join(f"      - {s}" for s in subnets)
    text = f"""AWSTemplateFormatVersion: '2010-09-09'
Description: {word} stack (built {built} from commit {sha})
Parameters:
  VpcId:
    Type: AWS::EC2::VPC::Id
    Default: {vpc}
  SubnetIds:
    Type: List<AWS::EC2::Subnet::Id>
    Default: {",".join(subnets)}
  Region:
    Type: String
    Default: {region}
Resources:
  ArtifactsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {bucket}
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: arn:aws:kms:{region}:{acct}:key/{key_id}
  DataKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/{word}-data
      TargetKeyId: {key_id}
  Database:
    Type: AWS::RDS::DBInstance
    Properties:
      DBInstanceIdentifier: {rds}
      DBInstanceClass: {rng.choice(DB_INSTANCE_CLASSES)}
      Engine: postgres
      MasterUsername: dbadmin
      MasterUserPassword: '{d.password(url_safe=False)}'
      StorageEncrypted: true
      KmsKeyId: {key_id}
      VPCSecurityGroups:
        - {sg}
      DBSubnetGroupName: {word}-db-subnets
  Worker:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: {ami}
      InstanceType: {d.instance_type()}
      AvailabilityZone: {d.az()}
      SubnetId: {subnets[0]}
      SecurityGroupIds:
        - {sg}
      IamInstanceProfile: {role}
      BlockDeviceMappings:
        - DeviceName: /dev/xvdf
          Ebs:
            SnapshotId: {snap}
            VolumeType: gp3
  PrivateRoute:
    Type: AWS::EC2::Route
    Properties:
      RouteTableId: {rtb}
      DestinationCidrBlock: 0.0.0.0/0
      NatGatewayId: {d.ec2("nat")}
  S3Endpoint:
    Type: AWS::EC2::VPCEndpoint
    Properties:
      VpcId: {vpc}
      ServiceName: com.amazonaws.{region}.s3
      VpcEndpointType: Interface
      SubnetIds:
{subnet_yaml}
"""
    extras: list[str] = []
    if rng.random() < 0.7:
        extras.append(f"""  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: {d.queue_name()}
      KmsMasterKeyId: {key_id}
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: {d.topic_name()}
""")
    if rng.random() < 0.7:
        extras.append(f"""  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {d.table_name()}
      BillingMode: PAY_PER_REQUEST
""")
    if rng.random() < 0.7:
        extras.append(f"""  Processor:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: {d.function_name()}
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::{acct}:role/{role}
      Environment:
        Variables:
          DATA_BUCKET: {bucket}
          POWERTOOLS_SERVICE_NAME: {word}
""")
    outputs = f"""Outputs:
  BucketArn:
    Value: arn:aws:s3:::{bucket}
  DatabaseAddress:
    Value: {d.rds_endpoint(rds)}
"""
    return d.finish("cloudformation_yaml", text + "".join(extras) + outputs)


def pem_and_config(rng: random.Random) -> Document:
    """A PEM private key inside a config file, plus CloudFront and Route 53 CLI output."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    word = d.word()
    bucket = d.bucket()
    style = rng.randrange(3)
    if style == 0:
        host = d.public_dns()
        config = (
            f'$ cat deploy/{word}.toml\n[deploy]\nregion = "{region}"\nbastion_host = "{host}"\n'
            f'ssh_user = "ec2-user"\nssh_private_key = """\n{d.pem()}\n"""\n'
        )
    elif style == 1:
        pair = d.unique_id("APKA")
        config = (
            f'$ cat cloudfront-signer.json\n{{\n  "key_pair_id": "{pair}",\n  "region": "{region}",\n'
            f'  "private_key": "{d.pem(escaped=True)}\\n"\n}}\n'
        )
    else:
        host, key_pair = d.public_dns(), d.ec2("key")
        config = (
            f"$ aws ec2 describe-key-pairs --key-names {word} --query 'KeyPairs[].KeyPairId' --output text\n"
            f"{key_pair}\n$ cat ~/.ssh/{word}.pem\n{d.pem()}\n$ grep -A3 bastion ~/.ssh/config\n"
            f"Host bastion\n    HostName {host}\n    User ec2-user\n    IdentityFile ~/.ssh/{word}.pem\n"
        )
    dist = d.cloudfront_id()
    distributions = [
        {
            "Id": dist,
            "ARN": f"arn:aws:cloudfront::{acct}:distribution/{dist}",
            "Status": "Deployed",
            "Origin": f"{bucket}.s3.{region}.amazonaws.com",
            "LastModifiedTime": d.iso_time("ms"),
        }
    ]
    zone = d.hosted_zone_id()
    zones = {
        "HostedZones": [
            {
                "Id": f"/hostedzone/{zone}",
                "Name": "example.com.",
                "CallerReference": d.uuid4(),
                "Config": {"Comment": f"{word} public zone", "PrivateZone": False},
                "ResourceRecordSetCount": rng.randint(3, 40),
            }
        ]
    }
    if rng.random() < 0.5:
        private = d.hosted_zone_id()
        zones["HostedZones"].append(
            {
                "Id": f"/hostedzone/{private}",
                "Name": "internal.example.com.",
                "CallerReference": d.uuid4(),
                "Config": {"PrivateZone": True},
                "ResourceRecordSetCount": 7,
            }
        )
    text = "\n".join(
        [
            config.rstrip("\n"),
            "$ aws cloudfront list-distributions --query "
            "'DistributionList.Items[].{Id:Id,ARN:ARN,Status:Status,"
            "Origin:Origins.Items[0].DomainName,LastModifiedTime:LastModifiedTime}'",
            _json(distributions),
            f"$ aws cloudfront create-invalidation --distribution-id {dist} --paths '/*'",
            _json(
                {
                    "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{dist}/invalidation/"
                    f"I{_rand(rng, _UPPER_ALNUM, 13)}",
                    "Invalidation": {"Status": "InProgress", "CreateTime": d.iso_time("ms")},
                }
            ),
            "$ aws route53 list-hosted-zones",
            _json(zones),
            f"$ aws route53 list-resource-record-sets --hosted-zone-id {zone} --max-items 1",
            _json(
                {
                    "ResourceRecordSets": [
                        {
                            "Name": "cdn.example.com.",
                            "Type": "A",
                            "AliasTarget": {
                                "HostedZoneId": "Z2FDTNDATAQYW2",
                                "DNSName": "d1a2b3c4d5e6f7.cloudfront.net.",
                                "EvaluateTargetHealth": False,
                            },
                        }
                    ]
                }
            ),
        ]
    )
    return d.finish("pem_and_config", text + "\n")


# --------------------------------------------------------------------------------------------------
# Shapes from real AWS output (issue 14), and the look-alikes that must survive
# --------------------------------------------------------------------------------------------------

#: Decoy class -> values that must never be masked (bench/detection.py reports false positives per class).
OVERMASK_CLASSES: dict[str, tuple[str, ...]] = {
    "region": (
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "eu-central-1-ham-1a",
        "us-west-2-lax-1a",
        "us-east-1-wl1-bos-wlz-1",
        "use1-az1",
        "usw2-az2",
        "us-gov-west-1",
    ),
    "word": ("default", "latest", "admin", "prod", "test", "system", "buckets", "main", "master", "staging"),
    "json_key": ("DBClusterIdentifier", "DBInstanceIdentifier", "LoadBalancerName", "TableName", "BucketName"),
    "managed_name": (
        "AdministratorAccess",
        "SecurityAudit",
        "ReadOnlyAccess",
        "AmazonS3ReadOnlyAccess",
        "AWSLambdaBasicExecutionRole",
        "AmazonSSMManagedInstanceCore",
        "Z35SXDOTRQ7X7K",
        "Z2FDTNDATAQYW2",
        "Z1H1FL5HABSF5",
        "Z3AQBSTGFYJSTF",
    ),
    "timestamp": (),  # generated per document: compact YYYYMMDDhhmm
    "version": ("19.3.0.1.ru5", "224.0.0.251", "239.255.255.250", "v2.4.1.7", "12.1.0.2.220719"),
}


def _overmask_decoy(d: _Doc, cls: str) -> str:
    return d.decoy(d.rng.choice(OVERMASK_CLASSES[cls]))


def _compact_timestamp(d: _Doc) -> str:
    return d.decoy(_random_datetime(d.rng).strftime("%Y%m%d%H%M"))


def _escaped_secret(d: _Doc) -> str:
    """A 40-character secret key as JSON writes it when it escapes `/` (planted as written)."""
    rng = d.rng
    while True:
        key = _rand(rng, _SECRET, 40)
        if "/" not in key:
            cut = rng.randrange(5, 35)
            key = key[:cut] + "/" + key[cut + 1 :]
        if any(c.isdigit() for c in key) and any(c.isupper() for c in key) and any(c.islower() for c in key):
            return d.plant("secret_value", key.replace("/", "\\/"))


def _encoded_secret(d: _Doc) -> str:
    """A 40-character secret key percent-encoded in a URL (planted as written)."""
    rng = d.rng
    while True:
        key = _rand(rng, _SECRET, 40)
        if "/" not in key:
            cut = rng.randrange(5, 35)
            key = key[:cut] + "/" + key[cut + 1 :]
        if any(c.isdigit() for c in key) and any(c.isupper() for c in key) and any(c.islower() for c in key):
            return d.plant("secret_value", key.replace("/", "%2F").replace("+", "%2B"))


def _any_secret(d: _Doc, n: int | None = None) -> str:
    rng = d.rng
    while True:
        value = _rand(rng, string.ascii_letters + string.digits + "+/", n or rng.randint(6, 64))
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return d.plant("secret_value", value)


def _password_with_url_chars(d: _Doc) -> str:
    rng = d.rng
    while True:
        pw = _rand(rng, string.ascii_letters + string.digits, rng.randint(10, 20))
        cut = rng.randrange(2, len(pw) - 2)
        pw = pw[:cut] + rng.choice("@/") + pw[cut:]
        if any(c.isdigit() for c in pw) and pw[0].isalnum() and pw[-1].isalnum():
            return d.plant("password", pw)


def real_cli_output(rng: random.Random) -> Document:
    """Transcript of aws CLI calls whose output leaked on real AWS text: RDS snapshots, CloudFront, list-buckets
    and `s3 ls`, list-valued name fields, `--output text` rows, BYOIP pools, fleets, export tasks; with the
    look-alikes that must survive (JMESPath field names, managed policies, AWS alias zones, local zones)."""
    d = _Doc(rng)
    acct, region = d.account, d.region_decoy()
    parts: list[str] = []
    instance = d.rds_instance()
    manual = d.plant("rds_snapshot", f"{instance}-before-{rng.choice(VERBS)}-{d.sfx()}")
    stamp = _random_datetime(rng)
    automated = d.plant("rds_snapshot", f"{instance}-{stamp:%Y-%m-%d-%H-%M}")
    key = rng.choice(OVERMASK_CLASSES["json_key"][:2])
    parts.append(
        f"$ aws rds describe-db-snapshots --db-instance-identifier {instance} "
        f"--query 'DBSnapshots[].{{{key}:{d.decoy(key)},Id:DBSnapshotIdentifier}}'\n"
        + _json(
            {
                "DBSnapshots": [
                    {"DBSnapshotIdentifier": f"rds:{automated}", "DBInstanceIdentifier": instance},
                    {"DBSnapshotIdentifier": manual, "DBInstanceIdentifier": instance},
                ]
            }
        )
    )
    copy = d.plant("rds_snapshot", f"{rng.choice(APPS)}-copy-{d.sfx()}")
    parts.append(
        f"$ aws rds copy-db-snapshot --source-db-snapshot-identifier {manual} --target-db-snapshot-identifier {copy}"
    )
    dist, oai = d.cloudfront_id(), d.cloudfront_id()
    parts.append(
        f"$ aws cloudfront get-distribution --id {dist}\n"
        + _json(
            {
                "Distribution": {
                    "Id": dist,
                    "DomainName": f"d{_rand(rng, _LOWER_ALNUM, 13)}.cloudfront.net",
                    "Origins": {
                        "Items": [
                            {"S3OriginConfig": {"OriginAccessIdentity": f"origin-access-identity/cloudfront/{oai}"}}
                        ]
                    },
                }
            }
        )
    )
    buckets = [d.bucket() for _ in range(rng.randint(2, 3))]
    canonical = d.plant("canonical_user_id", _rand(rng, _HEX, 64))
    parts.append(
        "$ aws s3api list-buckets\n"
        + _json(
            {
                "Buckets": [{"Name": b, "CreationDate": d.iso_time("+00:00")} for b in buckets],
                "Owner": {"DisplayName": rng.choice(FIRST), "ID": canonical},
            }
        )
    )
    listed = d.bucket()
    parts.append(
        "$ aws s3 ls\n" + "\n".join(f"{_random_datetime(rng):%Y-%m-%d %H:%M:%S} {b}" for b in (*buckets, listed))
    )
    parts.append(f"$ sam deploy --s3-bucket {d.bucket()} --stack-name {rng.choice(APPS)}-{d.sfx()}")
    lbs = [d.load_balancer_name() for _ in range(2)]
    tables = [d.table_name() for _ in range(2)]
    queues = [d.queue_name() for _ in range(2)]
    parts.append(
        "$ aws elb describe-load-balancers --query '{LoadBalancerNames: LoadBalancerDescriptions[].LoadBalancerName}'\n"
        + _json({"LoadBalancerNames": lbs})
    )
    parts.append("$ aws dynamodb list-tables\n" + _json({"TableNames": tables}))
    parts.append(
        "$ aws sqs list-queues\n"
        + _json({"QueueUrls": [f"https://sqs.{region}.amazonaws.com/{acct}/{q}" for q in queues]})
    )
    reservation, instance_id = d.ec2("r"), d.ec2("i")
    parts.append(
        "$ aws ec2 describe-instances --output text\n"
        f"RESERVATIONS\t{acct}\t{reservation}\n"
        f"INSTANCES\t0\tx86_64\t{d.instance_type()}\t{instance_id}\t{d.private_ip()}"
    )
    member = d.account_id()
    parts.append(
        "$ aws organizations list-accounts --output text\n"
        f"ACCOUNTS\tarn:aws:organizations::{acct}:account/o-{_rand(rng, _LOWER_ALNUM, 10)}/{member}\t"
        f"{rng.choice(FIRST)}@example.com\t{d.account_id()}\tACTIVE\t{rng.choice(APPS)}"
    )
    pool = d.plant("ip_pool_id", f"ipv4pool-ec2-{_rand(rng, _HEX, 17)}")
    pool6 = d.plant("ip_pool_id", f"ipv6pool-ec2-{_rand(rng, _HEX, 17)}")
    fleet = d.plant("fleet_id", f"fleet-{d.uuid4()}")
    export = d.plant("task_id", f"export-ami-{_rand(rng, _HEX, 17)}")
    imported = d.plant("task_id", f"import-snap-{_rand(rng, _HEX, 17)}")
    parts.append(
        f"$ aws ec2 describe-public-ipv4-pools\n{_json({'PublicIpv4Pools': [{'PoolId': pool}, {'PoolId': pool6}]})}\n"
        f"$ aws ec2 describe-fleets --fleet-ids {fleet}\n"
        f"$ aws ec2 describe-export-image-tasks --export-image-task-ids {export}\n"
        f"$ aws ec2 describe-import-snapshot-tasks --import-task-ids {imported}"
    )
    role = d.role_name()
    managed = d.decoy(rng.choice([n for n in OVERMASK_CLASSES["managed_name"] if not n.startswith("Z")]))
    parts.append(
        f"$ aws iam list-attached-role-policies --role-name {role}\n"
        + _json({"AttachedPolicies": [{"PolicyName": managed, "PolicyArn": f"arn:aws:iam::aws:policy/{managed}"}]})
    )
    zone = d.decoy(rng.choice(ELB_ZONE_IDS))
    parts.append(
        "$ aws route53 list-resource-record-sets --hosted-zone-id "
        + d.hosted_zone_id()
        + "\n"
        + _json({"AliasTarget": {"HostedZoneId": zone, "DNSName": f"dualstack.{lbs[0]}.{region}.elb.amazonaws.com"}})
    )
    local_zone = _overmask_decoy(d, "region")
    parts.append(
        "$ aws ec2 describe-placement-groups\n"
        + _json({"PlacementGroups": [{"GroupName": local_zone, "Strategy": "cluster", "State": "available"}]})
    )
    return d.finish("real_cli_output", "\n\n".join(parts) + "\n")


def real_secrets_and_hosts(rng: random.Random) -> Document:
    """`.env` name variants, passwords in every form, secrets of any length, kubeconfig and endpoint hosts."""
    d = _Doc(rng)
    region = d.region_decoy()
    lines = [
        "# .env.production",
        f"AWS_SECRET_ACCESS_KEY_PROD={_any_secret(d, 44)}",
        f"AWS_SECRET_ACCESS_KEY_{rng.randint(2, 9)}={d.secret_key()}",
        f"S3_SECRET={_any_secret(d)}",
        f"SECRET={_any_secret(d)}",
        f"AWS_SECRET_KEY_ID={_any_secret(d, 20)}",
        f"DB_PASS={d.password()}",
        f"{rng.choice(APPS).upper()}_PASSWORD={d.password()}",
        f"WEBHOOK_URL=https://hooks.example.com/notify?secret={_any_secret(d, 24)}&channel=ops",
        "",
        f"$ mysql -u admin -p{d.password()} -h {d.rds_endpoint(d.rds_instance())}",
        f"$ psql --password {d.password()} -h localhost",
        f"DATABASE_URL=postgres://app:{_password_with_url_chars(d)}@{d.rds_endpoint(d.rds_instance())}:5432/app",
        "",
        f"$ aws guardduty enable-organization-admin-account --admin-account-id {d.account}",
        "$ aws secretsmanager get-secret-value --secret-id app/db",
        _json({"Name": "app/db", "SecretString": json.dumps({"password": d.password(), "port": 5432})}),
    ]
    eks = d.plant("aws_host_id", _rand(rng, "0123456789ABCDEF", 32))
    cell = d.plant("aws_host_id", _rand(rng, string.ascii_lowercase, 2) + str(rng.randint(1, 9)))
    proxy_id = d.plant("aws_host_id", "proxy-" + _rand(rng, _LOWER_ALNUM, 12))
    domain = d.plant("aws_host_id", f"search-{rng.choice(APPS)}-{_rand(rng, _LOWER_ALNUM, 26)}")
    cluster = f"{rng.choice(APPS)}-{rng.choice(SHORT_ENVS)}"
    lines += [
        "",
        "$ cat ~/.kube/config",
        "clusters:",
        "- cluster:",
        "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        f"    server: https://{eks}.{cell}.{region}.eks.amazonaws.com",
        f"  name: {cluster}",
        "",
        f"RDS_PROXY_HOST={rng.choice(APPS)}.endpoint.{proxy_id}.{region}.rds.amazonaws.com",
        f"OPENSEARCH_URL=https://{domain}.{region}.es.amazonaws.com",
    ]
    return d.finish("real_secrets_and_hosts", "\n".join(lines) + "\n")


def real_prose_and_encodings(rng: random.Random) -> Document:
    """A support thread: account ids in prose, ids inside URLs and file names, secrets escaped, encoded,
    wrapped, old STS tokens, a key pasted without its BEGIN line, console links; and words, regions,
    versions and timestamps that must survive."""
    d = _Doc(rng)
    region = d.region_decoy()
    acct2, acct3 = d.account_id(), d.account_id()
    dashed = rng.choice("123456789") + _rand(rng, string.digits, 11)
    dashed_text = f"{dashed[:4]}-{dashed[4:8]}-{dashed[8:]}"
    d.plant("account_id", dashed_text)
    key_id, instance, snap_owner = d.access_key(), d.ec2("i"), d.ec2("i")
    word = _overmask_decoy(d, "word")
    cluster_word = _overmask_decoy(d, "word")
    version = _overmask_decoy(d, "version")
    stamp = _compact_timestamp(d)
    lines = [
        f"Hi team, this is for AWS account {d.account} ({region}). The account is {acct2}; billing sits in {acct3}.",
        f"Finance wrote it as {dashed_text} on the invoice.",
        f"The {word} settings are fine; see https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
        f"{d.decoy('buckets')}.html",
        f"The cluster is named {cluster_word} (aws rds describe-db-clusters "
        f"{d.allow(f'--db-cluster-identifier {cluster_word}')});"
        f" {cluster_word} is fine.",
        f"Oracle patch {version} is installed; build {stamp} passed; zone {_overmask_decoy(d, 'region')} is fine.",
        f"Presigned: https://{d.bucket()}.s3.amazonaws.com/x?X-Amz-Credential%3D{key_id}%2F20240101%2F{region}",
        f"Log path: s3://{d.bucket()}/logs%2F{instance}%2Fconsole.log and snap_{snap_owner}.json,"
        f" {instance}_console.log",
        f'Config: {{"aws_secret_access_key": "{_escaped_secret(d)}"}}',
        f"curl 'https://example.com/hook?k={_encoded_secret(d)}&v=1'",
    ]
    wrapped_key = _rand(rng, _SECRET, 40)
    cut = rng.randrange(12, 30)
    wrapped = d.plant("secret_value", wrapped_key[:cut] + "\n" + wrapped_key[cut:])
    token = d.plant("session_token", rng.choice(("FQoDYXdz", "AQoDYXdz")) + _rand(rng, _B64, rng.randint(150, 250)))
    lines += [
        f"aws_secret_access_key = {wrapped}",
        f"aws_session_token = {token}",
        "",
        "Pasted from the key file (the first line got lost):",
    ]
    pem = d.pem()
    body = pem.split("\n", 1)[1]
    lines.append(body)
    rds, ec2_console = d.rds_instance(), d.ec2("i")
    lines += [
        f"RDS: https://{region}.console.aws.amazon.com/rds/home?region={region}#database:id={rds};is-cluster=false",
        f"EC2: https://{region}.console.aws.amazon.com/ec2/home?region={region}#InstanceDetails:instanceId={ec2_console}",
    ]
    return d.finish("real_prose_and_encodings", "\n".join(lines) + "\n")


DOCUMENT_KINDS: dict[str, Callable[[random.Random], Document]] = {
    "describe_instances": describe_instances,
    "credentials_file": credentials_file,
    "dotenv": dotenv,
    "cloudtrail_event": cloudtrail_event,
    "terraform_plan": terraform_plan,
    "shell_session": shell_session,
    "boto3_script": boto3_script,
    "iam_policy": iam_policy,
    "rds_elb_describe": rds_elb_describe,
    "cloudformation_yaml": cloudformation_yaml,
    "pem_and_config": pem_and_config,
    "real_cli_output": real_cli_output,
    "real_secrets_and_hosts": real_secrets_and_hosts,
    "real_prose_and_encodings": real_prose_and_encodings,
}
"""Document kind -> function generating one document of that kind from a ``random.Random``."""


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def _occurrences(text: str, needle: str) -> Iterator[int]:
    start = text.find(needle)
    while start != -1:
        yield start
        start = text.find(needle, start + 1)


def check_document(doc: Document) -> None:
    """Raise ``ValueError`` unless every planted value and decoy occurs verbatim in the text,
    every label is known, and every decoy occurs at least once outside all planted values."""
    problems = []
    spans = []
    for p in doc.planted:
        if p.label not in LABELS:
            problems.append(f"unknown label {p.label!r}")
        if not p.value or p.value not in doc.text:
            problems.append(f"planted {p.label} {p.value!r} not in text")
        spans += [(i, i + len(p.value)) for i in _occurrences(doc.text, p.value)]
    for decoy in doc.decoys:
        free = any(all(i + len(decoy) <= a or b <= i for a, b in spans) for i in _occurrences(doc.text, decoy))
        if not free:
            problems.append(f"decoy {decoy!r} does not occur outside planted values")
    if problems:
        raise ValueError(f"{doc.kind}: " + "; ".join(problems))


def _stream(rng: random.Random) -> Iterator[Document]:
    """Documents of all kinds, each kind once per round, in a random order per round."""
    while True:
        kinds = list(DOCUMENT_KINDS)
        rng.shuffle(kinds)
        for kind in kinds:
            yield DOCUMENT_KINDS[kind](rng)


def generate_documents(rng: random.Random | None = None, count: int = 50) -> list[Document]:
    """Generate ``count`` documents mixing all kinds (every kind appears once ``count >= 11``).

    ``rng=None`` seeds a fresh generator (use :func:`fresh_rng` instead to know the seed).
    """
    if rng is None:
        rng, _ = fresh_rng()
    stream = _stream(rng)
    return [next(stream) for _ in range(count)]


def generate_corpus(rng: random.Random | None, target_bytes: int) -> list[Document]:
    """Generate documents of all kinds until their total UTF-8 text size reaches ``target_bytes``."""
    if rng is None:
        rng, _ = fresh_rng()
    docs: list[Document] = []
    total = 0
    for doc in _stream(rng):
        if total >= target_bytes:
            break
        docs.append(doc)
        total += len(doc.text.encode())
    return docs


def planted_values(docs: Iterable[Document]) -> set[str]:
    """All planted (sensitive) values of ``docs``."""
    return {p.value for doc in docs for p in doc.planted}


def decoy_values(docs: Iterable[Document]) -> set[str]:
    """All decoy (non-sensitive, must survive masking) values of ``docs``."""
    return {v for doc in docs for v in doc.decoys}
