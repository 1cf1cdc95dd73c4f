"""Benchmark: what the maskkit guardrail adds to a LiteLLM proxy, against the same LiteLLM proxy without it.

Three `litellm --config` processes in one run, the same config (examples/litellm/config.yaml): without the
`guardrails:` section (plain), with a do-nothing guardrail on the same hooks (noop: what LiteLLM's guardrail
machinery costs by itself, the floor for any guardrail), and with maskkit (an embedded vault in a temporary
MASKKIT_HOME). All are in front of one stand-in model process (`mktests.standin_model`, Anthropic Messages API;
LiteLLM translates chat completions to it). Requests rotate over the three proxies, so drift on a shared 2-core
box hits all alike. Every answer is checked: the stand-in echoes the prompt, and the client must get back exactly
what it sent (the guarded proxy masks it on the way up and restores it on the way down).

Workloads, a fresh AWS text per request (new identifiers: detect + mint every time, the cold case):
  chat      POST /v1/chat/completions, JSON, ~1 KB prompt
  messages  POST /v1/messages, JSON, ~1 KB prompt
  stream    POST /v1/messages, stream: true, ~1 KB prompt echoed in 1-3 character deltas: time to first byte
            and to last byte
Prints machine, Python, commit and a table (p50/p99 per target, maskkit's added latency over plain and over
noop, and the median of paired per-round differences, which cancels drift); the last line is one JSON object.
Target from the issue: stream TTFB p50 at most 5 ms above plain.

    uv run --all-extras python bench/litellm_guardrail.py [--n 60]

Everything listens on 127.0.0.1; every child is stopped at the end (and runs under `timeout` in case we die).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from benchinfo import commit, cpu
from mktests.proxyfixtures import free_port

from maskkit.launch import terminate
from maskkit.vault import stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "litellm" / "config.yaml"
MASTER_KEY = "sk-bench-master"
LIFETIME_S = 1800
TARGETS = ("plain", "noop", "maskkit")

#: A guardrail that does nothing on the hooks maskkit uses (LiteLLM loads it from the config's directory).
NOOP_GUARDRAIL = """
from litellm.integrations.custom_guardrail import CustomGuardrail


class Noop(CustomGuardrail):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        async for item in response:
            yield item
"""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _start(name: str, command: list[str], env: dict[str, str], ready: str, workdir: Path, port: int) -> Child:
    log = workdir / f"{name}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            ["timeout", "-s", "TERM", "-k", "5", str(LIFETIME_S), *command],
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + ready, timeout=2, trust_env=False).status_code == 200:
                return Child(name, process, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"{name} did not become ready in 240 s")


def _stop(child: Child) -> None:
    terminate(child.process.pid, child.process, timeout=15)


def _prompt() -> str:
    """~1 KB of AWS text with never-seen identifiers."""
    lines = []
    for _ in range(8):
        lines.append(
            f"instance i-{secrets.token_hex(9)[:17]} in sg-{secrets.token_hex(9)[:17]} "
            f"uses key AKIA{secrets.token_hex(8).upper()[:16]} for arn:aws:iam::{secrets.randbelow(10**12):012d}:"
            f"role/app-{secrets.token_hex(3)}; logs at s3://logs-{secrets.token_hex(4)}/x"
        )
    return "\n".join(lines)


def _chat(client: httpx.Client, url: str, prompt: str) -> float:
    start = time.perf_counter()
    response = client.post(
        url + "/v1/chat/completions",
        json={"model": "claude-sonnet-4-5", "max_tokens": 1000, "messages": [{"role": "user", "content": prompt}]},
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    if response.json()["choices"][0]["message"]["content"] != "You said: " + prompt:
        raise AssertionError("chat answer not restored exactly")
    return elapsed


def _messages(client: httpx.Client, url: str, prompt: str) -> float:
    start = time.perf_counter()
    response = client.post(
        url + "/v1/messages",
        json={"model": "claude-sonnet-4-5", "max_tokens": 1000, "messages": [{"role": "user", "content": prompt}]},
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    if response.json()["content"][0]["text"] != "You said: " + prompt:
        raise AssertionError("messages answer not restored exactly")
    return elapsed


def _stream(client: httpx.Client, url: str, prompt: str) -> tuple[float, float]:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    start = time.perf_counter()
    first: float | None = None
    raw = b""
    with client.stream("POST", url + "/v1/messages", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            if first is None and chunk:
                first = time.perf_counter() - start
            raw += chunk
    total = time.perf_counter() - start
    text = ""
    for line in raw.decode().splitlines():
        if line.startswith("data:"):
            data = json.loads(line[5:])
            if data.get("type") == "content_block_delta" and data["delta"].get("type") == "text_delta":
                text += data["delta"]["text"]
    if text != "You said: " + prompt:
        raise AssertionError("streamed answer not restored exactly")
    return first or total, total


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="requests per workload and target")
    args = parser.parse_args()
    litellm = Path(sys.executable).parent / "litellm"
    if not litellm.exists():
        print("the litellm command is missing: run with `uv run --all-extras`", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="mk-bench-litellm-"))
    home = workdir / "home"
    home.mkdir()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_", "LITELLM_", "AWS_"))}
    children: list[Child] = []
    results: dict[str, dict[str, list[float]]] = {name: {} for name in TARGETS}
    try:
        standin_port = free_port()
        standin = _start(
            "standin",
            [sys.executable, "-m", "mktests.standin_model", "--port", str(standin_port)],
            base_env,
            "/v1/models",
            workdir,
            standin_port,
        )
        children.append(standin)
        config = yaml.safe_load(EXAMPLE.read_text())
        plain_config = {k: v for k, v in config.items() if k != "guardrails"}
        noop_config = json.loads(json.dumps(config))
        noop_config["guardrails"][0]["guardrail_name"] = "noop"
        noop_config["guardrails"][0]["litellm_params"] = {
            "guardrail": "noop_guardrail.Noop",
            "mode": ["pre_call", "post_call"],
            "default_on": True,
        }
        (workdir / "noop_guardrail.py").write_text(NOOP_GUARDRAIL)
        (workdir / "maskkit.yaml").write_text(yaml.safe_dump(config))
        (workdir / "noop.yaml").write_text(yaml.safe_dump(noop_config))
        (workdir / "plain.yaml").write_text(yaml.safe_dump(plain_config))
        env = {
            **base_env,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_OFFLINE_MODE": "true",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "MASKKIT_UPSTREAM": standin.url,
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "MASKKIT_HOME": str(home),
        }
        urls = {}
        for name in TARGETS:
            port = free_port()
            command = [str(litellm), "--config", str(workdir / f"{name}.yaml"), "--host", "127.0.0.1"]
            child = _start(name, [*command, "--port", str(port)], env, "/health/liveliness", workdir, port)
            children.append(child)
            urls[name] = child.url
        headers = {"Authorization": f"Bearer {MASTER_KEY}"}
        with httpx.Client(timeout=120, trust_env=False, headers=headers) as client:
            for _ in range(5):  # warm both (imports, connection pools, the vault)
                for url in urls.values():
                    _chat(client, url, _prompt())
                    _messages(client, url, _prompt())
                    _stream(client, url, _prompt())
            order = list(urls)
            for i in range(args.n):
                rotated = order[i % 3 :] + order[: i % 3]
                for name in rotated:
                    bucket = results[name]
                    bucket.setdefault("chat", []).append(_chat(client, urls[name], _prompt()))
                    bucket.setdefault("messages", []).append(_messages(client, urls[name], _prompt()))
                    ttfb, total = _stream(client, urls[name], _prompt())
                    bucket.setdefault("stream_ttfb", []).append(ttfb)
                    bucket.setdefault("stream_total", []).append(total)
    finally:
        for child in reversed(children):
            _stop(child)
        stop_embedded_redis(home)  # the guarded LiteLLM started it; it outlives its last client
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"machine: {cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}; commit {commit()}")
    print(f"LiteLLM proxy: plain, no-op guardrail, maskkit guardrail; {args.n} requests each, ~1 KB fresh AWS text")
    print(
        f"{'workload':<14}{'plain p50':>11}{'p99':>9}{'noop p50':>10}{'p99':>9}{'maskkit p50':>13}{'p99':>9}"
        f"{'+plain p50':>12}{'p99':>9}{'+noop p50':>11}{'p99':>9}{'paired +plain':>15}{'+noop':>8}"
    )
    summary: dict[str, Any] = {"bench": "litellm_guardrail", "n": args.n, "commit": commit()}
    for workload in ("chat", "messages", "stream_ttfb", "stream_total"):
        row: dict[str, float] = {}
        for name in TARGETS:
            row[f"{name}_p50_ms"] = _pct(results[name][workload], 0.5)
            row[f"{name}_p99_ms"] = _pct(results[name][workload], 0.99)
        for base in ("plain", "noop"):
            for q in ("p50", "p99"):
                row[f"added_over_{base}_{q}_ms"] = row[f"maskkit_{q}_ms"] - row[f"{base}_{q}_ms"]
            # Paired: the same round's requests ran back to back, so their difference cancels drift.
            paired = [m - b for m, b in zip(results["maskkit"][workload], results[base][workload], strict=True)]
            row[f"paired_over_{base}_p50_ms"] = statistics.median(paired) * 1000
        summary[workload] = {k: round(v, 2) for k, v in row.items()}
        cells = [row[f"{name}_{q}_ms"] for name in TARGETS for q in ("p50", "p99")]
        added = [row[f"added_over_{base}_{q}_ms"] for base in ("plain", "noop") for q in ("p50", "p99")]
        print(
            f"{workload:<14}{cells[0]:>9.1f}ms{cells[1]:>7.1f}ms{cells[2]:>8.1f}ms{cells[3]:>7.1f}ms"
            f"{cells[4]:>11.1f}ms{cells[5]:>7.1f}ms{added[0]:>+10.1f}ms{added[1]:>+7.1f}ms"
            f"{added[2]:>+9.1f}ms{added[3]:>+7.1f}ms"
            f"{row['paired_over_plain_p50_ms']:>+13.1f}ms{row['paired_over_noop_p50_ms']:>+6.1f}ms"
        )
    summary["stream_ttfb_target_met"] = summary["stream_ttfb"]["added_over_plain_p50_ms"] <= 5.0
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
