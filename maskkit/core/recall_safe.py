"""Which originals may be masked wherever they appear, without the context that identified them. Pure.

(Placeholder rule; the detection work owns the full version.)
"""

from __future__ import annotations

__all__ = ["SECRET_KINDS", "recall_safe"]

SECRET_KINDS = frozenset(
    {"SECRET_ACCESS_KEY", "SESSION_TOKEN", "PASSWORD", "SIGNATURE", "PEM_PRIVATE_KEY", "ACCESS_KEY_ID"}
)
_SEPARATORS = frozenset("-_./:")


def recall_safe(kind: str, original: str) -> bool:
    """True when masking `original` everywhere in its namespace cannot wreck ordinary text."""
    if kind == "PSEUDONYM_LITERAL":
        return False
    if kind in SECRET_KINDS:
        return len(original) >= 8
    if len(original) < 6:
        return False
    return any(c.isdigit() or c in _SEPARATORS for c in original)
