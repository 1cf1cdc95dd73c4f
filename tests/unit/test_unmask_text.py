"""`unmask_text` restores exactly the tokens the pseudonym grammar finds (it searches them its own, faster way)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maskkit.core.messages import unmask_text
from maskkit.core.pseudonyms import canonical
from maskkit.detect.detector import Detector

GRAMMAR = Detector().grammar
PREFIXES = sorted(GRAMMAR.prefixes)[:6]
REVERSE = {f"{prefix}-{number:03d}": f"<{prefix} {number}>" for prefix in PREFIXES for number in range(0, 1200)}

# Pieces that sit right next to a token and decide whether it is one: word characters, hyphens models write,
# digits, a non-ASCII letter, separators.
_PIECES = [*PREFIXES, *(p.upper() for p in PREFIXES), "x", "Z9", "_", "-", "\u2011", "\u2212", " ", ".", "\n",
           "\u00e9", "0", "7", "001", "0042", "1000", "12", "/", ":"]


def _by_grammar(text: str) -> str:
    return GRAMMAR.sub(lambda m: REVERSE.get(canonical(m.group()), m.group()), text)


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_unmask_text_restores_what_the_grammar_finds_and_nothing_else(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert unmask_text(text, REVERSE, GRAMMAR) == _by_grammar(text)


def test_tokens_glued_to_words_underscores_or_longer_numbers_stay_as_written() -> None:
    prefix = PREFIXES[0]
    token = f"{prefix}-001"
    restored = REVERSE[token]
    cases = {
        f"see {token}.": f"see {restored}.",
        f"{token.upper()} and {prefix}\u2011001": f"{restored} and {restored}",
        f"x{token}": f"x{token}",
        f"_{token}": f"_{token}",
        f"{token}0": f"{prefix}-0010",
        f"{token}x": f"{token}x",
        f"{token}-002": f"{restored}-002",
        f"{prefix}-999999 {token}": f"{prefix}-999999 {restored}",  # not issued: left alone
        f"\u00e9{token}": f"\u00e9{restored}",
    }
    for text, expected in cases.items():
        assert unmask_text(text, REVERSE, GRAMMAR) == expected, text


def test_a_mapping_key_whose_prefix_the_grammar_does_not_know_is_not_restored() -> None:
    # The token is looked up as written first: that lookup must not skip the grammar's prefix rule.
    assert "zzq" not in GRAMMAR.prefixes
    reverse = {"zzq-001": "<zzq>", f"{PREFIXES[0]}-001": "<known>"}
    text = f"zzq-001 and {PREFIXES[0]}-001"
    assert unmask_text(text, reverse, GRAMMAR) == "zzq-001 and <known>"
