"""What a plan adds to the recall index before its recall pass (`_fresh`, each (kind, original) once) leaves the
index exactly as adding every detected span's original in order did, whatever repeats, kinds, refusals (short
names, literals) and originals known before; and `remember_many` records what `remember` records."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit.core.plan import LITERAL, NamespaceRecall, _fresh
from maskkit.core.recall import RecallIndex
from maskkit.types import Span

ORIGINALS = ["billing-pg-7", "acme-logs-7731", "ann", "default", "410295837716", "x9-y8-z7-w6", "us-west-2"]
TEXT = " ".join(ORIGINALS) + " " + " ".join(ORIGINALS[::-1])
KINDS = st.sampled_from(["S3_BUCKET", "RDS_INSTANCE", "ACCOUNT_ID", "PASSWORD", LITERAL])


def _occurrences() -> list[tuple[int, int]]:
    out = []
    for original in ORIGINALS:
        start = TEXT.find(original)
        while start != -1:
            out.append((start, start + len(original)))
            start = TEXT.find(original, start + 1)
    return out


SPANS = st.lists(st.tuples(st.sampled_from(_occurrences()), KINDS), max_size=30)


def _reference(index: RecallIndex, detected: list[tuple[str, list[Span]]]) -> list[tuple[str, str, str]]:
    """The plan's list before `_fresh`: one entry per span, in order."""
    return [
        (span.kind, text[span.start : span.end], "")
        for text, spans in detected
        for span in spans
        if span.kind != LITERAL and index.get(text[span.start : span.end]) is None
    ]


def _state(index: RecallIndex) -> tuple[object, ...]:
    return (
        index.version,
        index.changed_at,
        tuple(index.get(original) for original in ORIGINALS),
        tuple(map(tuple, index.find_raw_many([TEXT, "x " + TEXT]))),
    )


@settings(max_examples=400)
@given(SPANS, SPANS, st.lists(st.tuples(st.sampled_from(ORIGINALS), KINDS), max_size=4))
def test_fresh_originals_leave_the_index_as_one_entry_per_span_did(
    first: list[tuple[tuple[int, int], str]],
    second: list[tuple[tuple[int, int], str]],
    known: list[tuple[str, str]],
) -> None:
    detected = [
        (TEXT, [Span(start, end, kind) for (start, end), kind in first]),
        ("x " + TEXT, [Span(start + 2, end + 2, kind) for (start, end), kind in second]),
    ]
    ours, theirs = RecallIndex(), RecallIndex()
    for index in (ours, theirs):
        index.add_many((kind, original, "p-001") for original, kind in known if kind != LITERAL)
    added_ours = ours.add_many(_fresh(ours, detected))
    added_theirs = theirs.add_many(_reference(theirs, detected))
    assert added_ours == added_theirs
    assert _state(ours) == _state(theirs)


def test_one_original_under_two_kinds_keeps_every_entry_in_order() -> None:
    spans = [Span(0, 12, "S3_BUCKET"), Span(0, 12, "RDS_INSTANCE"), Span(0, 12, "S3_BUCKET")]
    index = RecallIndex()
    assert _fresh(index, [(TEXT, spans)]) == [
        ("S3_BUCKET", "billing-pg-7", ""),
        ("RDS_INSTANCE", "billing-pg-7", ""),
        ("S3_BUCKET", "billing-pg-7", ""),
    ]
    assert _fresh(index, [(TEXT, spans[::2])]) == [("S3_BUCKET", "billing-pg-7", "")]


def test_remembering_many_is_remembering_each() -> None:
    entries = [("S3_BUCKET", "acme-logs-7731", "s3-001"), ("ACCOUNT_ID", "410295837716", "acct-001")]
    many, each = NamespaceRecall(), NamespaceRecall()
    many.remember_many(entries)
    for kind, original, pseudonym in entries:
        each.remember((kind, original), pseudonym)
    assert many.known == each.known
    assert many.known == {("S3_BUCKET", "acme-logs-7731"): "s3-001", ("ACCOUNT_ID", "410295837716"): "acct-001"}
    assert many.item_of == each.item_of
