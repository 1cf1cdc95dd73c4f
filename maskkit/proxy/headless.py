"""`POST /v1/claude-code`: run Claude Code headless (through the Python Claude Agent SDK) behind this very proxy.

The Claude Code process is pointed back at the proxy that received the request (the address its socket
accepted the connection on, never the Host header), with the caller's own key, so everything it sends is masked
and everything it receives is restored; the result text is therefore already restored. Tools are off unless both
the request asks for them and the server allows them (MASKKIT_CLAUDE_CODE_TOOLS); with tools, every tenant that
can call this route has a shell on the proxy's host. The child inherits no maskkit setting or key and no
upstream credential (maskkit.childenv), and keeps its transcripts (which hold originals) in a temporary config
dir removed after the run. I/O edge.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskkit.childenv import is_scrubbed
from maskkit.config import Settings
from maskkit.errors import BadRequest, PermissionRefused

__all__ = ["HeadlessRequest", "parse_request", "run_headless"]


@dataclass(frozen=True)
class HeadlessRequest:
    prompt: str
    allowed_tools: tuple[str, ...] = ()
    cwd: str | None = None
    max_turns: int = 8


def parse_request(data: Any, settings: Settings) -> HeadlessRequest:
    """The request; BadRequest (or PermissionRefused for tools on a proxy that does not allow them) saying what
    is wrong with it."""
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str) or not data["prompt"].strip():
        raise BadRequest('expected {"prompt": "...", "allowed_tools": [...]?, "cwd": "..."?}')
    tools = data.get("allowed_tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise BadRequest("allowed_tools must be a list of tool names")
    if tools and not settings.claude_code_tools:
        raise PermissionRefused(
            "tools are disabled on this proxy; set MASKKIT_CLAUDE_CODE_TOOLS=1 where it runs to allow them"
        )
    cwd = data.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not Path(cwd).is_dir()):
        raise BadRequest("cwd must be an existing directory on the proxy's machine")
    home = settings.home.resolve()
    if cwd is not None and Path(cwd).resolve().is_relative_to(home):
        raise PermissionRefused("cwd may not be inside maskkit's data directory")
    turns = data.get("max_turns", 8)
    if not isinstance(turns, int) or isinstance(turns, bool) or not 1 <= turns <= 50:
        raise BadRequest("max_turns must be an integer from 1 to 50")
    return HeadlessRequest(data["prompt"], tuple(tools), cwd, turns)


def child_env(proxy_url: str, client_key: str | None, config_dir: str) -> dict[str, str]:
    """The variables handed to the Claude Agent SDK, which lays them over the proxy's own environment: every
    variable the child must not inherit is overridden with an empty value (the SDK offers no way to remove
    one), and the child is pointed at the proxy with the caller's key."""
    env = {name: "" for name in os.environ if is_scrubbed(name)}
    env.update(
        {
            "ANTHROPIC_BASE_URL": proxy_url,
            "CLAUDE_CONFIG_DIR": config_dir,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
        }
    )
    if client_key:
        env["ANTHROPIC_API_KEY"] = client_key
    return env


async def run_headless(
    request: HeadlessRequest, proxy_url: str, client_key: str | None, settings: Settings
) -> dict[str, Any]:
    """Run the prompt; returns {"result", "is_error", "num_turns", "session_id"}."""
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    # Claude Code writes transcripts (the prompt, restored answers: originals) under its config dir; both it and
    # the default cwd are a private temporary directory, removed when the run ends.
    with tempfile.TemporaryDirectory(prefix="maskkit-cc-") as scratch:
        config_dir = Path(scratch) / "config"
        workdir = Path(scratch) / "work"
        config_dir.mkdir(mode=0o700)
        workdir.mkdir(mode=0o700)
        options = ClaudeAgentOptions(
            cwd=request.cwd or str(workdir),
            env=child_env(proxy_url, client_key, str(config_dir)),
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
