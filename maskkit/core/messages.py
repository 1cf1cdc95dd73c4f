"""Mask and unmask text and Anthropic Messages bodies, given spans and a mapping. Pure; no I/O.

Masking writes each span's pseudonym in place of its original (from the end backwards, so earlier offsets
stay valid). Unmasking replaces whole pseudonym tokens found by the grammar with their originals; a token that
is not in the mapping is left exactly as written. Which strings of a Messages body the model reads, and which
of an answer must be restored, is decided here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from maskkit.core.pseudonyms import HYPHENS, PseudonymGrammar, canonical
from maskkit.errors import BadRequest, MediaBlocked
from maskkit.types import ReverseMapping, Span

__all__ = [
    "NumMap",
    "NumberMasker",
    "ReverseMap",
    "apply_spans",
    "map_json_strings",
    "map_request_strings",
    "map_response_strings",
    "media_urls",
    "number_originals",
    "numbers_of",
    "presigned",
    "restore_json_numbers",
    "unmask_text",
]

StrMap = Callable[[str], str]
#: What becomes of a JSON integer in a model-readable place (itself, or the pseudonym string standing for it).
NumMap = Callable[[int], Any]


class ReverseMap(dict[str, str]):
    """pseudonym -> original for one request, plus `numbers`: the pseudonyms that stand for a JSON *number* of the
    request (`{"AccountId": 410295837716}` went upstream as `{"AccountId": "acct-001"}`). Where the model writes
    such a pseudonym as a whole JSON string value (a tool call's input), it is restored as the bare number; in
    text, or inside a longer string, as its digits. A plain dict works everywhere this does (no numbers)."""

    numbers: frozenset[str] = frozenset()
    #: pseudonym -> kind, when the masker that made the map knows it (what the proxy counts in /metrics).
    kinds: Mapping[str, str] = MappingProxyType({})


def number_originals(keyed: Mapping[str, str]) -> list[str]:
    """The account ids among a body's keyed values that a JSON integer can spell (digits, no leading zero)."""
    return [o for o, kind in keyed.items() if kind == "ACCOUNT_ID" and o.isdigit() and o[0] != "0" and len(o) <= 12]


class NumberMasker:
    """Replaces a JSON integer that is a keyed account id with its pseudonym *string* (the model reads
    `"AccountId": "acct-001"`), and records which pseudonyms stood for numbers, for the restore."""

    def __init__(self, numbers: Sequence[str], table: Mapping[str, str]) -> None:
        self._numbers = frozenset(numbers)
        self._table = table
        self._used: dict[str, None] = {}

    def __call__(self, value: int) -> Any:
        if not 0 < value < 10**12:
            return value
        digits = str(value)
        if digits not in self._numbers:
            return value
        masked = self._table[digits]
        if masked == digits:  # the kind is not enabled: nothing to hide
            return value
        self._used[masked] = None
        return masked

    def reverse(self, reverse: Mapping[str, str], strings: Sequence[str]) -> ReverseMap:
        """The request's mapping, knowing which pseudonyms stood for numbers. A pseudonym whose original was also
        a whole string value of this request stays a string on the way back (the model cannot say which one it
        means, and a string is what it wrote)."""
        out = ReverseMap(reverse)
        if self._used:
            whole = set(strings)
            out.numbers = frozenset(p for p in self._used if p in out and out[p] not in whole)
        return out


def numbers_of(reverse: Mapping[str, str]) -> dict[str, str]:
    """canonical pseudonym -> the digits of the JSON number it stands for (empty for a plain mapping)."""
    return {canonical(p): reverse[p] for p in getattr(reverse, "numbers", ()) if p in reverse}


def apply_spans(text: str, spans: Sequence[Span], pseudonym_for: Callable[[str, str], str]) -> str:
    """`text` with every span replaced by `pseudonym_for(kind, original)`; spans must be sorted and disjoint."""
    if not spans:
        return text
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces.append(text[cursor : span.start])
        pieces.append(pseudonym_for(span.kind, text[span.start : span.end]))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


#: The tail of a pseudonym token (`-001`, and the hyphens models substitute), found first: a search that starts
#: with a character class runs in C over the text, where the grammar's token regex (which starts with a
#: lookbehind) tries every position. The head is then read backwards from the hyphen.
_TOKEN_TAIL = re.compile(rf"[{HYPHENS}][0-9]{{3,}}(?![A-Za-z0-9_])", re.ASCII)
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def unmask_text(text: str, reverse: ReverseMapping, grammar: PseudonymGrammar) -> str:
    """`text` with every pseudonym of `reverse` restored; unknown or invented pseudonyms stay as written.

    Finds exactly the tokens `grammar.finditer` finds (a whole `<letter><letters|digits>*` head not preceded by
    a word character, a hyphen, 3+ digits not followed by one), about 3x faster on AWS text: the tail is
    searched, and the head is the run of ASCII letters and digits before it (a token can start nowhere else,
    since a word character may not precede it)."""
    if not reverse:
        return text
    prefixes = grammar.prefixes
    get = reverse.get
    pieces: list[str] = []
    cursor = 0
    for match in _TOKEN_TAIL.finditer(text):
        hyphen = head = match.start()
        while head > 0 and text[head - 1] in _ALNUM:
            head -= 1
        if head == hyphen or text[head] not in _LETTERS or (head > 0 and text[head - 1] == "_"):
            continue
        end = match.end()
        token = text[head:end]
        # Models echo pseudonyms as they were written (canonical): one lookup of the token as it stands, and the
        # canonical spelling only when that misses (an upper-case prefix, a typographic hyphen).
        original = get(token)
        if original is None:
            if text[head:hyphen].lower() not in prefixes:
                continue
            original = get(canonical(token))
            if original is None:
                continue
        elif text[head:hyphen] not in prefixes:
            continue
        pieces.append(text[cursor:head])
        pieces.append(original)
        cursor = end
    if not pieces:
        return text
    pieces.append(text[cursor:])
    return "".join(pieces)


# --- Messages bodies -------------------------------------------------------------------------------------------

#: Keys whose string values are never model-readable text: ids, signatures, media types, base64 payloads.
_OPAQUE_KEYS = frozenset(
    {
        "type",
        "id",
        "tool_use_id",
        "signature",
        "media_type",
        "cache_control",
        "name",
        "data",
        "file_id",
        "encrypted_content",
        "encrypted_index",
        "role",
    }
)


def map_json_strings(value: Any, fn: StrMap, *, keys: bool = False, num: NumMap | None = None) -> Any:
    """A copy of a JSON value with `fn` applied to every string (and to object keys when `keys`), and `num` to
    every integer (not to booleans or floats) when given."""
    if not keys and num is None:
        return _map_strings(value, fn)
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_json_strings(item, fn, keys=keys, num=num) for item in value]
    if isinstance(value, dict):
        return {(fn(k) if keys else k): map_json_strings(v, fn, keys=keys, num=num) for k, v in value.items()}
    if num is not None and type(value) is int:
        return num(value)
    return value


def _map_strings(value: Any, fn: StrMap) -> Any:
    """`map_json_strings` without keys or numbers: the common case, kept to the fewest calls per value (every
    tool schema and tool result of a conversation goes through here twice per request)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: fn(v) if isinstance(v, str) else _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [fn(v) if isinstance(v, str) else _map_strings(v, fn) for v in value]
    return value


def _map_block(block: Any, fn: StrMap, media: str, num: NumMap | None = None) -> Any:
    """One content block with every model-readable string mapped: the known fields by their meaning, and any
    other field (a future block type, a wrong type) generically, since what we cannot place we mask."""
    if not isinstance(block, dict):
        return map_json_strings(block, fn, num=num)
    kind = block.get("type")
    if kind == "redacted_thinking":
        return block
    if kind in ("image", "document", "container_upload"):
        return _map_media(block, fn, media, num)
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key in _OPAQUE_KEYS:
            out[key] = value
        elif key == "input" and kind in _TOOL_CALLS:
            out[key] = map_json_strings(value, fn, keys=True, num=num)
        elif key == "content":
            out[key] = _map_content(value, fn, media, num)
        else:
            out[key] = map_json_strings(value, fn, num=num)
    return out


_TOOL_CALLS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def _map_media(block: dict[str, Any], fn: StrMap, media: str, num: NumMap | None = None) -> dict[str, Any]:
    """A media block: every text maskkit can read is masked, and what it cannot read follows the policy.

    Readable: text sources, content sources, base64 documents whose media type is `text/*` (decoded, masked,
    encoded again) and the URL of a `url` source (masked like any text: a masked presigned URL no longer works
    upstream, which is the point; the proxy refuses URLs carrying credentials before this). Not readable: the
    image or PDF itself, which `media == "block"` refuses (MediaBlocked) and `pass` forwards.
    """
    source = block.get("source")
    out = {
        k: v if k in _OPAQUE_KEYS or k == "source" else map_json_strings(v, fn, num=num) for k, v in block.items()
    }
    if not isinstance(source, dict):
        return out
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        out["source"] = {**source, "data": fn(source["data"])}
        return out
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            out["source"] = {**source, "content": fn(content)}
        elif isinstance(content, list):
            out["source"] = {**source, "content": [_map_block(item, fn, media, num) for item in content]}
        return out
    media_type = source.get("media_type")
    if kind == "base64" and isinstance(media_type, str) and media_type.lower().startswith("text/"):
        data = source.get("data")
        if isinstance(data, str):
            out["source"] = {**source, "data": _encode(fn(_decode_text(data)))}
        return out
    if kind == "url" and isinstance(source.get("url"), str):
        out["source"] = {**source, "url": fn(source["url"])}
    if media == "block":
        raise MediaBlocked(
            "this request holds images or binary documents, which maskkit cannot read, and the media policy is "
            "`block` (MASKKIT_MEDIA); remove them or set MASKKIT_MEDIA=pass"
        )
    return out


def _decode_text(data: str) -> str:
    """The text of a base64 `text/*` document; BadRequest if it is not base64 of UTF-8 (what cannot be read
    cannot be masked, so it is not forwarded)."""
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest(
            "a text/* document's base64 data is not base64-encoded UTF-8, so maskkit cannot mask it; fix the "
            "encoding or send it as a text source"
        ) from None


def _encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def media_urls(body: Any) -> Iterator[str]:
    """Every `source.url` of an image or document block anywhere in a request (tool results included).
    Iterative, so a deeply nested body cannot exhaust the stack."""
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            source = value.get("source")
            if value.get("type") in ("image", "document") and isinstance(source, dict):
                if source.get("type") == "url" and isinstance(source.get("url"), str):
                    yield source["url"]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


#: Query parameters that make a URL a credential: S3 presigned URLs (SigV4 and SigV2) and CloudFront signed URLs.
_CREDENTIAL_PARAMS = frozenset(
    {
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "awsaccesskeyid",
        "signature",
        "key-pair-id",
        "policy",
    }
)


def presigned(url: str) -> bool:
    """True if `url` carries a credential in its query (a presigned or signed URL)."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return False
    return any(name.lower() in _CREDENTIAL_PARAMS for name, _ in parse_qsl(query, keep_blank_values=True))


def _map_content(content: Any, fn: StrMap, media: str, num: NumMap | None = None) -> Any:
    if isinstance(content, str):
        return fn(content)
    if isinstance(content, list):
        return [_map_block(block, fn, media, num) for block in content]
    return map_json_strings(content, fn, num=num)


#: Request fields that carry settings, not text the model reads (a tool_choice names a tool exactly).
_SETTINGS_KEYS = frozenset(
    {"model", "stream", "max_tokens", "temperature", "top_p", "top_k", "tool_choice", "thinking", "service_tier"}
)


def map_request_strings(
    body: dict[str, Any], fn: StrMap, *, media: str = "pass", num: NumMap | None = None
) -> dict[str, Any]:
    """A copy of a Messages request with `fn` applied to every string the model will read (and `num`, when
    given, to every integer in those places: tool input, schemas, metadata; never to the settings).

    That is: `system`, every message's text (user, assistant and mid-conversation system turns), tool results,
    earlier tool calls' input, thinking text, documents' text, and tool definitions (everything but their name).
    Fields of an unexpected type or unknown name are mapped generically. Media URLs and `text/*` base64 documents
    are masked; images, binary base64 data, signatures, ids and redacted thinking are left alone; images and
    binary documents raise MediaBlocked when `media == "block"`.
    """
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SETTINGS_KEYS:
            out[key] = value
        elif key == "system":
            out[key] = _map_content(value, fn, media, num)
        elif key == "messages" and isinstance(value, list):
            out[key] = [_map_message(m, fn, media, num) for m in value]
        elif key == "tools" and isinstance(value, list):
            out[key] = [_map_tool(t, fn, num) for t in value]
        else:
            out[key] = map_json_strings(value, fn, num=num)
    return out


def _map_message(message: Any, fn: StrMap, media: str, num: NumMap | None = None) -> Any:
    if not isinstance(message, dict):
        return map_json_strings(message, fn, num=num)
    return {
        k: v
        if k == "role"
        else _map_content(v, fn, media, num)
        if k == "content"
        else map_json_strings(v, fn, num=num)
        for k, v in message.items()
    }


def _map_tool(tool: Any, fn: StrMap, num: NumMap | None = None) -> Any:
    if not isinstance(tool, dict):
        return map_json_strings(tool, fn, num=num)
    return {
        k: v if k in ("name", "type", "cache_control") else map_json_strings(v, fn, num=num)
        for k, v in tool.items()
    }


def map_response_strings(body: Any, fn: StrMap, numbers: Mapping[str, str] | None = None) -> Any:
    """A copy of a Messages answer (or error) with `fn` applied to what the client reads: text, tool input
    (keys included), thinking, error messages. Signatures and ids are left alone. `numbers` (`numbers_of`):
    a tool input's string value that is exactly one of these pseudonyms becomes the number it stands for."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    if isinstance(body.get("content"), list):
        if numbers:
            out["content"] = [_restore_numbers(block, fn, numbers) for block in body["content"]]
        else:
            out["content"] = [_map_block(block, fn, "pass") for block in body["content"]]
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        out["error"] = {**error, "message": fn(error["message"])}
    return out


def _restore_numbers(block: Any, fn: StrMap, numbers: Mapping[str, str]) -> Any:
    """`_map_block` for an answer's block, with tool input values that name a number pseudonym made numbers."""
    if isinstance(block, dict) and block.get("type") in _TOOL_CALLS and "input" in block:
        return {**_map_block(block, fn, "pass"), "input": restore_json_numbers(block["input"], fn, numbers)}
    return _map_block(block, fn, "pass")


#: Longer than any pseudonym (`prefix-number`): such a string is never compared with `numbers`.
_MAX_TOKEN = 40


def restore_json_numbers(value: Any, fn: StrMap, numbers: Mapping[str, str], *, keys: bool = True) -> Any:
    """A copy of a JSON value from the model with `fn` applied to every string (and key, when `keys`), except that
    a string value (never a key) that is exactly a pseudonym of `numbers` becomes the integer it stands for."""
    if isinstance(value, str):
        if len(value) <= _MAX_TOKEN:
            digits = numbers.get(canonical(value))
            if digits is not None:
                return int(digits)
        return fn(value)
    if isinstance(value, list):
        return [restore_json_numbers(item, fn, numbers, keys=keys) for item in value]
    if isinstance(value, dict):
        return {(fn(k) if keys else k): restore_json_numbers(v, fn, numbers, keys=keys) for k, v in value.items()}
    return value


# --- signed thinking ------------------------------------------------------------------------------------------


def _thinking_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    blocks: list[dict[str, Any]] = []
    if not isinstance(messages, list):
        return blocks
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            blocks.extend(b for b in content if _is_thinking(b))
    return blocks


def _is_thinking(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and isinstance(block.get("thinking"), str)


def thinking_texts(body: dict[str, Any]) -> list[str]:
    """The text of every signed thinking block in a request (what the thinking memo is asked about)."""
    return [b["thinking"] for b in _thinking_blocks(body)]


def replace_thinking(original: dict[str, Any], masked: dict[str, Any], memo: dict[str, str]) -> dict[str, Any]:
    """`masked` with each thinking block whose original text is in `memo` set to the memo's text: the exact
    text the model signed, whatever re-masking the restored text would have produced."""
    for before, after in zip(_thinking_blocks(original), _thinking_blocks(masked), strict=True):
        if before["thinking"] in memo:
            after["thinking"] = memo[before["thinking"]]
    return masked


# --- structured values --------------------------------------------------------------------------------------------


def structured_values(body: dict[str, Any]) -> list[Any]:
    """The parts of a Messages request whose JSON keys say what their values are: tool calls' `input`, tool
    definitions' `input_schema`, `metadata`. Each string there is masked on its own, so the key is the only
    context a value like `{"Bucket": "logs"}` has; the detector reads these with their keys."""
    out: list[Any] = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") in _TOOL_CALLS and "input" in block:
                out.append(block["input"])
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and "input_schema" in tool:
            out.append(tool["input_schema"])
    if "metadata" in body:
        out.append(body["metadata"])
    return out


def thinking_pairs(masked: dict[str, Any], restored: dict[str, Any]) -> list[tuple[str, str]]:
    """(masked, restored) text of every thinking block of an answer, for the signed-thinking memo."""
    pairs = []
    for before, after in zip(masked.get("content") or [], restored.get("content") or [], strict=False):
        if isinstance(before, dict) and before.get("type") == "thinking" and isinstance(before.get("thinking"), str):
            pairs.append((before["thinking"], after["thinking"]))
    return pairs
