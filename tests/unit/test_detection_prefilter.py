"""The fast paths of detection find exactly what the slow, obvious regexes find.

Rules that would try every position run only where a match can start (a keyword, a base64 run, a digit run,
a listing line); IPv6 candidates, bare 12-digit numbers, headless PEM bodies and list/block ends are found from
byte maps of the text. Each is compared here with the plain `finditer` of its own regex, on the generated AWS
corpus and on hypothesis text made of the fragments that each fast path keys on (keywords in odd cases, runs of
digits and base64, escapes, characters that fold to ASCII letters under IGNORECASE)."""

from __future__ import annotations

import copy
import pickle
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mktests import awsgen

from maskkit.detect import detector as detectors
from maskkit.detect._view import TextView
from maskkit.detect.detector import PATTERNS, Detector, resolve_spans
from maskkit.types import Span

_FRAGMENTS = [
    "account ",
    "ACCOUNT",
    "Accounts: ",
    "aCcOuNt is ",
    "\u017fecret",
    "\u212a",
    "secret_key = ",
    "SECRET=",
    "AQoDYXdz",
    "FQoDYXdz",
    "aqodyxdz",
    "fleet-",
    "sfr-",
    "FLEET-",
    "0123abcd-0123-4567-89ab-0123456789ab",
    "123456789012",
    "1234-5678-9012",
    "2024-01-02 17:01:13 ",
    "\n",
    "\r\n",
    '"',
    "'",
    " ",
    "\\/",
    "%2F",
    "%2b",
    "%",
    "\\",
    "=",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "wJalrXUtnFEMI\\/K7MDENG\\/bPxRfiCYEXAMPLEKEY",
    "Ab1+" * 12,
    "MII" + "Ab1+" * 20,
    "-----BEGIN PRIVATE KEY-----",
    "2001:db8::",
    "2600:1f18:",
    "fe80::1",
    "2600",
    "abcd:",
    "::1f18:",
    "::",
    ":",
    ".",
    "abc",
    "x.s3.us-east-1.amazonaws.com/",
    "db1.c9akciq32.eu-west-1.rds.amazonaws.com",
    ".on.aws",
    "amazon.com",
    "-",
    "Z",
    "\u00e9",
    "[",
    "]",
    "{",
    "}",
    "=>",
    ":=",
    "\t",
    "_",
    "9",
    "Name",
    "Buckets",
    "aws_secret_access_key",
    "--bucket ",
    "--query ",
    "https://console.aws.amazon.com/s3/buckets/",
    "console.aws.amazon.com/lambda/home#/functions/",
    "abcdefghij.execute-api.",
    "sqs.us-east-1.amazonaws.com/123456789012/q",
    "queue.amazonaws.com/",
    "d111111abcdef8.cloudfront.net",
    "ec2-1-2-3-4.compute-1.amazonaws.com",
    "my-lb-1234567890.us-east-1.elb.amazonaws.com",
    "ec2-001",
    "\u2011",
    "AWSLogs/",
    "s3://",
    "s3a://",
    "db-",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "mk-",
    "mysql -u a -p",
    "/hostedzone/Z123456789ABC",
    "distribution/E123456789ABC",
    "_CloudTrail_",
    "arn%3Aaws%3Aiam%3A%3A",
    "oJb3JpZ2lu",
]
texts = st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=40).map("".join)


def _corpus() -> list[str]:
    docs = awsgen.generate_documents(random.Random(5), 40)
    return [doc.text for doc in docs] + ["\n\n".join(doc.text for doc in docs)]


CORPUS = _corpus()


def _check_patterns(text: str) -> None:
    # A short text is searched the plain way; padded past `_SHORT_TEXT`, the same text takes the fast paths.
    finder = Detector()._finder
    for version in (text, text + " " * detectors._SHORT_TEXT, " " * detectors._SHORT_TEXT + text):
        # (With the detector's literal finder, anchors and their positions come from one automaton pass.)
        for view in (TextView(version), TextView(version, finder)):
            for pattern in PATTERNS:
                assert list(pattern.find(view)) == list(pattern.spans(version)), pattern.regex
        view = TextView(version, finder)
        for literal in finder.literals:
            plain = [m.start() for m in re.finditer(f"(?={re.escape(literal)})", version)]
            assert view.positions(literal) == plain and TextView(version).positions(literal) == plain, literal


def _plain_ipv6(text: str) -> list[Span]:
    return [
        Span(m.start(), m.end(), "PUBLIC_IP")
        for m in detectors._IPV6.finditer(text)
        if m.group().count(":") >= 3 and len(m.group()) >= 8 and detectors._is_ip(m.group())
    ]


_PLAIN_TWELVE = re.compile(r"[0-9]{4}(-?)[0-9]{4}\1[0-9]{4}")


def _plain_bare_starts(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _PLAIN_TWELVE.finditer(text)]


def _plain_block_end(text: str, brace: int, open_char: str = "{", close_char: str = "}") -> int:
    depth, index, end, in_string = 0, brace, min(len(text), brace + 65536), False
    while index < end:
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char in '"\n':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == open_char:
            depth += 1
        elif char == close_char:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return end


def _plain_hosts(text: str) -> list[Span]:
    """`_host_spans` with the host's start found one character at a time."""
    out: list[Span] = []
    done: set[int] = set()
    for literal, suffix in detectors._HOST_SUFFIXES:
        for match in suffix.finditer(text) if literal in text else ():
            start = end = match.start()
            while start > 0 and end - start < 300 and text[start - 1] in detectors._HOST_CHARS:
                start -= 1
            if start in done:
                continue
            done.add(start)
            matched = False
            for rule in detectors.HOST_RULES:
                found = rule.match(text, start)
                if found is not None:
                    matched = True
                    out += detectors._group_spans(found, "HOSTNAME", None)
            if not matched and literal != "cloudfront.net" and text.startswith(("amazonaws.com", "on.aws"), end):
                out += detectors._customer_host_spans(text, start, end)
    return out


def _plain_field_spans(detector: Detector, text: str) -> list[Span]:
    """`Detector._field_spans` with every key found by `_KEY_VALUE.finditer` (tried at every position)."""
    out: list[Span] = []
    queries = detectors._query_ranges(text) if "--query" in text else []
    for match in detectors._KEY_VALUE.finditer(text):
        key = match.group(1)
        rules = detector._rules_for_key(key)
        if not rules and key[-1:] not in "sS":
            continue
        pos = match.end()
        if pos < len(text) and text[pos] == "[":
            out += detectors._list_spans(text, pos, rules or detector._rules_for_key(key[:-1]))
            continue
        if not rules or (queries and detectors._inside(queries, pos)):
            continue
        for rule in rules:
            span = rule.value_span(text, pos)
            if span is not None:
                if text[span.start : span.end] != key:
                    out.append(span)
                break
    for pattern, lookup in (
        (detectors._FLAG, detector._rules_for_flag),
        (detectors._CONFIGURE_SET, detector._rules_for_key),
    ):
        for match in pattern.finditer(text):
            for rule in lookup(match.group(1)):
                span = rule.value_span(text, match.end())
                if span is not None:
                    out.append(span)
                    break
    return out


_DETECTOR = Detector()


def _plain_not_a_timestamp(value: str) -> bool:
    year, month, day, hour, minute = (int(value[i : i + n]) for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2)))
    return not (1970 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59)


def _plain_bare_accounts(text: str) -> list[Span]:
    """`_bare_account_spans` with the plain twelve-digit regex, the word before found by `_WORD_BEFORE.search`
    and the timestamp test parsing every number."""
    out = []
    alnum = detectors._ALNUM
    for match in _PLAIN_TWELVE.finditer(text):
        start, end = match.span()
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if before in alnum or before in ".+" or after in alnum:
            continue
        if before == "-" and (match.group(1) or (start > 1 and text[start - 2] in alnum)):
            continue
        if after in ".-" and end + 1 < len(text) and text[end + 1] in detectors._DIGITS:
            continue
        if not _plain_not_a_timestamp(text[start:end].replace("-", "")):
            continue
        word = detectors._WORD_BEFORE.search(text, max(0, start - 40), start)
        if word is not None and detectors._is_quantity_word(word.group(1)):
            continue
        out.append(Span(start, end, "ACCOUNT_ID"))
    return out


def _check_literal_finder(text: str) -> None:
    finder = _DETECTOR._finder
    view = TextView(text, finder)
    lower = text.encode("ascii", "replace").lower()
    assert finder.literals and finder.keywords
    for literal in finder.literals:
        assert view.has(literal) == (literal in text), literal
    for keyword in finder.keywords:
        assert view.has_keyword(keyword) == (keyword.encode() in lower), keyword
    assert view.has("\u00e9t\u00e9") == ("\u00e9t\u00e9" in text)  # (not in the finder: searched for)


def _check_scanners(text: str) -> None:
    _check_literal_finder(text)
    view = TextView(text)
    for rule, needles in zip(detectors.HOST_RULES, detectors._HOST_RULE_NEEDLES, strict=True):
        for start in range(len(text)):
            found = rule.match(text, start)
            assert found is None or not needles or any(n in found.group() for n in needles), rule.pattern
    literals = [(s.start, s.end) for s in _DETECTOR._literal_spans(text)]
    assert sorted(literals) == [m.span() for m in _DETECTOR.grammar.finditer(text)]
    assert detectors._key_spans(view.ascii) == [m.span(1) for m in detectors._KEY_VALUE.finditer(text)]
    assert list(_DETECTOR._field_spans(text, view)) == _plain_field_spans(_DETECTOR, text)
    assert list(detectors._host_spans(text)) == _plain_hosts(text)
    assert list(detectors._ipv6_spans(view, detectors._is_ip)) == _plain_ipv6(text)
    assert [m.span() for m in detectors._TWELVE_MAPPED.finditer(view.digits)] == _plain_bare_starts(text)
    assert list(detectors._bare_account_spans(view)) == _plain_bare_accounts(text)
    headless = [m.span() for m in detectors._HEADLESS_PEM.finditer(text)]
    plain_headless = [(s.start, s.end) for s in detectors._headless_pem_spans(view)]
    assert set(plain_headless) <= set(headless)
    assert len(plain_headless) == sum(1 for s, _ in headless if not _after_begin_line(text, s))
    for brace in [i for i, c in enumerate(text) if c in "{["][:20]:
        pair = ("{", "}") if text[brace] == "{" else ("[", "]")
        assert detectors._block_end(text, brace, 65536, *pair) == _plain_block_end(text, brace, *pair)


def _after_begin_line(text: str, start: int) -> bool:
    before = text[max(0, start - 80) : start].rstrip()
    while before.endswith(("\\n", "\\r")):
        before = before[:-2].rstrip()
    return before.endswith("-----")


def test_every_fast_rule_finds_what_its_regex_finds_on_the_generated_corpus() -> None:
    for text in CORPUS:
        _check_patterns(text)
        _check_scanners(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_every_fast_rule_finds_what_its_regex_finds_on_odd_text(text: str) -> None:
    _check_patterns(text)
    _check_scanners(text)


def test_a_keyword_rule_still_finds_a_keyword_written_with_a_character_that_folds_to_ascii() -> None:
    """`ſecret` matches `(?i:secret)` in Python's `re`; the keyword view cannot see it, so such a text takes the
    slow path and the wrapped secret is still found."""
    text = "\u017fecret_key = wJalrXUtnFEMI/K7MDENG/bPxRf\n   iCYEXAMPLEKEY\n"
    found = [(s.kind, text[s.start : s.end]) for s in Detector().detect(text)]
    assert ("SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRf\n   iCYEXAMPLEKEY") in found


def _plain_resolve(text: str, spans: list[Span]) -> list[Span]:
    word = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
    widened = []
    for span in spans:
        start, end = span.start, span.end
        while start > 0 and text[start - 1] in word:
            start -= 1
        while end < len(text) and text[end] in word:
            end += 1
        widened.append((start, end, span))
    widened.sort(key=lambda item: (item[0], -item[1]))
    out: list[Span] = []
    group_start, group_end, best = widened[0]
    for start, end, span in widened[1:]:
        if start <= group_end:
            group_end = max(group_end, end)
            if (span.kind != "PSEUDONYM_LITERAL", span.end - span.start) > (
                best.kind != "PSEUDONYM_LITERAL",
                best.end - best.start,
            ):
                best = span
            continue
        out.append(Span(group_start, group_end, best.kind))
        group_start, group_end, best = start, end, span
    out.append(Span(group_start, group_end, best.kind))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab_ .-", min_size=1, max_size=40),
    st.lists(
        st.tuples(st.integers(0, 39), st.integers(1, 8), st.sampled_from(["A", "B", "PSEUDONYM_LITERAL"])),
        min_size=1,
        max_size=12,
    ),
)
def test_resolving_spans_widens_and_merges_like_the_plain_algorithm(text: str, raw: list[tuple[int, int, str]]) -> None:
    spans = [Span(s, min(s + n, len(text)), k) for s, n, k in raw if s < len(text)]
    if spans:
        assert resolve_spans(text, spans) == _plain_resolve(text, spans)


def test_resolving_the_corpus_spans_matches_the_plain_algorithm() -> None:
    for text in CORPUS:
        spans = _DETECTOR.scan(text) + _DETECTOR.literals(text)
        assert resolve_spans(text, spans) == _plain_resolve(text, spans)


def test_ipv6_candidates_are_found_in_every_written_form() -> None:
    for address in ("::abcd:2600", "2001:db8::1", "fe80::1:2:3", "2600:1f18:abcd::1", "a::b:c:d", "1:2:3:4:5:6:7:8"):
        for text in (address, f"ip {address} up", f"[{address}]:443", f"x{address}", f"{address}.x"):
            _check_scanners(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aZ\u00e9 \t\n:=#-_.09", max_size=60))
def test_the_word_before_a_number_is_read_backwards_like_the_plain_search(text: str) -> None:
    for start in range(len(text) + 1):
        plain = detectors._WORD_BEFORE.search(text, max(0, start - 40), start)
        assert detectors._word_before(text, start) == (None if plain is None else plain.group(1))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9]{12}", fullmatch=True),
        st.from_regex(r"(19|20|21)[0-9]{10}", fullmatch=True),
        st.integers(-(10**11), 10**12).map(str).filter(lambda v: len(v) == 12),
    )
)
def test_the_timestamp_test_decides_like_parsing_every_number(value: str) -> None:
    assert detectors._not_a_timestamp(value) == _plain_not_a_timestamp(value)


def test_a_quantity_word_on_the_line_before_still_counts() -> None:
    """`$` in `_WORD_BEFORE` also matches before a newline that ends the window: a number starting a line is read
    after the word ending the line before (kept as it was)."""
    text = "Size\n123456789012 and order:\n\n210987654321"
    assert detectors._word_before(text, 5) == "Size"
    assert detectors._word_before(text, text.index("2109")) is None
    assert list(detectors._bare_account_spans(TextView(text))) == _plain_bare_accounts(text)


def test_a_detector_survives_pickling_and_deep_copies_with_its_literal_finder() -> None:
    text = CORPUS[-1]
    for copied in (pickle.loads(pickle.dumps(_DETECTOR)), copy.deepcopy(_DETECTOR)):
        assert copied._finder.literals == _DETECTOR._finder.literals
        assert copied.detect(text) == _DETECTOR.detect(text)
