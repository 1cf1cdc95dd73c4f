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
import bisect
import re
from collections.abc import Iterator, Sequence
from urllib.parse import unquote

import ahocorasick_rs

from maskkit.core.recall import join_texts, matchable

__all__ = ["ENCODED_KIND", "MAX_RUN", "encoded_runs", "runs_holding"]

#: The kind given to a whole encoded run whose decoding holds a secret or a known original.
ENCODED_KIND = "ENCODED_VALUE"
#: Runs longer than this are not decoded (a base64 image or archive is not a credential wrapper).
MAX_RUN = 1 << 16

#: The plain regexes of a run (what `encoded_runs` finds, stated the obvious way; tests compare the two): a maximal
#: run of 16+ base64 characters (standard and URL-safe alphabets, `=` padding), and inside it (hex digits are base64
#: characters) every maximal run of 16+ hex digits.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{16}[A-Za-z0-9+/_=-]*+")
_HEX_RUN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{16}[0-9a-fA-F]*+")
#: Base64 characters that can start a group encoding printable ASCII (0x20-0x7E) or tab, LF, CR: a group's first
#: character is its first byte's top six bits. Everything else is binary, or text this module does not decode.
_PRINTABLE_LEAD = "CDIJKLMNOPQRSTUVWXYZabcdef"
# The runs are found in byte maps of the text (one byte per character: anything not ASCII is `?`, so offsets stay
# the same): base64 characters -> `b`, hex digits -> `h`, the rest a space. A run of 16 is then a literal that
# `re` jumps to (a regex with a lookbehind would be tried at every position of the text).
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_=-"
_B64_MAP = bytes(0x62 if i in _B64_ALPHABET else 0x20 for i in range(256))
_HEX_MAP = bytes(0x68 if i in b"0123456789abcdefABCDEF" else 0x20 for i in range(256))
#: 16 marks written out: a literal prefix, which `re` finds with one linear search (`b{16}` is tried at every `b`).
_B64_RUN = re.compile(b"b" * 16 + b"[b]*+")
_HEX_RUN_MAPPED = re.compile(b"h" * 16 + b"[h]*+")
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
    if len(body) % 4 == 1 or body[::4].strip(_PRINTABLE_LEAD):
        return None  # some 3-byte group does not start with a printable ASCII byte: not base64 of text
    return _base64_body(body)


def _base64_body(body: str) -> str | None:
    """`_base64` for a run (without its `=` padding) that passed the lead test."""
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
    # Hex digits are base64 characters, so every hex run lies inside a base64 run (bounded there by the same
    # characters); each base64 run is yielded before the hex runs inside it.
    raw = text.encode("ascii", "replace")
    hex_runs = [match.span() for match in _HEX_RUN_MAPPED.finditer(raw.translate(_HEX_MAP))]
    next_hex = 0
    for found in _B64_RUN.finditer(raw.translate(_B64_MAP)):
        start, end = found.span()
        if end - start <= MAX_RUN:
            # (`_base64`, with its first test inline: it rejects almost every run, and a call costs more.)
            body = text[start:end].rstrip("=")
            if len(body) % 4 != 1 and not body[::4].strip(_PRINTABLE_LEAD):
                decoded = _base64_body(body)
                if decoded is not None:
                    yield start, end, decoded
        while next_hex < len(hex_runs) and hex_runs[next_hex][0] < end:
            inner_start, inner_end = hex_runs[next_hex]
            next_hex += 1
            if inner_end - inner_start <= MAX_RUN:
                decoded = _hex(text[inner_start:inner_end])
                if decoded is not None:
                    yield inner_start, inner_end, decoded
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


def runs_holding(plains: Sequence[str], originals: Sequence[str]) -> set[int]:
    """The positions of the `plains` (decoded runs) that hold one of `originals` anywhere, as `original in plain`
    says. One search of the runs joined by NULs, whatever their number: a body of a few hundred KB can hold
    thousands of runs and thousands of values, and one `in` per pair would stall the proxy for seconds."""
    originals = [original for original in dict.fromkeys(originals) if original]
    if not plains or not originals:
        return set()
    joined, starts = join_texts(plains)
    automaton = ahocorasick_rs.AhoCorasick(originals, matchkind=ahocorasick_rs.MatchKind.Standard)
    # (a match across a NUL would need an original holding one: it only ever adds a run, never drops one)
    return {
        bisect.bisect_right(starts, start) - 1 for _, start, _ in automaton.find_matches_as_indexes(matchable(joined))
    }
