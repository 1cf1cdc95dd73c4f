"""Detection must never hang: regexes over attacker-controlled text are a denial-of-service surface (a nested
quantifier once took 40 s on an 80-character string). Hypothesis' per-example deadline here is a hang detector,
set far above any honest run, not a speed assertion; speed lives in bench/."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mktests.purehelpers import examples

from maskkit.detect.detector import Detector

DETECTOR = Detector()

# Fragments that push each kind of rule to its limits: long runs of the characters its quantifiers accept.
_RUNS = [
    "A" * 60,
    "a" * 60,
    "0" * 60,
    "Ab1" * 20,
    "+/" * 30,
    "=" * 20,
    "-" * 30,
    ".",
    ":",
    "/",
    "@",
    "arn:aws:",
    "s3://",
    "AKIA",
    "i-",
    "sg-",
    "password=",
    "aws_secret_access_key=",
    "-----BEGIN PRIVATE KEY-----",
    "ec2-",
    "001",
    "\\n",
    "\\u00e9",
    "IQoJb3JpZ2lu",
    "amazonaws.com",
    ".s3.",
    "rds.",
    "elb.",
    "Z",
    "E",
]
hostile = st.lists(st.sampled_from(_RUNS), min_size=1, max_size=40).map("".join)


@settings(max_examples=examples(150), deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_detection_of_hostile_text_finishes(text: str) -> None:
    DETECTOR.detect(text)


@settings(max_examples=examples(25), deadline=20_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_RUNS), min_size=50, max_size=200).map("".join))
def test_detection_of_long_hostile_text_finishes(text: str) -> None:
    DETECTOR.detect(text * 5)


_CHUNKS = ["AKIA", "EXAMPLE", "ec", "abcdef", "0", "12", "Ab", "xyz", "Q", "77", "Word", "KEY"]


@settings(max_examples=examples(100), deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_CHUNKS), min_size=10, max_size=30).map("".join))
def test_a_bare_40_character_candidate_is_judged_quickly(chunks: str) -> None:
    """The bare secret-key rule judges every 40-character base64 run; its word test must be linear."""
    DETECTOR.detect(" " + (chunks * 3)[:40] + " ")


@settings(max_examples=5, deadline=20_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["\\/", "%2F", "1:", "ab:", "::", "Ab1\\/", "x%2b"]))
def test_a_megabyte_run_full_of_escapes_or_colons_is_scanned_in_one_pass(unit: str) -> None:
    """The fast paths find the start of the run around every escape or colon; a run made only of them must
    cost one pass, not one pass per hit."""
    DETECTOR.detect(unit * (1_000_000 // len(unit)))


_OPENINGS = [
    "secret",
    "Secret_",
    "Buckets: [",
    'Buckets: ["Name": "abc-def"',
    "-----BEGIN PRIVATE KEY-----",
    "amazonaws.com",
    "a.on.aws",
    "d111111abcdef8.cloudfront.net",
    'resource "aws_s3_bucket" "b" {\n',
    'resource "aws_iam_role" "r" {\n  name = "app-role"\n',
]


@settings(max_examples=12, deadline=20_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_OPENINGS))
def test_a_long_repetition_of_a_rule_opening_costs_one_pass(unit: str) -> None:
    """Each repetition opens a rule (a secret name, a bucket list, a PEM key) that never completes; reading one
    must not re-read all the text after it."""
    DETECTOR.detect(unit * (400_000 // len(unit)))


@settings(max_examples=20, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(20, 140),
    st.sampled_from(["-a", "-0", ".a-", "-a-"]),
    st.sampled_from([".amazon.com", "!", ".amazonaws.co"]),
)
def test_an_s3_host_with_many_dashed_labels_is_judged_quickly(count: int, label: str, end: str) -> None:
    """`bucket.s3-a-a-a….amazon.com`: a label group that could split `-a-a-a` every way took 2^n steps."""
    DETECTOR.detect("bucket.s3" + label * count + end)
