"""Detection: text -> spans of AWS identifiers and secrets. Pure; no I/O, no vault.

Detectors are data. `KINDS` says which pseudonym prefix each kind gets; `PATTERNS` lists compiled regexes whose
named groups are kinds (`(?P<ACCOUNT_ID>...)`); `ARN_RESOURCE_KINDS` says which kind an ARN's resource name is.
Users add their own (kind, prefix, regex) in config. When in doubt we mask: overlapping or touching spans are
merged, and every span is widened to whole ASCII words so a pseudonym always lands as a whole token.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .pseudonyms import PseudonymGrammar
from .types import Span

__all__ = [
    "ARN_RESOURCE_KINDS",
    "EC2_PREFIXES",
    "KINDS",
    "LITERAL",
    "PATTERNS",
    "Detector",
    "Pattern",
]

#: The kind given to text that already looks like a pseudonym; masking it is how the round trip stays exact.
LITERAL = "PSEUDONYM_LITERAL"

#: AWS resource-id prefix -> (kind, pseudonym prefix) for the EC2 family (`i-0abc…` -> INSTANCE_ID, `ec2-001`).
EC2_PREFIXES: dict[str, tuple[str, str]] = {
    "i": ("INSTANCE_ID", "ec2"),
    "ami": ("AMI_ID", "ami"),
    "vol": ("VOLUME_ID", "vol"),
    "snap": ("SNAPSHOT_ID", "snap"),
    "sg": ("SECURITY_GROUP_ID", "sg"),
    "sgr": ("SECURITY_GROUP_RULE_ID", "sgr"),
    "subnet": ("SUBNET_ID", "subnet"),
    "vpc": ("VPC_ID", "vpc"),
    "eni": ("NETWORK_INTERFACE_ID", "eni"),
    "igw": ("INTERNET_GATEWAY_ID", "igw"),
    "eigw": ("EGRESS_ONLY_GATEWAY_ID", "eigw"),
    "rtb": ("ROUTE_TABLE_ID", "rtb"),
    "rtbassoc": ("ROUTE_TABLE_ASSOCIATION_ID", "rtbassoc"),
    "acl": ("NETWORK_ACL_ID", "acl"),
    "aclassoc": ("NETWORK_ACL_ASSOCIATION_ID", "aclassoc"),
    "nat": ("NAT_GATEWAY_ID", "nat"),
    "eipalloc": ("EIP_ALLOCATION_ID", "eipalloc"),
    "eipassoc": ("EIP_ASSOCIATION_ID", "eipassoc"),
    "pcx": ("PEERING_CONNECTION_ID", "pcx"),
    "tgw": ("TRANSIT_GATEWAY_ID", "tgw"),
    "tgw-attach": ("TRANSIT_GATEWAY_ATTACHMENT_ID", "tgwattach"),
    "tgw-rtb": ("TRANSIT_GATEWAY_ROUTE_TABLE_ID", "tgwrtb"),
    "vpce": ("VPC_ENDPOINT_ID", "vpce"),
    "vpce-svc": ("VPC_ENDPOINT_SERVICE_ID", "vpcesvc"),
    "lt": ("LAUNCH_TEMPLATE_ID", "lt"),
    "dopt": ("DHCP_OPTIONS_ID", "dopt"),
    "cgw": ("CUSTOMER_GATEWAY_ID", "cgw"),
    "vgw": ("VPN_GATEWAY_ID", "vgw"),
    "vpn": ("VPN_CONNECTION_ID", "vpn"),
    "cvpn-endpoint": ("CLIENT_VPN_ENDPOINT_ID", "cvpn"),
    "fl": ("FLOW_LOG_ID", "fl"),
    "key": ("KEY_PAIR_ID", "keypair"),
    "r": ("RESERVATION_ID", "resv"),
    "h": ("DEDICATED_HOST_ID", "dhost"),
    "pl": ("PREFIX_LIST_ID", "pl"),
    "fleet": ("FLEET_ID", "fleet"),
    "cr": ("CAPACITY_RESERVATION_ID", "capres"),
    "ipam": ("IPAM_ID", "ipam"),
    "ipam-pool": ("IPAM_POOL_ID", "ipampool"),
    "eigw-attach": ("EGRESS_GATEWAY_ATTACHMENT_ID", "eigwattach"),
    "elb": ("ELB_RESOURCE_ID", "elbres"),
    "export-i": ("EXPORT_TASK_ID", "export"),
    "import-i": ("IMPORT_TASK_ID", "import"),
    "sir": ("SPOT_REQUEST_ID", "sir"),
}

#: kind -> pseudonym prefix. Every built-in kind; config may add more.
KINDS: dict[str, str] = {
    **{kind: prefix for kind, prefix in EC2_PREFIXES.values()},
    "ACCESS_KEY_ID": "iam",
    "SECRET_ACCESS_KEY": "secret",
    "SESSION_TOKEN": "token",
    "ACCOUNT_ID": "acct",
    "ARN_RESOURCE": "res",
    "IAM_ROLE": "iamrole",
    "IAM_USER": "iamuser",
    "IAM_GROUP": "iamgroup",
    "IAM_POLICY": "iampolicy",
    "INSTANCE_PROFILE": "iprofile",
    "ROLE_SESSION": "session",
    "LAMBDA_FUNCTION": "lambda",
    "KMS_KEY_ID": "kms",
    "KMS_ALIAS": "kmsalias",
    "SNS_TOPIC": "sns",
    "SQS_QUEUE": "sqs",
    "DYNAMODB_TABLE": "ddb",
    "SECRET_NAME": "secretname",
    "S3_BUCKET": "s3",
    "RDS_INSTANCE": "rds",
    "ENDPOINT_HASH": "ep",
    "LOAD_BALANCER": "elb",
    "TARGET_GROUP": "tg",
    "LOAD_BALANCER_ID": "elbid",
    "HOSTNAME": "host",
    "PUBLIC_IP": "ip",
    "CLOUDFRONT_ID": "cf",
    "CLOUDFRONT_DOMAIN": "cfd",
    "HOSTED_ZONE_ID": "zone",
    "API_GATEWAY_ID": "api",
    "PASSWORD": "pwd",
    "SIGNATURE": "sig",
    "PEM_PRIVATE_KEY": "pem",
    LITERAL: "lit",
}

#: (ARN service, resource type) -> kind of the resource name. `*` as type: the service's resources have no type.
ARN_RESOURCE_KINDS: dict[tuple[str, str], str] = {
    ("iam", "role"): "IAM_ROLE",
    ("iam", "user"): "IAM_USER",
    ("iam", "group"): "IAM_GROUP",
    ("iam", "policy"): "IAM_POLICY",
    ("iam", "instance-profile"): "INSTANCE_PROFILE",
    ("iam", "mfa"): "IAM_USER",
    ("sts", "assumed-role"): "IAM_ROLE",
    ("sts", "federated-user"): "IAM_USER",
    ("lambda", "function"): "LAMBDA_FUNCTION",
    ("kms", "key"): "KMS_KEY_ID",
    ("kms", "alias"): "KMS_ALIAS",
    ("sns", "*"): "SNS_TOPIC",
    ("sqs", "*"): "SQS_QUEUE",
    ("dynamodb", "table"): "DYNAMODB_TABLE",
    ("s3", "*"): "S3_BUCKET",
    ("rds", "db"): "RDS_INSTANCE",
    ("rds", "cluster"): "RDS_INSTANCE",
    ("elasticloadbalancing", "loadbalancer"): "LOAD_BALANCER",
    ("elasticloadbalancing", "targetgroup"): "TARGET_GROUP",
    ("secretsmanager", "secret"): "SECRET_NAME",
    ("route53", "hostedzone"): "HOSTED_ZONE_ID",
    ("cloudfront", "distribution"): "CLOUDFRONT_ID",
}

_B64 = "A-Za-z0-9/+"
_SEP = r"""["']?[ \t]*(?:=>|[:=])[ \t]*["']?"""  # `name = 'v'`, `"Name": "v"`, `name: v`, `name => v`


def _field(names: str, value: str, flags: str = "") -> str:
    """A regex for `value` (group `v`) written after one of `names` (`key = v`, `"Key": "v"`, `--key v`)."""
    return rf"(?<![A-Za-z0-9_])(?i:{names}){_SEP}(?!arn:){flags}(?P<v>{value})"


def _flag(flags: str, value: str) -> str:
    """A regex for `value` (group `v`) given to a command-line flag (`--bucket v`, `--bucket=v`)."""
    return rf"(?:{flags})(?:=|[ \t]+)[\"']?(?!arn:)(?P<v>{value})"


@dataclass(frozen=True)
class Pattern:
    """One detection rule: a regex whose named groups are kinds (or `v`, meaning `kind`).

    `anchor`, when set, is a lower-case substring every match contains: the regex only runs on text that
    contains it, which makes a miss cost one substring search. `validate` rejects a match (a checksum hook).
    """

    kind: str
    regex: str
    anchor: str | None = None
    validate: Callable[[str], bool] | None = None
    flags: int = 0
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.regex, self.flags)
        except re.error as exc:
            raise ValueError(f"pattern for {self.kind} does not compile: {exc}") from None
        if not compiled.groupindex:
            raise ValueError(f"pattern for {self.kind} needs a named group (`v` or a kind name)")
        object.__setattr__(self, "compiled", compiled)

    def spans(self, text: str) -> Iterable[Span]:
        """Every span this rule finds in `text`."""
        for match in self.compiled.finditer(text):
            for name, value in match.groupdict().items():
                if not value:
                    continue
                kind = self.kind if name.startswith("v") else name
                if self.validate is not None and not self.validate(value):
                    continue
                yield Span(match.start(name), match.end(name), kind)


def _is_public_ip(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_global
    except ValueError:
        return False


def _looks_random_40(value: str) -> bool:
    """A bare 40-character secret key: mixed case and digits (a hex SHA has no upper case)."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and value.count("/") <= 4
    )


def _has_letters_and_digits(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 2 and sum(c.isalpha() for c in value) >= 2


_NOT_A_PASSWORD = frozenset({"null", "none", "true", "false", "nil", "undefined", "changeme", "password"})


def _is_password(value: str) -> bool:
    lowered = value.lower()
    return lowered not in _NOT_A_PASSWORD and not value.startswith(("${", "$(", "{{", "<", "*"))


def _ec2_regex() -> str:
    groups = "|".join(
        rf"(?P<{kind}>(?:{re.escape(prefix)})-(?:[0-9a-f]{{17}}|[0-9a-f]{{8}}))"
        for prefix, (kind, _) in sorted(EC2_PREFIXES.items(), key=lambda kv: (-len(kv[0]), kv[0]))
    )
    return rf"(?<![A-Za-z0-9_])(?:{groups})(?![A-Za-z0-9_])"


_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_IPV4 = (
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_IAM_NAME = r"[A-Za-z0-9+=,.@_-]{1,128}"
_END = r"(?![A-Za-z0-9_])"

#: The built-in rules. The ARN rule is `_arn_spans`, which reads ARN_RESOURCE_KINDS.
PATTERNS: tuple[Pattern, ...] = (
    Pattern("EC2", _ec2_regex(), anchor="-"),
    Pattern(
        "ACCESS_KEY_ID",
        r"(?<![A-Za-z0-9])(?P<v>(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA|ABIA|ACCA|AIPA|ASCA|A3T[A-Z0-9])"
        r"[A-Z0-9]{16,17})(?![A-Za-z0-9])",
    ),
    Pattern(
        "SECRET_ACCESS_KEY",
        _field(r"(?:aws_?)?secret_?(?:access_?)?key|aws_?secret|secretaccesskey", rf"[{_B64}]{{40}}")
        + rf"(?![{_B64}=])",
        anchor="secret",
    ),
    Pattern(
        "SECRET_ACCESS_KEY", _flag("--secret-access-key", rf"[{_B64}]{{40}}") + rf"(?![{_B64}=])", "--secret"
    ),
    Pattern(
        "SECRET_ACCESS_KEY",
        rf"(?<![{_B64}=])(?P<v>[{_B64}]{{40}})(?![{_B64}=])",
        validate=_looks_random_40,
    ),
    Pattern(
        "SESSION_TOKEN",
        _field(
            r"(?:aws_?)?session_?token|(?:aws_?)?security_?token|x-amz-security-token", rf"[{_B64}=%]{{16,}}"
        ),
        anchor="token",
    ),
    Pattern("SESSION_TOKEN", rf"(?P<v>(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[{_B64}=]{{20,}})"),
    Pattern(
        "ACCOUNT_ID",
        _field(
            r"(?:aws_?)?(?:recipient_?|source_?|owner_?|principal_?)?account(?:_?id)?|owner_?id|"
            r"aws_?account|account_?number",
            r"[0-9]{12}",
        )
        + r"(?![0-9])",
        anchor=None,
    ),
    Pattern(
        "ACCOUNT_ID", _flag("--account-id|--owner-ids?|--source-account", r"[0-9]{12}") + r"(?![0-9])", "--"
    ),
    Pattern(
        "ACCOUNT_ID",
        r"(?<![0-9A-Za-z])(?P<v>[0-9]{12})\.(?:dkr\.ecr|signin\.aws\.amazon\.com|execute-api|lambda-url)",
    ),
    Pattern(
        "SQS",
        r"(?:sqs\.[a-z0-9-]+\.amazonaws\.com|queue\.amazonaws\.com)/(?P<ACCOUNT_ID>[0-9]{12})/"
        r"(?P<SQS_QUEUE>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)" + _END,
        anchor="amazonaws.com/",
    ),
    Pattern("S3_BUCKET", rf"\bs3[an]?://(?P<v>{_BUCKET})(?![A-Za-z0-9.-])", anchor="s3"),
    Pattern(
        "S3_BUCKET",
        rf"(?<![A-Za-z0-9.-])(?P<v>{_BUCKET})\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com",
        anchor=".s3",
    ),
    Pattern(
        "S3_BUCKET",
        rf"(?<![A-Za-z0-9-])s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com/(?P<v>{_BUCKET})(?![A-Za-z0-9.-])",
        anchor="s3",
    ),
    Pattern(
        "S3_BUCKET",
        _field(r"(?:s3_?)?bucket(?:_?name)?|s3_?bucket|x-amz-bucket", _BUCKET) + r"(?![A-Za-z0-9.-])",
        anchor="bucket",
    ),
    Pattern("S3_BUCKET", _flag("--bucket", _BUCKET) + r"(?![A-Za-z0-9.-])", anchor="--bucket"),
    Pattern(
        "HOSTNAME",
        r"(?<![A-Za-z0-9-])(?P<v>(?:ec2|ip)-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}"
        r"\.(?:[a-z0-9-]+\.)?(?:compute(?:-1)?\.amazonaws\.com|compute\.internal|ec2\.internal))",
        anchor="-",
    ),
    Pattern(
        "RDS_ENDPOINT",
        r"(?<![A-Za-z0-9-])(?P<RDS_INSTANCE>[a-z][a-z0-9-]{0,62})\.(?:cluster-(?:ro-|custom-)?)?"
        r"(?P<ENDPOINT_HASH>[a-z0-9]{8,16})\.[a-z0-9-]+\.rds\.amazonaws\.com",
        anchor=".rds.amazonaws.com",
    ),
    Pattern(
        "ELB_DNS",
        r"(?<![A-Za-z0-9-])(?:internal-)?(?P<LOAD_BALANCER>[A-Za-z0-9][A-Za-z0-9-]{0,31}?)-"
        r"(?P<LOAD_BALANCER_ID>[0-9]{6,12}|[0-9a-f]{16})\.(?:[a-z0-9-]+\.elb|elb\.[a-z0-9-]+)\.amazonaws\.com",
        anchor="elb",
    ),
    Pattern(
        "API_GATEWAY_ID",
        r"(?<![A-Za-z0-9-])(?P<v>[a-z0-9]{10})\.(?:execute-api|lambda-url)\.",
        anchor="execute-api",
    ),
    Pattern("CLOUDFRONT_DOMAIN", r"(?<![A-Za-z0-9-])(?P<v>d[a-z0-9]{12,14})\.cloudfront\.net", "cloudfront"),
    Pattern(
        "CLOUDFRONT_ID",
        r"(?<![A-Za-z0-9])(?P<v>E[A-Z0-9]{12,13})(?![A-Za-z0-9])",
        validate=_has_letters_and_digits,
    ),
    Pattern(
        "HOSTED_ZONE_ID",
        r"(?<![A-Za-z0-9])(?P<v>Z[A-Z0-9]{9,31})(?![A-Za-z0-9])",
        validate=_has_letters_and_digits,
    ),
    Pattern("KMS_KEY_ID", r"(?<![A-Za-z0-9_-])(?P<v>mrk-[0-9a-f]{32})" + _END, anchor="mrk-"),
    Pattern("KMS_KEY_ID", _field(r"(?:kms_?)?key_?id|kms_?key(?:_?arn)?", _UUID) + _END, anchor="key"),
    Pattern("KMS_KEY_ID", _flag("--key-id|--kms-key-id", _UUID) + _END, anchor="--"),
    Pattern(
        "RDS_INSTANCE",
        _field(r"db_?(?:instance|cluster)_?identifier", r"[A-Za-z][A-Za-z0-9-]{0,62}") + _END,
        anchor="identifier",
    ),
    Pattern(
        "RDS_INSTANCE",
        _flag("--db-(?:instance|cluster)-identifier", r"[A-Za-z][A-Za-z0-9-]{0,62}") + _END,
        anchor="--db-",
    ),
    Pattern(
        "LOAD_BALANCER", _field(r"load_?balancer_?name", r"[A-Za-z0-9][A-Za-z0-9-]{0,31}") + _END, "balancer"
    ),
    Pattern(
        "LOAD_BALANCER", _flag("--load-balancer-names?", r"[A-Za-z0-9][A-Za-z0-9-]{0,31}") + _END, "--load"
    ),
    Pattern("IAM_ROLE", _field(r"role_?name", _IAM_NAME) + _END, anchor="role"),
    Pattern("IAM_ROLE", _flag("--role-name", _IAM_NAME) + _END, anchor="--role"),
    Pattern("IAM_USER", _field(r"user_?name|iam_?user", _IAM_NAME) + _END, anchor="user"),
    Pattern("IAM_USER", _flag("--user-name", _IAM_NAME) + _END, anchor="--user"),
    Pattern("LAMBDA_FUNCTION", _field(r"function_?name", r"[A-Za-z0-9_-]{1,64}") + _END, anchor="function"),
    Pattern("LAMBDA_FUNCTION", _flag("--function-name", r"[A-Za-z0-9_-]{1,64}") + _END, anchor="--function"),
    Pattern("DYNAMODB_TABLE", _field(r"table_?name", r"[A-Za-z0-9_.-]{3,255}") + _END, anchor="table"),
    Pattern("DYNAMODB_TABLE", _flag("--table-name", r"[A-Za-z0-9_.-]{3,255}") + _END, anchor="--table"),
    Pattern("SNS_TOPIC", _field(r"topic_?name", r"[A-Za-z0-9_-]{1,256}") + _END, anchor="topic"),
    Pattern("SQS_QUEUE", _field(r"queue_?name", r"[A-Za-z0-9_-]{1,80}(?:\.fifo)?") + _END, anchor="queue"),
    Pattern(
        "PASSWORD",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:(?P<v>[^\s@/]+)@",
        anchor="://",
        validate=_is_password,
    ),
    Pattern(
        "PASSWORD",
        r"(?<![A-Za-z0-9])(?i:[a-z_]*password|passwd|pwd)"
        r"""["']?[ \t]*(?:=>|[:=])[ \t]*(?:"(?P<v1>[^"\r\n]{1,200})"|'(?P<v2>[^'\r\n]{1,200})'|"""
        r"""(?P<v3>[^\s"',;{}()\[\]]{1,200}))""",
        anchor="p",
        validate=_is_password,
    ),
    Pattern(
        "SIGNATURE",
        r"(?i:x-amz-signature|signature)[=:][ \t]*(?P<v>[0-9a-f]{64})(?![0-9a-f])",
        anchor="signature",
    ),
    Pattern(
        "PEM_PRIVATE_KEY",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s*(?P<v>\S[\s\S]*?\S)\s*-----END [A-Z0-9 ]*PRIVATE KEY-----",
        anchor="private key-----",
    ),
    Pattern("PUBLIC_IP", rf"(?<![0-9.])(?P<v>{_IPV4})(?![0-9]|\.[0-9])", anchor=".", validate=_is_public_ip),
)

_ARN = re.compile(
    r"arn:(?:aws|aws-cn|aws-us-gov|aws-iso(?:-[a-z])?):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>[0-9]{12}|aws)?:(?P<resource>[^\s\"'<>,;)(\]\[{}`|\\]+)"
)


def _arn_spans(text: str, ec2: Pattern) -> Iterable[Span]:
    """Spans inside every ARN: the account, and the resource name (kept: partition, service, region, type)."""
    for match in _ARN.finditer(text):
        if match.group("account") == "aws":
            continue  # AWS-managed resources (arn:aws:iam::aws:policy/...) are public names.
        if match.group("account"):
            yield Span(match.start("account"), match.end("account"), "ACCOUNT_ID")
        service = match.group("service")
        resource = match.group("resource").rstrip(".:")
        base = match.start("resource")
        cut = re.search(r"[/:]", resource)
        if (service, "*") in ARN_RESOURCE_KINDS or cut is None:
            kind = ARN_RESOURCE_KINDS.get((service, "*"), "ARN_RESOURCE")
            name_start, name = 0, resource.split("/", 1)[0] if service == "s3" else resource
        else:
            rtype = resource[: cut.start()]
            kind = ARN_RESOURCE_KINDS.get((service, rtype), "ARN_RESOURCE")
            name_start, name = cut.end(), resource[cut.end() :]
            if service == "lambda" or (service, rtype) == ("secretsmanager", "secret"):
                name = name.split(":", 1)[0]
            elif service in ("elasticloadbalancing", "sts"):
                yield from _path_spans(base + name_start, name, kind, service)
                continue
        name = name.rstrip("*")
        if not name or name in ("root",):
            continue
        start = base + name_start
        ec2_span = next(iter(ec2.spans(name)), None)
        if ec2_span is not None and ec2_span.start == 0 and ec2_span.end == len(name):
            kind = ec2_span.kind
        yield Span(start, start + len(name), kind)


def _path_spans(start: int, path: str, kind: str, service: str) -> Iterable[Span]:
    """ELB `app/NAME/ID` and STS `assumed-role/ROLE/SESSION`: each segment gets its own kind."""
    parts = path.split("/")
    offset = start
    for index, part in enumerate(parts):
        if service == "elasticloadbalancing":
            part_kind = None if index == 0 and part in ("app", "net", "gwy") else kind
            if index == len(parts) - 1 and len(parts) > 1 and re.fullmatch("[0-9a-f]{16}", part):
                part_kind = "LOAD_BALANCER_ID"
        else:
            part_kind = kind if index == 0 else "ROLE_SESSION"
        if part_kind and part and part != "*":
            yield Span(offset, offset + len(part), part_kind)
        offset += len(part) + 1


@dataclass(frozen=True)
class Detector:
    """Finds every span to mask in a text: built-in rules, user rules, ARNs and pseudonym-shaped literals.

    `mask_private_ips` extends PUBLIC_IP to private ranges (off by default: private addresses are the same in
    every VPC and reveal little; the EC2 public address is what identifies a host).
    """

    patterns: Sequence[Pattern] = PATTERNS
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    enabled: frozenset[str] | None = None
    mask_private_ips: bool = False
    grammar: PseudonymGrammar = field(init=False, repr=False)
    _ec2: Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.kinds.values())) != len(self.kinds):
            raise ValueError("two kinds share a pseudonym prefix; every kind needs its own")
        object.__setattr__(self, "grammar", PseudonymGrammar(frozenset(self.kinds.values())))
        object.__setattr__(self, "_ec2", next(p for p in self.patterns if p.kind == "EC2"))
        if self.mask_private_ips:
            patterns = [p for p in self.patterns if p.kind != "PUBLIC_IP"]
            patterns.append(Pattern("PUBLIC_IP", PATTERNS[-1].regex, anchor=".", validate=_is_ip))
            object.__setattr__(self, "patterns", tuple(patterns))

    def with_patterns(self, extra: Iterable[tuple[str, str, str]]) -> Detector:
        """A detector that also applies user rules `(kind, pseudonym prefix, regex)`."""
        kinds = dict(self.kinds)
        patterns = list(self.patterns)
        for kind, prefix, regex in extra:
            if kind in kinds and kinds[kind] != prefix:
                raise ValueError(f"kind {kind} already uses the pseudonym prefix {kinds[kind]!r}")
            kinds[kind] = prefix
            if "(?P<" not in regex:
                regex = f"(?P<v>{regex})"
            patterns.append(Pattern(kind, regex))
        return Detector(tuple(patterns), kinds, self.enabled, self.mask_private_ips)

    def detect(self, text: str) -> list[Span]:
        """Spans to mask in `text`, sorted, non-overlapping, each covering whole ASCII words."""
        found: list[Span] = []
        lowered: str | None = None
        for pattern in self.patterns:
            if pattern.anchor is not None:
                if lowered is None:
                    lowered = text.lower()
                if pattern.anchor not in lowered:
                    continue
            found.extend(pattern.spans(text))
        if "arn:" in text:
            found.extend(_arn_spans(text, self._ec2))
        if self.enabled is not None:
            found = [s for s in found if s.kind in self.enabled]
        found.extend(_repeats(text, found))
        found.extend(Span(m.start(), m.end(), LITERAL) for m in self.grammar.finditer(text))
        return _resolve(text, found)


def _repeats(text: str, spans: list[Span]) -> Iterable[Span]:
    """Every other occurrence of an original found somewhere: a value detected once is masked everywhere,
    even where its context alone would not give it away (glued to other text, in a log line)."""
    seen: set[str] = set()
    for span in spans:
        original = text[span.start : span.end]
        if len(original) < 6 or original in seen:
            continue
        seen.add(original)
        start = text.find(original)
        while start != -1:
            if start != span.start:
                yield Span(start, start + len(original), span.kind)
            start = text.find(original, start + 1)


def _is_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_multicast)


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _resolve(text: str, spans: list[Span]) -> list[Span]:
    """Widen spans to whole words, then merge overlapping or touching ones (the longest member names the kind).

    Widening is what keeps the round trip exact: a pseudonym written where a span was is always a whole token,
    and no untouched text can form a token with it.
    """
    if not spans:
        return []
    widened = []
    for span in spans:
        start, end = span.start, span.end
        while start > 0 and text[start - 1] in _WORD_CHARS:
            start -= 1
        while end < len(text) and text[end] in _WORD_CHARS:
            end += 1
        widened.append((start, end, span))
    widened.sort(key=lambda item: (item[0], -item[1]))
    merged: list[Span] = []
    group_start, group_end, best = widened[0]
    for start, end, span in widened[1:]:
        if start <= group_end:
            group_end = max(group_end, end)
            if _rank(span) > _rank(best):
                best = span
            continue
        merged.append(Span(group_start, group_end, best.kind))
        group_start, group_end, best = start, end, span
    merged.append(Span(group_start, group_end, best.kind))
    return merged


def _rank(span: Span) -> tuple[int, int]:
    """Real identifiers beat pseudonym-shaped literals; then the longer span names the kind."""
    return (span.kind != LITERAL, span.end - span.start)
