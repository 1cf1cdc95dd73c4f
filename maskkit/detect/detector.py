"""Detection: text -> spans of AWS identifiers and secrets. Pure; no I/O, no vault.

Detectors are data. The rules live in `rules.toml` (package data, the format users extend with
MASKKIT_RULES_FILE; parsed by `maskkit.detect.rules`), one `[[rule]]` per kind:

- `KINDS`: kind -> pseudonym prefix (every kind has its own); `EC2_PREFIXES`: `i-`, `vpc-` ... -> kind.
- `FIELDS`: a value written after a key (`"SecretAccessKey": "…"`, `bucket = …`, `AWS_SESSION_TOKEN=…`) or a
  command-line flag (`--bucket …`), with the regex the value must match (a rule's keys, flags and value).
- `PATTERNS`: regexes whose named groups are kinds (or `v`, meaning the rule's kind): identifiers whose shape
  alone gives them away (`AKIA…`, `db-` + 26, `IQoJb3JpZ2lu…`) and literal contexts (`s3://`, `/hostedzone/`),
  each with the keywords that must occur for it to run and where its matches can start.
Code-shaped rules stay here, as scanners the `[[scanner]]` tables name in run order:
- `HOST_RULES`: AWS host names (`bucket.s3…amazonaws.com`, RDS, ELB, EC2 public DNS, ECR, SQS URLs).
- `ARN_RESOURCE_KINDS` and `TERRAFORM_KINDS`: which kind an ARN's resource name or a Terraform id is.

What is never masked: regions, availability zones (names and ids), local and wavelength zones, instance types,
partitions, services and resource types of ARNs, AWS-managed ARNs (`arn:aws:iam::aws:policy/…`), AWS managed
policy names, AWS's own alias-target hosted zones (`AWS_HOSTED_ZONE_IDS`), JMESPath field names in `--query`,
git SHAs, UUIDs outside a KMS context, timestamps, multicast addresses, dotted versions (`19.3.0.1.ru5`),
private IPs (unless asked).
Bare 12-digit numbers (and `1234-5678-9012`) are account ids, when in doubt: except compact timestamps
`YYYYMMDDhhmm`, numbers glued to `+` (phones), parts of longer, decimal, dotted or dashed numbers, and numbers
after a quantity word (`order`, `Size`, `ContentLength` ...); see `_bare_account_spans` and docs/detection.md.
A customer-specific `*.amazonaws.com` host that no HOST_RULES rule knows is masked from its first id-bearing
label leftwards (`_customer_host_spans`).
When in doubt we mask: overlapping or touching spans are merged, every span is widened to whole ASCII words so a
pseudonym always lands as a whole token, and a value detected once is masked wherever else it occurs in the text
if `maskkit.core.recall_safe.recall_safe` allows it (not `default`, `us-west-2` or a short name).
`Detector.detect_json` reads parsed JSON values with their key as the context.

Speed: `re` is fast when a pattern starts with a literal (it jumps from one occurrence to the next) and slow when
it must try every position. So rules start with a literal where they can (a lookbehind goes after the first
character), run only when a keyword or anchor they need occurs, and a rule that starts with a character class
says where its matches can start (`Pattern.start`: at a keyword, a base64 run, a run of 12 digits, a listing
line); those places come from byte maps of the text (`_view.TextView`) and the regex is tried only there, with
exactly the matches `finditer` would give. Key/value and flag rules share one pass each and are dispatched by
key name (keys are found backwards from their separators: `_key_spans`); EC2 ids are found from their `-hex`
tail, IPs from their dots (IPv6 from runs of colons), host names from their AWS domain, bare 12-digit numbers from
the digit map. Which anchors and keywords occur is one Aho-Corasick pass per text (`TextView.has`).
`plain_patterns()` gives every rule as one self-contained regex: the slow, obvious way, kept for comparison.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import ahocorasick_rs

from maskkit.core.pseudonyms import HYPHENS, PseudonymGrammar
from maskkit.core.recall import matchable
from maskkit.core.recall_safe import is_aws_public_name, recall_safe
from maskkit.detect._view import LiteralFinder, TextView, matches_at
from maskkit.detect.rules import STARTS, RuleSet, RuleSpec, fragments_of, parse_rules
from maskkit.types import Span

__all__ = [
    "ARN_RESOURCE_KINDS",
    "EC2_PREFIXES",
    "FIELDS",
    "HOST_RULES",
    "KINDS",
    "LITERAL",
    "PATTERNS",
    "SCAN_REACH",
    "TERRAFORM_KINDS",
    "Detector",
    "Field",
    "Pattern",
    "find_originals",
    "plain_patterns",
    "resolve_spans",
]

#: The kind given to text that already looks like a pseudonym; masking it is how the round trip stays exact.
LITERAL = "PSEUDONYM_LITERAL"

#: The built-in rules (`rules.toml`, package data, the format users extend): kinds, prefixes, keys, patterns.
_BUILTIN_SOURCE = "maskkit/detect/rules.toml"
_BUILTIN_TEXT = files("maskkit.detect").joinpath("rules.toml").read_text(encoding="utf-8")
BUILTIN_RULES: RuleSet = parse_rules(_BUILTIN_TEXT, _BUILTIN_SOURCE, builtin=True)
#: The built-in `[fragments]` (`${BUCKET}` ...), which user rule files may use too.
FRAGMENTS: dict[str, str] = fragments_of(_BUILTIN_TEXT)

#: AWS resource-id prefix -> (kind, pseudonym prefix) for ids of the form `prefix-` + 8 or 17 hex.
EC2_PREFIXES: dict[str, tuple[str, str]] = dict(BUILTIN_RULES.ec2_ids)

#: kind -> pseudonym prefix. Every built-in kind; config may add more.
KINDS: dict[str, str] = {
    **{kind: prefix for kind, prefix in EC2_PREFIXES.values()},
    **{rule.kind: rule.prefix for rule in BUILTIN_RULES.rules},
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
    ("rds", "snapshot"): "RDS_SNAPSHOT",
    ("rds", "cluster-snapshot"): "RDS_SNAPSHOT",
    ("elasticloadbalancing", "loadbalancer"): "LOAD_BALANCER",
    ("elasticloadbalancing", "targetgroup"): "TARGET_GROUP",
    ("secretsmanager", "secret"): "SECRET_NAME",
    ("route53", "hostedzone"): "HOSTED_ZONE_ID",
    ("cloudfront", "distribution"): "CLOUDFRONT_ID",
}

#: Terraform resource type -> kind of its `[id=…]` and of its naming attribute (`name`, `identifier` ...).
TERRAFORM_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws_iam_role": ("IAM_ROLE", ("name",)),
    "aws_iam_user": ("IAM_USER", ("name",)),
    "aws_iam_group": ("IAM_GROUP", ("name",)),
    "aws_iam_policy": ("IAM_POLICY", ("name",)),
    "aws_iam_instance_profile": ("INSTANCE_PROFILE", ("name",)),
    "aws_s3_bucket": ("S3_BUCKET", ("bucket",)),
    "aws_kms_key": ("KMS_KEY_ID", ("key_id",)),
    "aws_db_instance": ("RDS_INSTANCE", ("identifier",)),
    "aws_rds_cluster": ("RDS_INSTANCE", ("cluster_identifier",)),
    "aws_lambda_function": ("LAMBDA_FUNCTION", ("function_name",)),
    "aws_dynamodb_table": ("DYNAMODB_TABLE", ("name",)),
    "aws_sqs_queue": ("SQS_QUEUE", ("name",)),
    "aws_sns_topic": ("SNS_TOPIC", ("name",)),
    "aws_lb": ("LOAD_BALANCER", ("name",)),
    "aws_alb": ("LOAD_BALANCER", ("name",)),
    "aws_elb": ("LOAD_BALANCER", ("name",)),
    "aws_lb_target_group": ("TARGET_GROUP", ("name",)),
    "aws_secretsmanager_secret": ("SECRET_NAME", ("name",)),
    "aws_cloudfront_distribution": ("CLOUDFRONT_ID", ()),
    "aws_route53_zone": ("HOSTED_ZONE_ID", ()),
}

# --- building blocks --------------------------------------------------------------------------------------------

_B64 = FRAGMENTS["B64"]
_WORD = "A-Za-z0-9_"
_SEP = r"""["']?[ \t]*(?:=>|[:=])(?![:=])[ \t]*["']?"""  # `name = 'v'`, `"Name": "v"`, `name: v`, `name => v`
_BUCKET = FRAGMENTS["BUCKET"]
_BUCKET_END = FRAGMENTS["BUCKET_END"]
_UUID = FRAGMENTS["UUID"]
_IAM_NAME = FRAGMENTS["IAM_NAME"]
_END = FRAGMENTS["END"]
_NOT_A_VALUE = frozenset(
    {"null", "none", "true", "false", "nil", "undefined", "changeme", "password", "default", "all", "string", "yes"}
)


_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$")


def _is_password(value: str) -> bool:
    """Not a placeholder (`null`, `changeme`), a template or a variable reference (`$DB_PASSWORD`, `${X}`)."""
    return (
        value.lower() not in _NOT_A_VALUE
        and not value.startswith(("${", "$(", "{{", "<", "*", "%"))
        and not _REFERENCE.fullmatch(value)
    )


def _is_name(value: str) -> bool:
    """A resource name worth masking: not a placeholder, a reference, an ordinary keyword or a name AWS gives
    every customer alike (a region, an AZ, a local zone, a managed policy: `is_aws_public_name`)."""
    return (
        value.lower() not in _NOT_A_VALUE
        and not value.startswith(("${", "$(", "{{", "<", "*", "!"))
        and not is_aws_public_name(value)
    )


def _is_secret(value: str) -> bool:
    """A value under a secret-like name: anything but a placeholder, a reference or a CloudFormation tag."""
    return _is_password(value) and not value.startswith(("!", "arn:"))


def _is_public_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def _is_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_multicast)


#: An identifier built from words: `GetBucketReplicationConfigurationV2Async`. One random key in 10^5 reads so.
# Possessive quantifiers: a nested `(...+)+` here backtracks exponentially (40 s on a 40-character value).
_WORDLIKE = re.compile(r"(?:[A-Z]?+[a-z]{3,}+|[A-Z]++[0-9]*+|[0-9]++)++")


def _looks_random_40(value: str) -> bool:
    """A bare 40-character secret key: mixed case and digits (a hex SHA has no upper case), not words."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and value.count("/") <= 4
        and not _WORDLIKE.fullmatch(value)
    )


def _has_letters_and_digits(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 2 and sum(c.isalpha() for c in value) >= 2


#: AWS's own hosted zones, the same for every customer (alias targets of ELB, CloudFront, S3 websites, API
#: Gateway, Global Accelerator, Elastic Beanstalk): public, never masked.
AWS_HOSTED_ZONE_IDS: frozenset[str] = frozenset(
    """
    Z2FDTNDATAQYW2 Z2BJ6XQ5FK7U4H
    Z35SXDOTRQ7X7K Z3AADJGX6KTTL2 Z368ELLRRE2KJ0 Z1H1FL5HABSF5 ZQSVJUPU6J1EY Z215JYRZR1TBD5 Z32O12XQLNTSW2
    ZHURV8PSTC4K8 Z3Q77PNBQS71R4 Z23TAZ7KKJ3L5B ZP97RAFLXTNZK Z14GRHDCWA56QT ZWKZPGTI48KDX Z1LMS91P8CMLE5
    Z1GM3OXH4ZPM65 Z2P70J7HTTTPLU Z26RNL4JYFTOTI ZLMOA37VPKANP Z24FKFUX50B4VW Z18D5FSROUN65G Z2IFOLAFXWLO4F
    Z3F0SRJ5LGBH90 ZKVM4W9LS7TM ZCT6FZBF4DROD Z31USIVHYNEOWT
    Z3AQBSTGFYJSTF Z2O1EMRO9K5GLX Z2F56UZL2M1ACD Z3BJ6K6RIION7M Z1BKCTXD74EZPE Z21DNDUVLTQW6Q Z3O0J2DXBE1FTB
    Z1WCIGYICN2BYD Z2M4EHUR26P7ZW Z7KQH4QJS55SO Z3GKZC51ZF0DB4 Z3R1K369G5AVDG Z1QDHH18159H29 Z11RGJOFQNVJUP
    Z3W03O7B5YMIYP Z3BAZG2TWCNX0D
    Z1UJRXOUMOOFQ8 Z2OJLYMUO9EFXC ZLY8HYME6SFDD Z117KPS5GTRQ2G Z38NKT9BP95V3O Z2NYPWQ7DFZAZH
    """.split()
)


def _is_customer_zone(value: str) -> bool:
    return value not in AWS_HOSTED_ZONE_IDS


def _is_customer_zone_shape(value: str) -> bool:
    return _has_letters_and_digits(value) and value not in AWS_HOSTED_ZONE_IDS


def _secret_key_40(value: str) -> bool:
    """A 40-character secret key written with `\\/` escapes or `%2F`/`%2B` encoding."""
    plain = value.replace("\\/", "/").replace("%2F", "/").replace("%2f", "/").replace("%2B", "+")
    plain = plain.replace("%2b", "+")
    return plain != value and len(plain) == 40 and _looks_random_40(plain)


def _wrapped_secret(value: str) -> bool:
    """A secret key wrapped over two lines: 40 characters once the line break is taken out."""
    return len("".join(value.split())) == 40


_CENTURIES = frozenset({"19", "20", "21"})


def _not_a_timestamp(value: str) -> bool:
    """A quoted 12-digit number that is not `YYYYMMDDhhmm` (compact timestamps must survive)."""
    if value[:2] not in _CENTURIES:
        return True  # (the year cannot be 1970-2100: the common case, decided without parsing)
    year, month, day, hour, minute = (int(value[i : i + n]) for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2)))
    return not (1970 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59)


#: Where a rule's matches can start (`Pattern.start`): the rule is tried only there, never at every position.
#: `anywhere`: no promise (the regex runs over the whole text). `keyword`: at an occurrence of one of its
#: keywords. The others are named finders over `TextView` maps, for rules that start with a character class.
START_FINDERS = STARTS


@dataclass(frozen=True)
class Pattern:
    """One detection rule: a regex whose named groups are kinds (or start with `v`, meaning `kind`).

    `anchor`, when set, is a substring (or several) every match contains, case-sensitive: the regex only runs on
    text that contains one, so a miss costs one substring search. `keywords` are the same in ASCII lower case,
    found in any case (the gitleaks prefilter). `start` says where a match can start (`START_FINDERS`): with
    `keyword`, every match starts at one of the keywords, and the regex is tried only there. `validate` rejects
    a match (a checksum hook).
    """

    kind: str
    regex: str
    anchor: str | tuple[str, ...] | None = None
    validate: Callable[[str], bool] | None = None
    flags: int = 0
    keywords: tuple[str, ...] = ()
    start: str = "anywhere"
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # Precomputed for `find` (called for every pattern on every text, so its fixed cost counts on small texts).
    _anchors: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _groups: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.regex, self.flags)
        except re.error as exc:
            raise ValueError(f"pattern for {self.kind} does not compile: {exc}") from None
        if not compiled.groupindex:
            raise ValueError(f"pattern for {self.kind} needs a named group (`v` or a kind name)")
        if self.start not in START_FINDERS:
            raise ValueError(f"pattern for {self.kind}: unknown start {self.start!r}; one of {START_FINDERS}")
        for keyword in self.keywords:
            if not keyword or not keyword.isascii() or keyword != keyword.lower():
                raise ValueError(f"pattern for {self.kind}: keyword {keyword!r} must be lower-case ASCII")
        if self.start == "keyword" and not self.keywords:
            raise ValueError(f"pattern for {self.kind} starts at a keyword but has none")
        if self.start == "anchor" and not self.anchor:
            raise ValueError(f"pattern for {self.kind} starts at an anchor but has none")
        object.__setattr__(self, "compiled", compiled)
        anchors = () if self.anchor is None else (self.anchor,) if isinstance(self.anchor, str) else self.anchor
        object.__setattr__(self, "_anchors", tuple(anchors))
        groups = tuple((name, self.kind if name.startswith("v") else name) for name in compiled.groupindex)
        object.__setattr__(self, "_groups", groups)

    def applies(self, text: str) -> bool:
        """Could this rule match `text` at all? (its anchor occurs, or it has none)"""
        if self.anchor is None:
            return True
        if isinstance(self.anchor, str):
            return self.anchor in text
        return any(a in text for a in self.anchor)

    def spans(self, text: str) -> Iterator[Span]:
        """Every span this rule finds in `text`: the regex over the whole text (the slow, obvious way)."""
        for match in self.compiled.finditer(text):
            yield from _group_spans(match, self.kind, self.validate)

    def find(self, view: TextView) -> list[Span]:
        """The same spans as `spans(view.text)`, trying the regex only where a match can start. A short text is
        searched the plain way: there the byte maps would cost more than they save."""
        text = view.text
        if self._anchors:
            has = view.has
            for anchor in self._anchors:
                if has(anchor):
                    break
            else:
                return []
        folds = False
        if self.keywords:
            # A text holding `ſ`, `ı` or the Kelvin sign takes the slow path: `(?i)` matches them to ASCII letters.
            folds = view.folds_to_ascii()
            if not folds:
                has_keyword = view.has_keyword
                for keyword in self.keywords:
                    if has_keyword(keyword):
                        break
                else:
                    return []
        if self.start == "anywhere" or len(text) < _SHORT_TEXT or (self.start == "keyword" and folds):
            matches: Iterable[re.Match[str]] = self.compiled.finditer(text)
        else:
            matches = matches_at(self.compiled, text, _starts(self, view))
        out: list[Span] = []
        validate = self.validate
        for match in matches:
            for name, kind in self._groups:
                start, end = match.span(name)
                if start < end and (validate is None or validate(text[start:end])):
                    out.append(Span(start, end, kind))
        return out


#: Below this many characters, `Pattern.find` runs the regex over the whole text (same spans, less set-up).
_SHORT_TEXT = 512


def _starts(pattern: Pattern, view: TextView) -> list[int]:
    """Every offset where a match of `pattern` can start (sorted), from its `start` finder."""
    how = pattern.start
    if how == "keyword":
        if len(pattern.keywords) == 1:
            return view.keyword_positions(pattern.keywords[0])
        return sorted({at for k in pattern.keywords for at in view.keyword_positions(k)})
    if how == "anchor":
        anchors = pattern._anchors
        if len(anchors) == 1:
            return view.positions(anchors[0])
        return sorted({at for anchor in anchors for at in view.positions(anchor)})
    if how == "base64-run":
        return [start for start, _end in view.b64_runs()]
    if how == "escaped-base64-run":
        return _escaped_run_starts(view)
    if how == "quoted-digits":
        text = view.text
        return [at - 1 for at in _digit_runs(view, _TWELVE_DIGITS) if at and text[at - 1] in "\"'"]
    # listing-line: `2024-01-02 17:01:13 ` at a line start.
    return [match.start() for match in _LISTING_LINE.finditer(view.digits)]


_TWELVE_DIGITS = re.compile(b"0" * 12)
_LISTING_LINE = re.compile(rb"0000-00-00 00:00:00 ")
_ESCAPED_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\\%")
_ESCAPED_B64_MAP = bytes(0x63 if i in _ESCAPED_B64 else 0x20 for i in range(256))


def _digit_runs(view: TextView, literal: re.Pattern[bytes]) -> list[int]:
    return [match.start() for match in literal.finditer(view.digits)]


def _escaped_run_starts(view: TextView) -> list[int]:
    """Starts of the runs of `A-Za-z0-9+/\\%` that hold a `\\/` or `%2F`/`%2B` escape: a 40-character key written
    with JSON or URL escapes is such a whole run."""
    anchors = [at for k in ("\\/", "%2f", "%2b") for at in view.keyword_positions(k)]
    if not anchors:
        return []
    return _run_starts(view.ascii.translate(_ESCAPED_B64_MAP), sorted(anchors))


def _run_starts(mapped: bytes, hits: Iterable[int]) -> list[int]:
    """The start of the run (of non-space bytes in `mapped`) holding each hit (sorted), once per run. Linear:
    each search covers only the bytes since the previous hit, so a long run full of hits costs one pass."""
    starts: list[int] = []
    previous = -1
    for at in hits:
        if previous < 0 or mapped.find(b" ", previous, at) != -1:  # else: the same run as the previous hit
            starts.append(mapped.rfind(b" ", max(previous, 0), at) + 1)
        previous = at
    return starts


def _group_spans(match: re.Match[str], kind: str, validate: Callable[[str], bool] | None) -> Iterator[Span]:
    for name, value in match.groupdict().items():
        if not value or (validate is not None and not validate(value)):
            continue
        yield Span(match.start(name), match.end(name), kind if name.startswith("v") else name)


def _normal_key(key: str) -> str:
    """`AWS_SECRET_ACCESS_KEY`, `SecretAccessKey`, `x-amz-security-token` -> `awssecretaccesskey` ..."""
    return key.lower().replace("_", "").replace("-", "").replace(".", "")


@dataclass(frozen=True)
class Field:
    """A value written after a key name or given to a command-line flag.

    `names` are normalised key names (lower case, no `_`, `-` or `.`): `secretaccesskey` matches
    `aws_secret_access_key`, `SecretAccessKey` and `SECRET-ACCESS-KEY`; a leading `*` matches any key ending so
    (`*password` matches `MasterUserPassword`). `flags` are exact (`--bucket`). `value` is matched right after the
    separator and the opening quote; its group `v…` (or the whole match) is the span. A value starting `arn:` is
    left to the ARN rule.
    """

    kind: str
    names: tuple[str, ...]
    value: str
    flags: tuple[str, ...] = ()
    validate: Callable[[str], bool] | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _value_groups: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in self.names:
            if name != _normal_key(name):
                raise ValueError(f"field name {name!r} of {self.kind} must be normalised ({_normal_key(name)!r})")
        compiled = re.compile(self.value)
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "_value_groups", tuple(name for name in compiled.groupindex if name.startswith("v")))

    def value_span(self, text: str, pos: int) -> Span | None:
        """The span of this field's value starting at `pos` (None if what is there is not such a value)."""
        if text.startswith("arn:", pos):
            return None
        match = self.compiled.match(text, pos)
        if match is None:
            return None
        start, end = match.span()
        for name in self._value_groups:  # the first `v…` group that matched something, else the whole match
            if match.group(name):
                start, end = match.span(name)
                break
        if end <= start or (self.validate is not None and not self.validate(text[start:end])):
            return None
        return Span(start, end, self.kind)

    def plain_regexes(self) -> list[str]:
        """This rule as self-contained regexes (key form, flag form), the way a bare regex masker writes it."""
        value = self.value if "(?P<v" in self.value else f"(?P<v>{self.value})"
        out = []
        if self.names:
            names = "|".join(_name_regex(name) for name in self.names)
            out.append(rf"(?<![A-Za-z0-9_.-])(?i:{names}){_SEP}(?!arn:){value}")
        if self.flags:
            flags = "|".join(re.escape(f) for f in self.flags)
            out.append(rf"(?:{flags})(?:=|[ \t]+)[\"']?(?!arn:){value}")
        return out


def _name_regex(name: str) -> str:
    """A normalised key name as a regex over real keys: `secretkey` -> `s[_.-]*e[_.-]*c…`; `*x` -> `…x`."""
    core = "[_.-]*".join(re.escape(c) for c in name.lstrip("*"))
    return ("[A-Za-z0-9_.-]*" if name.startswith("*") else "") + core


#: `key = value` / `"Key": "value"`: one pass over the text finds every key; FIELDS decide which values matter.
_KEY_VALUE = re.compile(r"""(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]*+)""" + _SEP)
#: `_KEY_VALUE` read backwards, over the text's ASCII bytes (`TextView.ascii`) reversed, with `=` written `:`:
#: from the separator (a literal `re` jumps to; the lookbehind right after it is `(?![:=])` read backwards) over
#: blanks and a quote to the key, a whole run of key characters whose first (here: last) is a letter or `_`.
#: `_KEY_VALUE` itself would be tried at every position of the text.
_KEY_BACKWARDS = re.compile(rb""":(?<!::)[ \t]*["']?([A-Za-z0-9_.-]*+)(?<=[A-Za-z_])""")
_EQUALS_AS_COLON = bytes(0x3A if i == 0x3D else i for i in range(256))


def _key_spans(ascii: bytes) -> list[tuple[int, int]]:
    """(start, end) of the key of every `_KEY_VALUE.finditer(text)` match, in order, found from the separators
    (`ascii`: the text's ASCII bytes, one per character, `?` for any other).

    Each match is a whole run of key characters (nothing before or inside it can start another) followed by
    `["']?[ \\t]*`, a `:` or `=` (or `=>`) and no second `:`/`=`; none of those characters is a key character or a
    separator, so matches never overlap and reading them backwards finds the same ones."""
    size = len(ascii)
    found = [match.span(1) for match in _KEY_BACKWARDS.finditer(ascii.translate(_EQUALS_AS_COLON)[::-1])]
    found.reverse()
    return [(size - end, size - start) for start, end in found]


#: `--flag value` / `--flag=value`.
_FLAG = re.compile(r"""--([a-z][a-z0-9-]*+)(?:=|[ \t]++)["']?""")
#: `aws configure set aws_secret_access_key VALUE`.
_CONFIGURE_SET = re.compile(r"""configure set (?:--profile [\w.-]+ )?([A-Za-z_][A-Za-z0-9_.]*)[ \t]+["']?""")

#: Every built-in rule's key/flag form (FIELDS) and regex form (PATTERNS), from `rules.toml`, in file order.
#: The named checks a rule's `validate` may give (the Presidio `validate_result` hook).
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "name": _is_name,
    "password": _is_password,
    "secret": _is_secret,
    "looks_random_40": _looks_random_40,
    "secret_key_40": _secret_key_40,
    "wrapped_secret": _wrapped_secret,
    "not_a_timestamp": _not_a_timestamp,
    "letters_and_digits": _has_letters_and_digits,
    "customer_zone": _is_customer_zone,
    "customer_zone_shape": _is_customer_zone_shape,
}


def _validator(name: str | None, kind: str) -> Callable[[str], bool] | None:
    if name is None:
        return None
    if name not in VALIDATORS:
        raise ValueError(f"rule {kind}: unknown validate {name!r} (one of {', '.join(sorted(VALIDATORS))})")
    return VALIDATORS[name]


def _build(rules: Iterable[RuleSpec]) -> tuple[tuple[Field, ...], tuple[Pattern, ...]]:
    """The Field (keys/flags form) and Pattern objects of parsed rules, in rule order."""
    fields: list[Field] = []
    patterns: list[Pattern] = []
    for rule in rules:
        if rule.value is not None:
            fields.append(Field(rule.kind, rule.keys, rule.value, rule.flags, _validator(rule.validate, rule.kind)))
        for spec in rule.patterns:
            validate = _validator(spec.validate, rule.kind)
            anchor = spec.anchor or None
            patterns.append(Pattern(rule.kind, spec.regex, anchor, validate, 0, spec.keywords, spec.start))
    return tuple(fields), tuple(patterns)


FIELDS: tuple[Field, ...]
PATTERNS: tuple[Pattern, ...]
FIELDS, PATTERNS = _build(BUILTIN_RULES.rules)

#: AWS host names: each regex is tried where a host ending in an AWS domain starts (at most 300 characters
#: before the domain). Named groups are kinds. No regex here may backtrack without bound: a label group is
#: possessive (`[.-][a-z0-9-]++` splits only at dots; `[a-z0-9-]+` would try every split of `-a-a-a…`, 2^n), and a
#: run of host characters before the domain is read at most 300 characters far.
HOST_RULES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(rule)
    for rule in (
        rf"(?P<S3_BUCKET>{_BUCKET})\.s3(?:[.-][a-z0-9-]++)*\.amazonaws\.com",
        rf"s3(?:[.-][a-z0-9-]++)*\.amazonaws\.com(?:\.cn)?/(?P<S3_BUCKET>{_BUCKET}){_BUCKET_END}",
        r"(?P<RDS_INSTANCE>[a-z][a-z0-9-]{0,62})\.(?:endpoint\.)?(?:cluster-(?:ro-|custom-)?|proxy-)?"
        r"(?P<ENDPOINT_HASH>[a-z0-9]{8,16})\.[a-z0-9-]+\.rds\.amazonaws\.com",
        r"(?:internal-)?(?P<LOAD_BALANCER>[A-Za-z0-9][A-Za-z0-9-]{0,31}?)-"
        r"(?P<LOAD_BALANCER_ID>[0-9]{6,12}|[0-9a-f]{16})\.(?:[a-z0-9-]+\.elb|elb\.[a-z0-9-]+)\.amazonaws\.com",
        r"(?P<HOSTNAME>ec2-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}\.(?:[a-z0-9-]+\.)?"
        r"compute(?:-1)?\.amazonaws\.com)",
        r"(?P<ACCOUNT_ID>[0-9]{12})\.(?:[a-z0-9-]+\.)*(?:amazonaws\.com|amazon\.com)",
        r"(?P<API_GATEWAY_ID>[a-z0-9]{10})\.execute-api\.",
        r"(?P<LAMBDA_URL_ID>[a-z0-9]{32})\.lambda-url\.",
        r"(?:sqs\.[a-z0-9-]+\.amazonaws\.com|queue\.amazonaws\.com)(?:\.cn)?/(?P<ACCOUNT_ID>[0-9]{12})/"
        r"(?P<SQS_QUEUE>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)" + _END,
        r"[a-z0-9.-]{0,300}amazonaws\.com(?:\.cn)?(?::[0-9]+)?/(?P<ACCOUNT_ID>[0-9]{12})(?![0-9A-Za-z])",
        r"(?P<CLOUDFRONT_DOMAIN>d[a-z0-9]{12,14})\.cloudfront\.net",
        # Console links name resources in their path or fragment.
        rf"[a-z0-9.-]{{0,300}}console\.aws\.amazon\.com/s3/(?:buckets|object)/(?P<S3_BUCKET>{_BUCKET}){_BUCKET_END}",
        rf"[a-z0-9.-]{{0,300}}console\.aws\.amazon\.com/iam/home[^\s\"'#]*#/roles/(?:details/)?(?P<IAM_ROLE>{_IAM_NAME})",
        rf"[a-z0-9.-]{{0,300}}console\.aws\.amazon\.com/iam/home[^\s\"'#]*#/users/(?:details/)?(?P<IAM_USER>{_IAM_NAME})",
        r"[a-z0-9.-]{0,300}console\.aws\.amazon\.com/rds/home[^\s\"'#]*#[A-Za-z-]+:(?:[^\s\"'#;=]+=[^\s\"'#;]*;){0,8}?"
        r"id=(?:rds(?::|%3A))?(?P<RDS_INSTANCE>[A-Za-z][A-Za-z0-9-]{0,254})",
        r"[a-z0-9.-]{0,300}console\.aws\.amazon\.com/lambda/home[^\s\"'#]*#/functions/(?P<LAMBDA_FUNCTION>[A-Za-z0-9_-]{1,64})",
        r"[a-z0-9.-]{0,300}console\.aws\.amazon\.com/dynamodbv?2?/home[^\s\"'#]*#[a-z-]+\?(?:[^\s\"'#]*?&)?(?:name|table)="
        r"(?P<DYNAMODB_TABLE>[A-Za-z0-9_.-]{3,255})",
        r"[a-z0-9.-]{0,300}console\.aws\.amazon\.com/secretsmanager/[^\s\"'#?]*(?:#/)?secret\?name="
        r"(?P<SECRET_NAME>[A-Za-z0-9/_+=.@%-]{1,512})",
    )
)
#: For each of HOST_RULES (same order), literals one of which every match holds (empty: no such promise). A rule
#: whose literals are all absent from the text cannot match anywhere in it and is not tried at any host.
_HOST_RULE_NEEDLES: tuple[tuple[str, ...], ...] = (
    (".s3",),
    ("s3",),
    (".rds.amazonaws.com",),
    (".elb.",),
    ("ec2-",),
    (),
    (".execute-api.",),
    (".lambda-url.",),
    ("sqs.", "queue.amazonaws.com"),
    (),
    (".cloudfront.net",),
    *(("console.aws.amazon.com/",),) * 7,
)
_HOST_NEEDLE_SETS = frozenset(needles for needles in _HOST_RULE_NEEDLES if needles)
if len(_HOST_RULE_NEEDLES) != len(HOST_RULES):
    raise RuntimeError("HOST_RULES and _HOST_RULE_NEEDLES differ in length")  # a coding error
_HOST_SUFFIXES = (
    ("amazon", re.compile(r"amazon(?:aws)?\.com")),
    (".on.aws", re.compile(r"\.on\.aws")),
    ("cloudfront.net", re.compile(r"cloudfront\.net")),
)
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_HOST_MAP = bytes(0x68 if chr(i) in _HOST_CHARS else 0x20 for i in range(256))
#: EC2 private DNS names (`ip-10-0-1-5.ec2.internal`): masked only with `mask_private_ips`, like private IPs.
_PRIVATE_DNS = Pattern(
    "HOSTNAME",
    r"(?<![A-Za-z0-9-])(?P<v>ip-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}\.(?:[a-z0-9-]+\.)?"
    r"(?:compute|ec2)\.internal)",
    anchor=".internal",
)

_ARN = re.compile(
    r"arn:(?:aws(?:-[a-z]+)*|\*)?:(?P<service>[a-z0-9-]+|\*):(?P<region>[a-z0-9*-]*):"
    r"(?P<account>[0-9]{12}|aws|\*)?:(?P<resource>[^\s\"'<>,;)(\]\[{}`|\\]+)"
)
#: Not followed by a letter or digit; `_` glue is allowed (`i-0abc…_console.log`): the span widens over it.
_EC2_TAIL = re.compile(r"-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![A-Za-z0-9])")
_EC2_LONGEST = max(len(prefix) for prefix in EC2_PREFIXES)
_IP_TAIL = re.compile(r"\.[0-9]{1,3}+\.[0-9]{1,3}+\.[0-9]{1,3}+(?![0-9]|\.[0-9])")
_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_BODY = re.compile(r"(?:[A-Za-z0-9+/=:,\s-]|\\[nrt])*")
_TF_ID = re.compile(r"\[id=(?P<v>[^\]\s]{1,512})\]")
_TF_ADDRESS = re.compile(r"(?:^|[\s.])(?P<type>aws_[a-z0-9_]+)\.[^\s:]*: [^\n]*$")
_TF_RESOURCE = re.compile(r"""resource "(?P<type>aws_[a-z0-9_]+)" "[^"\n]*" \{""")
_TF_ATTRIBUTE = re.compile(
    r"""^[ \t]*[+~-]?[ \t]*(?P<attr>[a-z_]+)[ \t]*=[ \t]*"(?P<v>[^"\n]*)"(?:[ \t]*->[ \t]*"(?P<v2>[^"\n]*)")?""",
    re.MULTILINE,
)
_LITERAL_TAIL = re.compile(rf"[{HYPHENS}][0-9]{{3}}")
_ASCII_LITERAL_TAIL = re.compile(r"-[0-9]{3}")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_DIGITS = frozenset("0123456789")
_LOWER_DASH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HEX_CHARS = frozenset("0123456789ABCDEFabcdef")

# --- scanners: each takes the text and yields spans --------------------------------------------------------------


def _ec2_spans(text: str) -> Iterator[Span]:
    """`prefix-` + 8 or 17 hex for every known prefix, found from the `-hex` tail (a literal `-` is fast to find).

    Same matches as `_ec2_regex()` (the alternation of every prefix): the leftmost start wins, which is the
    longest prefix. A 17-hex id with an unknown prefix is still an AWS-shaped id: RESOURCE_ID.
    """
    for match in _EC2_TAIL.finditer(text):
        dash = match.start()
        run = dash  # the run of lower-case letters, digits and dashes before the tail (at most the longest prefix)
        while run > 0 and dash - run <= _EC2_LONGEST and text[run - 1] in _LOWER_DASH:
            run -= 1
        kind = None
        for start in range(run, dash):
            # A prefix starts the run (after a non-word character, `_` glue or a `%2F`-like escape) or follows
            # a dash inside it.
            if text[start:dash] in EC2_PREFIXES and _id_may_start(text, start):
                kind = EC2_PREFIXES[text[start:dash]][0]
                yield Span(start, match.end(), kind)
                break
        if kind is None and match.end() - dash == 18 and run < dash and text[run] != "-":
            if _id_may_start(text, run) and not text[run].isdigit():
                yield Span(run, match.end(), "RESOURCE_ID")


def _id_may_start(text: str, start: int) -> bool:
    """An id may start here: at the start, after a non-alphanumeric character, or after `%XX`."""
    if start == 0 or text[start - 1] not in _ALNUM:
        return True
    return start >= 3 and text[start - 3] == "%" and text[start - 2] in _HEX_CHARS and text[start - 1] in _HEX_CHARS


def _ec2_regex() -> str:
    """The EC2 rule as one regex, an alternation of every prefix (longest first): what `_ec2_spans` computes
    faster. The kind is `EC2_PREFIXES[value.rsplit("-", 1)[0]]`."""
    prefixes = "|".join(re.escape(p) for p in sorted(EC2_PREFIXES, key=lambda p: (-len(p), p)))
    start = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f][0-9A-Fa-f]))"
    return rf"{start}(?P<v>(?:{prefixes})-(?:[0-9a-f]{{17}}|[0-9a-f]{{8}}))(?![A-Za-z0-9])"


def _ip_spans(text: str, keep: Callable[[str], bool]) -> Iterator[Span]:
    """IPv4 addresses that `keep` accepts, found from their dots (a literal `.` is fast to find). Dotted
    numbers inside a longer version (`v1.2.3.4`, `19.3.0.1.ru5`, `1.2.3.4.5`) are versions, not addresses."""
    for match in _IP_TAIL.finditer(text):
        dot = match.start()
        start = dot
        while start > 0 and dot - start < 3 and text[start - 1] in _DIGITS:
            start -= 1
        if start == dot or (start > 0 and (text[start - 1] in _ALNUM or text[start - 1] == ".")):
            continue
        label = _NEXT_LABEL.match(text, match.end())
        if label is not None and any(c in _DIGITS for c in label.group()):
            continue
        value = text[start : match.end()]
        if _IPV4.fullmatch(value) and keep(value):
            yield Span(start, match.end(), "PUBLIC_IP")


#: IPv6 candidates (2 to 8 groups of up to 4 hex digits, `::` allowed), judged by `ipaddress`; an EC2 instance's
#: public IPv6 address identifies it as surely as its IPv4 one.
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:.])")


_NEXT_LABEL = re.compile(r"\.[A-Za-z0-9]+")
#: Twelve digits, or three groups of four joined by dashes; `_bare_account_spans` checks what stands around them.
_TWELVE = re.compile(r"[0-9]{4}(-?)[0-9]{4}\1[0-9]{4}")
_TWELVE_MAPPED = re.compile(rb"0000(-?)0000(?:\1)0000")
#: The word before a number that makes it a quantity, a phone or an order, not an account id.
_NUMBER_WORDS = frozenset(
    "order orders invoice size bytes length count total amount ticket phone tel mobile fax serial tracking "
    "isbn sku iban ref reference price balance sum seq sequence offset duration millis ms ns epoch time "
    "timestamp ts date port pid version build".split()
)
_LAST_PART = re.compile(r"[A-Z]?[a-z]+$|[A-Z]+$")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)[^A-Za-z0-9\n]{0,6}$")


def _bare_account_spans(view: TextView) -> Iterator[Span]:
    """The bare-number policy: a 12-digit number standing alone is an account id (when in doubt, mask), and so
    is `1234-5678-9012`; except a compact timestamp `YYYYMMDDhhmm` (1970-2100), a number glued to `+` (a
    phone), part of a longer, decimal, dotted or dashed number, and a number after a quantity word (`order`,
    `Size`, `ContentLength`, `phone` ...)."""
    text = view.text
    size = len(text)
    # `_TWELVE` over the digit view (every digit written `0`) finds the same runs, from a literal `0000`.
    for match in _TWELVE_MAPPED.finditer(view.digits):
        start, end = match.span()
        before = text[start - 1] if start else " "
        after = text[end] if end < size else " "
        if before in _ALNUM or before in ".+" or after in _ALNUM:
            continue  # glued to a word or inside a longer number
        if before == "-" and (match.group(1) or (start > 1 and text[start - 2] in _ALNUM)):
            continue  # `x-123456789012`, `1-1234-5678-9012`
        if after in ".-" and end + 1 < size and text[end + 1] in _DIGITS:
            continue  # a decimal, a dotted or dashed number
        if not _not_a_timestamp(text[start:end].replace("-", "")):
            continue
        word = _word_before(text, start)
        if word is not None and _is_quantity_word(word):
            continue
        yield Span(start, end, "ACCOUNT_ID")


#: `_WORD_BEFORE` read backwards (over the reversed 40 characters before the number): one anchored match, where
#: `_WORD_BEFORE.search` tries every start in the window.
_WORD_BEFORE_BACKWARDS = re.compile(r"[^A-Za-z0-9\n]{0,6}([A-Za-z]+)")


def _word_before(text: str, start: int) -> str | None:
    """The word `_WORD_BEFORE.search(text, max(0, start - 40), start)` finds (its group), or None. Its `$` also
    matches before a newline that ends the window, so a number at a line start reads the word ending the line
    before."""
    low = max(0, start - 40)
    end = start - 1 if start > low and text[start - 1] == "\n" else start
    found = _WORD_BEFORE_BACKWARDS.match(text[low:end][::-1])
    return None if found is None else found.group(1)[::-1]


def _is_quantity_word(word: str) -> bool:
    """`order`, `Size`, `ContentLength`, `phone_number`...: a number after it is a quantity, not an account."""
    last = _LAST_PART.search(word.rstrip("_-. "))
    return last is not None and last.group().lower() in _NUMBER_WORDS


def _ipv6_spans(view: TextView, keep: Callable[[str], bool]) -> Iterator[Span]:
    """`_IPV6` matches with 3+ colons. A match is a whole run of `[0-9A-Za-z:.]` (its lookarounds say so), and
    three colons at most 4 hex digits apart are in it: the regex is tried only at the start of such runs."""
    text = view.text
    mapped = view.ascii.translate(_IPV6_MAP)
    starts = _run_starts(mapped, (hit.start() for hit in _IPV6_HINT.finditer(mapped)))
    for match in matches_at(_IPV6, text, starts):
        value = match.group()
        if value.count(":") >= 3 and len(value) >= 8 and keep(value):
            yield Span(match.start(), match.end(), "PUBLIC_IP")


#: For `_ipv6_spans`: hex digits -> `h`, other letters, digits and `.` -> `x`, `:` stays, the rest a space.
_IPV6_MAP = bytes(
    0x68 if chr(i) in "0123456789ABCDEFabcdef" else 0x3A if i == 0x3A else 0x78 if chr(i).isascii() and (
        chr(i).isalnum() or i == 0x2E) else 0x20
    for i in range(256)
)
_IPV6_HINT = re.compile(rb":h{0,4}:h{0,4}:")


def _host_spans(text: str, view: TextView | None = None) -> Iterator[Span]:
    """Spans inside AWS host names: every HOST_RULES regex is tried where such a host name starts (those whose
    literals occur in the text: `_HOST_RULE_NEEDLES`)."""
    view = view or TextView(text)
    has = view.has
    done: set[int] = set()
    mapped: bytes | None = None
    rules: list[re.Pattern[str]] = []
    for literal, suffix in _HOST_SUFFIXES:
        if not has(literal):
            continue
        if mapped is None:  # host characters -> `h`, the rest a space: the host's start is one `rfind` away
            mapped = view.ascii.translate(_HOST_MAP)
            present = {needles: any(has(needle) for needle in needles) for needles in _HOST_NEEDLE_SETS}
            rules = [
                rule
                for rule, needles in zip(HOST_RULES, _HOST_RULE_NEEDLES, strict=True)
                if not needles or present[needles]
            ]
        for match in suffix.finditer(text):
            end = match.start()
            start = max(end - 300, 0, mapped.rfind(b" ", max(end - 300, 0), end) + 1)
            if start in done:
                continue
            done.add(start)
            matched = False
            for rule in rules:
                found = rule.match(text, start)
                if found is not None:
                    matched = True
                    yield from _group_spans(found, "HOSTNAME", None)
            if not matched and literal != "cloudfront.net" and text.startswith(("amazonaws.com", "on.aws"), end):
                yield from _customer_host_spans(text, start, end)


#: Host labels with a digit that AWS uses for itself (the letters-only ones are service words anyway).
_AWS_HOST_LABEL = re.compile(
    r"(?:s3|ec2|route53|cloud9|ssm|kms|sts|ecr|iam|acm)[a-z0-9-]*|compute-1|ip-?v[46]|[a-z]{3,5}[0-9]"
    r"(?:-az[0-9])?|[a-z]+(?:-[a-z]+)*"
)


def _customer_host_spans(text: str, start: int, end: int) -> Iterator[Span]:
    """A customer-specific `*.amazonaws.com` / `*.on.aws` host that no HOST_RULES rule knows: once a label
    carries an id (a digit, and not AWS's own label such as a region, `s3-website` or `compute-1`), that label
    and every label before it name the customer's resource (`<32 hex>.gr7.<region>.eks…`,
    `<name>.endpoint.proxy-<id>.<region>.rds…`, `search-<domain>-<id>.<region>.es…`); later labels are
    masked only when they carry an id themselves. Service words (`endpoint`, `proxy`, `dualstack`) stay."""
    labels = text[start:end].split(".")
    offset, seen_id = start, False
    spans: list[Span] = []
    for label in labels:
        if label and not (_AWS_HOST_LABEL.fullmatch(label) or is_aws_public_name(label)):
            seen_id = True
            spans.append(Span(offset, offset + len(label), "ENDPOINT_HASH"))
        elif label and not seen_id and label not in _HOST_SERVICE_WORDS:
            spans.append(Span(offset, offset + len(label), "HOSTNAME"))
        offset += len(label) + 1
    if seen_id:
        yield from spans


_HOST_SERVICE_WORDS = frozenset(
    "endpoint proxy cluster cluster-ro cluster-custom dualstack fips vpce privatelink internal api dkr data "
    "ats iot cache ng cfg serverless execute-api lambda-url".split()
)


def _pem_spans(text: str) -> Iterator[Span]:
    """The body of every PEM private key, between BEGIN and END; a truncated key up to where its base64 stops.
    Line breaks may be real or JSON-escaped (`\\n`)."""
    covered = 0
    for match in _PEM_BEGIN.finditer(text):
        if match.start() < covered:
            continue  # a BEGIN line inside the key before it: its span lies inside that one (bounded work)
        end = _PEM_END.search(text, match.end(), match.end() + 65536)
        body = _PEM_BODY.match(text, match.end()) if end is None else None
        stop = end.start() if end else body.end() if body else match.end()
        covered = stop
        start = match.end()
        while start < stop and (text[start].isspace() or text.startswith(("\\n", "\\r"), start)):
            start += 2 if text[start] == "\\" else 1
        while stop > start and (text[stop - 1].isspace() or text[stop - 2 : stop] in ("\\n", "\\r")):
            stop -= 1 if text[stop - 1].isspace() else 2
        if stop > start:
            yield Span(start, stop, "PEM_PRIVATE_KEY")


#: A PEM body without its BEGIN line: the DER of a key starts `MII`, in lines of base64.
_HEADLESS_PEM = re.compile(r"(?<![A-Za-z0-9+/])MII[A-Za-z0-9+/]{60,}={0,2}(?:(?:\r?\n|\\n)[A-Za-z0-9+/]{4,}={0,2})*")


#: (Starts with its literal, so `re` jumps to it; an opening quote before it changes nothing that is used.)
_BUCKETS_LIST = re.compile(r"""Buckets["']?[ \t]*:[ \t]*\[""")
_BUCKET_NAME = re.compile(rf"""["']?Name["']?[ \t]*:[ \t]*["'](?P<v>{_BUCKET})["']""")


def _bucket_list_spans(text: str) -> Iterator[Span]:
    """`s3api list-buckets`: every `"Name"` inside `"Buckets": [...]` (the key `Name` alone names nothing)."""
    covered = closed_until = 0
    for match in _BUCKETS_LIST.finditer(text):
        if match.start() < closed_until:
            continue  # a list inside the closed list before it: its names were read with that one
        if match.start() < covered:
            # Inside a list that did not close within its window: read on to the end of this list's window (where
            # it would end at the latest; when in doubt, mask), not the whole window again (bounded work).
            start, end = max(match.end(), covered - 256), min(len(text), match.end() - 1 + _BLOCK_LIMIT)
        else:
            start = match.end()
            end, closed = _block_span(text, match.end() - 1, open_char="[", close_char="]")
            closed_until = end if closed else closed_until
        covered = max(covered, end)
        for name in _BUCKET_NAME.finditer(text, start, end):
            if _is_name(name.group("v")):
                yield Span(name.start("v"), name.end("v"), "S3_BUCKET")


def _headless_pem_spans(view: TextView) -> Iterator[Span]:
    """Key bodies pasted without their BEGIN line. A body right after a `-----BEGIN …-----` line is left to
    `_pem_spans` (private keys) or kept (certificates and public keys are public). A body starts a base64 run."""
    text = view.text
    starts = [start for start, end in view.b64_runs() if end - start >= 63 and text.startswith("MII", start)]
    for match in matches_at(_HEADLESS_PEM, text, starts):
        before = text[max(0, match.start() - 80) : match.start()].rstrip()
        while before.endswith(("\\n", "\\r")):
            before = before[:-2].rstrip()
        if not before.endswith("-----"):
            yield Span(match.start(), match.end(), "PEM_PRIVATE_KEY")


def _arn_spans(text: str) -> Iterator[Span]:
    """Spans inside every ARN: the account, and the resource name (kept: partition, service, region, type)."""
    for match in _ARN.finditer(text):
        account = match.group("account")
        if account == "aws":
            continue  # AWS-managed resources (arn:aws:iam::aws:policy/...) are public names.
        if account and account != "*":
            yield Span(match.start("account"), match.end("account"), "ACCOUNT_ID")
        service = match.group("service")
        resource = match.group("resource").rstrip(".:")
        base = match.start("resource")
        cut = _RESOURCE_CUT.search(resource)
        if (service, "*") in ARN_RESOURCE_KINDS or cut is None:
            kind = ARN_RESOURCE_KINDS.get((service, "*"), "ARN_RESOURCE")
            name_start, name = 0, resource.split("/", 1)[0] if service == "s3" else resource
        else:
            rtype = resource[: cut.start()]
            kind = ARN_RESOURCE_KINDS.get((service, rtype), "ARN_RESOURCE")
            name_start, name = cut.end(), resource[cut.end() :]
            if service == "lambda" or (service, rtype) == ("secretsmanager", "secret"):
                name = name.split(":", 1)[0]
            elif service == "rds" and name.startswith(("rds:", "awsbackup:")):
                skip = name.index(":") + 1
                name_start, name = name_start + skip, name[skip:]
            elif service in ("elasticloadbalancing", "sts"):
                yield from _path_spans(base + name_start, name, kind, service)
                continue
        name = name.rstrip("*")
        if not name or name == "root":
            continue
        start = base + name_start
        ec2 = next(_ec2_spans(name), None) if "-" in name else None  # (an EC2 id has a `-`)
        if ec2 is not None and ec2.start == 0 and ec2.end == len(name):
            kind = ec2.kind
        yield Span(start, start + len(name), kind)


_RESOURCE_CUT = re.compile(r"[/:]")
_LB_ID = re.compile("[0-9a-f]{16}")


def _path_spans(start: int, path: str, kind: str, service: str) -> Iterator[Span]:
    """ELB `app/NAME/ID` and STS `assumed-role/ROLE/SESSION`: each segment gets its own kind."""
    parts = path.split("/")
    offset = start
    for index, part in enumerate(parts):
        if service == "elasticloadbalancing":
            part_kind = None if index == 0 and part in ("app", "net", "gwy") else kind
            if index == len(parts) - 1 and len(parts) > 1 and _LB_ID.fullmatch(part):
                part_kind = "LOAD_BALANCER_ID"
        else:
            part_kind = kind if index == 0 else "ROLE_SESSION"
        if part_kind and part and part != "*":
            yield Span(offset, offset + len(part), part_kind)
        offset += len(part) + 1


def _terraform_spans(text: str) -> Iterator[Span]:
    """Terraform output: `aws_x.y: Refreshing state... [id=…]` and the naming attribute of `resource "aws_x"`
    blocks (`name = "…"`, `identifier = "…"`), whose kind TERRAFORM_KINDS gives."""
    for match in _TF_ID.finditer(text):
        value = match.group("v")
        if value.startswith("arn:") or "://" in value or not _is_name(value):
            continue
        line_start = text.rfind("\n", 0, match.start()) + 1
        address = _TF_ADDRESS.search(text[line_start : match.start()])
        if address is None:
            continue
        kind = TERRAFORM_KINDS.get(address.group("type"), ("RESOURCE_ID", ()))[0]
        if kind == "RESOURCE_ID" and value.isalpha() and value.islower():
            continue  # `[id=default]`, `[id=main]`: a word, not an identifier
        yield Span(match.start("v"), match.end("v"), kind)
    if 'resource "aws_' not in text:
        return
    outer_end = 0  # where the last block that was not inside another one ends
    read: dict[tuple[str, tuple[str, ...]], int] = {}  # (kind, attributes) -> text read for them up to here
    for match in _TF_RESOURCE.finditer(text):
        kind, attributes = TERRAFORM_KINDS.get(match.group("type"), ("", ()))
        if not attributes:
            continue
        if match.start() < outer_end:
            # A resource block inside another (not valid Terraform): read to the end of its window, where it would
            # end at the latest (when in doubt, mask), without scanning for its closing brace (bounded work).
            end = min(len(text), match.end() - 1 + _BLOCK_LIMIT)
        else:
            end = outer_end = _block_end(text, match.end() - 1)
        # What an enclosing block of the same kind already read is not read again (same spans, bounded work).
        start = max(match.end(), read.get((kind, attributes), 0))
        read[(kind, attributes)] = max(end, read.get((kind, attributes), 0))
        for attribute in _TF_ATTRIBUTE.finditer(text, start, end):
            if attribute.group("attr") not in attributes:
                continue
            for group in ("v", "v2"):
                value = attribute.group(group)
                if value and _is_name(value) and not value.startswith("arn:"):
                    yield Span(attribute.start(group), attribute.end(group), kind)


def _block_end(text: str, brace: int, limit: int = 65536, open_char: str = "{", close_char: str = "}") -> int:
    """The index just past the `}` closing the `{` at `brace` (braces inside double-quoted strings ignored), or
    where the search stopped (`limit` characters on, or the end of the text)."""
    return _block_span(text, brace, limit, open_char, close_char)[0]


def _block_span(
    text: str, brace: int, limit: int = 65536, open_char: str = "{", close_char: str = "}"
) -> tuple[int, bool]:
    """`_block_end`, and whether the block closed. Jumps from one character that matters to the next (a regex
    search), not one character at a time."""
    depth, index, end = 0, brace, min(len(text), brace + limit)
    in_string = False
    while True:
        found = _BLOCK_CHARS.search(text, index, end)
        if found is None:
            return end, False
        index = found.start()
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"' or char == "\n":
                in_string = False
        elif char == '"':
            in_string = True
        elif char == open_char:
            depth += 1
        elif char == close_char:
            depth -= 1
            if depth == 0:
                return index + 1, True
        index += 1


_BLOCK_CHARS = re.compile(r'[\[\]{}"\\\n]')
#: How far any context reaches from the value it gives away, in characters: a block (`resource "aws_…" {`, a
#: `"Buckets": [` list) or a list of strings after a key is read this far at most (bounded work). Everything
#: else a scanner reads is within a line or two. `maskkit.pieces` relies on it: windows that overlap by more than
#: this find what the whole text would.
SCAN_REACH = 1 << 16
_BLOCK_LIMIT = SCAN_REACH


# --- the detector -------------------------------------------------------------------------------------------------


_FieldTable = tuple[dict[str, list[Field]], list[tuple[str, Field]], dict[str, list[Field]]]


def _field_table(fields: Iterable[Field]) -> _FieldTable:
    """(exact key name -> rules, [(key suffix, rule)], flag without `--` -> rules)."""
    exact: dict[str, list[Field]] = {}
    suffixes: list[tuple[str, Field]] = []
    flags: dict[str, list[Field]] = {}
    for rule in fields:
        for name in rule.names:
            if name.startswith("*"):
                suffixes.append((name[1:], rule))
            else:
                exact.setdefault(name, []).append(rule)
        for flag in rule.flags:
            flags.setdefault(flag.removeprefix("--"), []).append(rule)
    return exact, suffixes, flags


@dataclass(frozen=True)
class Detector:
    """Finds every span to mask in a text: FIELDS, PATTERNS, HOST_RULES, ARNs, EC2 ids, IPs, PEM keys, Terraform
    ids, user rules, and pseudonym-shaped literals.

    `enabled` limits detection to those kinds (None: all). `mask_private_ips` extends PUBLIC_IP to private ranges
    and masks EC2 private DNS names (off by default: private addresses are the same in every VPC and reveal little;
    the public address is what identifies a host).
    """

    patterns: Sequence[Pattern] = PATTERNS
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    enabled: frozenset[str] | None = None
    mask_private_ips: bool = False
    fields: Sequence[Field] = FIELDS
    grammar: PseudonymGrammar = field(init=False, repr=False)
    _keys: dict[str, list[Field]] = field(init=False, repr=False, compare=False)
    _suffixes: list[tuple[str, Field]] = field(init=False, repr=False, compare=False)
    _flags: dict[str, list[Field]] = field(init=False, repr=False, compare=False)
    _key_cache: dict[str, list[Field]] = field(init=False, repr=False, compare=False)
    _wanted_keys: dict[bytes, bool] = field(init=False, repr=False, compare=False)
    _finder: LiteralFinder = field(init=False, repr=False, compare=False)
    _pseudonym_prefixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.kinds.values())) != len(self.kinds):
            raise ValueError("two kinds share a pseudonym prefix; every kind needs its own")
        missing = {rule.kind for rule in self.fields} - set(self.kinds)
        if missing:
            raise ValueError(f"no pseudonym prefix for the kinds {sorted(missing)}")
        object.__setattr__(self, "grammar", PseudonymGrammar(frozenset(self.kinds.values())))
        keys, suffixes, flags = _field_table(self.fields)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_suffixes", suffixes)
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_key_cache", {})
        object.__setattr__(self, "_wanted_keys", {})
        # Every literal a scan asks about, looked for in one pass per text (`TextView.has`).
        literals = [anchor for pattern in self.patterns for anchor in pattern._anchors]
        literals += [anchor for _scan, anchors in _SCANNER_PLAN for anchor in anchors]
        literals += [needle for needles in _HOST_RULE_NEEDLES for needle in needles]
        literals += [literal for literal, _suffix in _HOST_SUFFIXES] + ["--query", "--", "configure set"]
        keywords = [keyword for pattern in self.patterns for keyword in pattern.keywords]
        object.__setattr__(self, "_finder", LiteralFinder(literals, keywords))
        object.__setattr__(self, "_pseudonym_prefixes", frozenset(self.kinds.values()))

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
        return Detector(tuple(patterns), kinds, self.enabled, self.mask_private_ips, self.fields)

    def with_rules(self, rules: Iterable[RuleSpec]) -> Detector:
        """A detector that also applies parsed rule-file rules (`maskkit.detect.rules`). A rule's kind is new, or
        an existing kind with its own prefix (the rule then adds keys or patterns to it); its prefix is its own.
        Raises ValueError naming the rule otherwise."""
        rules = tuple(rules)
        kinds = dict(self.kinds)
        owner = {prefix: kind for kind, prefix in kinds.items()}
        for rule in rules:
            if rule.kind in kinds and kinds[rule.kind] != rule.prefix:
                raise ValueError(
                    f"rule {rule.kind}: the kind already exists with the pseudonym prefix {kinds[rule.kind]!r}; "
                    "use that prefix to extend it, or a new kind name"
                )
            if owner.get(rule.prefix, rule.kind) != rule.kind:
                raise ValueError(
                    f"rule {rule.kind}: the pseudonym prefix {rule.prefix!r} is already used by the kind "
                    f"{owner[rule.prefix]}; every kind needs its own prefix"
                )
            kinds[rule.kind] = rule.prefix
            owner[rule.prefix] = rule.kind
        fields, patterns = _build(rules)
        return Detector(
            (*self.patterns, *patterns), kinds, self.enabled, self.mask_private_ips, (*self.fields, *fields)
        )

    def detect(self, text: str, *, spread: bool = True) -> list[Span]:
        """Spans to mask in `text`, sorted, non-overlapping, each covering whole ASCII words."""
        return self.finish(text, self.scan(text), list(self._literal_spans(text)), spread=spread)

    def scan(self, text: str) -> list[Span]:
        """What the scanners find in `text`, in scanner order (the order `finish` gives kinds by), unmerged."""
        return [span for group in self.scan_groups(text) for span in group]

    def scan_groups(self, text: str) -> list[list[Span]]:
        """`scan`, one list per scanner (in the order rules.toml lists them).

        `detect` is `finish(text, scan(text), literals(text))`. The halves exist so that one large text can be
        scanned in overlapping pieces (in parallel, `maskkit.pieces`) and finished once: scanning is local (a
        value and its context lie within a few lines), finishing is not (one kind per original over the whole
        text, given by the first scanner that found it: the pieces' groups are joined scanner by scanner)."""
        groups: list[list[Span]] = []
        view = TextView(text, self._finder)
        enabled = self.enabled
        for scan, anchors in _SCANNER_PLAN:
            if anchors:
                for anchor in anchors:
                    if view.has(anchor):
                        break
                else:
                    groups.append([])
                    continue
            found = list(scan(self, view))
            groups.append(found if enabled is None else [s for s in found if s.kind in enabled])
        return groups

    def literals(self, text: str) -> list[Span]:
        """Pseudonym-shaped tokens already in `text` (kept as they are, never re-masked)."""
        return list(self._literal_spans(text))

    def finish(self, text: str, found: list[Span], literals: list[Span], *, spread: bool = True) -> list[Span]:
        """The spans of `text` from what `scan` found: one kind per original, then (with `spread`) every other
        occurrence of a recall-safe original, the literals, merged (`resolve_spans`)."""
        found = _one_kind_per_original(text, found)
        if spread:  # (the Masker spreads through its recall index instead, over every text of a request)
            found.extend(_repeats(text, found))
        found.extend(literals)
        return resolve_spans(text, found)

    @staticmethod
    def finish_raw(
        text: str, found: Iterable[tuple[int, int, str]], literals: Iterable[tuple[int, int, str]]
    ) -> list[Span]:
        """`finish(text, found, literals, spread=False)` for spans given as (start, end, kind) tuples, as pieces
        scanned in other processes hand them back (`maskkit.pieces`): no Span is made but the merged ones."""
        kinds: dict[str, str] = {}
        first = kinds.setdefault
        spans = [(start, end, first(text[start:end], kind)) for start, end, kind in found]
        spans.extend(literals)
        return _resolve_raw(text, spans)

    def detect_json(self, value: Any, *, max_items: int = 100_000) -> list[tuple[str, str]]:
        """(kind, original) of every value in a parsed JSON document that its key names: the key is the context
        (`{"Password": "…", "Bucket": "…", "AccountId": "…"}` in a tool call's input, where each string alone
        says nothing). Keys are matched like FIELDS keys (normalised: `account_id`, `AccountId`, `DB_PASSWORD`);
        a list under a key applies the key to every element; a string that parses as a JSON object or array is
        read the same way. Numbers under an account key, and 12-digit numbers under any key (the bare-number
        policy), are returned as their decimal text: a caller that masks them must write the pseudonym as a
        string and restore it as a number.

        Pure; the caller masks each original wherever it occurs in that document's strings (`find_originals`).
        """
        out: dict[tuple[str, str], None] = {}
        stack: list[tuple[str | None, Any, int]] = [(None, value, 0)]
        budget = max_items
        while stack and budget > 0:
            key, item, depth = stack.pop()
            budget -= 1
            if isinstance(item, dict):
                stack.extend((str(k), v, depth + 1) for k, v in item.items())
            elif isinstance(item, list):
                stack.extend((key, v, depth + 1) for v in item)
            elif isinstance(item, str):
                parsed = _parse_json_text(item) if depth < 32 else None
                if parsed is not None:
                    stack.append((key, parsed, depth + 1))
                elif key is not None:
                    found = self._keyed_value(key, item)
                    if found is not None:
                        out[found] = None
            elif isinstance(item, int) and not isinstance(item, bool) and key is not None:
                text = str(item)
                if self._rules_for_key(key) and any(rule.kind == "ACCOUNT_ID" for rule in self._rules_for_key(key)):
                    if 0 < item < 10**12:
                        out[("ACCOUNT_ID", text)] = None
                elif len(text) == 12 and _not_a_timestamp(text) and not _is_quantity_word(key):
                    out[("ACCOUNT_ID", text)] = None
        return list(out)

    def _keyed_value(self, key: str, value: str) -> tuple[str, str] | None:
        """The (kind, original) a key's rules make of a whole string value, if any."""
        if not value or value == key:
            return None
        for rule in self._rules_for_key(key):
            if rule.kind in _SECRET_FIELD_KINDS:
                if rule.validate is None or rule.validate(value):
                    return rule.kind, value
                continue
            match = rule.compiled.fullmatch(value)
            if match is None:
                continue
            groups = [name for name in match.groupdict() if name.startswith("v") and match.group(name)]
            original = match.group(groups[0]) if groups else value
            if rule.validate is None or rule.validate(original):
                return rule.kind, original
        return None

    def _rules_for_key(self, key: str) -> list[Field]:
        rules = self._key_cache.get(key)
        if rules is None:
            rules = self._lookup_key(_normal_key(key))
            if not rules:
                # `.env` variants: `AWS_SECRET_ACCESS_KEY_PROD`, `AWS_SECRET_ACCESS_KEY_2`, `DB_PASSWORD_OLD`.
                tokens = re.split(r"[_.-]", key)
                while len(tokens) > 1 and (tokens[-1].isdigit() or tokens[-1].lower() in _KEY_SUFFIXES):
                    tokens.pop()
                    rules = self._lookup_key(_normal_key("".join(tokens)))
                    if rules:
                        break
            if len(self._key_cache) > 4096:
                self._key_cache.clear()
            self._key_cache[key] = rules
        return rules

    def _lookup_key(self, normal: str) -> list[Field]:
        rules = list(self._keys.get(normal, ()))
        rules += [rule for suffix, rule in self._suffixes if normal.endswith(suffix) and rule not in rules]
        return rules

    def _rules_for_flag(self, flag: str) -> Sequence[Field]:
        """Exact flags first; then any `--*-account-id(s)` is an account, any `--*-bucket(-name)` a bucket."""
        rules = self._flags.get(flag)
        if rules is not None:
            return rules
        if flag.endswith(("-account-id", "-account-ids", "-owner-id")):
            return self._flags.get("account-id", ())
        if flag.endswith(("-bucket", "-bucket-name")):
            return self._flags.get("bucket", ())
        if flag.endswith(("-password", "-passwd")):
            return self._flags.get("password", ())
        return ()

    def _field_spans(self, text: str, view: TextView | None = None) -> Iterator[Span]:
        """Values of FIELDS: one pass finds every `key <sep>` (and one every `--flag`), then the key decides.

        A list after a key (`"TableNames": ["a", "b"]`) has every element judged by the key (or by its
        singular: `LoadBalancerNames` -> `LoadBalancerName`). A value equal to its key (a JMESPath projection
        `{DBClusterIdentifier:DBClusterIdentifier}`) is a field name, not a value; nothing inside a `--query`
        argument is read as a key/value pair."""
        get = self._key_cache.get
        size = len(text)
        view = view or TextView(text)
        has = view.has
        queries = _query_ranges(text) if has("--query") else []
        key_value = _KEY_VALUE.match
        for key_start in self._keys_to_read(view.ascii):
            match = key_value(text, key_start)  # (what `_KEY_VALUE.finditer` gives there: `_key_spans`)
            assert match is not None
            key = match.group(1)
            rules = get(key)
            if rules is None:
                rules = self._rules_for_key(key)
            pos = match.end()
            if pos < size and text[pos] == "[":
                if not rules:
                    rules = self._rules_for_key(key[:-1])
                yield from _list_spans(text, pos, rules)
                continue
            if not rules or (queries and _inside(queries, pos)):
                continue
            for rule in rules:
                span = rule.value_span(text, pos)
                if span is not None:
                    if text[span.start : span.end] != key:
                        yield span
                    break
        if has("--"):
            for match in _FLAG.finditer(text):
                for rule in self._rules_for_flag(match.group(1)):
                    span = rule.value_span(text, match.end())
                    if span is not None:
                        yield span
                        break
        if has("configure set"):
            for match in _CONFIGURE_SET.finditer(text):
                for rule in self._rules_for_key(match.group(1)):
                    span = rule.value_span(text, match.end())
                    if span is not None:
                        yield span
                        break

    def _keys_to_read(self, ascii: bytes) -> list[int]:
        """Where the keys start (in order) that `_field_spans` reads on from: those with rules, and those ending
        in `s` whose singular has rules (a list after them is judged by it). Most keys are neither; they are found
        (as in `_key_spans`) and dropped here by one lookup of their reversed bytes, with no string made for them.
        (`Status`, `Tags`, `https` ... read on would find nothing: no rules, and none for `Statu`, `Tag`, `http`.)"""
        size = len(ascii)
        wanted = self._wanted_keys
        starts: list[int] = []
        for match in _KEY_BACKWARDS.finditer(ascii.translate(_EQUALS_AS_COLON)[::-1]):
            backwards = match.group(1)
            want = wanted.get(backwards)
            if want is None:
                key = backwards[::-1].decode("ascii")
                want = bool(self._rules_for_key(key)) or (key[-1] in "sS" and bool(self._rules_for_key(key[:-1])))
                if len(wanted) > 4096:
                    wanted.clear()
                wanted[backwards] = want
            if want:
                starts.append(size - match.end(1))
        starts.reverse()
        return starts

    def _literal_spans(self, text: str) -> Iterator[Span]:
        """Pseudonym-shaped tokens already in the text (exactly `grammar.finditer`, found from their `-NNN` tail)."""
        starts: set[int] = set()
        # (An ASCII text holds no other hyphen: a pattern starting with the literal `-` is found much faster than
        # one starting with a character class.)
        for match in (_ASCII_LITERAL_TAIL if text.isascii() else _LITERAL_TAIL).finditer(text):
            start = match.start()
            while start > 0 and text[start - 1] in _WORD_CHARS:
                start -= 1
            if start == match.start() or start in starts:
                continue
            starts.add(start)
            if text[start : match.start()].lower() not in self._pseudonym_prefixes:
                continue
            token = self.grammar.pattern.match(text, start)
            if token is not None and token.end() > match.start():
                yield Span(token.start(), token.end(), LITERAL)


#: Trailing name parts that do not change what a key names: `_PROD`, `_OLD`, `_B64` ... (digits too).
_KEY_SUFFIXES = frozenset(
    "prod production dev development stg staging stage test qa uat live old new prev previous next current "
    "primary secondary backup tmp temp b64 base64 value raw enc local ci default main".split()
)
_LIST_ITEM = re.compile(r"""\s*(?:"([^"\\\n]*)"|'([^'\\\n]*)')\s*(,|\])""")
_QUERY = re.compile(r"""--query(?:=|[ \t]+)(?:'[^'\n]*'|"[^"\n]*"|[^\s]+)""")


def _list_spans(text: str, pos: int, rules: Sequence[Field]) -> Iterator[Span]:
    """Elements of a JSON/YAML flow list of strings at `pos` (`[`) that one of `rules` accepts."""
    if not rules:
        return
    index = pos + 1
    reach = pos + SCAN_REACH
    for _ in range(4096):
        item = _LIST_ITEM.match(text, index)
        if item is None or item.start() > reach:
            return
        group = 1 if item.group(1) is not None else 2
        for rule in rules:
            span = rule.value_span(text, item.start(group))
            if span is not None and span.end <= item.end(group):
                yield span
                break
        if item.group(3) == "]":
            return
        index = item.end()


def _query_ranges(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _QUERY.finditer(text)]


def _inside(ranges: list[tuple[int, int]], pos: int) -> bool:
    """Is `pos` inside one of `ranges` (sorted, disjoint, as finditer gives them)? A bisection, not a scan."""
    at = bisect.bisect_right(ranges, (pos, _AFTER_ANY_END)) - 1
    return at >= 0 and ranges[at][0] <= pos < ranges[at][1]


_AFTER_ANY_END = 1 << 62


#: Kinds whose whole value, under their key, is the secret (whatever characters it holds).
_SECRET_FIELD_KINDS = frozenset({"PASSWORD", "SECRET_VALUE", "SECRET_ACCESS_KEY", "SESSION_TOKEN"})


def _parse_json_text(text: str) -> Any:
    """A string that holds a JSON object or array (tool_result content), parsed; None otherwise."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "[{" or len(stripped) > 4_000_000:
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def _one_kind_per_original(text: str, spans: list[Span]) -> list[Span]:
    """Give every occurrence of an original the kind it got first (ARNs are read first, and name a role a role
    even where only `userName` was around it), so one text never shows one value under two pseudonyms."""
    kinds: dict[str, str] = {}
    first = kinds.setdefault
    out: list[Span] = []
    append = out.append
    for span in spans:
        kind = first(text[span.start : span.end], span.kind)
        append(span if kind == span.kind else Span(span.start, span.end, kind))
    return out


def _repeats(text: str, spans: list[Span]) -> list[Span]:
    """Every other occurrence of an original found somewhere: a value detected once is masked everywhere,
    even where its context alone would not give it away (glued to other text, in a log line). Only
    recall-safe originals are searched for (`maskkit.core.recall_safe`, the one rule shared with the recall
    index): `default`, `us-west-2`, `AdministratorAccess` or a short name spread over the text would over-mask."""
    originals: dict[str, str] = {}
    for span in spans:
        original = text[span.start : span.end]
        if original not in originals and recall_safe(span.kind, original):
            originals[original] = span.kind
    known = {(span.start, span.end) for span in spans}
    return [span for span in find_originals(text, originals) if (span.start, span.end) not in known]


#: Above this many (originals x characters), `find_originals` builds one automaton instead of one str.find each.
_FIND_BUDGET = 20_000_000


def find_originals(text: str, originals: Mapping[str, str]) -> list[Span]:
    """Every occurrence in `text` of every original (-> its kind), overlapping ones included; where several
    originals start at one place, the longest. Linear in the text for large inputs: `str.find` per original is
    fine for a page, but a megabyte with thousands of originals would cost billions of comparisons."""
    if not originals or not text:
        return []
    out: list[Span] = []
    if len(originals) * len(text) <= _FIND_BUDGET:
        for original, kind in originals.items():
            start = text.find(original) if original else -1
            while start != -1:
                out.append(Span(start, start + len(original), kind))
                start = text.find(original, start + 1)
        return out
    # One Aho-Corasick pass finds every occurrence of every original (overlapping ones too); keep the longest
    # original at each start.
    words = [original for original in originals if original and matchable(original) is original]
    if not words:
        return out
    automaton = ahocorasick_rs.AhoCorasick(words, matchkind=ahocorasick_rs.MatchKind.Standard)
    longest: dict[int, int] = {}
    for _index, start, end in automaton.find_matches_as_indexes(matchable(text), overlapping=True):
        if longest.get(start, -1) < end:
            longest[start] = end
    for start in sorted(longest):
        end = longest[start]
        out.append(Span(start, end, originals[text[start:end]]))
    return out


def resolve_spans(text: str, spans: list[Span]) -> list[Span]:
    """Widen spans to whole words, then merge overlapping or touching ones (the longest member names the kind).

    Widening is what keeps the round trip exact: a pseudonym written where a span was is always a whole token,
    and no untouched text can form a token with it.
    """
    if not spans:
        return []
    size = len(text)
    count = len(spans)
    stride = size + 1
    word = _WORD_CHARS
    word_run = _WORD_RUN.match
    # One int per span sorts by (start, longest first, input order): int keys sort several times faster than
    # tuples, and the input order among equal extents keeps the first span first, as a stable sort would. The
    # widened offsets are kept by index, so reading a key back is one `%`.
    starts: list[int] = []
    ends: list[int] = []
    keys: list[int] = []
    for index, span in enumerate(spans):
        start, end = span.start, span.end
        if start > 0 and text[start - 1] in word:
            start -= 1
            while start > 0 and text[start - 1] in word:
                start -= 1
        if end < size and text[end] in word:
            found = word_run(text, end)
            assert found is not None
            end = found.end()
        starts.append(start)
        ends.append(end)
        keys.append((start * stride + size - end) * count + index)
    keys.sort()
    merged: list[Span] = []
    group_start = group_end = -1
    best = spans[0]
    best_rank = (False, 0)
    for key in keys:
        index = key % count
        start = starts[index]
        span = spans[index]
        if start <= group_end:
            end = ends[index]
            if end > group_end:
                group_end = end
            rank = (span.kind != LITERAL, span.end - span.start)
            if rank > best_rank:
                best, best_rank = span, rank
            continue
        if group_end >= 0:
            merged.append(Span(group_start, group_end, best.kind))
        group_start, group_end, best = start, ends[index], span
        best_rank = (best.kind != LITERAL, best.end - best.start)
    merged.append(Span(group_start, group_end, best.kind))
    return merged


def _resolve_raw(text: str, spans: list[tuple[int, int, str]]) -> list[Span]:
    """`resolve_spans` of (start, end, kind) tuples (valid offsets: each came from a Span), for the pieces of a
    large text (`Detector.finish_raw`). Two copies of one algorithm: reading Span attributes is cheaper than
    making tuples of them first; both are tested against the plain algorithm (tests/unit/test_detect_tuples.py)."""
    if not spans:
        return []
    size = len(text)
    count = len(spans)
    stride = size + 1
    word = _WORD_CHARS
    word_run = _WORD_RUN.match
    # One int per span sorts by (start, longest first, input order): int keys sort several times faster than
    # tuples, and the input order among equal extents keeps the first span first, as a stable sort would. The
    # widened offsets are kept by index, so reading a key back is one `%`.
    starts: list[int] = []
    ends: list[int] = []
    keys: list[int] = []
    index = 0
    for start, end, _kind in spans:
        if start > 0 and text[start - 1] in word:
            start -= 1
            while start > 0 and text[start - 1] in word:
                start -= 1
        if end < size and text[end] in word:
            found = word_run(text, end)
            assert found is not None
            end = found.end()
        starts.append(start)
        ends.append(end)
        keys.append((start * stride + size - end) * count + index)
        index += 1
    keys.sort()
    merged: list[Span] = []
    group_start = group_end = -1
    best_kind = ""
    best_rank = (False, 0)
    for key in keys:
        index = key % count
        start = starts[index]
        if start <= group_end:
            end = ends[index]
            if end > group_end:
                group_end = end
            own_start, own_end, kind = spans[index]
            rank = (kind != LITERAL, own_end - own_start)
            if rank > best_rank:
                best_kind, best_rank = kind, rank
            continue
        if group_end >= 0:
            merged.append(Span(group_start, group_end, best_kind))
        own_start, own_end, best_kind = spans[index]
        group_start, group_end = start, ends[index]
        best_rank = (best_kind != LITERAL, own_end - own_start)
    merged.append(Span(group_start, group_end, best_kind))
    return merged


_WORD_RUN = re.compile(r"[A-Za-z0-9_]*")


def plain_patterns(detector: Detector | None = None) -> list[Pattern]:
    """Every rule of `detector` as one self-contained regex: what a bare regex masker would run over the text,
    one pass per rule. `detect` finds the same things faster; benchmarks and tests compare the two."""
    detector = detector or Detector()
    out = [Pattern("EC2", _ec2_regex())]
    for rule in detector.fields:
        out += [Pattern(rule.kind, regex, validate=rule.validate) for regex in rule.plain_regexes()]
    out += [Pattern(p.kind, p.regex, validate=p.validate, flags=p.flags) for p in detector.patterns]
    out += [Pattern("HOSTNAME", rule.pattern) for rule in HOST_RULES]
    out.append(
        Pattern(
            "PUBLIC_IP",
            rf"(?<![0-9A-Za-z.])(?P<v>{_IPV4.pattern})(?![0-9]|\.[A-Za-z]*[0-9])",
            validate=_is_public_ip,
        )
    )
    out.append(
        Pattern(
            "PEM_PRIVATE_KEY",
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s*(?P<v>\S[\s\S]*?\S)\s*-----END [A-Z0-9 ]*PRIVATE KEY-----",
        )
    )
    out.append(
        Pattern(
            "ARN_RESOURCE",
            r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?P<ACCOUNT_ID>[0-9]{12})?:(?P<v>[^\s\"'<>,;)(\]\[{}`|\\]+)",
        )
    )
    return out


def _keep_ip(detector: Detector) -> Callable[[str], bool]:
    return _is_ip if detector.mask_private_ips else _is_public_ip


def _ipv6_scanner(detector: Detector, view: TextView) -> Iterable[Span]:
    text = view.text
    if "::" in text or text.count(":") >= 7:
        return _ipv6_spans(view, _keep_ip(detector))
    return ()


def _private_dns_scanner(detector: Detector, view: TextView) -> Iterable[Span]:
    return _PRIVATE_DNS.spans(view.text) if detector.mask_private_ips else ()


def _pattern_scanner(detector: Detector, view: TextView) -> Iterable[Span]:
    out: list[Span] = []
    for pattern in detector.patterns:
        out += pattern.find(view)
    return out


#: The Python scanners `rules.toml` names in its [[scanner]] tables.
_SCANNERS: dict[str, Callable[[Detector, TextView], Iterable[Span]]] = {
    "arn": lambda detector, view: _arn_spans(view.text),
    "ec2-ids": lambda detector, view: _ec2_spans(view.text),
    "fields": lambda detector, view: detector._field_spans(view.text, view),
    "patterns": _pattern_scanner,
    "hosts": lambda detector, view: _host_spans(view.text, view),
    "ipv4": lambda detector, view: _ip_spans(view.text, _keep_ip(detector)),
    "ipv6": _ipv6_scanner,
    "private-dns": _private_dns_scanner,
    "pem": lambda detector, view: _pem_spans(view.text),
    "headless-pem": lambda detector, view: _headless_pem_spans(view),
    "bucket-list": lambda detector, view: _bucket_list_spans(view.text),
    "bare-account": lambda detector, view: _bare_account_spans(view),
    "terraform": lambda detector, view: _terraform_spans(view.text),
}
if {scanner.name for scanner in BUILTIN_RULES.scanners} != set(_SCANNERS):
    raise RuntimeError("rules.toml [[scanner]] names and the Python scanners differ")  # a packaging bug
_SCANNER_PLAN = tuple((_SCANNERS[scanner.name], scanner.anchor) for scanner in BUILTIN_RULES.scanners)
