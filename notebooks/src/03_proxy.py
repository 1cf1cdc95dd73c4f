# ruff: noqa: E402
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 03 · The proxy, through the anthropic SDK
#
# **Claim.** With the official `anthropic` SDK pointed at `maskkit proxy`, the model (upstream) only ever sees
# pseudonyms, and the user only ever sees originals — for plain JSON answers, for streamed answers whose
# pseudonyms arrive split over many tiny deltas, and for tool calls, whose input is restored so the command
# names the real instance. The upstream also never sees the client's key: the proxy uses its own.
#
# The "model" is the local stand-in of the Anthropic API (`mktests.standin_model`, in tests/support): it records
# every request it receives and answers with the pseudonyms it was shown. The proxy is the real `maskkit proxy`
# command, run as a separate process on a free loopback port, with its own embedded vault in a throw-away
# `MASKKIT_HOME`. Nothing leaves 127.0.0.1, and every key below is an obviously fake one.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import contextlib
import os
from pathlib import Path

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()

# %% [markdown]
# ## Start the stand-in model and `maskkit proxy`
#
# This is what a user runs, with the stand-in's URL as the upstream: `maskkit proxy --port 0 --port-file F
# --upstream URL`, with `MASKKIT_API_KEY` (the key clients must present) and `ANTHROPIC_API_KEY` (the proxy's
# own key for the upstream API) in its environment.

# %%
import time

import httpx
from mktests.standin_model import StandinModel

from maskkit.launch import start_proxy, terminate, wait_ready

CLIENT_KEY = "mk-notebook-client-key"  # clients present this to the proxy
UPSTREAM_KEY = "sk-ant-notebook-FAKE-upstream-key"  # the proxy presents this upstream (fake: the upstream is local)

model = started.enter_context(StandinModel(max_delta_chars=2))  # streams answers 1-2 characters per delta


@contextlib.contextmanager
def maskkit_proxy(upstream: str, log: Path, **env: str):
    """Run `maskkit proxy` on a free loopback port until the block ends; yields its URL. maskkit.launch starts it,
    waits for its port file and /health, and stops it: the same launcher `maskkit run` and the MCP server use."""
    port_file = HOME / f"proxy-{time.monotonic_ns()}.port"
    process = start_proxy(port=0, port_file=port_file, upstream=upstream, log_path=log, env={**os.environ, **env})
    try:
        yield f"http://127.0.0.1:{wait_ready(process, port_file, log_path=log, timeout=30)}"
    finally:
        terminate(process.pid, process, timeout=10)


PROXY_LOG = HOME / "proxy.log"
PROXY_URL = started.enter_context(
    maskkit_proxy(
        model.url, PROXY_LOG, MASKKIT_API_KEY=CLIENT_KEY, ANTHROPIC_API_KEY=UPSTREAM_KEY, MASKKIT_LOG_LEVEL="DEBUG"
    )
)
print("proxy health:", httpx.get(PROXY_URL + "/health").json())

# %% [markdown]
# ## A JSON answer
#
# The stand-in's responder reads the request it received and answers with the pseudonyms in it, the way Claude
# would echo the identifiers it was given.

# %%
import re

import anthropic
from mktests.standin_model import Text, ToolUse

INSTANCE, SG, ACCOUNT = "i-0a1b2c3d4e5f60718", "sg-0123456789abcdef0", "493827160512"
PROMPT = f"Why is {INSTANCE} unreachable from {SG}? It runs in account_id={ACCOUNT}."
said = []  # what the model wrote, exactly


def seen(request, prefix: str) -> str:
    """The first pseudonym with this prefix in what the model received."""
    return re.search(rf"\b{prefix}-\d{{3,}}\b", request.body.decode()).group()


def answer(request):
    reply = f"{seen(request, 'ec2')} has no route from {seen(request, 'sg')}: allow 443 in {seen(request, 'sg')}."
    said.append(reply)
    return Text(reply)


model.responder = answer
client = anthropic.Anthropic(base_url=PROXY_URL, api_key=CLIENT_KEY, max_retries=0)
message = client.messages.create(
    model="claude-sonnet-4-6", max_tokens=300, messages=[{"role": "user", "content": PROMPT}]
)
upstream = model.last_request
print("you sent    :", PROMPT)
print("model saw   :", upstream.json["messages"][0]["content"])
print("model said  :", said[-1])
print("you got     :", message.content[0].text)

# %%
body = upstream.body.decode()
print("an original in the upstream request body:", any(o in body for o in (INSTANCE, SG, ACCOUNT)))
print("upstream x-api-key is the proxy's own key:", upstream.headers.get("x-api-key") == UPSTREAM_KEY)
print("the client's key reached the upstream    :", CLIENT_KEY in str(upstream.headers) + body)

# %% [markdown]
# ## A streamed answer
#
# The stand-in streams its answer 1–2 characters per delta, so every pseudonym reaches the proxy in pieces
# (`e`, `c2`, `-0`, `01`). The proxy holds back only a tail that could still become a pseudonym and emits the
# original once the pseudonym is complete: the user never sees a pseudonym, nor half an instance id.

# %%
with client.messages.stream(
    model="claude-sonnet-4-6", max_tokens=300, messages=[{"role": "user", "content": PROMPT}]
) as stream:
    deltas = list(stream.text_stream)
print("model saw   :", model.last_request.json["messages"][0]["content"])
print("model said  :", said[-1])
print("you got     :", "".join(deltas))
print("the instance id arrived whole, in one delta:", any(INSTANCE in d for d in deltas))
print("a pseudonym in what you got:", bool(re.search(r"\b(ec2|sg|acct)-\d{3,}\b", "".join(deltas))))

# %% [markdown]
# ## A tool call
#
# The model asks to run a command on the pseudonym it knows. The tool input the user receives names the real
# instance, so the command can run as is. Then the tool's real output goes back as a `tool_result`, and the
# model sees it masked — with the same pseudonyms as before.

# %%
TOOLS = [
    {
        "name": "run_aws",
        "description": "Run an AWS CLI command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    }
]


def call_tool(request):
    command = f"aws ec2 describe-instances --instance-ids {seen(request, 'ec2')}"
    said.append(command)
    return ToolUse("run_aws", {"command": command}, text_before="Let me check the instance.", id="toolu_01notebook")


model.responder = call_tool
turn1 = [{"role": "user", "content": PROMPT}]
message = client.messages.create(model="claude-sonnet-4-6", max_tokens=300, tools=TOOLS, messages=turn1)
tool_use = message.content[-1]
print("model said  :", said[-1])
print("you got     :", tool_use.input["command"])

# %%
with client.messages.stream(model="claude-sonnet-4-6", max_tokens=300, tools=TOOLS, messages=turn1) as stream:
    streamed = stream.get_final_message()
print("streamed, you got:", streamed.content[-1].input["command"])

# %%
tool_output = f"{INSTANCE}  stopped  SecurityGroups: {SG}  OwnerId: {ACCOUNT}"  # as the real command would print it
turn2 = [
    *turn1,
    {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": tool_output}]},
]
model.responder = answer
final = client.messages.create(model="claude-sonnet-4-6", max_tokens=300, tools=TOOLS, messages=turn2)
masked_turn2 = model.last_request.json["messages"]
print("tool output you sent :", tool_output)
print("model saw            :", masked_turn2[2]["content"][0]["content"])
print("model's own tool call:", masked_turn2[1]["content"][1]["input"]["command"])
print("you got              :", final.content[0].text)

# %% [markdown]
# Across the whole session: no original in any request the upstream received, and none in the proxy's log
# (written at DEBUG level), which does record every request.

# %%
everything_upstream = "\n".join(r.body.decode() for r in model.requests)
log = PROXY_LOG.read_text()
print("requests the upstream received:", len(model.requests))
print("an original in any of them    :", any(o in everything_upstream for o in (INSTANCE, SG, ACCOUNT)))
print("the proxy log records the requests:", "POST /v1/messages" in log)
print("an original in the proxy log  :", any(o in log for o in (INSTANCE, SG, ACCOUNT)))

# %%
# Cleanup: stop the proxy, the stand-in and the embedded Redis; delete the throw-away vault.
cleanup()
print("proxy and stand-in stopped, vault stopped:", not (HOME / "redis.sock").exists())
