"""The shared vocabulary of maskkit: a `Span` of text and the `Mapping` types. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Mapping as _Mapping
from dataclasses import dataclass

__all__ = ["Mapping", "ReverseMapping", "Span"]

#: (kind, original) -> pseudonym, as the vault hands it to the pure masker.
Mapping = _Mapping[tuple[str, str], str]
#: pseudonym -> original, what a restorer needs.
ReverseMapping = _Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Span:
    """A detected sensitive run of text: `text[start:end]` is an original of `kind`.

    The repr shows kind and offsets only, never the text, so a span can be logged safely.
    """

    start: int
    end: int
    kind: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"invalid span offsets {self.start}..{self.end}")

    def __repr__(self) -> str:
        return f"Span({self.kind}, {self.start}..{self.end})"
