"""Encoded forms: base64 (standard and URL-safe), hex and percent-encoded runs whose decoding holds a secret. Pure.

A model with a shell can be handed a known value in a form the recall index cannot see (`echo secret-001 | base64`
runs on the user's machine with the original restored). So text bound for the model is searched for runs that look
encoded; each is decoded (bounded: a run is at most `MAX_RUN` characters, so the work is linear in the text) and
the caller decides whether the decoding holds something sensitive. Base64 is decoded when it encodes ASCII text
(every 3-byte group starts with a printable byte: a cheap test on every fourth character). What is not covered:
other transforms (reversal, rot13, compression, arithmetic, a run split by the model) — see docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from urllib.parse import unquote

__all__ = ["ENCODED_KIND", "MAX_RUN", "encoded_runs"]

#: The kind given to a whole encoded run whose decoding holds a secret or a known original.
ENCODED_KIND = "ENCODED_VALUE"
#: Runs longer than this are not decoded (a base64 image or archive is not a credential wrapper).
MAX_RUN = 1 << 16

# Greedy and leftmost, so a match starts where its run starts; no lookarounds (they make `re` slow).
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{16}[A-Za-z0-9+/_=-]*+")
_HEX_RUN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{16}[0-9a-fA-F]*+")
#: Base64 characters that can start a group encoding printable ASCII (0x20-0x7E) or tab, LF, CR: a group's first
#: character is its first byte's top six bits. Everything else is binary, or text this module does not decode.
_PRINTABLE_LEAD = str.maketrans(dict.fromkeys("CDIJKLMNOPQRSTUVWXYZabcdef"))
_AWS_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*-[0-9a-f]{8,}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_RUN_EDGE = frozenset(" \t\r\n\"'<>")


def _text(raw: bytes) -> str | None:
    """The decoded run if it is text; None for binary that happens to decode (a hash, an id, an image)."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    visible = decoded.replace("\n", "").replace("\r", "").replace("\t", "")
    return decoded if visible and visible.isprintable() else None


def _base64(run: str) -> str | None:
    body = run.rstrip("=")
    # Cheapest rejections first: most candidates in AWS text are ids and hashes, rejected by the lead test.
    if len(body) % 4 == 1 or body[::4].translate(_PRINTABLE_LEAD):
        return None  # some 3-byte group does not start with a printable ASCII byte: not base64 of text
    if (body.isalpha() and body.islower()) or _AWS_ID.fullmatch(body):
        return None  # a lower-case word or an AWS-style id (`i-0abc…`, `vpc-…`) is not base64 of anything
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _text(raw)


def _hex(run: str) -> str | None:
    if len(run) % 2:
        return None
    try:
        return _text(bytes.fromhex(run))
    except ValueError:
        return None


def encoded_runs(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, decoded text) of every run of `text` that decodes as base64, hex or percent-encoding to
    mostly printable text. Runs may overlap (hex digits are base64 too); the caller merges what it masks."""
    if len(text) < 16:
        return
    # One scan of the text: hex digits are base64 characters, so every hex run lies inside a base64-alphabet run
    # (bounded there by the same characters), and only those runs are searched for hex.
    hex_runs = _HEX_RUN.finditer
    for match in _BASE64.finditer(text):
        start, end = match.span()
        run = match.group()
        if end - start <= MAX_RUN:
            decoded = _base64(run)
            if decoded is not None:
                yield start, end, decoded
        for inner in hex_runs(run):
            if inner.end() - inner.start() <= MAX_RUN:
                decoded = _hex(inner.group())
                if decoded is not None:
                    yield start + inner.start(), start + inner.end(), decoded
    if "%" in text:
        # From each escape, the run of non-space characters around it (found from the escapes: linear).
        end = 0
        for match in _ESCAPE.finditer(text):
            if match.start() < end:
                continue
            start = match.start()
            while start > 0 and text[start - 1] not in _RUN_EDGE and match.start() - start < MAX_RUN:
                start -= 1
            end = match.end()
            while end < len(text) and text[end] not in _RUN_EDGE and end - start < MAX_RUN:
                end += 1
            run = text[start:end]
            decoded = unquote(run.replace("+", " "))
            if decoded != run:
                yield start, end, decoded
