# ruff: noqa: E402
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 08 · The MCP server, driven by the real `mcp` client
#
# **Claim.** `maskkit-mcp` (started over stdio exactly as Claude Code starts it) masks text with the same vault as
# everything else, and follows the **reveal rule**: `unmask` and `lookup(reveal=true)` hand originals to the
# model only when the conversation provably goes through a maskkit proxy — `ANTHROPIC_BASE_URL` points at a
# live proxy that answers a fresh challenge at `POST /maskkit/v1/prove` with an HMAC under *this vault's* key.
# Without a proxy they are refused with instructions; a proxy of another vault cannot prove itself; every reveal
# is recorded in an audit log that holds pseudonyms only. `start_proxy` / `proxy_status` / `stop_proxy` manage
# that proxy.
#
# The client is the `mcp` SDK's `ClientSession` over `stdio_client`. The proxy's upstream is the local stand-in
# of the Anthropic API; the vault is a fresh embedded one in a throw-away `MASKKIT_HOME`.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mktests.notebook import sandbox

from maskkit.vault import stop_embedded_redis

HOME, started, cleanup = sandbox()

# %% [markdown]
# ## A synchronous handle on an MCP session
#
# `stdio_client` and `ClientSession` are async context managers. To call tools from ordinary cells, the session
# runs in its own event loop in a background thread; `call()` submits one tool call to it and waits.

# %%
import asyncio
import concurrent.futures
import json
import threading

from mcp import ClientSession, StdioServerParameters, stdio_client


class McpSession:
    """One `python -m mcp_server` over stdio, as Claude Code starts it, with `env` as its environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"], env=env)
        self.log = log
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ready: concurrent.futures.Future = concurrent.futures.Future()
        self.task = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        self.session = self.ready.result(timeout=60)

    async def _serve(self) -> None:
        self.stop = asyncio.Event()
        try:
            with open(self.log, "a") as errlog:  # the server logs to stderr: keep it out of the notebook
                async with (
                    stdio_client(self.params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    self.ready.set_result(session)
                    await self.stop.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise

    def run(self, coroutine):
        """Run one session coroutine in the session's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def call(self, tool: str, **arguments):
        """Call one tool; returns the CallToolResult (`is_error`, `content`, `structured_content`)."""
        return self.run(self.session.call_tool(tool, arguments))

    def close(self) -> None:
        """Close stdin (the server then stops, with any proxy it started) and stop the loop."""
        self.loop.call_soon_threadsafe(self.stop.set)
        self.task.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def text(result) -> str:
    """The text blocks of a tool result, one per line."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def open_session(**env: str) -> McpSession:
    session = McpSession({"MASKKIT_HOME": str(HOME), **env}, HOME / "mcp-server.log")
    started.callback(session.close)
    return session


# %% [markdown]
# ## Without a proxy: mask yes, reveal no
#
# This session's environment has no `ANTHROPIC_BASE_URL`, like a Claude Code that talks to the API directly.

# %%
direct = open_session()
tools = direct.run(direct.session.list_tools()).tools
print("tools:", ", ".join(sorted(tool.name for tool in tools)))

# %%
INSTANCE, SG = "i-0a1b2c3d4e5f60718", "sg-0123456789abcdef0"
masked = direct.call("mask", text=f"why is {INSTANCE} unreachable from {SG}?")
print("is_error:", masked.is_error)
print(text(masked))

# %%
refused = direct.call("unmask", text="restart ec2-001")
print("is_error:", refused.is_error)
print(text(refused))

# %%
entry = direct.call("lookup", pseudonym="ec2-001").structured_content
print({key: entry[key] for key in ("pseudonym", "namespace", "kind", "hits")})
print("original included:", "original" in entry)
refused = direct.call("lookup", pseudonym="ec2-001", reveal=True)
print("lookup reveal=true -> is_error:", refused.is_error, "|", text(refused)[:95], "…")

# %% [markdown]
# ## `start_proxy`, then a conversation that goes through it
#
# `start_proxy` runs `maskkit proxy` on a free loopback port with the server's `MASKKIT_HOME` (so the same vault
# and key), and answers with the settings Claude Code needs — the key by its location, never its value. A second
# MCP session stands for the Claude Code restarted with those settings: its `ANTHROPIC_BASE_URL` is the proxy.

# %%
from mktests.standin_model import StandinModel

model = started.enter_context(StandinModel())
status = direct.call("start_proxy", upstream=model.url).structured_content
for key in ("started", "running", "healthy", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
    print(f"{key:<19}: {status[key]}")
print(f"{'upstream':<19}: the stand-in: {status['upstream'] == model.url}")
print("the proxy's key in the result:", (HOME / "proxy.key").read_text().strip() in json.dumps(status))

# %%
proxied = open_session(ANTHROPIC_BASE_URL=status["ANTHROPIC_BASE_URL"])
restored = proxied.call("unmask", text="restart ec2-001 in sg-001, not ec2-017")
print("is_error:", restored.is_error)
print(text(restored))

# %%
entry = proxied.call("lookup", pseudonym="sg-001", reveal=True).structured_content
print({key: entry[key] for key in ("pseudonym", "kind", "original")})
state = proxied.call("proxy_status").structured_content
print({key: state[key] for key in ("conversation_proxied", "reveal_allowed", "reveal_basis")})

# %% [markdown]
# Every reveal was written to `reveal-audit.jsonl` before it happened: which tool, which pseudonyms, on what
# basis — never the originals.

# %%
audit_log = (HOME / "reveal-audit.jsonl").read_text()
for line in audit_log.splitlines():
    record = json.loads(line)
    print({key: record[key] for key in ("tool", "target", "namespace", "pseudonyms", "basis")})
print("an original in the audit log:", INSTANCE in audit_log or SG in audit_log)

# %% [markdown]
# ## A proxy of another vault cannot vouch for the conversation
#
# A live `maskkit proxy` with its own `MASKKIT_HOME` (its own vault key) answers `/health` like any proxy, but it
# cannot compute this vault's proof, so reveals stay refused.

# %%
from mktests.proxyfixtures import start_proxy_process, stop_proxy_process

other_home = Path(tempfile.mkdtemp(prefix="maskkit-nb-"))
impostor = start_proxy_process({**os.environ, "MASKKIT_HOME": str(other_home)}, model.url, other_home)
started.callback(shutil.rmtree, other_home, True)
started.callback(stop_embedded_redis, other_home)
started.callback(stop_proxy_process, impostor)

elsewhere = open_session(ANTHROPIC_BASE_URL=impostor.url)
refused = elsewhere.call("unmask", text="restart ec2-001")
print("is_error:", refused.is_error)
print(text(refused).split(". To reveal")[0])

# %% [markdown]
# ## `stop_proxy`

# %%
stopped = direct.call("stop_proxy").structured_content
print("stopped:", stopped["stopped"])
print("running afterwards:", direct.call("proxy_status").structured_content["running"])

# %%
# Cleanup: stop the MCP servers, the proxies, the stand-in and the embedded Redis; delete the throw-away vaults.
cleanup()
print("vault stopped:", not (HOME / "redis.sock").exists())
