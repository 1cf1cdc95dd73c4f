"""Test helper: the pure masker with a dict in place of the vault (what the pure core is designed to take)."""

from __future__ import annotations

import os

from maskkit.core.messages import apply_spans
from maskkit.core.pseudonyms import format_pseudonym
from maskkit.detect.detector import Detector


class DictMinter:
    """Mints pseudonyms into a dict, numbering per prefix like the vault does."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.forward: dict[tuple[str, str], str] = {}
        self.reverse: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    def pseudonym_for(self, kind: str, original: str) -> str:
        key = (kind, original)
        if key not in self.forward:
            prefix = self.detector.kinds[kind]
            self._counters[prefix] = self._counters.get(prefix, 0) + 1
            pseudonym = format_pseudonym(prefix, self._counters[prefix])
            self.forward[key] = pseudonym
            self.reverse[pseudonym] = original
        return self.forward[key]

    def mask(self, text: str) -> str:
        return apply_spans(text, self.detector.detect(text), self.pseudonym_for)


def examples(count: int) -> int:
    """A hypothesis test's example count for the default run, times MKTESTS_HYPOTHESIS_SCALE (default 1).

    Hypothesis's own generation, not the code under test, is most of a property test's time (profiled: the
    detector is about a tenth of it), so the default run keeps `tests/unit` fast with counts that still fail on
    the bugs these properties exist for; `MKTESTS_HYPOTHESIS_SCALE=5 uv run pytest tests/unit` runs five times
    as many cases (at least the counts of earlier rounds, in splits checked for the stream tests) for a deeper
    search.
    """
    return count * max(1, int(os.environ.get("MKTESTS_HYPOTHESIS_SCALE", "1")))
