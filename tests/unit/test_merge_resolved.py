"""`merge_resolved` is `resolve_spans` of already-resolved spans plus a few more, done locally: same spans and
kinds, whatever the overlaps, touches, word-widening and kinds (a PSEUDONYM_LITERAL loses to any other kind)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit.core.plan import LITERAL, merge_resolved
from maskkit.detect.detector import resolve_spans
from maskkit.types import Span

TEXT = st.text(alphabet="ab-_ .:/9", min_size=1, max_size=120)
KINDS = st.sampled_from(["S3_BUCKET", "ACCOUNT_ID", "PASSWORD", LITERAL])


@st.composite
def spans(draw: st.DrawFn, text: str, max_size: int) -> list[Span]:
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 12)))
        out.append(Span(start, end, draw(KINDS)))
    return out


@settings(max_examples=400)
@given(st.data())
def test_merging_a_few_spans_into_resolved_ones_is_resolving_them_all(data: st.DataObject) -> None:
    text = data.draw(TEXT)
    base = resolve_spans(text, data.draw(spans(text, 60)))
    extra = data.draw(spans(text, 6))
    expected = resolve_spans(text, [*base, *extra])
    assert merge_resolved(text, base, extra, resolve_spans, ratio=0) == expected  # always the local merge
    assert merge_resolved(text, base, extra, resolve_spans) == expected


def test_a_few_spans_join_a_long_list_without_touching_the_rest() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    base = resolve_spans(text, [Span(m, m + 4, "S3_BUCKET") for m in range(0, len(text) - 4, 7)])
    extra = [Span(10, 30, "PASSWORD"), Span(2000, 2003, LITERAL), Span(len(text) - 2, len(text), "ACCOUNT_ID")]
    merged = merge_resolved(text, base, extra, resolve_spans)
    assert merged == resolve_spans(text, [*base, *extra])
    assert merged[-20:-2] == base[-20:-2]


def test_spans_that_only_touch_are_merged_as_resolve_merges_them() -> None:
    text = "aa. .bb cc"
    base = resolve_spans(text, [Span(3, 7, "S3_BUCKET"), Span(8, 10, "ACCOUNT_ID")])
    for extra in ([Span(0, 3, "PASSWORD")], [Span(7, 8, LITERAL)], [Span(0, 3, LITERAL), Span(7, 8, "PASSWORD")]):
        expected = resolve_spans(text, [*base, *extra])
        assert merge_resolved(text, base, extra, resolve_spans, ratio=0) == expected
