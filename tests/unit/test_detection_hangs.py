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
