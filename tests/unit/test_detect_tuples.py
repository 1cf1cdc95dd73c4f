"""The tuple paths of detection give exactly what the Span paths give: `resolve_spans` against a plain reference
(widen each span to whole words, sort, merge touching groups, the longest non-literal member names the kind), and
`Detector.finish_raw` (what pieces scanned in other processes are finished with) against `Detector.finish`."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from mktests import awsgen

from maskkit.core.plan import LITERAL
from maskkit.detect.detector import Detector, resolve_spans
from maskkit.types import Span

TEXT = st.text(alphabet="ab9_-. :/\n", min_size=1, max_size=120)
KINDS = st.sampled_from(["S3_BUCKET", "ACCOUNT_ID", "PASSWORD", LITERAL])
WORD = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@st.composite
def spans(draw: st.DrawFn, text: str, max_size: int = 40) -> list[Span]:
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 12)))
        out.append(Span(start, end, draw(KINDS)))
    return out


def reference_resolve(text: str, spans: list[Span]) -> list[Span]:
    """The obvious way: widen, stable sort by (start, longest first), merge while touching."""
    widened = []
    for position, span in enumerate(spans):
        start, end = span.start, span.end
        while start > 0 and text[start - 1] in WORD:
            start -= 1
        while end < len(text) and text[end] in WORD:
            end += 1
        widened.append((start, end, position, span))
    widened.sort(key=lambda item: (item[0], -item[1], item[2]))
    out: list[Span] = []
    group: list[tuple[int, int, int, Span]] = []
    for item in widened:
        if group and item[0] <= max(member[1] for member in group):
            group.append(item)
            continue
        if group:
            out.append(_merged(group))
        group = [item]
    if group:
        out.append(_merged(group))
    return out


def _merged(group: list[tuple[int, int, int, Span]]) -> Span:
    best = group[0][3]
    for _, _, _, span in group[1:]:
        if (span.kind != LITERAL, span.end - span.start) > (best.kind != LITERAL, best.end - best.start):
            best = span
    return Span(group[0][0], max(member[1] for member in group), best.kind)


@settings(max_examples=500)
@given(st.data())
def test_resolving_spans_is_the_plain_widen_sort_and_merge(data: st.DataObject) -> None:
    text = data.draw(TEXT)
    found = data.draw(spans(text))
    assert resolve_spans(text, found) == reference_resolve(text, found)


@settings(max_examples=300)
@given(st.data())
def test_finishing_tuples_is_finishing_spans(data: st.DataObject) -> None:
    text = data.draw(TEXT)
    found = [span for span in data.draw(spans(text)) if span.kind != LITERAL]
    literals = [span for span in data.draw(spans(text, 5)) if span.kind == LITERAL]
    expected = Detector().finish(text, found, literals, spread=False)
    as_tuples = [(span.start, span.end, span.kind) for span in found]
    literal_tuples = [(span.start, span.end, span.kind) for span in literals]
    assert Detector.finish_raw(text, as_tuples, literal_tuples) == expected


def test_a_generated_corpus_finishes_the_same_from_tuples() -> None:
    text = "\n\n".join(doc.text for doc in awsgen.generate_corpus(random.Random(5), 200_000))
    detector = Detector()
    scanned, literals = detector.scan(text), detector.literals(text)
    expected = detector.finish(text, scanned, literals, spread=False)
    assert len(expected) > 500
    assert len({span.kind for span in expected}) > 10
    raw = Detector.finish_raw(
        text, [(s.start, s.end, s.kind) for s in scanned], [(s.start, s.end, s.kind) for s in literals]
    )
    assert raw == expected
