"""`encoded_runs` finds its runs from byte maps of the text; here it is compared with the plain way: one regex
finditer for base64-alphabet runs (with a lookbehind, tried at every position) and, inside each, one for hex runs.
On the generated AWS corpus and on hypothesis text built from what the fast path keys on (runs near 16
characters, both base64 alphabets, `=` padding, hex, percent escapes, non-ASCII and lone surrogates)."""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Iterator
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st
from mktests import awsgen

from maskkit.core import encoded
from maskkit.core.encoded import MAX_RUN, encoded_runs

_PLAIN_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{16}[A-Za-z0-9+/_=-]*+")
_PLAIN_HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{16}[0-9a-fA-F]*+")
_EDGE = frozenset(" \t\r\n\"'<>")


def _plain_encoded_runs(text: str) -> Iterator[tuple[int, int, str]]:
    """The encoded runs, found the slow, obvious way (what `encoded_runs` did before its byte maps)."""
    if len(text) < 16:
        return
    for match in _PLAIN_BASE64.finditer(text):
        start, end = match.span()
        run = match.group()
        if end - start <= MAX_RUN:
            decoded = encoded._base64(run)
            if decoded is not None:
                yield start, end, decoded
        for inner in _PLAIN_HEX.finditer(run):
            if inner.end() - inner.start() <= MAX_RUN:
                decoded = encoded._hex(inner.group())
                if decoded is not None:
                    yield start + inner.start(), start + inner.end(), decoded
    if "%" in text:
        end = 0
        for match in re.finditer(r"%[0-9A-Fa-f]{2}", text):
            if match.start() < end:
                continue
            start = match.start()
            while start > 0 and text[start - 1] not in _EDGE and match.start() - start < MAX_RUN:
                start -= 1
            end = match.end()
            while end < len(text) and text[end] not in _EDGE and end - start < MAX_RUN:
                end += 1
            run = text[start:end]
            decoded = unquote(run.replace("+", " "))
            if decoded != run:
                yield start, end, decoded


def _plain_lead_test(body: str) -> bool:
    return all(c in "CDIJKLMNOPQRSTUVWXYZabcdef" for c in body[::4])


_SECRET = "acme-payroll-archive Xk9mQ2vLp8Rw4z"
_FRAGMENTS = [
    base64.b64encode(_SECRET.encode()).decode(),
    base64.urlsafe_b64encode(b"\xfb\xff" + _SECRET.encode()).decode(),
    _SECRET.encode().hex(),
    _SECRET.encode().hex().upper(),
    "9f86d081884c7d659a2feaa0c55ad015",
    "0123456789abcde",
    "0123456789abcdef",
    "i-0123456789abcdef0",
    "YWJj",
    "ZGVm",
    "QUJD",
    "=",
    "==",
    "-",
    "_",
    "+",
    "/",
    "%2F",
    "%41",
    "%",
    " ",
    "\n",
    '"',
    "<",
    "\u00e9",
    "\udc80",
    "\U0001f600",
    "abcdefghijklmnop",
    "x",
]
texts = st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=30).map("".join)


def test_encoded_runs_on_the_corpus_match_the_plain_regexes() -> None:
    docs = awsgen.generate_documents(random.Random(13), 60)
    for text in [doc.text for doc in docs] + ["\n\n".join(doc.text for doc in docs)]:
        assert list(encoded_runs(text)) == list(_plain_encoded_runs(text))


@settings(max_examples=400, deadline=None)
@given(texts)
def test_encoded_runs_match_the_plain_regexes(text: str) -> None:
    assert list(encoded_runs(text)) == list(_plain_encoded_runs(text))


def test_a_run_at_either_end_of_the_text_is_found() -> None:
    run = base64.b64encode(_SECRET.encode()).decode()
    for text in (run, run + " tail", "head " + run, "\u00e9" + run + "\u00e9"):
        assert [plain for _, _, plain in encoded_runs(text)] == [_SECRET]
        assert list(encoded_runs(text)) == list(_plain_encoded_runs(text))


@given(st.text(alphabet="ABCDIJKabcdef0189+/-_=xyz", max_size=24))
def test_the_lead_test_keeps_its_meaning(body: str) -> None:
    assert (not body[::4].strip(encoded._PRINTABLE_LEAD)) == _plain_lead_test(body)


_ATOMS = st.sampled_from(["bucket-1", "i-0abc", "pw", "", "x", "-", "\0", "\udc80", "é", "i-0abcd", "ucket"])


@given(
    st.lists(st.lists(_ATOMS, max_size=6).map("".join), max_size=8),
    st.lists(st.sampled_from(["bucket-1", "i-0abc", "i-0abcd", "pw", "é", "ucket-", "x-x"]), max_size=5),
)
def test_runs_holding_a_value_are_the_runs_in_which_it_occurs(plains: list[str], originals: list[str]) -> None:
    """One search over all the runs answers what `original in plain` per pair would (which grows with runs x
    values: thousands of each in one request stalled the proxy for over a second)."""
    expected = {at for at, plain in enumerate(plains) if any(original in plain for original in originals)}
    assert encoded.runs_holding(plains, originals) == expected


def test_runs_holding_many_values_in_many_runs() -> None:
    plains = [f"user={n:05d} token=t{n:05d}" for n in range(3000)]
    originals = [f"t{n:05d}" for n in range(0, 6000, 7)]
    assert encoded.runs_holding(plains, originals) == {n for n in range(3000) if n % 7 == 0}
