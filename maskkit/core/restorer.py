"""Restore pseudonyms in text that arrives in pieces (streamed deltas). Pure; no I/O, no vault.

An incremental decoder: `feed(chunk)` returns what is safe to emit now and `flush()` the rest. Only a tail that
could still grow into a pseudonym of this mapping is held back (a complete one is held for one more character,
since `ec2-001` followed by `0` is `ec2-0010`, a different token). Anything else goes out at once, so the first
byte of an answer is never delayed by masking.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from maskkit.core.messages import map_json_strings, map_response_strings, unmask_text
from maskkit.core.pseudonyms import HYPHENS, PseudonymGrammar, canonical, json_left_ok
from maskkit.types import ReverseMapping

__all__ = ["DeltaLane", "JsonEscapeDecoder", "JsonNumberRestorer", "MessageStreamRestorer", "Restorer"]

_WORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_WORD = frozenset(_WORD_CHARS)
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HYPHEN = re.compile(f"[{HYPHENS}]")
#: Where a pseudonym's number starts (the one hyphen of a token, then at least three digits).
_HYPHEN_NUMBER = re.compile(f"[{HYPHENS}][0-9]{{3}}").search
#: The letters and digits right before a position (searched with that position as the end).
_RUN_BEFORE = re.compile(r"[A-Za-z0-9]*\Z")
#: A token-shaped end of a text (what the start of a pseudonym looks like), after a non-word character.
_TAIL_TOKEN = re.compile(f"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*(?:[{HYPHENS}][0-9]*)?\\Z")
#: What a pseudonym (or the JSON escape before one) is made of: a held-back tail ends with one of these.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789\\" + HYPHENS)


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')


class _Lookup:
    """One mapping's pseudonyms as a restorer looks them up: built once per mapping, shared by every block of a
    stream (building the set of all their prefixes took ~2 ms for 900 pseudonyms, before the first byte)."""

    __slots__ = ("heads", "keys", "longest", "reverse")

    def __init__(self, reverse: Mapping[str, str], keys: list[str] | None = None, heads: frozenset[str] = frozenset()):
        joined = "\n".join(reverse)
        if joined.isascii() and joined.lower() == joined:  # already canonical (as minted): no work per pseudonym
            self.reverse = dict(reverse)
        else:
            self.reverse = {canonical(p): o for p, o in reverse.items()}
        if keys is None:  # the same pseudonyms as another lookup (other values): share its keys and heads
            keys = sorted(self.reverse)
            heads = frozenset(head for kind in _kinds(keys) for head in _prefixes(kind))
        self.keys = keys
        self.heads = heads
        self.longest = max(map(len, keys), default=0)

    def with_values(self, reverse: Mapping[str, str]) -> _Lookup:
        """A lookup of the same pseudonyms with other originals (`reverse` has the same keys)."""
        return _Lookup(reverse, self.keys, self.heads)

    def is_prefix(self, canon: str) -> bool:
        """True if `canon` (canonical, not empty) begins one of the pseudonyms (or is one)."""
        if "-" not in canon:
            return canon in self.heads
        keys = self.keys
        at = bisect_left(keys, canon)
        return at < len(keys) and keys[at].startswith(canon)


def _kinds(keys: list[str]) -> list[str]:
    """What comes before the first hyphen of the sorted pseudonyms `keys`: one step per kind, not per pseudonym
    (every `ec2-...` sorts before `ec2.`)."""
    kinds = []
    at = 0
    while at < len(keys):
        kind, hyphen, _ = keys[at].partition("-")
        kinds.append(kind)
        # the smallest key left starts with `kind-`: so does every key sorted before `kind.` ("-" < ".")
        at = bisect_left(keys, kind + ".", at + 1) if hyphen else at + 1
    return kinds


def _prefixes(word: str) -> list[str]:
    return [word[:i] for i in range(1, len(word) + 1)]


def _json_escaped(reverse: Mapping[str, str]) -> dict[str, str]:
    """Originals as they are written inside a JSON string (most need nothing: one check for all of them)."""
    if _NEEDS_ESCAPE.search("".join(reverse.values())) is None:
        return dict(reverse)
    search = _NEEDS_ESCAPE.search
    return {p: json.dumps(o, ensure_ascii=False)[1:-1] if search(o) else o for p, o in reverse.items()}


class Restorer:
    """Restores one stream (one content block). Use one Restorer per block index."""

    def __init__(
        self,
        reverse: ReverseMapping,
        grammar: PseudonymGrammar,
        *,
        json_text: bool = False,
        lookup: _Lookup | None = None,
    ) -> None:
        """`lookup`: `reverse` already prepared (a stream's blocks share one); `reverse` is then not read."""
        self._lookup = lookup or _Lookup(reverse)
        self._reverse = self._lookup.reverse
        self._grammar = grammar
        self._json = json_text  # the stream is JSON source (partial_json): tokens may follow escapes
        self._is_prefix = self._lookup.is_prefix
        self._heads = self._lookup.heads  # prefixes without a hyphen (of what comes before it)
        self._max = self._lookup.longest
        self._pending = ""
        self._before = ""  # the last characters emitted (up to 6, for `\uXXXX`), for the left boundary

    @property
    def held(self) -> int:
        """How many characters are held back right now."""
        return len(self._pending)

    def feed(self, chunk: str) -> str:
        """Take the next piece of the stream; return the restored text that can be emitted now."""
        if not self._reverse:
            return chunk
        text = self._pending + chunk
        if not text:
            return ""
        if text[-1] in _TOKEN_CHARS:
            keep = self._holdback_start(text)
            ready, self._pending = text[:keep], text[keep:]
        else:  # a token cannot end here, so no tail can still grow into one
            ready, self._pending = text, ""
        return self._emit(ready, final=False)

    def flush(self) -> str:
        """End of the stream: return everything still held, restored."""
        text, self._pending = self._pending, ""
        return self._emit(text, final=True)

    def _emit(self, text: str, *, final: bool) -> str:
        if not text:
            return ""
        if not _HYPHEN.search(text):  # a token needs a hyphen: most deltas go out as they came
            self._before = (self._before + text)[-6:]
            return text
        # The character after `text` is either the held-back tail (which starts a possible token, so
        # it is a word character) or the end of the stream.
        after = "" if final else (self._pending[:1] or "")
        window = self._before + text + after
        start = len(self._before)
        out: list[str] = []
        cursor = start
        end = start + len(text)
        reverse = self._reverse
        if self._json:
            for match in self._grammar.json_finditer(window, start):
                if match.end() > end:
                    break
                out.append(window[cursor : match.start()])
                out.append(reverse.get(canonical(match.group()), match.group()))
                cursor = match.end()
        else:
            # What `grammar.finditer` finds, found from the hyphens followed by three digits: a token holds
            # exactly one, and starts where the letters and digits before it start (a regex tried at every
            # position costs ~10x more).
            prefixes = self._grammar.prefixes
            token = self._grammar.pattern.match
            pos = start
            while (hyphen := _HYPHEN_NUMBER(window, pos, end)) is not None:
                at = hyphen.start()
                run = _RUN_BEFORE.search(window, max(pos, at - self._max), at)
                found = token(window, run.start()) if run is not None else None
                if found is None:
                    pos = at + 1
                    continue
                if found.end() > end:
                    break
                original = reverse.get(canonical(found.group()))
                if original is not None and found.group(1).lower() in prefixes:
                    out.append(window[cursor : found.start()])
                    out.append(original)
                    cursor = found.end()
                pos = found.end()
        out.append(window[cursor : start + len(text)])
        self._before = (self._before + text)[-6:]
        return "".join(out)

    def _holdback_start(self, text: str, before: str | None = None) -> int:
        """Index where the held-back tail starts: the earliest token start whose rest may still be a pseudonym.
        `before`: the characters before `text` (default: the last ones emitted)."""
        if text[-1] not in _TOKEN_CHARS:
            return len(text)  # a token cannot end here, so no tail can still grow into one
        if before is None:
            before = self._before
        if not self._json:
            # Outside JSON source a tail can begin at one place only: the one token-shaped end of the text that
            # follows a non-word character (its hyphen is the only non-word character inside it).
            left = before[-1:]
            window = left + text
            found = _TAIL_TOKEN.search(window, max(len(left), len(window) - self._max))
            if found is not None and self._is_prefix(canonical(found.group())):
                return found.start() - len(window) + len(text)
            return len(text)
        limit = max(0, len(text) - self._max)
        window = before + text
        canon = canonical(text[limit:])
        is_prefix = self._is_prefix
        for index in range(limit, len(text)):
            if text[index] not in _LETTERS:
                continue  # every pseudonym starts with a letter
            at = len(before) + index
            if at and window[at - 1] in _WORD and not (self._json and json_left_ok(window, at)):
                continue
            if is_prefix(canon[index - limit :]):
                return index
        return len(text)

    def passes(self, tail: str, before: str | None) -> bool:
        """For a stretch of the stream with no hyphen in it (so no pseudonym inside): True if it goes out exactly
        as written -- nothing is held now, and nothing of its end must be held -- and it then counts as emitted.
        `tail` is its end (at least the longest pseudonym plus some context), `before` what precedes `tail` in
        the stretch ("" when `tail` starts inside it, None when `tail` is the whole stretch)."""
        if not self._reverse:
            return True
        if self._pending or (tail and tail[-1] == "\\"):
            return False
        if tail and self._holdback_start(tail, before) != len(tail):
            return False
        self._before = ((self._before if before is None else before) + tail)[-6:]
        return True

    def passes_plain(self, text: str) -> bool:
        """`passes` for text (not JSON source) that holds no hyphen, decided in O(1): no pseudonym can be inside,
        so only its last word matters. It is held back only when it starts a word (a letter after a non-word
        character) and is the beginning of one of this mapping's pseudonyms (what `_holdback_start` finds;
        property-tested against `feed`)."""
        if self._pending:
            return False
        if text:
            last = text[-1]
            if last in _WORD:
                head = text.rstrip(_WORD_CHARS)
                if head or self._before[-1:] not in _WORD:  # the last word starts inside `text`
                    word = text[len(head) :]
                    if word[0] in _LETTERS and word.lower() in self._heads:
                        return False
            self._before = last  # a token's left boundary looks at one character (outside JSON source)
        return True


#: Characters a pseudonym is made of: a `\uXXXX` escape of one of them inside partial_json is written out plain.
_PSEUDONYM_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_" + HYPHENS)
_HEX = frozenset("0123456789abcdefABCDEF")


class JsonEscapeDecoder:
    r"""Rewrites `\uXXXX` escapes of pseudonym characters in streamed JSON source (partial_json) as the characters
    themselves, holding back an escape split across chunks. Inside a JSON string both spellings mean the same
    text, so this changes no value; it makes the stream restore `ec2\u002d001` as the whole answer does (which
    parses the JSON first), instead of passing it on masked. An escaped backslash (`\\u0065`) is left alone."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        self._pending = ""
        if "\\" not in text:
            return text
        out: list[str] = []
        index = 0
        while index < len(text):
            char = text[index]
            if char != "\\":
                out.append(char)
                index += 1
                continue
            if index + 1 >= len(text):
                self._pending = text[index:]
                break
            follower = text[index + 1]
            if follower != "u":
                out.append(text[index : index + 2])  # `\\`, `\n`, `\"`: kept as written, both characters
                index += 2
                continue
            digits = text[index + 2 : index + 6]
            if len(digits) < 4 and all(c in _HEX for c in digits):
                self._pending = text[index:]
                break
            decoded = chr(int(digits, 16)) if len(digits) == 4 and all(c in _HEX for c in digits) else ""
            if decoded and decoded in _PSEUDONYM_CHARS:
                out.append(decoded)
            else:
                out.append(text[index : index + 2 + len(digits)])
            index += 2 + len(digits)
        return "".join(out)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return text

    @property
    def idle(self) -> bool:
        """Nothing held back (no escape split across chunks)."""
        return not self._pending


_STRUCTURE = re.compile(r'["{}\[\],:]')
#: The rest of a JSON string's body up to its closing quote (or to the end of the chunk, maybe before a lone `\`).
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*')


class JsonNumberRestorer:
    """Turns a whole JSON string *value* that is a number pseudonym (`"acct-001"`, any case or hyphen the grammar
    accepts) back into the bare number (`410295837716`) in streamed JSON source (partial_json). Keys and strings
    that merely contain such a pseudonym are left for the Restorer (which writes the digits inside them).

    A small JSON scanner follows objects, arrays and strings (is the next string a key or a value?), skipping
    string bodies with one regex. Only a value string whose body so far could still be a number pseudonym is held
    back: its opening quote plus at most the longest pseudonym, across any split of the deltas. Run it after
    JsonEscapeDecoder (so `\u002d` is already `-`) and before the Restorer."""

    def __init__(self, numbers: Mapping[str, str]) -> None:
        self._numbers = {canonical(p): digits for p, digits in numbers.items()}
        self._prefixes = frozenset(p[:i] for p in self._numbers for i in range(len(p) + 1))
        self._stack: list[str] = []
        self._key_next = False  # the next string is an object key
        self._in_string = False
        self._escape = False  # the last chunk ended inside a string on a lone backslash
        self._held: str | None = None  # body of a value string that may still be a number pseudonym

    def feed(self, chunk: str) -> str:
        out: list[str] = []
        index, end = 0, len(chunk)
        while index < end:
            if self._held is not None:
                char = chunk[index]
                if char == '"':
                    digits = self._numbers.get(canonical(self._held))
                    out.append(digits if digits is not None else f'"{self._held}"')
                    self._held = None
                    self._in_string = False
                    index += 1
                    continue
                if canonical(self._held + char) in self._prefixes:
                    self._held += char
                    index += 1
                    continue
                out.append('"' + self._held)  # not a number pseudonym after all: on as an ordinary string
                self._held = None
                continue
            if self._in_string:
                if self._escape:
                    out.append(chunk[index])
                    self._escape = False
                    index += 1
                    continue
                match = _STRING_BODY.match(chunk, index)
                stop = match.end() if match else index
                out.append(chunk[index:stop])
                index = stop
                if index < end:
                    char = chunk[index]
                    out.append(char)
                    index += 1
                    if char == '"':
                        self._in_string = False
                    else:  # a lone backslash at the end of the chunk
                        self._escape = True
                continue
            match = _STRUCTURE.search(chunk, index)
            if match is None:
                out.append(chunk[index:])
                break
            stop = match.start()
            out.append(chunk[index:stop])
            char = chunk[stop]
            index = stop + 1
            if char == '"':
                self._in_string = True
                if self._key_next:
                    out.append(char)
                else:
                    self._held = ""
                continue
            out.append(char)
            if char in "{[":
                self._stack.append(char)
                self._key_next = char == "{"
            elif char in "}]":
                if self._stack:
                    self._stack.pop()
                self._key_next = False
            elif char == ",":
                self._key_next = bool(self._stack) and self._stack[-1] == "{"
            else:  # ":"
                self._key_next = False
        return "".join(out)

    def flush(self) -> str:
        """End of the block: a value string still held (the JSON was cut off) goes out as it was written."""
        held, self._held = self._held, None
        return "" if held is None else '"' + held


#: delta type -> the field holding streamed text that may contain pseudonyms.
_DELTA_FIELDS = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}

#: content block type -> the delta field its text streams in.
_BLOCK_FIELDS = {
    "tool_use": "partial_json",
    "server_tool_use": "partial_json",
    "mcp_tool_use": "partial_json",
    "thinking": "thinking",
    "text": "text",
}


class MessageStreamRestorer:
    """Restores a Messages API event stream: one Restorer per content block index.

    `feed(event, data)` takes one decoded event (its name and parsed JSON) and returns the events to send on,
    in order. Held-back text is flushed as one more delta right before the block's `content_block_stop`;
    `ping`, `message_delta`, `message_stop` and unknown events pass through untouched.
    """

    def __init__(
        self, reverse: ReverseMapping, grammar: PseudonymGrammar, *, numbers: Mapping[str, str] | None = None
    ) -> None:
        self._reverse = dict(reverse)
        #: canonical pseudonym -> digits of the JSON number it stood for (`messages.numbers_of`)
        self._numbers = dict(numbers or {})
        self._number_stages: dict[int, JsonNumberRestorer] = {}
        self._lookup = _Lookup(reverse)
        self._json_lookup: _Lookup | None = None  # built when a block streams tool input
        self._grammar = grammar
        self._blocks: dict[int, tuple[str, Restorer]] = {}
        self._unescapers: dict[int, JsonEscapeDecoder] = {}
        self._thinking: dict[int, tuple[list[str], list[str]]] = {}
        #: (masked, restored) text of every thinking block completed so far, for the thinking memo.
        self.completed_thinking: list[tuple[str, str]] = []

    def _restore(self, text: str) -> str:
        return unmask_text(text, self._reverse, self._grammar)

    def feed(self, event: str | None, data: Any) -> list[tuple[str | None, Any]]:
        """Events to emit for one incoming event; `data` is the parsed JSON (returned objects are new)."""
        if not isinstance(data, dict) or not self._reverse:
            return [(event, data)]
        kind = data.get("type")
        if kind == "content_block_start":
            index, block = data.get("index"), data.get("content_block")
            if isinstance(index, int) and isinstance(block, dict):
                field = _BLOCK_FIELDS.get(str(block.get("type")), "text")
                lookup = self._lookup
                if field == "partial_json":
                    if self._json_lookup is None:
                        # Inside partial_json an original lands in a JSON string, so it must be JSON-escaped there.
                        self._json_lookup = lookup.with_values(_json_escaped(lookup.reverse))
                    lookup = self._json_lookup
                restorer = Restorer({}, self._grammar, json_text=field == "partial_json", lookup=lookup)
                self._blocks[index] = (field, restorer)
                if field == "partial_json":
                    self._unescapers[index] = JsonEscapeDecoder()
                    if self._numbers:
                        self._number_stages[index] = JsonNumberRestorer(self._numbers)
                if field == "thinking":
                    self._thinking[index] = ([], [])
                restored = map_response_strings({"content": [block]}, self._restore, self._numbers)["content"][0]
                return [(event, {**data, "content_block": restored})]
        elif kind == "content_block_delta":
            return self._delta(event, data)
        elif kind == "content_block_stop":
            return self._stop(event, data)
        elif kind == "message_start" and isinstance(data.get("message"), dict):
            message = map_response_strings(data["message"], self._restore, self._numbers)
            return [(event, {**data, "message": message})]
        elif kind == "error":
            return [(event, map_response_strings(data, self._restore))]
        return [(event, data)]

    def lane(self, index: int, delta_type: str) -> DeltaLane | None:
        """A handle on block `index` for consecutive `delta_type` deltas (the SSE wire path, `core.stream`), or None
        if that block does not stream that kind of delta (take the general path). Valid until the next event
        that is not such a delta: a `content_block_start` or `_stop` replaces or closes the block."""
        if not self._reverse:
            return DeltaLane(self, index, None, _ALL)
        block = self._blocks.get(index)
        if block is None or _DELTA_FIELDS.get(delta_type) != block[0]:
            return None
        if index in self._number_stages:
            mode = _FED  # a JSON scanner follows the tool input: every piece goes through it
        elif block[0] == "partial_json":
            mode = _JSON
        elif index in self._thinking:
            mode = _THINKING
        else:
            mode = _PLAIN
        return DeltaLane(self, index, block[1], mode)

    def _feed(self, index: int, masked: str) -> str:
        """Streamed text of block `index` through its stages: JSON escapes and number values (partial_json), the
        Restorer, and the thinking record."""
        text = masked
        unescaper = self._unescapers.get(index)
        if unescaper is not None:
            text = unescaper.feed(text)
            stage = self._number_stages.get(index)
            if stage is not None:
                text = stage.feed(text)
        text = self._blocks[index][1].feed(text)
        if index in self._thinking:
            self._record_thinking(index, masked, text)
        return text

    def _record_thinking(self, index: int, masked: str, restored: str) -> None:
        self._thinking[index][0].append(masked)
        self._thinking[index][1].append(restored)

    def _unescaper_idle(self, index: int) -> bool:
        unescaper = self._unescapers.get(index)
        return unescaper is None or unescaper.idle

    def _delta(self, event: str | None, data: dict[str, Any]) -> list[tuple[str | None, Any]]:
        delta, index = data.get("delta"), data.get("index")
        if not isinstance(delta, dict):
            return [(event, data)]
        field = _DELTA_FIELDS.get(str(delta.get("type")))
        if field is None or not isinstance(delta.get(field), str):
            if delta.get("type") == "citations_delta":
                return [(event, {**data, "delta": map_json_strings(delta, self._restore)})]
            return [(event, data)]
        if not isinstance(index, int) or index not in self._blocks:
            # A delta for a block we never saw start: restore it whole rather than forward it raw.
            return [(event, {**data, "delta": {**delta, field: self._restore(delta[field])}})]
        text = self._feed(index, delta[field])
        if not text:
            return []
        if text == delta[field]:
            return [(event, data)]  # unchanged: the proxy can re-send the upstream bytes as they were
        return [(event, {**data, "delta": {**delta, field: text}})]

    def _stop(self, event: str | None, data: dict[str, Any]) -> list[tuple[str | None, Any]]:
        index = data.get("index")
        out = self._close(index) if isinstance(index, int) else []
        out.append((event, data))
        return out

    def close_open_blocks(self) -> list[tuple[str | None, Any]]:
        """The stream ended (or broke off) with blocks still open: the text they hold back, as last deltas (the
        client gets everything the model wrote; the caller then reports the broken stream)."""
        out: list[tuple[str | None, Any]] = []
        for index in list(self._blocks):
            out += self._close(index)
        return out

    def _close(self, index: int) -> list[tuple[str | None, Any]]:
        """Block `index` ends: its held-back text as one more delta (if any); its thinking recorded."""
        if index not in self._blocks:
            return []
        field, restorer = self._blocks.pop(index)
        unescaper = self._unescapers.pop(index, None)
        stage = self._number_stages.pop(index, None)
        rest = unescaper.flush() if unescaper else ""
        if stage is not None:
            rest = stage.feed(rest) + stage.flush()
        tail = (restorer.feed(rest) if rest else "") + restorer.flush()
        if index in self._thinking:
            masked, restored = self._thinking.pop(index)
            self.completed_thinking.append(("".join(masked), "".join(restored) + tail))
        if not tail:
            return []
        delta_type = {v: k for k, v in _DELTA_FIELDS.items()}[field]
        delta = {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, field: tail}}
        return [("content_block_delta", delta)]


_ALL, _PLAIN, _THINKING, _JSON, _FED = range(5)


def _same(text: str) -> str:
    return text


def _always(text: str) -> bool:
    return True


class DeltaLane:
    """Block `index`'s stages seen from the wire, for the joined text of consecutive deltas of the block's own kind:
    `passes(text)` for text that holds no hyphen of any kind (and, in tool input, no backslash), `restore(text)`
    for any other. `passes` returns True if the text goes out exactly as it came (it then counts as done) and
    False if it must go through `restore` instead; what `restore` returns is what feeding the deltas one by one
    returns, joined (every stage is an incremental decoder). `json`: the text is JSON source (tool input)."""

    __slots__ = ("json", "passes", "restore")

    def __init__(self, stream: MessageStreamRestorer, index: int, restorer: Restorer | None, mode: int) -> None:
        self.json = mode >= _JSON
        self.passes: Callable[[str], bool]
        self.restore: Callable[[str], str]
        if restorer is None or mode == _ALL:
            self.passes, self.restore = _always, _same
            return
        self.restore = restorer.feed if mode == _PLAIN else partial(stream._feed, index)
        if mode == _PLAIN:
            self.passes = restorer.passes_plain
        elif mode == _THINKING:

            def passes(text: str) -> bool:
                if not restorer.passes_plain(text):
                    return False
                stream._record_thinking(index, text, text)
                return True

            self.passes = passes
        elif mode == _JSON:
            self.passes = lambda text: stream._unescaper_idle(index) and restorer.passes(text, None)
        else:  # a JSON scanner follows the tool input's numbers: every piece goes through it
            self.passes = _never


def _never(text: str) -> bool:
    return False
