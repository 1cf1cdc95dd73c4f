"""`POST /v1/claude-code`: run Claude Code headless (through the Python Claude Agent SDK) behind this very proxy.

The Claude Code process is pointed back at the proxy that received the request, with the caller's own key, so
everything it sends is masked and everything it receives is restored; the result text is therefore already
restored. Tools are off unless both the request asks for them and the server allows them
(MASKKIT_CLAUDE_CODE_TOOLS). I/O edge.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskkit.config import Settings

__all__ = ["HeadlessRequest", "parse_request", "run_headless"]


@dataclass(frozen=True)
class HeadlessRequest:
    prompt: str
    allowed_tools: tuple[str, ...] = ()
    cwd: str | None = None
    max_turns: int = 8


def parse_request(data: Any, settings: Settings) -> HeadlessRequest | str:
    """The request, or a message saying what is wrong with it."""
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str) or not data["prompt"].strip():
        return 'expected {"prompt": "...", "allowed_tools": [...]?, "cwd": "..."?}'
    tools = data.get("allowed_tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        return "allowed_tools must be a list of tool names"
    if tools and not settings.claude_code_tools:
        return "tools are disabled on this proxy; set MASKKIT_CLAUDE_CODE_TOOLS=1 where it runs to allow them"
    cwd = data.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not Path(cwd).is_dir()):
        return "cwd must be an existing directory on the proxy's machine"
    turns = data.get("max_turns", 8)
    if not isinstance(turns, int) or not 1 <= turns <= 50:
        return "max_turns must be an integer from 1 to 50"
    return HeadlessRequest(data["prompt"], tuple(tools), cwd, turns)


async def run_headless(
    request: HeadlessRequest, proxy_url: str, client_key: str | None, settings: Settings
) -> dict[str, Any]:
    """Run the prompt; returns {"result", "is_error", "num_turns", "session_id"}."""
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    config_dir = settings.home / "claude-code"
    config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        "ANTHROPIC_BASE_URL": proxy_url,
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    if client_key:
        env["ANTHROPIC_API_KEY"] = client_key
    with tempfile.TemporaryDirectory(prefix="maskkit-cc-") as scratch:
        options = ClaudeAgentOptions(
            cwd=request.cwd or scratch,
            env=env,
            allowed_tools=list(request.allowed_tools),
            tools=list(request.allowed_tools),
            max_turns=request.max_turns,
            cli_path=os.environ.get("MASKKIT_CLAUDE_BIN") or None,
        )
        result: ResultMessage | None = None
        async for message in query(prompt=request.prompt, options=options):
            if isinstance(message, ResultMessage):
                result = message
    if result is None:
        return {"result": None, "is_error": True, "num_turns": 0, "session_id": None}
    return {
        "result": result.result,
        "is_error": result.is_error,
        "num_turns": result.num_turns,
        "session_id": result.session_id,
    }
