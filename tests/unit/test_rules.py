"""Rules are data: the built-in rules load from `maskkit/detect/rules.toml`, a user's rule file in the same
format adds kinds (context keys, flags, value patterns, keyword-gated regexes), and a bad file stops start-up
with a message naming the rule and what is wrong."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from maskkit.config import load_settings
from maskkit.detect import KINDS, Detector
from maskkit.detect.detector import BUILTIN_RULES, FRAGMENTS
from maskkit.detect.rules import RuleError, parse_rules
from maskkit.errors import ConfigError

USER_RULES = (Path(__file__).resolve().parents[2] / "examples" / "rules.toml").read_text(encoding="utf-8")

TOKEN = "Zq8mN2xR4vT6yB1cD3fG5hJ7"
PATTERN_TOKEN = "BT_7K2M9Q4X1Z8P3R6W"


def detector() -> Detector:
    return Detector().with_rules(parse_rules(USER_RULES, "rules", fragments=FRAGMENTS).rules)


def found(text: str, det: Detector | None = None) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in (det or detector()).detect(text)]


def test_the_built_in_rules_come_from_the_package_toml_one_rule_per_kind() -> None:
    text = files("maskkit.detect").joinpath("rules.toml").read_text(encoding="utf-8")
    rules = parse_rules(text, "rules.toml", builtin=True)
    kinds = [rule.kind for rule in rules.rules]
    assert len(kinds) == len(set(kinds))
    assert rules == BUILTIN_RULES
    # Existing kinds keep their names and prefixes (users' transcripts and vaults depend on them).
    assert KINDS["ACCOUNT_ID"] == "acct" and KINDS["S3_BUCKET"] == "s3" and KINDS["INSTANCE_ID"] == "ec2"
    assert len(set(KINDS.values())) == len(KINDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"BILLING_TOKEN={TOKEN}\n", ("BILLING_TOKEN", TOKEN)),
        (f'"billingToken": "{TOKEN}"', ("BILLING_TOKEN", TOKEN)),
        (f"export ACME_BILLING_TOKEN='{TOKEN}'", ("BILLING_TOKEN", TOKEN)),
        (f"billing-cli charge --billing-token {TOKEN} --amount 5", ("BILLING_TOKEN", TOKEN)),
        (f"the token {PATTERN_TOKEN} was rotated", ("BILLING_TOKEN", PATTERN_TOKEN)),
        ("archive_bucket = acme-payroll-archive-7731", ("ARCHIVE_BUCKET", "acme-payroll-archive-7731")),
    ],
)
def test_a_user_rule_finds_its_kind_by_key_flag_and_pattern(text: str, expected: tuple[str, str]) -> None:
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "BILLING_TOKEN=short",  # the value pattern wants 20+ characters
        f"the token bt_{PATTERN_TOKEN[3:].lower()} in lower case",  # the regex is case-sensitive
        f"XBT_{PATTERN_TOKEN[3:]}0",  # glued: longer than the pattern allows
        "archive_bucket = us-east-1",  # `validate = "name"`: a region is never a name
        f"other_token = {TOKEN}",  # no key of the rule
    ],
)
def test_near_misses_of_a_user_rule_are_left_alone(text: str) -> None:
    assert not [kind for kind, _ in found(text) if kind in ("BILLING_TOKEN", "ARCHIVE_BUCKET")]


def test_a_key_a_built_in_rule_already_names_keeps_the_built_in_kind() -> None:
    """User rules come after the built-in ones: `*_API_TOKEN` is a built-in secret name, still masked."""
    assert found(f"export ACME_BILLING_API_TOKEN='{TOKEN}'") == [("SECRET_VALUE", TOKEN)]


def test_a_user_rule_can_extend_a_built_in_kind_with_its_own_prefix() -> None:
    rules = parse_rules(
        '[[rule]]\nkind = "ACCOUNT_ID"\nprefix = "acct"\nkeys = ["payeraccountref"]\nvalue = "[0-9]{12}"\n', "r"
    ).rules
    text = "payer_account_ref: 410295837716x"
    assert ("ACCOUNT_ID", "410295837716x") in found(text, Detector().with_rules(rules))
    assert not [k for k, _ in found(text, Detector()) if k == "ACCOUNT_ID"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_up_error(tmp_path: Path, rules: str) -> str:
    path = write(tmp_path, rules)
    with pytest.raises(ConfigError) as caught:
        load_settings({"MASKKIT_HOME": str(tmp_path), "MASKKIT_RULES_FILE": str(path)})
    return str(caught.value)


_RULE = '[[rule]]\nkind = "TICKET"\nprefix = "tkt"\n'


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (_RULE + 'regex = "TKT-[0-9]+"\n', "rule 1 (TICKET): unknown key 'regex'"),
        (_RULE + '[[rule.pattern]]\nregex = "TKT-[0-9+"\n', "rule 1 (TICKET) pattern 1: `regex`: does not compile"),
        (_RULE + '[[rule.pattern]]\nregx = "TKT"\n', "rule 1 (TICKET) pattern 1: unknown key 'regx'"),
        ('[[rule]]\nkind = "TICKET"\nprefix = "ec2"\nkeys = ["ticket"]\nvalue = "x"\n', "prefix 'ec2' is already used"),
        ('[[rule]]\nkind = "S3_BUCKET"\nprefix = "bkt"\nkeys = ["b"]\nvalue = "x"\n', "kind already exists"),
        (_RULE + 'keys = ["ticket_id"]\nvalue = "x"\n', "must be normalised"),
        (_RULE + 'keys = ["ticket"]\n', "`keys`/`flags` need a `value`"),
        (_RULE, "needs a `value` (with keys or flags) or at least one [[rule.pattern]]"),
        (_RULE + 'keys = ["ticket"]\nvalue = "x"\nvalidate = "luhn"\n', "unknown validate 'luhn'"),
        (_RULE + '[[rule.pattern]]\nregex = "${TICKETNO}"\n', "unknown fragment ${TICKETNO}"),
        (_RULE + '[[rule.pattern]]\nregex = "TKT"\nstart = "keyword"\n', "needs `keywords`"),
        (_RULE + '[[rule.pattern]]\nregex = "TKT"\nstart = "anchor"\n', "needs `anchor`"),
        (_RULE + '[[rule.pattern]]\nregex = "TKT"\nkeywords = ["TKT"]\n', "must be lower-case ASCII"),
        ('[[rule]]\nkind = "ticket"\nprefix = "tkt"\n', "`kind` must be UPPER_SNAKE_CASE"),
        ('[[rule]]\nkind = "TICKET"\nprefix = "Tkt-"\n', "`prefix` must be 1-16 lower-case"),
        (_RULE + 'keys = ["t"]\nvalue = "x"\n' + _RULE + 'keys = ["u"]\nvalue = "y"\n', "two [[rule]] tables"),
        ('[[pattern]]\nkind = "TICKET"\n', "unknown table 'pattern'"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_a_bad_rule_file_stops_start_up_naming_the_problem(tmp_path: Path, rules: str, message: str) -> None:
    error = start_up_error(tmp_path, rules)
    assert error.startswith("MASKKIT_RULES_FILE") and message in error, error


def test_a_missing_rule_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MASKKIT_RULES_FILE: cannot read the file it names"):
        load_settings({"MASKKIT_HOME": str(tmp_path), "MASKKIT_RULES_FILE": str(tmp_path / "nope.toml")})


def test_rule_file_kinds_are_known_kinds_and_can_be_selected(tmp_path: Path) -> None:
    path = write(tmp_path, USER_RULES)
    settings = load_settings(
        {"MASKKIT_HOME": str(tmp_path), "MASKKIT_RULES_FILE": str(path), "MASKKIT_KINDS": "BILLING_TOKEN"}
    )
    assert settings.known_kinds["BILLING_TOKEN"] == "billtok"
    assert [rule.kind for rule in settings.custom_rules] == ["BILLING_TOKEN", "ARCHIVE_BUCKET"]


def test_parse_errors_never_echo_a_value_from_the_file() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(_RULE + f'keys = ["ticket"]\nvalue = "{TOKEN}"\nvalidate = 3\n', "r")
    assert TOKEN not in str(caught.value)
