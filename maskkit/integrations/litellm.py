"""maskkit as a LiteLLM proxy guardrail: mask every request before LiteLLM sends it, restore every answer.

LiteLLM loads this module itself (`guardrail: maskkit.integrations.litellm.MaskkitGuardrail` in its config.yaml);
maskkit never imports it. It masks through the same `Masker` and vault as the maskkit proxy, CLI and MCP server,
so a value gets the same pseudonym everywhere. Why a guardrail and not LiteLLM's own masking: LiteLLM's Presidio
guardrail knows no AWS identifiers, skips tool-call arguments and `/v1/messages` streams, and buffers streams.

- pre-call: OpenAI chat completions (`messages[].content` strings and parts, tool calls' `arguments`, tool
  results, `tools[].function.description` and `parameters`) and Anthropic messages (`system`, `messages`, `tools`,
  the fields the maskkit proxy masks, with the same code) are masked with one vault round trip.
- post-call: chat completions (content, reasoning, tool-call arguments, which stay valid JSON) and Anthropic
  messages (text, tool_use input, thinking) are restored.
- streams: chat chunks and the raw Anthropic SSE bytes LiteLLM hands over on `/v1/messages` are restored chunk by
  chunk with maskkit's streaming restorer; only a tail that may still grow into a pseudonym is held back.

Fail closed: if masking cannot happen (vault down, wrong key, detection error) the request is rejected with
LiteLLM's error shape and nothing is sent upstream; there is no fail-open setting. Only the pseudonyms issued for
the request's own body are restored (its reverse mapping is kept in memory, keyed by LiteLLM's call id, until the
answer is done), so a model that guesses `ec2-017` gets `ec2-017` back. Originals never appear in a log line, an
error message or a repr.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.utils import ChatCompletionDeltaToolCall, Function

# maskkit's own modules: the one place to update when they move.
from maskkit.config import check_namespace, load_settings
from maskkit.core.messages import (
    map_json_strings,
    map_response_strings,
    numbers_of,
    thinking_pairs,
    unmask_text,
)
from maskkit.core.pseudonyms import PseudonymGrammar
from maskkit.core.restorer import Restorer
from maskkit.core.stream import SSERestorer, error_event
from maskkit.errors import MaskkitError, VaultError
from maskkit.masking import Masker, MediaBlocked

__all__ = ["ChatStreamRestorer", "MaskkitGuardrail", "map_chat_request_strings"]

log = logging.getLogger("maskkit.litellm")

StrMap = Callable[[str], str]

#: Requests masked but not yet answered, at most (a request that never gets an answer must not pin memory).
_MAX_PENDING = 10_000
#: Key/team metadata field an admin sets to put a LiteLLM key or team in its own maskkit namespace.
NAMESPACE_FIELD = "maskkit_namespace"
_NAMESPACE_FROM = ("metadata", "team_id", "fixed")
#: LiteLLM call types whose body is an Anthropic Messages request.
_ANTHROPIC_CALLS = frozenset({"anthropic_messages", "aanthropic_messages"})
#: LiteLLM call types whose body is an OpenAI chat completions request.
_CHAT_CALLS = frozenset({"completion", "acompletion"})
#: Anthropic request fields the model reads (masked with the maskkit proxy's own field table).
_ANTHROPIC_FIELDS = ("system", "messages", "tools")


# --- OpenAI chat completions: which strings the model reads (pure) ----------------------------------------------


def _map_arguments(arguments: str, fn: StrMap) -> str:
    """Tool-call `arguments` is JSON text: map its strings (keys too) and write it back as JSON; text that is
    not JSON is mapped as text (a model may emit broken JSON, and what we cannot parse we still mask)."""
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):
        return fn(arguments)
    return json.dumps(map_json_strings(parsed, fn, keys=True), ensure_ascii=False)


#: Content part types maskkit cannot read (images, audio, files): passed, or refused under MASKKIT_MEDIA=block.
_MEDIA_PARTS = frozenset({"image_url", "input_audio", "file"})


def _map_part(part: Any, fn: StrMap) -> Any:
    if not isinstance(part, dict):
        return map_json_strings(part, fn)
    if part.get("type") in _MEDIA_PARTS:
        return part
    return {k: v if k in ("type", "cache_control") else map_json_strings(v, fn) for k, v in part.items()}


def _map_chat_message(message: Any, fn: StrMap) -> Any:
    if not isinstance(message, dict):
        return map_json_strings(message, fn)
    out: dict[str, Any] = {}
    for key, value in message.items():
        if key in ("role", "name", "tool_call_id", "cache_control"):
            out[key] = value
        elif key == "content" and isinstance(value, list):
            out[key] = [_map_part(part, fn) for part in value]
        elif key == "tool_calls" and isinstance(value, list):
            out[key] = [_map_tool_call(call, fn) for call in value]
        elif key == "function_call" and isinstance(value, dict):
            out[key] = _map_function(value, fn)
        elif key == "thinking_blocks" and isinstance(value, list):
            out[key] = [
                {**b, "thinking": fn(b["thinking"])}
                if isinstance(b, dict) and isinstance(b.get("thinking"), str)
                else b
                for b in value
            ]
        else:
            out[key] = map_json_strings(value, fn)
    return out


def _map_function(function: dict[str, Any], fn: StrMap) -> dict[str, Any]:
    out = dict(function)
    if isinstance(function.get("arguments"), str):
        out["arguments"] = _map_arguments(function["arguments"], fn)
    return out


def _map_tool_call(call: Any, fn: StrMap) -> Any:
    if not isinstance(call, dict):
        return call
    out = dict(call)
    if isinstance(call.get("function"), dict):
        out["function"] = _map_function(call["function"], fn)
    return out


def _map_tool(tool: Any, fn: StrMap) -> Any:
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        return tool
    function = dict(tool["function"])
    if isinstance(function.get("description"), str):
        function["description"] = fn(function["description"])
    if "parameters" in function:
        function["parameters"] = map_json_strings(function["parameters"], fn)  # values only: keys are the schema
    return {**tool, "function": function}


def map_chat_request_strings(body: Mapping[str, Any], fn: StrMap) -> dict[str, Any]:
    """The model-readable fields of an OpenAI chat completions request (`messages`, `tools`, `functions`) with
    `fn` applied to every string in them: message text and text parts, tool results, earlier tool calls'
    arguments (keys included), reasoning and thinking text, and tool descriptions and parameter schemas (values
    only). Images, audio and files, roles, names and ids are left alone. Pure."""
    out: dict[str, Any] = {}
    if isinstance(body.get("messages"), list):
        out["messages"] = [_map_chat_message(m, fn) for m in body["messages"]]
    if isinstance(body.get("tools"), list):
        out["tools"] = [_map_tool(t, fn) for t in body["tools"]]
    if isinstance(body.get("functions"), list):
        out["functions"] = [_map_tool({"function": f}, fn)["function"] for f in body["functions"]]
    return out


def _has_media(body: Mapping[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") in _MEDIA_PARTS for p in content):
            return True
    return False


# --- restoring answers -----------------------------------------------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _set(obj: Any, name: str, value: Any) -> None:
    if isinstance(obj, dict):
        obj[name] = value
    else:
        setattr(obj, name, value)


def _restore_chat_message(message: Any, restore: StrMap) -> None:
    """Restore one chat answer message in place: content, reasoning, thinking, tool-call arguments."""
    for name in ("content", "reasoning_content"):
        if isinstance(_get(message, name), str):
            _set(message, name, restore(_get(message, name)))
    for block in _get(message, "thinking_blocks") or []:
        if isinstance(_get(block, "thinking"), str):
            _set(block, "thinking", restore(_get(block, "thinking")))
    calls = list(_get(message, "tool_calls") or [])
    function_call = _get(message, "function_call")
    for function in [_get(call, "function") for call in calls] + [function_call]:
        if function is not None and isinstance(_get(function, "arguments"), str):
            _set(function, "arguments", _map_arguments(_get(function, "arguments"), restore))


class ChatStreamRestorer:
    """Restores a stream of chat completion chunks: one Restorer per (choice, field) and per (choice, tool call).
    Held-back tails go out with the chunk that carries the choice's `finish_reason` (or in one extra chunk if the
    stream ends without one)."""

    def __init__(self, reverse: dict[str, str], grammar: PseudonymGrammar) -> None:
        self._grammar = grammar
        self._reverse = reverse
        self._json_reverse = {p: json.dumps(o, ensure_ascii=False)[1:-1] for p, o in reverse.items()}
        self._text: dict[tuple[int, str], Restorer] = {}
        self._tools: dict[tuple[int, int], Restorer] = {}
        self.last: Any = None

    def _text_restorer(self, key: tuple[int, str]) -> Restorer:
        if key not in self._text:
            self._text[key] = Restorer(self._reverse, self._grammar)
        return self._text[key]

    def _tool_restorer(self, key: tuple[int, int]) -> Restorer:
        if key not in self._tools:
            self._tools[key] = Restorer(self._json_reverse, self._grammar, json_text=True)
        return self._tools[key]

    def feed(self, chunk: Any) -> Any:
        """Restore one chunk in place and return it."""
        self.last = chunk
        for choice in _get(chunk, "choices") or []:
            index = _get(choice, "index") or 0
            delta = _get(choice, "delta")
            if delta is None:
                continue
            for name in ("content", "reasoning_content"):
                if isinstance(_get(delta, name), str):
                    _set(delta, name, self._text_restorer((index, name)).feed(_get(delta, name)))
            for call in _get(delta, "tool_calls") or []:
                function = _get(call, "function")
                if function is not None and isinstance(_get(function, "arguments"), str):
                    key = (index, _get(call, "index") or 0)
                    _set(function, "arguments", self._tool_restorer(key).feed(_get(function, "arguments")))
            if _get(choice, "finish_reason") is not None:
                self._flush_into(index, delta)
        return chunk

    def _flush_into(self, index: int, delta: Any) -> bool:
        """Append the held-back tails of one choice to `delta`; True if there were any."""
        found = False
        for (choice, name), restorer in list(self._text.items()):
            if choice == index:
                del self._text[(choice, name)]
                tail = restorer.flush()
                if tail:
                    _set(delta, name, (_get(delta, name) or "") + tail)
                    found = True
        for (choice, call_index), restorer in list(self._tools.items()):
            if choice == index:
                del self._tools[(choice, call_index)]
                tail = restorer.flush()
                if tail:
                    calls = list(_get(delta, "tool_calls") or [])
                    calls.append(ChatCompletionDeltaToolCall(index=call_index, function=Function(arguments=tail)))
                    _set(delta, "tool_calls", calls)
                    found = True
        return found

    def finish(self) -> Any | None:
        """End of stream: a last chunk holding every tail still held back, or None if nothing was."""
        if self.last is None or not (self._text or self._tools):
            return None
        chunk = copy.deepcopy(self.last)
        keep = []
        for choice in _get(chunk, "choices") or []:
            delta = _get(choice, "delta")
            if delta is None:
                continue
            for name in ("content", "reasoning_content"):
                _set(delta, name, None)
            _set(delta, "tool_calls", None)
            if self._flush_into(_get(choice, "index") or 0, delta):
                keep.append(choice)
        _set(chunk, "choices", keep)
        return chunk if keep else None


# --- the guardrail ---------------------------------------------------------------------------------------------


class _Unsupported(Exception):
    """A LiteLLM route whose body maskkit does not know how to mask (so it is refused, not forwarded)."""


def _rejection(exc: BaseException) -> HTTPException:
    """LiteLLM's error shape for a request maskkit refuses to send. The message names no original."""
    if isinstance(exc, _Unsupported):
        status, reason = (
            400,
            (
                f"maskkit masks chat completions and Anthropic messages only, not {exc} requests; "
                "turn the guardrail off for this route's keys or use /v1/chat/completions or /v1/messages"
            ),
        )
    elif isinstance(exc, MediaBlocked):
        status, reason = 400, str(exc)
    elif isinstance(exc, MaskkitError):
        status, reason = (503 if isinstance(exc, VaultError) else 500), str(exc)
    else:
        status, reason = 500, f"masking failed ({type(exc).__name__})"
    return HTTPException(
        status_code=status,
        detail={"error": f"maskkit guardrail: {reason}; the request was not sent to the model"},
    )


def _param(value: Any) -> Any:
    """A guardrail setting, with LiteLLM's `os.environ/NAME` form resolved."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        return os.environ.get(value.removeprefix("os.environ/")) or None
    return value


class MaskkitGuardrail(CustomGuardrail):
    """The maskkit guardrail. Settings (config.yaml `litellm_params`, all optional):

    - `namespace`: the maskkit namespace for requests without one of their own (default: MASKKIT_NAMESPACE).
    - `namespace_from`: `metadata` (default) uses the `maskkit_namespace` field of the LiteLLM key's metadata,
      else of its team's; `team_id` uses the team id; `fixed` always uses `namespace`.
    - `redis_url`: the vault's Redis (default: MASKKIT_REDIS_URL, else the embedded Redis of MASKKIT_HOME).
    - `maskkit_home`: the data dir (default: MASKKIT_HOME).

    `mode` must include both `pre_call` (mask) and `post_call` (restore). LiteLLM's `fail_on_error` /
    `unreachable_fallback` settings are ignored: a request that cannot be masked is never sent.
    """

    def __init__(
        self,
        namespace: str | None = None,
        namespace_from: str = "metadata",
        redis_url: str | None = None,
        maskkit_home: str | None = None,
        **kwargs: Any,
    ) -> None:
        modes = kwargs.get("event_hook")
        modes = [modes] if isinstance(modes, str) else list(modes or [])
        modes = [str(getattr(m, "value", m)) for m in modes]
        if "pre_call" not in modes or "post_call" not in modes:
            raise ValueError(
                "the maskkit guardrail masks before the call and restores after it: set "
                "`mode: [pre_call, post_call]` in its litellm_params"
            )
        namespace_from = str(_param(namespace_from) or "metadata")
        if namespace_from not in _NAMESPACE_FROM:
            raise ValueError(f"namespace_from must be one of {', '.join(_NAMESPACE_FROM)}")
        self._namespace = check_namespace(str(_param(namespace))) if _param(namespace) else None
        self._namespace_from = namespace_from
        self._redis_url = _param(redis_url)
        self._home = _param(maskkit_home)
        self._masker: Masker | None = None
        self._media = "pass"
        #: litellm_call_id -> (masker of the request's namespace, pseudonym -> original of its body).
        self._pending: OrderedDict[str, tuple[Masker, dict[str, str]]] = OrderedDict()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"MaskkitGuardrail(name={self.guardrail_name!r}, pending={len(self._pending)})"

    # -- setup

    def _base_masker(self) -> Masker:
        """The shared Masker (vault pool, detector, caches), built on the first request, not at start-up."""
        if self._masker is None:
            settings = load_settings()
            changes: dict[str, Any] = {}
            if self._redis_url:
                changes["redis_url"] = self._redis_url
            if self._home:
                changes["home"] = Path(self._home)
            if changes:
                settings = settings.evolve(**changes)
            self._media = settings.media  # MASKKIT_MEDIA, as in the maskkit proxy
            self._masker = Masker.from_settings(settings, namespace=self._namespace)
        return self._masker

    def namespace_for(self, user_api_key_dict: Any) -> str | None:
        """The namespace of a request: set by the LiteLLM admin on the key or team, never by the client."""
        if self._namespace_from == "metadata":
            for field in ("metadata", "team_metadata"):
                meta = getattr(user_api_key_dict, field, None)
                if isinstance(meta, dict) and meta.get(NAMESPACE_FIELD):
                    return check_namespace(str(meta[NAMESPACE_FIELD]))
        elif self._namespace_from == "team_id":
            team = getattr(user_api_key_dict, "team_id", None)
            if team:
                return check_namespace(str(team))
        return None

    def _remember_request(self, call_id: str, masker: Masker, reverse: dict[str, str]) -> None:
        self._pending[call_id] = (masker, reverse)
        while len(self._pending) > _MAX_PENDING:
            self._pending.popitem(last=False)

    def _take(self, data: Mapping[str, Any]) -> tuple[Masker, dict[str, str]] | None:
        call_id = data.get("litellm_call_id")
        return self._pending.pop(call_id, None) if isinstance(call_id, str) else None

    # -- pre-call: mask

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Mask the request in place (LiteLLM sends what this returns); raise LiteLLM's HTTP error if it cannot."""
        call_id = data.get("litellm_call_id")
        if isinstance(call_id, str) and call_id in self._pending:
            return data  # already masked (LiteLLM may run a guardrail at proxy and deployment level)
        try:
            masker = self._base_masker()
            namespace = self.namespace_for(user_api_key_dict)
            if namespace:
                masker = masker.for_namespace(namespace)
            kind = str(getattr(call_type, "value", call_type))  # a CallTypes member or its string
            if kind in _ANTHROPIC_CALLS:
                fields = {k: data[k] for k in _ANTHROPIC_FIELDS if k in data}
                masked, reverse = await masker.amask_request(fields, media=self._media)
            elif kind in _CHAT_CALLS:
                if self._media == "block" and _has_media(data):
                    raise MediaBlocked(
                        "this request holds images, audio or files, which maskkit cannot read, and the media "
                        "policy is `block` (MASKKIT_MEDIA)"
                    )
                masked, reverse = await self._mask_chat(masker, data)
            else:
                raise _Unsupported(kind)
        except Exception as exc:  # fail closed: whatever went wrong, nothing is sent
            log.warning("maskkit guardrail refused a request: %s", type(exc).__name__)
            raise _rejection(exc) from None
        data.update(masked)
        if isinstance(call_id, str):
            self._remember_request(call_id, masker, reverse)
        return data

    @staticmethod
    async def _mask_chat(masker: Masker, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        texts: list[str] = []

        def collect(text: str) -> str:
            texts.append(text)
            return text

        map_chat_request_strings(data, collect)
        masked_texts, reverse, _ = await masker.amask_texts(texts)
        table = dict(zip(texts, masked_texts, strict=True))
        return map_chat_request_strings(data, lambda t: table[t]), reverse

    # -- post-call: restore

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any, response: Any) -> Any:
        """Restore a whole answer (chat completion or Anthropic message) with the request's own mapping."""
        taken = self._take(data)
        if taken is None:
            return response
        masker, reverse = taken

        def restore(text: str) -> str:
            return unmask_text(text, reverse, masker.grammar)

        if isinstance(response, dict) and (response.get("type") in ("message", "error") or "content" in response):
            restored = map_response_strings(response, restore, numbers_of(reverse))
            await masker.keep_thinking(thinking_pairs(response, restored))
            response.clear()
            response.update(restored)
            return response
        for choice in _get(response, "choices") or []:
            message = _get(choice, "message")
            if message is not None:
                _restore_chat_message(message, restore)
        return response

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> HTTPException | None:
        """Forget the request's mapping; if the upstream's error message names its pseudonyms, answer with the
        same status and the message restored (the client wrote those originals; an error naming `ec2-001` is no
        use to it). The exception LiteLLM logs is left as it was, with pseudonyms only."""
        taken = self._take(request_data)
        message = getattr(original_exception, "message", None)
        if taken is None or not isinstance(message, str):
            return None
        masker, reverse = taken
        restored = unmask_text(message, reverse, masker.grammar)
        if restored == message:
            return None
        status = getattr(original_exception, "status_code", 500)
        return HTTPException(status_code=status if isinstance(status, int) else 500, detail={"error": restored})

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        """Restore a stream as it flows: chat chunks, or the raw Anthropic SSE bytes of `/v1/messages`."""
        taken = self._take(request_data)
        if taken is None:
            async for item in response:
                yield item
            return
        masker, reverse = taken
        sse: SSERestorer | None = None
        chat = ChatStreamRestorer(reverse, masker.grammar)
        try:
            async for item in _items(response):
                if isinstance(item, bytes | str):
                    sse = sse or SSERestorer(masker.stream_restorer(reverse))
                    out = sse.feed(item.encode("utf-8") if isinstance(item, str) else item)
                    if out:
                        yield out
                else:
                    yield chat.feed(item)
            if sse is not None:
                out = sse.flush()
                if out:
                    yield out
                await masker.keep_thinking(sse.completed_thinking)
            last = chat.finish()
            if last is not None:
                yield last
        except MaskkitError as exc:
            if sse is None:
                raise
            yield error_event("api_error", str(exc))


async def _items(response: Any) -> AsyncIterator[Any]:
    async for item in response:
        yield item
