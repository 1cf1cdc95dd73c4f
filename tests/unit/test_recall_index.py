"""The recall index, the masking plan and encoded runs: pure code, no vault (a dict stands in for the mapping)."""

from __future__ import annotations

import base64
import itertools
import re
import string
from urllib.parse import quote

from hypothesis import example, given, settings
from hypothesis import strategies as st
from mktests.purehelpers import examples

from maskkit.core.encoded import ENCODED_KIND, encoded_runs
from maskkit.core.messages import apply_spans, unmask_text
from maskkit.core.plan import NamespaceRecall, plan_mask
from maskkit.core.recall import RecallIndex
from maskkit.detect import Detector, resolve_spans
from maskkit.types import Span

DETECTOR = Detector()


def _found(index: RecallIndex, text: str, since: int = 0) -> list[str]:
    return [text[s.start : s.end] for s in index.find(text, since)]


def test_a_known_original_is_found_bare_in_any_text() -> None:
    index = RecallIndex()
    index.add("S3_BUCKET", "acme-payroll-archive", "s3-001")
    assert _found(index, "copy it to acme-payroll-archive, then (acme-payroll-archive)") == [
        "acme-payroll-archive",
        "acme-payroll-archive",
    ]


def test_a_name_inside_a_longer_word_is_another_word() -> None:
    index = RecallIndex()
    index.add("RDS_INSTANCE", "billing-pg-1", "rds-001")
    assert _found(index, "billing-pg-10 and xbilling-pg-1 differ from billing-pg-1.") == ["billing-pg-1"]


def test_a_secret_is_found_even_glued_to_other_text() -> None:
    index = RecallIndex()
    index.add("PASSWORD", "Xk9mQ2vLp8Rw4z", "pwd-001")
    assert _found(index, "pw=Xk9mQ2vLp8Rw4zEND") == ["Xk9mQ2vLp8Rw4z"]


def test_ordinary_words_regions_and_short_names_are_never_recalled() -> None:
    index = RecallIndex()
    for kind, original in [
        ("S3_BUCKET", "default"),
        ("RDS_INSTANCE", "admin"),
        ("IAM_USER", "Ann"),
        ("PSEUDONYM_LITERAL", "ec2-001"),
    ]:
        assert index.add(kind, original, "x-001") is False
    assert len(index) == 0
    assert index.find("default admin Ann ec2-001 us-west-2") == []


def test_searching_since_a_version_finds_only_what_was_learned_after() -> None:
    index = RecallIndex()
    index.add("S3_BUCKET", "old-bucket-1", "s3-001")
    version = index.version
    index.add("S3_BUCKET", "new-bucket-2", "s3-002")
    text = "old-bucket-1 new-bucket-2"
    assert _found(index, text, since=version) == ["new-bucket-2"]
    assert _found(index, text) == ["old-bucket-1", "new-bucket-2"]


def test_a_discarded_original_is_no_longer_found() -> None:
    index = RecallIndex()
    index.add("S3_BUCKET", "gone-bucket-9", "s3-001")
    index.discard("gone-bucket-9")
    assert index.find("gone-bucket-9") == []
    index.clear()
    assert len(index) == 0


def test_many_originals_are_found_in_one_pass_over_a_stack_of_automata() -> None:
    index = RecallIndex()
    names = [f"bucket-{i:06d}-x" for i in range(5000)]
    for start in range(0, len(names), 700):
        for name in names[start : start + 700]:
            index.add("S3_BUCKET", name, "s3-001")
        index.find("warm")  # builds an automaton for what was added
        index.maintain()  # (the async masker merges while it waits for the vault)
    text = " ".join(names[::97]) + " and bucket-999999-x"
    assert _found(index, text) == names[::97]
    assert len(index._levels) < 8, "automata were not merged"


_TOKEN_HEAD = "IQoJb3JpZ2luX2VjEOr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"  # what every STS session token starts with
_LONG = [_TOKEN_HEAD + tail for tail in ("AaaaBbbbCccc1", "AaaaBbbbCccc12", "ZzzzYyyyXxxx9")] + [
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ",
    "billing-archive-bucket-for-the-payroll-team-2026",
]


def _long_index() -> RecallIndex:
    """Long originals (several sharing their first 32 characters) among enough short ones that the index
    searches with an automaton, not `str.find`."""
    index = RecallIndex()
    for original in _LONG[:-1]:
        index.add("SESSION_TOKEN" if original.startswith("IQo") else "SECRET_ACCESS_KEY", original, "secret-001")
    index.add("S3_BUCKET", _LONG[-1], "s3-001")
    for i in range(300):
        index.add("S3_BUCKET", f"bucket-{i:06d}-x", "s3-002")
    return index


def _by_find(index: RecallIndex, text: str) -> list[tuple[int, int, str]]:
    """The same search with one `str.find` per original: the reference."""
    return index._keep(text, index._candidates(text, index._find_few(text, 0, index.version)))


def test_long_originals_are_found_whole_by_their_prefix() -> None:
    index = _long_index()
    text = (
        f"token={_LONG[1]}; old={_LONG[0]}, other {_LONG[2]}\n"
        f"half {_TOKEN_HEAD}AaaaBbbb and {_LONG[3][:35]} are not originals\n"
        f"key {_LONG[4]} in {_LONG[-1]} and {_LONG[-1]}s (another word) bucket-000007-x"
    )
    assert _found(index, text) == [_LONG[1], _LONG[0], _LONG[2], _LONG[4], _LONG[-1], "bucket-000007-x"]
    assert [(s.start, s.end, s.kind) for s in index.find(text)] == _by_find(index, text)


_PIECES = st.sampled_from(
    [*_LONG, *(o[:33] for o in _LONG), *(o[:-1] for o in _LONG), "bucket-000001-x", " ", "-", "x"]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_searching_by_prefix_finds_what_str_find_finds(text: str) -> None:
    index = _long_index()
    assert [(s.start, s.end, s.kind) for s in index.find(text)] == _by_find(index, text)


def test_text_with_a_lone_surrogate_is_searched() -> None:
    index = RecallIndex()
    index.add("S3_BUCKET", "acme-payroll-archive", "s3-001")
    names = [f"bucket-{i:06d}-x" for i in range(20)]
    for name in names:
        index.add("S3_BUCKET", name, "s3-001")
    assert _found(index, "\udc80 acme-payroll-archive") == ["acme-payroll-archive"]


def test_encoded_runs_are_decoded() -> None:
    plain = "acme-payroll-archive Xk9mQ2vLp8Rw4z"
    text = (
        f"b64 {base64.b64encode(plain.encode()).decode()} url {base64.urlsafe_b64encode(plain.encode()).decode()} "
        f"hex {plain.encode().hex()} pct {quote(plain, safe='')} sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c"
    )
    decoded = [plain_text for _, _, plain_text in encoded_runs(text)]
    assert decoded.count(plain) == 4
    assert all(plain in d or "acme" not in d for d in decoded)


def test_ordinary_text_has_no_encoded_runs_worth_reading() -> None:
    text = "deploy the service to us-west-2 with image 1234567890abcdef1234 and commit 9f86d081884c7d659a2f"
    assert list(encoded_runs(text)) == []


def _plan(texts: list[str], state: NamespaceRecall) -> tuple[list[str], dict[str, str]]:
    plan = plan_mask(texts, DETECTOR.detect, resolve_spans, state, decoded_runs=lambda t: list(encoded_runs(t)))
    numbers = itertools.count(1)
    mapping = {item: f"{DETECTOR.kinds[item[0]]}-{next(numbers):03d}" for item in plan.items}
    masked = [apply_spans(t, plan.spans[t], lambda k, o: mapping[(k, o)]) for t in texts]
    return masked, {p: o for (_, o), p in mapping.items()}


def test_a_value_detected_in_one_text_is_masked_in_every_text_of_the_request() -> None:
    state = NamespaceRecall()
    masked, _ = _plan(["aws s3 ls s3://team-reports-2024/", "the bucket team-reports-2024 is full"], state)
    assert "team-reports-2024" not in "".join(masked)


def test_a_text_planned_before_is_only_searched_for_what_was_learned_since() -> None:
    state = NamespaceRecall()
    state.index.add("S3_BUCKET", "team-reports-2024", "s3-001")
    text = "list team-reports-2024 and later-bucket-77"
    first = plan_mask([text], DETECTOR.detect, resolve_spans, state)
    assert first.items == [("S3_BUCKET", "team-reports-2024")]
    state.index.add("S3_BUCKET", "later-bucket-77", "s3-002")
    second = plan_mask([text], DETECTOR.detect, resolve_spans, state)
    assert second.items == [("S3_BUCKET", "team-reports-2024"), ("S3_BUCKET", "later-bucket-77")]
    state.index.discard("team-reports-2024")
    assert plan_mask([text], DETECTOR.detect, resolve_spans, state).items == [("S3_BUCKET", "later-bucket-77")]


def test_re_sent_texts_are_searched_together_for_what_was_learned_since() -> None:
    """A conversation's earlier turns, re-sent, are searched as one joined text for the values learned since;
    where one occurs (bare, or base64-encoded), that turn is masked; the others keep their plans."""
    import base64

    state = NamespaceRecall()
    turns = [
        "turn one: compare the payroll-exports-2024 bucket",
        "turn two: nothing here",
        f"turn three: {base64.b64encode(b'payroll-exports-2024').decode()}",
        "turn four: payroll-exports-2024x is another word",
    ]
    first, _ = _plan(turns, state)
    assert first == turns  # nothing known yet, nothing with context
    learned, _ = _plan([*turns, "aws s3 ls s3://payroll-exports-2024/"], state)
    assert "payroll-exports-2024" not in learned[0] and "payroll-exports-2024" not in learned[-1]
    assert learned[1] == turns[1] and learned[3] == turns[3]
    assert base64.b64encode(b"payroll-exports-2024").decode() not in learned[2]
    unrelated, _ = _plan([*turns, "aws s3 ls s3://other-bucket-9911/"], state)
    assert unrelated[:4] == learned[:4]  # a later value that occurs in none of them changes none of them


def test_an_encoded_run_holding_a_known_value_is_masked_whole() -> None:
    state = NamespaceRecall()
    state.index.add("PASSWORD", "Xk9mQ2vLp8Rw4z", "pwd-001")
    run = base64.b64encode(b"password=Xk9mQ2vLp8Rw4z\n").decode()
    plan = plan_mask([f"output: {run}"], DETECTOR.detect, resolve_spans, state,
                     decoded_runs=lambda t: list(encoded_runs(t)))
    assert plan.items == [(ENCODED_KIND, run)]


_ATOMS = st.sampled_from(
    [
        "acme-payroll-archive", "acme-payroll-archive-2", "xacme-payroll-archive", "payroll", "Xk9mQ2vLp8Rw4z",
        "Xk9mQ2vLp8Rw4", "s3-001", "S3-001", "lit-001", "us-west-2", "default", "410295837716", "4102958377160",
        " ", "\n", "/", ":", "=", "-", "_", "s3://", "arn:aws:s3:::", "\u2011", "é", "\udc80",
    ]
)


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.lists(_ATOMS, max_size=12).map("".join), min_size=1, max_size=4))
def test_round_trip_is_exact_with_recall_on(texts: list[str]) -> None:
    """Known originals, their substrings and superstrings, pseudonym-shaped literals: exact round trip."""
    state = NamespaceRecall()
    state.index.add("S3_BUCKET", "acme-payroll-archive", "s3-900")
    state.index.add("PASSWORD", "Xk9mQ2vLp8Rw4z", "pwd-900")
    state.index.add("ACCOUNT_ID", "410295837716", "acct-900")
    masked, reverse = _plan(texts, state)
    for original, text in zip(texts, masked, strict=True):
        assert unmask_text(text, reverse, DETECTOR.grammar) == original
        assert "Xk9mQ2vLp8Rw4z" not in text  # a secret, even glued to other text
        assert not re.search(r"(?<![A-Za-z0-9_])acme-payroll-archive(?![A-Za-z0-9_])", text)  # a name, as a word


@settings(max_examples=examples(100), deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + " -_./:", max_size=60))
def test_ordinary_words_and_regions_next_to_known_values_survive(noise: str) -> None:
    state = NamespaceRecall()
    state.index.add("S3_BUCKET", "acme-payroll-archive", "s3-900")
    text = f"in us-west-2 the default bucket is acme-payroll-archive; {noise}"
    masked, _ = _plan([text], state)
    assert masked[0].startswith("in us-west-2 the default bucket is ")
    assert "acme-payroll-archive" not in masked[0]


def test_a_plan_counts_recall_hits_by_kind_not_values_detection_found() -> None:
    state = NamespaceRecall()
    state.index.add("S3_BUCKET", "acme-payroll-archive-7731", "s3-001")  # known to the namespace
    text = "copy acme-payroll-archive-7731 to s3://fresh-bucket-0042/x, then acme-payroll-archive-7731 again"
    start = text.index("fresh-bucket-0042")

    def detect(t: str) -> list[Span]:  # detection finds the fresh bucket by its context, not the known one
        return [Span(start, start + len("fresh-bucket-0042"), "S3_BUCKET")] if t == text else []

    plan = plan_mask([text], detect, resolve_spans, state)
    assert ("S3_BUCKET", "acme-payroll-archive-7731") in plan.items
    assert plan.recalled == {"S3_BUCKET": 1}, "one known value (twice in the text), the detected one not counted"


_JOIN_ATOMS = st.sampled_from(
    ["acme-payroll-archive", "acme-payroll-archive-2", "x", "Xk9mQ2vLp8Rw4z", "a", "b-bucket-77", "\0", " ", "-", "é"]
)


@settings(max_examples=examples(100), deadline=None)
@given(
    st.lists(st.lists(_JOIN_ATOMS, max_size=8).map("".join), min_size=2, max_size=5),
    st.integers(min_value=0, max_value=300),
)
@example(["xx a", "b-bucket-77 y"], 0).via("an original with a NUL across two texts")
@example(["xx a", "b-bucket-77 y", "acme-payroll-archive"], 300).via("the same, searched by automata")
def test_texts_searched_together_get_exactly_their_own_matches(texts: list[str], filler: int) -> None:
    """One search of several texts joined gives each text what searching it alone gives: nothing that crosses
    from one text into the next (even for an original holding a NUL), word edges where the texts meet."""
    index = RecallIndex()
    index.add("S3_BUCKET", "acme-payroll-archive", "s3-900")
    index.add("S3_BUCKET", "a\0b-bucket-77", "s3-901")
    index.add("PASSWORD", "Xk9mQ2vLp8Rw4z", "pwd-900")
    index.add_many(("S3_BUCKET", f"filler-bucket-{n:05d}", f"s3-{n + 1000}") for n in range(filler))  # automata
    for since in (0, 2, index.version):
        assert index.find_raw_many(texts, since) == [index.find_raw(text, since) for text in texts]


def test_merges_left_for_maintain_never_lose_an_original() -> None:
    """Automata wait for `maintain` to merge (the async masker runs it while the vault works); a caller that never
    runs it still finds every original, over a stack that a search keeps short itself."""
    from maskkit.core.recall import _MAX_LEVELS

    lazy, kept = RecallIndex(), RecallIndex()
    names = [f"bucket-{i:06d}-y" for i in range(6000)]
    for start in range(0, len(names), 300):
        for index in (lazy, kept):
            index.add_many(("S3_BUCKET", name, "s3-001") for name in names[start : start + 300])
            index.find("warm")
        kept.maintain()
    text = " ".join(names[::53])
    assert _found(lazy, text) == _found(kept, text) == names[::53]
    assert len(lazy._levels) <= _MAX_LEVELS + 1
    assert len(kept._levels) < len(lazy._levels)


# -- the index against a model: every operation in any order, every search checked against `str.find`

_WORDCHARS = frozenset(string.ascii_letters + string.digits + "_")
_POOL = [
    "bucket-alpha-01", "bucket-alpha-012", "alpha-01", "pg-billing-7", "Xk9mQ2vLp8Rw4z", "Xk9mQ2vLp8Rw4zQ",
    _TOKEN_HEAD + "Aaaa", _TOKEN_HEAD + "Zzzz", "filler-bucket-00003",
]
_KINDS = ["S3_BUCKET", "PASSWORD"]  # a name (whole tokens only) and a secret (anywhere): a kind change flips it
_OPS = st.one_of(
    st.tuples(st.just("add"), st.lists(st.tuples(st.sampled_from(_KINDS), st.sampled_from(_POOL)), max_size=4)),
    st.tuples(st.just("filler"), st.integers(min_value=1, max_value=70)),
    st.tuples(st.just("discard"), st.sampled_from(_POOL)),
    st.tuples(st.just("clear")),
    st.tuples(st.just("maintain")),
    st.tuples(st.just("upkeep"), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("search"), st.lists(st.lists(st.sampled_from([*_POOL, " ", "x", "-", "\n"]), max_size=8)
                                          .map("".join), min_size=1, max_size=3)),
)


def _occurrences(model: dict[str, tuple[str, int]], text: str, since: int) -> list[tuple[int, int, str]]:
    """Every occurrence (by `str.find`, overlapping ones too) of the model's originals added at or after `since`
    that stands as its kind allows (a name as a whole token, a secret anywhere)."""
    valid = []
    for original, (kind, position) in model.items():
        if position < since:
            continue
        start = text.find(original)
        while start != -1:
            end = start + len(original)
            glued = (start > 0 and text[start - 1] in _WORDCHARS and original[0] in _WORDCHARS) or (
                end < len(text) and text[end] in _WORDCHARS and original[-1] in _WORDCHARS
            )
            if kind == "PASSWORD" or not glued:
                valid.append((start, end, kind))
            start = text.find(original, start + 1)
    return valid


def _reference(model: dict[str, tuple[str, int]], text: str, since: int) -> list[tuple[int, int, str]]:
    """Leftmost-longest among `_occurrences`: the specification the automata must meet."""
    out, cursor = [], 0
    for start, end, kind in sorted(_occurrences(model, text, since), key=lambda m: (m[0], -m[1], m[2])):
        if start >= cursor:
            out.append((start, end, kind))
            cursor = end
    return out


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(_OPS, max_size=25))
def test_the_index_finds_what_str_find_finds_after_any_operations(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    """Additions, removals, kind changes, purges, request-time merges and idle-time upkeep in any order: a search
    finds exactly every known original (from version 0), and from a later version at least every original
    learned since (extra, older ones are allowed: automata may cover more), in one text or several joined."""
    index = RecallIndex()
    model: dict[str, tuple[str, int]] = {}  # original -> (kind, log position: the version it was added at)
    version, fillers, versions = 0, 0, [0]
    for op in ops:
        if op[0] == "add":
            for kind, original in op[1]:
                index.add(kind, original, "x-001")
                if original not in model:
                    model[original] = (kind, version)
                    version += 1
                else:
                    model[original] = (kind, model[original][1])
        elif op[0] == "filler":
            names = [f"filler-bucket-{fillers + n:05d}" for n in range(op[1])]
            index.add_many(("S3_BUCKET", name, "s3-001") for name in names)
            for name in names:
                if name not in model:
                    model[name] = ("S3_BUCKET", version)
                    version += 1
            fillers += op[1]
        elif op[0] == "discard":
            index.discard(op[1])
            if model.pop(op[1], None) is not None:
                version += 1
        elif op[0] == "clear":
            index.clear()
            model.clear()
            version += 1
        elif op[0] == "maintain":
            index.maintain()
        elif op[0] == "upkeep":
            for _ in range(op[1]):
                index.upkeep()
        else:
            texts = op[1]
            for text in texts:
                assert index.find_raw(text) == _reference(model, text, 0)
            for since in {versions[len(versions) // 2], versions[-1], version}:
                got = [index.find_raw(text, since) for text in texts]
                assert index.find_raw_many(texts, since) == got
                for text, found in zip(texts, got, strict=True):
                    assert set(found) <= set(_occurrences(model, text, 0)), "not a known original standing there"
                    for start, end, _ in _reference(model, text, since):
                        assert any(s < end and start < e for s, e, _ in found), "an original learned since was missed"
        assert index.version == version
        versions.append(version)



def _tidy(index: RecallIndex) -> int:
    steps = 0
    while index.upkeep():
        steps += 1
    return steps


def test_idle_upkeep_leaves_no_tail_and_merges_keep_every_original_with_its_kind() -> None:
    """Batches of originals (names and secrets, long ones searched by their prefix) each followed by idle-time
    upkeep: the tail is empty after it, the stack stays short, and every search finds exactly what `str.find`
    finds, kinds included, after each round of merges."""
    index = RecallIndex()
    model: dict[str, tuple[str, int]] = {}
    rounds = [[("S3_BUCKET", "bucket-alpha-01"), ("PASSWORD", "Xk9mQ2vLp8Rw4z")],
              [("PASSWORD", _TOKEN_HEAD + "Aaaa"), ("S3_BUCKET", "pg-billing-7")],
              [("S3_BUCKET", "bucket-alpha-012"), ("PASSWORD", _TOKEN_HEAD + "Zzzz")],
              [("PASSWORD", "Xk9mQ2vLp8Rw4zQ"), ("S3_BUCKET", "alpha-01")]]
    text = " ".join(_POOL) + " x" + "x".join(_POOL) + "x"
    fillers = 0
    for round_ in rounds * 3:
        for kind, original in [*round_, *(("S3_BUCKET", f"filler-bucket-{fillers + n:05d}") for n in range(45))]:
            if index.add(kind, original, "x-001"):
                model[original] = (kind, index.version - 1)
        fillers += 45
        assert index.untidy
        assert _tidy(index) >= 1
        assert not index.untidy and index._levels[-1].hi == index.version, "the tail is left for str.find"
        assert index.find_raw(text) == _reference(model, text, 0)
    sizes = [level.hi - level.lo for level in index._levels]
    assert all(older >= 2 * newer for older, newer in itertools.pairwise(sizes)), sizes
    assert len(sizes) <= 3, f"idle upkeep merged too little: {sizes}"


def test_a_merge_after_a_removal_or_a_kind_change_reads_the_entries_again() -> None:
    """An automaton built before a removal (or a kind change) is merged by reading the live entries again, not by
    concatenating what it read then: the removed original is not recalled, the changed kind is the new one."""
    for change in ("discard", "kind"):
        index = RecallIndex()
        index.add("S3_BUCKET", "bucket-alpha-01", "s3-001")
        index.add_many(("S3_BUCKET", f"filler-bucket-{n:05d}", "s3-002") for n in range(40))
        _tidy(index)  # an automaton over the first batch
        if change == "discard":
            index.discard("bucket-alpha-01")
        else:
            index.add("PASSWORD", "bucket-alpha-01", "pwd-001")
        index.add_many(("S3_BUCKET", f"filler-bucket-{n:05d}", "s3-002") for n in range(40, 80))
        _tidy(index)  # an automaton over the second batch, built after the change, then the merge
        assert len(index._levels) == 1
        expected = [] if change == "discard" else [(1, 16, "PASSWORD")]
        assert index.find_raw("xbucket-alpha-01") == expected


def test_idle_upkeep_never_waits_for_a_busy_index() -> None:
    """Upkeep runs on the proxy's event loop: while another thread holds the index (a namespace loading, a search
    in a worker thread) it does nothing and returns at once instead of blocking the loop."""
    index = RecallIndex()
    index.add_many(("S3_BUCKET", f"filler-bucket-{n:05d}", "s3-002") for n in range(40))
    with index._lock:
        assert index.upkeep() is False
    assert index.upkeep() is True
