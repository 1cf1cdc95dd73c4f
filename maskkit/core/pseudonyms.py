"""The pseudonym grammar: how pseudonyms are written, found, compared and recognised while still incomplete.

A pseudonym is `<prefix>-<number>` with the number zero-padded to three digits (`ec2-001`, `ec2-1000`), built
only from JSON-safe ASCII so it reads the same inside a JSON string. Models sometimes alter what they echo; the
grammar accepts upper case and the Unicode hyphens models substitute (U+2010..U+2013, U+2212) and maps them to
the canonical form. Nothing else (markdown inside a token, spaces) is accepted. No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["HYPHENS", "PseudonymGrammar", "canonical", "format_pseudonym", "json_left_ok"]

#: Characters a model may write instead of "-" inside a pseudonym.
HYPHENS = "-\u2010\u2011\u2012\u2013\u2212"
_CANON = str.maketrans({**{c: "-" for c in HYPHENS[1:]}, **{chr(c): chr(c + 32) for c in range(65, 91)}})
_WORD = "A-Za-z0-9_"


def canonical(token: str) -> str:
    """Return the canonical spelling of a pseudonym-shaped token (ASCII lower case, plain hyphen).

    Length-preserving, so offsets computed on the canonical form are valid on the original.
    """
    return token.translate(_CANON)


def format_pseudonym(prefix: str, number: int) -> str:
    """`format_pseudonym("ec2", 1) == "ec2-001"`; numbers grow past 999 without changing the form."""
    return f"{prefix}-{number:03d}"


@dataclass(frozen=True)
class PseudonymGrammar:
    """Finds pseudonym-shaped tokens for a set of prefixes.

    A token is whole: not preceded or followed by an ASCII letter, digit or `_`, so `ec2-100` is never found
    inside `ec2-1000` or `xec2-100`.
    """

    prefixes: frozenset[str]
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    json_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for prefix in self.prefixes:
            if not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
                raise ValueError(f"pseudonym prefix {prefix!r} must be lower-case ASCII letters and digits")
        # One generic token regex, then a set lookup of its prefix: far faster than an alternation of ~100
        # case-insensitive prefixes, and the same matches (a token is a whole word either way).
        body = rf"([A-Za-z][A-Za-z0-9]*)[{HYPHENS}][0-9]{{3,}}(?![{_WORD}])"
        object.__setattr__(self, "pattern", re.compile(rf"(?<![{_WORD}]){body}", re.ASCII))
        # Inside JSON text a token may follow an escape (`\nec2-001`, `\u00e9ec2-001`); `json_left_ok` decides.
        relaxed = rf"(?:(?<![{_WORD}])|(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{{4}})){body}"
        object.__setattr__(self, "json_pattern", re.compile(relaxed, re.ASCII))

    def finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        """Every pseudonym-shaped token in `text` (issued or not), left to right."""
        prefixes = self.prefixes
        return (m for m in self.pattern.finditer(text, pos) if m.group(1).lower() in prefixes)

    def sub(self, replace: Callable[[re.Match[str]], str], text: str) -> str:
        """Replace every token with `replace(match)`."""
        prefixes = self.prefixes
        return self.pattern.sub(lambda m: replace(m) if m.group(1).lower() in prefixes else m.group(), text)

    def json_finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        """Tokens in JSON source text: like `finditer`, but a token may follow a JSON escape."""
        prefixes = self.prefixes
        search = self.json_pattern.search
        match = search(text, pos)
        while match is not None:
            if match.group(1).lower() in prefixes and json_left_ok(text, match.start()):
                yield match
                match = search(text, match.end())
            else:
                # `\u001fec2-001` first matches as `u001fec2-001`: look again one character further on.
                match = search(text, match.start() + 1)

    def prefix_set(self, pseudonyms: Iterable[str]) -> frozenset[str]:
        """All non-empty prefixes of the canonical `pseudonyms`: what a restorer must hold back."""
        return frozenset(p[:i] for p in pseudonyms for i in range(1, len(p) + 1))


def _escaped(text: str, backslash: int) -> bool:
    """True when text[backslash] is a backslash that starts an escape (an odd run of backslashes ends there)."""
    run = 0
    while backslash - run >= 0 and text[backslash - run] == "\\":
        run += 1
    return run % 2 == 1


def json_left_ok(text: str, start: int) -> bool:
    """May a token start at `start` of JSON source text? Yes after a non-word character, or after a JSON
    escape that decodes to one (`\\n`, `\\u00e9`); an escaped backslash followed by a letter is not one."""
    if start == 0 or text[start - 1] not in _WORD_SET:
        return True
    if start >= 2 and text[start - 1] in "nrtbf" and text[start - 2] == "\\":
        return _escaped(text, start - 2)
    if start >= 6 and text[start - 6 : start - 4] == "\\u":
        try:
            decoded = chr(int(text[start - 4 : start], 16))
        except ValueError:
            return False
        return decoded not in _WORD_SET and _escaped(text, start - 6)
    return False


_WORD_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
