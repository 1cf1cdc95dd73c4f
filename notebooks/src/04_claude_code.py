# ruff: noqa: E402
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 04 · Claude Code through the proxy
#
# **Claim.** The real Claude Code CLI (`claude -p`, headless) works unchanged behind `maskkit proxy`: its answer
# names the real instance, and when the model calls the Bash tool with a pseudonym, the command Claude Code runs
# on this machine holds the **real** identifier (the file it writes contains it), while the model — in every
# request of the session, including the tool result — sees only pseudonyms.
#
# Claude Code runs fully offline: `ANTHROPIC_BASE_URL` points at the proxy, the proxy's upstream is the local
# stand-in of the Anthropic API, and Claude Code gets a throw-away `HOME`/`CLAUDE_CONFIG_DIR`. The CLI comes from
# the same cache the test suite uses (`~/.cache/maskkit-tests/claude-code-<version>`), installed with npm if
# missing, exactly as the `claude_binary` fixture does.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import os
import shutil
import sys

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()

# %% [markdown]
# ## The Claude Code CLI, from the test suite's cache

# %%
import subprocess

from mktests.proxyfixtures import CACHE, CLAUDE_VERSION

prefix = CACHE / f"claude-code-{CLAUDE_VERSION}"
claude = prefix / "bin" / "claude"
if not claude.exists():  # what the claude_binary fixture does: npm install into the cache (about 4 s)
    prefix.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm") or sys.exit("npm is needed to install the Claude Code CLI; install Node.js")
    subprocess.run(
        [npm, "install", "-g", "--prefix", str(prefix), f"@anthropic-ai/claude-code@{CLAUDE_VERSION}"],
        check=True, capture_output=True, timeout=600, stdin=subprocess.DEVNULL,
    )
version = subprocess.run([claude, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
print("Claude Code CLI installed, pinned version:", version.stdout.split()[0] == CLAUDE_VERSION)

# %% [markdown]
# ## The stand-in model and `maskkit proxy`
#
# `start_proxy_process` (from `mktests.proxyfixtures`) runs `python -m maskkit proxy --port 0 --port-file F
# --upstream URL` with test keys, and waits for `/health`. `claude_env` is the environment that keeps Claude Code
# offline (no telemetry, no auto-update, no retries, a throw-away config dir).

# %%
import re

from mktests.proxyfixtures import claude_env, run_claude, start_proxy_process, stop_proxy_process
from mktests.standin_model import StandinModel, Text, ToolUse

model = started.enter_context(StandinModel(max_delta_chars=2))
proxy = start_proxy_process(dict(os.environ), model.url, HOME)
started.callback(stop_proxy_process, proxy)
env = claude_env(proxy.url, HOME / "claude-home")
print("Claude Code talks to the proxy:", env["ANTHROPIC_BASE_URL"] == proxy.url, "| proxy's upstream: the stand-in")

INSTANCE, SG = "i-07c3d2e1f0a9b8c7d", "sg-0fedcba9876543210"
PROMPT = f"why is {INSTANCE} unreachable from {SG}?"


def seen(request, prefix: str) -> str:
    """The first pseudonym with this prefix in what the model received."""
    return re.search(rf"\b{prefix}-\d{{3,}}\b", request.body.decode()).group()


def prompt_as_seen(request) -> str:
    """The user's prompt as it reached the model (Claude Code sends the turn as several text blocks)."""
    for message in request.json["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "text" and "unreachable" in block["text"]:
                return block["text"]
    return "(not found)"


# %% [markdown]
# ## A text answer
#
# The model answers with the pseudonyms it was given; `claude -p` prints the answer with the real identifiers.

# %%
said = []


def answer(request):
    said.append(f"{seen(request, 'ec2')} sits behind {seen(request, 'sg')}.")
    return Text(said[-1])


model.responder = answer
result = run_claude(claude, env, HOME, "-p", PROMPT)
print("exit code      :", result.returncode)
print("you asked      :", PROMPT)
print("model saw      :", prompt_as_seen(model.last_request))
print("model said     :", said[-1])
print("claude printed :", result.stdout.strip())

# %% [markdown]
# ## A Bash tool round trip
#
# The model asks Claude Code to run `echo <ec2 pseudonym> <sg pseudonym> | tee ids.txt`. The proxy restores the
# tool call, so Claude Code runs the command with the real ids and the file on disk holds them. The command's
# output goes back to the model as a `tool_result` — masked again by the proxy.

# %%
work = HOME / "work"
work.mkdir()
model.clear()
said.clear()


def bash_round_trip(request):
    if "tool_result" in str(request.json["messages"][-1]):
        said.append("The file is written.")
        return Text(said[-1])
    said.append(f"echo {seen(request, 'ec2')} {seen(request, 'sg')} | tee ids.txt")
    return ToolUse("Bash", {"command": said[-1], "description": "Record the ids"}, text_before="Recording the ids.")


model.responder = bash_round_trip
result = run_claude(claude, env, work, "-p", PROMPT, "--allowedTools", "Bash")
first, second = model.requests[0], model.requests[-1]
tool_result = next(
    block
    for message in second.json["messages"]
    for block in (message["content"] if isinstance(message["content"], list) else [])
    if block.get("type") == "tool_result"
)
print("exit code                  :", result.returncode)
print("model saw                  :", prompt_as_seen(first))
print("model's Bash call          :", said[0])
print("ids.txt on disk            :", (work / "ids.txt").read_text().strip())
print("tool result the model saw  :", str(tool_result["content"]).strip())
print("claude printed             :", result.stdout.strip())

# %% [markdown]
# Over the whole session — every request Claude Code sent, with its system prompt, ~25 tool definitions and the
# tool result — no original reached the model, and none is in the proxy's log.

# %%
bodies = "\n".join(r.body.decode() for r in model.requests)
print("requests the model received:", len(model.requests))
print("an original in any of them  :", INSTANCE in bodies or SG in bodies)
print("an original in the proxy log:", INSTANCE in proxy.log_text() or SG in proxy.log_text())

# %%
# Cleanup: stop the proxy, the stand-in and the embedded Redis; delete the throw-away vault.
cleanup()
print("proxy stopped:", proxy.process.poll() is not None, "| vault stopped:", not (HOME / "redis.sock").exists())
