"""`maskkit proxy --via litellm`: send the (already masked) Messages request through LiteLLM's Anthropic-messages
interface, so the same masking fronts any provider LiteLLM supports. Imported only when that mode is on:
LiteLLM takes seconds to import, and its releases have been hijacked before (see docs/proxy.md). I/O edge.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import AsyncIterator, Mapping
from typing import Any

from maskkit._extras import require
from maskkit.config import Settings
from maskkit.errors import UpstreamError

__all__ = ["LITELLM_ENV", "LiteLLMFailure", "import_litellm", "send"]


class LiteLLMFailure(UpstreamError):
    """An error LiteLLM reported, with the HTTP status it carries (its message may hold pseudonyms)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: Set (unless already set) before LiteLLM is imported: otherwise it downloads a price map and prints warnings.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")


def import_litellm() -> Any:
    """Import LiteLLM quietly (offline price map, no debug banners, its loggers silenced). The one place that
    imports it: the magic and `--via litellm` both come here, and nothing imports it at start-up."""
    for name, value in LITELLM_ENV.items():
        os.environ.setdefault(name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        litellm: Any = require("litellm", "litellm", "LiteLLM (`--via litellm`, %%safeclaude)")
    litellm.suppress_debug_info = True
    for name in _LITELLM_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


def litellm_model(model: str, models: Mapping[str, str]) -> str:
    """The LiteLLM model string for a Messages `model`: the configured mapping, else `anthropic/<model>`."""
    if model in models:
        return models[model]
    return model if "/" in model else f"anthropic/{model}"


async def send(body: dict[str, Any], settings: Settings, headers: Mapping[str, str]) -> Any:
    """Call LiteLLM with the masked body: a dict (JSON answer) or an async iterator of SSE bytes."""
    litellm = import_litellm()
    kwargs = dict(body)
    kwargs["model"] = litellm_model(str(body.get("model", "")), settings.litellm_models)
    kwargs["api_base"] = settings.upstream
    kwargs["api_key"] = headers.get("x-api-key") or settings.anthropic_api_key
    beta = headers.get("anthropic-beta")
    if beta:
        kwargs["extra_headers"] = {"anthropic-beta": beta}
    try:
        return await litellm.anthropic.messages.acreate(**kwargs)
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        message = getattr(exc, "message", None) or type(exc).__name__
        raise LiteLLMFailure(status if isinstance(status, int) else 502, str(message)) from None


async def stream_bytes(result: Any) -> AsyncIterator[bytes]:
    """LiteLLM's streaming answer as raw SSE bytes."""
    async for chunk in result:
        yield chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8")
