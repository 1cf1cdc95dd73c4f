# ruff: noqa: E402, B018
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 05 · `%%safeclaude` in a notebook
#
# **Claim.** `%load_ext maskkit` adds the `%%safeclaude` cell magic: the cell is masked in-process (the same
# `Masker` the proxy uses), sent through LiteLLM, and the answer is restored before it is shown or stored.
# `--show-masked` displays exactly what is sent — pseudonyms only — and the model's side of the call (recorded
# here by the stand-in) matches it byte for byte. Values interpolated from Python variables (`{instance}`) are
# masked too, and a streamed answer is restored like a whole one.
#
# The upstream is the local stand-in of the Anthropic API (`MASKKIT_UPSTREAM`), with an obviously fake key;
# the vault is a fresh embedded one in a throw-away `MASKKIT_HOME`.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import os

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()

# %% [markdown]
# ## The stand-in model as the upstream
#
# Its responder answers with the pseudonyms it was shown, the way Claude echoes identifiers.

# %%
import re

from mktests.standin_model import StandinModel, Text

model = started.enter_context(StandinModel(max_delta_chars=2))
os.environ["MASKKIT_UPSTREAM"] = model.url  # where %%safeclaude sends (LiteLLM's api_base)
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-notebook-FAKE-key"  # the stand-in accepts anything


def respond(request):
    seen = dict.fromkeys(re.findall(r"\b(?:ec2|vpc|subnet)-\d{3,}\b", request.body.decode()))
    return Text("Check the route table of " + " and ".join(seen) + ".")


model.responder = respond

# %% [markdown]
# ## `%%safeclaude --show-masked`

# %%
# %load_ext maskkit

# %%
# %%safeclaude --model claude-sonnet-4-5 --show-masked -o answer
# Why does i-1234567890abcdef0 lose its route to vpc-0a1b2c3d4e5f67890?

# %% [markdown]
# Above: first what was sent (masked), then the restored answer. Below: what the model actually received, and the
# restored answer stored in `answer` by `-o`.

# %%
def received(request) -> str:
    """The text of the last user message, as the model received it (LiteLLM sends it as content blocks)."""
    content = request.json["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


sent = model.last_request
print("the model received:", received(sent))
print("model name        :", sent.json["model"], "| path:", sent.path)
print("answer (-o)       :", answer)  # noqa: F821 (`-o answer` defined it)

# %% [markdown]
# `_safeclaude_last` keeps the model's side of the last call; its repr never shows an original.

# %%
_safeclaude_last  # noqa: F821 (the magic defines it)

# %% [markdown]
# ## Interpolation and streaming
#
# `{instance}` is replaced by the variable's value *before* masking, so it is masked like typed text. With
# `--stream`, the answer arrives in 1–2 character deltas and is restored as it streams (`--no-display` here,
# so the stored output does not depend on how the deltas were grouped; the result is in `streamed`).

# %%
instance = "i-0fedcba9876543210"
subnet = "subnet-0aaaabbbbccccdddd"

# %%
# %%safeclaude --stream --no-display -o streamed
# Can {instance} in {subnet} reach i-1234567890abcdef0?

# %%
print("the model received:", received(model.last_request))
print("model streamed    :", model.last_request.json["stream"])
print("you got           :", streamed)  # noqa: F821 (`-o streamed` defined it)
body = "\n".join(r.body.decode() for r in model.requests)
print("an original in anything the model received:",
      any(o in body for o in ("i-1234567890abcdef0", "vpc-0a1b2c3d4e5f67890", instance, subnet)))

# %%
# Cleanup: stop the stand-in and the embedded Redis; delete the throw-away vault.
cleanup()
print("vault stopped:", not (HOME / "redis.sock").exists())
