"""Rules as data: the TOML format of detection rules, for the built-in ones (`rules.toml`) and the user's.

Pure: parses and checks text it is handed (the caller reads the file); no I/O. One `[[rule]]` table per kind,
shaped like a Presidio recognizer: the kind, its pseudonym prefix, the context that names a value (`keys`
written before it, `flags` of a command line, and the `value` pattern read right after), and `[[rule.pattern]]`
regexes that find the value from its own shape, each with the `keywords` that must occur for it to run (the
gitleaks prefilter). `${NAME}` in a regex stands for a `[fragments]` entry. Code-shaped detection (ARNs, EC2
ids, IPs, hosts, PEM, Terraform) stays in Python, named by the `[[scanner]]` tables. The schema is strict:
an unknown key, a wrong type or a regex that does not compile is an error naming the rule, never a guess.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

__all__ = ["PatternSpec", "RuleError", "RuleSet", "RuleSpec", "ScannerSpec", "parse_rules"]

#: Where a pattern's matches can start (see `maskkit.detect.detector.Pattern`).
STARTS = ("anywhere", "keyword", "anchor", "base64-run", "escaped-base64-run", "quoted-digits", "listing-line")

_KIND = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_PREFIX = re.compile(r"[a-z][a-z0-9]{0,15}")
_KEY_NAME = re.compile(r"\*?[a-z0-9]+")
_FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*")
_FRAGMENT = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_RULE_KEYS = frozenset({"kind", "prefix", "description", "keys", "flags", "value", "validate", "pattern"})
_PATTERN_KEYS = frozenset({"regex", "keywords", "start", "anchor", "validate"})
_SCANNER_KEYS = frozenset({"name", "kinds", "anchor", "description"})


class RuleError(ValueError):
    """A rule file that does not follow the format; the message names the rule and the key, never a value."""


@dataclass(frozen=True)
class PatternSpec:
    """One regex of a rule: named group `v` (or a kind name) is the span; see the module docstring."""

    regex: str
    keywords: tuple[str, ...] = ()
    start: str = "anywhere"
    anchor: tuple[str, ...] = ()
    validate: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One kind: its prefix, its context (keys, flags, value) and its patterns."""

    kind: str
    prefix: str
    keys: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    value: str | None = None
    validate: str | None = None
    patterns: tuple[PatternSpec, ...] = ()


@dataclass(frozen=True)
class ScannerSpec:
    """A detector written in Python, run in file order; `anchor`: substrings one of which must occur."""

    name: str
    kinds: tuple[str, ...]
    anchor: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[RuleSpec, ...]
    ec2_ids: dict[str, tuple[str, str]]
    scanners: tuple[ScannerSpec, ...]


def parse_rules(text: str, source: str, *, fragments: dict[str, str] | None = None, builtin: bool = False) -> RuleSet:
    """Parse and check a rule file. `fragments` are usable besides the file's own (the built-in ones, for a
    user file). Only the built-in file may hold `[ec2_ids]` and `[[scanner]]` (they name Python code)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from None
    allowed = {"fragments", "rule", "ec2_ids", "scanner"} if builtin else {"fragments", "rule"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RuleError(f"{source}: unknown table {unknown[0]!r} (expected {', '.join(sorted(allowed))})")
    known = dict(fragments or {})
    for name, value in _table(data, "fragments", source).items():
        if not _KIND.fullmatch(name) or not isinstance(value, str):
            raise RuleError(f"{source}: [fragments] {name!r} must be an UPPER_CASE name = a string")
        known[name] = _expand(value, known, f"{source}: fragment {name}")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(rule, dict) for rule in raw_rules):
        raise RuleError(f"{source}: `rule` must be [[rule]] tables")
    rules = tuple(_rule(rule, number, source, known, builtin) for number, rule in enumerate(raw_rules, 1))
    kinds = [rule.kind for rule in rules]
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise RuleError(f"{source}: kind {kind} has two [[rule]] tables; one rule per kind")
    ec2_ids = {
        prefix: (_str(pair[0], f"{source}: [ec2_ids] {prefix}"), _str(pair[1], f"{source}: [ec2_ids] {prefix}"))
        for prefix, pair in _table(data, "ec2_ids", source).items()
        if isinstance(pair, list) and len(pair) == 2
    }
    if len(ec2_ids) != len(_table(data, "ec2_ids", source)):
        raise RuleError(f"{source}: [ec2_ids] entries must be `prefix = [KIND, pseudonym prefix]`")
    scanners = tuple(_scanner(entry, source) for entry in data.get("scanner", []))
    return RuleSet(rules, ec2_ids, scanners)


def fragments_of(text: str) -> dict[str, str]:
    """The `[fragments]` of a (built-in) rule file, expanded, for user files to use."""
    known: dict[str, str] = {}
    for name, value in tomllib.loads(text).get("fragments", {}).items():
        known[name] = _expand(value, known, name)
    return known


def _table(data: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise RuleError(f"{source}: [{name}] must be a table")
    return table


def _rule(raw: dict[str, Any], number: int, source: str, fragments: dict[str, str], builtin: bool) -> RuleSpec:
    kind = raw.get("kind")
    where = f"{source}: rule {number}" + (f" ({kind})" if isinstance(kind, str) and _KIND.fullmatch(kind) else "")
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(_RULE_KEYS))})")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise RuleError(f"{where}: `kind` must be UPPER_SNAKE_CASE (e.g. TICKET_ID)")
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise RuleError(f"{where}: `prefix` must be 1-16 lower-case letters and digits, starting with a letter")
    _str(raw.get("description", ""), f"{where}: `description`")
    keys = _strings(raw.get("keys", []), f"{where}: `keys`")
    for key in keys:
        if not _KEY_NAME.fullmatch(key):
            raise RuleError(
                f"{where}: key name {key!r} must be normalised: lower case, no `_`, `-` or `.` "
                "(`dbpassword` matches DB_PASSWORD, dbPassword and db-password); a leading `*` matches any key "
                "ending so"
            )
    flags = _strings(raw.get("flags", []), f"{where}: `flags`")
    for flag in flags:
        if not _FLAG.fullmatch(flag):
            raise RuleError(f"{where}: flag {flag!r} must look like `--some-flag`")
    value = raw.get("value")
    if value is not None:
        value = _regex(_str(value, f"{where}: `value`"), fragments, f"{where}: `value`")
    if (keys or flags) and value is None:
        raise RuleError(f"{where}: `keys`/`flags` need a `value` pattern (what to read after them)")
    if value is not None and not (keys or flags):
        raise RuleError(f"{where}: a `value` pattern needs `keys` or `flags` (the context that names it)")
    validate = _optional_str(raw.get("validate"), f"{where}: `validate`")
    raw_patterns = raw.get("pattern", [])
    if not isinstance(raw_patterns, list) or not all(isinstance(p, dict) for p in raw_patterns):
        raise RuleError(f"{where}: `pattern` must be [[rule.pattern]] tables")
    patterns = tuple(
        _pattern(pattern, f"{where} pattern {index}", fragments) for index, pattern in enumerate(raw_patterns, 1)
    )
    if value is None and not patterns and not builtin:  # (a built-in kind may come from scanners only)
        raise RuleError(f"{where}: a rule needs a `value` (with keys or flags) or at least one [[rule.pattern]]")
    return RuleSpec(kind, prefix, keys, flags, value, validate, patterns)


def _pattern(raw: dict[str, Any], where: str, fragments: dict[str, str]) -> PatternSpec:
    unknown = sorted(set(raw) - _PATTERN_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(_PATTERN_KEYS))})")
    if "regex" not in raw:
        raise RuleError(f"{where}: `regex` is required")
    regex = _regex(_str(raw["regex"], f"{where}: `regex`"), fragments, f"{where}: `regex`")
    if not re.compile(regex).groupindex:
        regex = f"(?P<v>{regex})"
    keywords = _strings(raw.get("keywords", []), f"{where}: `keywords`")
    for keyword in keywords:
        if not keyword or not keyword.isascii() or keyword != keyword.lower():
            raise RuleError(f"{where}: keyword {keyword!r} must be lower-case ASCII (it is found in any case)")
    start = _str(raw.get("start", "anywhere"), f"{where}: `start`")
    if start not in STARTS:
        raise RuleError(f"{where}: `start` must be one of {', '.join(STARTS)}")
    if start == "keyword" and not keywords:
        raise RuleError(f"{where}: `start = \"keyword\"` needs `keywords`")
    anchor = _strings(raw.get("anchor", []), f"{where}: `anchor`")
    if start == "anchor" and not anchor:
        raise RuleError(f"{where}: `start = \"anchor\"` needs `anchor`")
    validate = _optional_str(raw.get("validate"), f"{where}: `validate`")
    return PatternSpec(regex, keywords, start, anchor, validate)


def _scanner(raw: Any, source: str) -> ScannerSpec:
    if not isinstance(raw, dict) or set(raw) - _SCANNER_KEYS or "name" not in raw:
        raise RuleError(f"{source}: [[scanner]] tables hold name, kinds, anchor and description")
    name = _str(raw["name"], f"{source}: scanner name")
    return ScannerSpec(
        name,
        _strings(raw.get("kinds", []), f"{source}: scanner {name} `kinds`"),
        _strings(raw.get("anchor", []), f"{source}: scanner {name} `anchor`"),
    )


def _regex(value: str, fragments: dict[str, str], where: str) -> str:
    regex = _expand(value, fragments, where)
    try:
        re.compile(regex)
    except re.error as exc:
        raise RuleError(f"{where}: does not compile ({exc.msg} at position {exc.pos})") from None
    return regex


def _expand(value: str, fragments: dict[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fragments:
            raise RuleError(f"{where}: unknown fragment ${{{name}}}")
        return fragments[name]

    return _FRAGMENT.sub(one, value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{where} must be a string")
    return value


def _optional_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleError(f"{where} must be a list of strings")
    return tuple(value)
