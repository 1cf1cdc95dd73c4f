"""Detection: text -> spans of AWS identifiers and secrets. Pure: no I/O, no vault."""

from maskkit.detect.detector import (
    ARN_RESOURCE_KINDS,
    EC2_PREFIXES,
    FIELDS,
    HOST_RULES,
    KINDS,
    LITERAL,
    PATTERNS,
    TERRAFORM_KINDS,
    Detector,
    Field,
    Pattern,
    find_originals,
    plain_patterns,
    resolve_spans,
)

__all__ = [
    "ARN_RESOURCE_KINDS",
    "EC2_PREFIXES",
    "FIELDS",
    "HOST_RULES",
    "KINDS",
    "LITERAL",
    "PATTERNS",
    "TERRAFORM_KINDS",
    "Detector",
    "Field",
    "Pattern",
    "find_originals",
    "plain_patterns",
    "resolve_spans",
]
