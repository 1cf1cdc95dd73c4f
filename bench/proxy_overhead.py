"""Benchmark: what the maskkit proxy adds to a Messages API call, against a do-nothing pass-through floor.

Three ways to the same stand-in model (`mktests.standin_model`), in one run, each server its own uvicorn process
(so the client's CPU does not distort them): direct, through a plain Starlette + httpx pass-through that streams
bytes (the floor: same stack as maskkit, no work), and through `python -m maskkit proxy` (embedded vault in a
temporary MASKKIT_HOME, always stopped at the end). Requests are interleaved across the three targets (rotating
order), so drift on a shared 2-core box hits all three alike. Every answer is checked: the client must get back
exactly the text it sent (the stand-in echoes it; maskkit masks it on the way up and restores it on the way down).

Workloads (fresh awsgen identifiers everywhere, so "cold" really means never seen):
  (a) 10 KB JSON: one user message of ~10 KB of AWS text, a new text per request (detect + mint every time);
      also the same bodies repeated (warm span cache, known mappings).
  (b) a Claude Code request of ~150 KB: billing header + system prompt, 25 tool definitions with long
      descriptions (~85 KB), a history of Bash tool calls whose results are awsgen output; `stream: true`.
      Cold (a never-seen session), warm (the same body re-sent, as Claude Code does every turn), and a growing
      conversation (each turn appends one tool call and its result). Time to first byte and to last byte.
      In-process: `await masker.amask_request(body)` on the same body, cold and warm (cc_body_mask_*), and
      for the growing turn its CPU time per stage (walking the body, keys, plan, detection, replacement) and
      the wall time of its vault round trip.
  (c) SSE: ~11.5 KB request (10 KB of context + a 1.5 KB last message the stand-in streams back in 1-3 character
      deltas, as Claude Code sees them): added latency to last byte (p50/p99), added time to first byte; the same
      10 requests re-sent (warm: the stream path's own cost, apart from masking new text); and the
      restore throughput in-process (MB/s of streamed text: Restorer alone, MessageStreamRestorer on parsed
      events, and the whole wire path SSE bytes -> decoder -> restore -> re-encoded bytes).
  (d) 200 concurrent streams through maskkit (and the floor): errors, and cross-talk (each client gets exactly
      its own restored answer).

Each of (a), (a warm), (c), (c warm) also prints the CPU milliseconds per request each server's processes used
(user + system, from /proc; the vault's redis-server not counted): steadier than latency on a shared box.

Targets: added p50 <= 2 ms and p99 <= 10 ms on (a); masking the 150 KB body <= 10 ms (warm); TTFB no more than
1 ms above the pass-through floor. Prints machine, Python, commit and a table; the last line is one JSON object.

    uv run python bench/proxy_overhead.py [--n-json 250] [--n-sse 80] [--only a,b,c,d]
    uv run python bench/proxy_overhead.py --candidate-cmd "{python} my_patched_maskkit.py"   # A/B, same run

Servers are bounded: each child runs under `timeout`, the stand-in and pass-through also exit when this process
goes away. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from benchinfo import commit as _commit
from mktests import awsgen

from maskkit.launch import terminate

ROOT = Path(__file__).resolve().parents[1]

CLIENT_KEY = "mk-bench-client-key"
UPSTREAM_KEY = "sk-ant-bench-upstream-key"
CC_USER = "bench-claude-code"
MODEL = "claude-sonnet-4-5"
SERVER_LIFETIME_S = 300  # every child process stops by itself after this

# --------------------------------------------------------------------------------------------------------------
# Servers (run as child processes of this script)
# --------------------------------------------------------------------------------------------------------------

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _exit_with_parent(parent: int) -> None:
    """A daemon thread: SIGTERM ourselves when the benchmark process is gone (or after SERVER_LIFETIME_S)."""

    def alive() -> bool:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def watch() -> None:
        deadline = time.monotonic() + SERVER_LIFETIME_S
        while time.monotonic() < deadline and alive():
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _bind(port_file: Path) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the socket's proto is
    # IPPROTO_TCP (`base_events._set_nodelay`); with proto 0, Nagle + delayed ACK add ~40 ms to many responses.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    partial = port_file.with_name(port_file.name + ".partial")
    partial.write_text(str(sock.getsockname()[1]), encoding="ascii")
    os.replace(partial, port_file)
    return sock


def serve_floor(upstream: str, port_file: Path, parent: int) -> None:
    """The do-nothing pass-through: Starlette + httpx, body read whole, answer streamed back chunk by chunk.

    Same stack and settings as maskkit's proxy (uvicorn defaults, httpx.AsyncClient with default limits and the
    same timeouts), minus everything maskkit does to the bytes.
    """
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0), follow_redirects=False) as client:
            state["http"] = client
            yield

    async def forward(request: Request) -> Response:
        client = state["http"]
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream_request = client.build_request(request.method, url, headers=headers, content=body)
        answer = await client.send(upstream_request, stream=True)
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers=out_headers,
            background=BackgroundTask(answer.aclose),
        )

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)
    _exit_with_parent(parent)
    sock = _bind(port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def _bench_responder(recorded: Any) -> Any:
    """Claude Code requests (marked in metadata) get a short answer that repeats the last Bash command (so it
    names AWS resources); everything else gets the stand-in's echo."""
    from mktests.standin_model import Text

    body = recorded.json
    if not (isinstance(body, dict) and isinstance(body.get("metadata"), dict)):
        return None
    if body["metadata"].get("user_id") != CC_USER:
        return None
    return Text("You ran: " + _last_command(body))


def _last_command(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") == "assistant" and isinstance(content, list):
            for block in reversed(content):
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    return str(block.get("input", {}).get("command", ""))
    return ""


def serve_standin(port_file: Path, parent: int) -> None:
    """The stand-in model in its own process (deltas of 1-3 characters, no delay between events)."""
    from mktests.standin_model import StandinModel

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _exit_with_parent(parent)
    with StandinModel(port=0, max_delta_chars=3) as model:
        model.responder = _bench_responder
        partial = port_file.with_name(port_file.name + ".partial")
        partial.write_text(str(model.port), encoding="ascii")
        os.replace(partial, port_file)
        while not stop.wait(0.5):
            # The stand-in records every request; the benchmark never reads them, so keep memory flat.
            with model._condition:
                if len(model._requests) > 200:
                    del model._requests[:-20]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _start(name: str, command: list[str], workdir: Path, env: dict[str, str], ready_path: str) -> Child:
    port_file = workdir / f"{name}.port"
    log_path = workdir / f"{name}.log"
    full = ["timeout", "-s", "TERM", "-k", "5", str(SERVER_LIFETIME_S), *command, "--port-file", str(port_file)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            full, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        if port_file.exists():
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready_path, timeout=1, trust_env=False).status_code < 500:
                    return Child(name, process, url, log_path)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not become ready in 30 s")


def _stop(child: Child) -> None:
    terminate(child.process.pid, child.process, timeout=10)


# --------------------------------------------------------------------------------------------------------------
# Workload generation
# --------------------------------------------------------------------------------------------------------------


def aws_text(rng: random.Random, size: int) -> str:
    """About `size` characters of awsgen documents (fresh identifiers), cut at a line end."""
    parts: list[str] = []
    total = 0
    for doc in awsgen.generate_documents(rng, 12):
        parts.append(doc.text)
        total += len(doc.text) + 1
        if total >= size:
            break
    text = "\n".join(parts)
    if len(text) > size:
        cut = text.rfind("\n", 0, size)
        text = text[: cut if cut > size // 2 else size]
    return text


_VOCAB = (
    "the a an to of and in is for that with this tool use when you file command should be not or are it on as "
    "can must do only if your by from any all run output result user path directory repository commit branch "
    "change edit read write search pattern match line lines content code function test tests project working "
    "current before after instead never always prefer avoid make sure example examples important note task tasks "
    "agent parallel multiple single call calls response return returns parameter parameters optional required "
    "absolute relative existing new create update delete string number boolean array object value values default "
    "timeout background shell bash git status diff log message pull request review explain briefly concise clear "
    "first then next finally already unless otherwise within between each every other same different specific"
).split()
_CODE = (
    "`git status`",
    "`npm test`",
    "`/home/user/project/src/main.py`",
    "`ls -la`",
    "`**/*.ts`",
    "`--no-verify`",
    "`rg -n TODO`",
    "`pytest -x`",
    "`old_string`",
    "`replace_all`",
    "`run_in_background`",
    "`cd /repo && make`",
)


def prose(rng: random.Random, size: int) -> str:
    """Tool-description-like English of about `size` characters: sentences, bullets, code spans."""
    out: list[str] = []
    total = 0
    while total < size:
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(6, 22))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(_CODE))
        sentence = " ".join(words).capitalize() + "."
        if rng.random() < 0.15:
            sentence = "\n- " + sentence
        elif rng.random() < 0.05:
            sentence = "\n\n## " + sentence.rstrip(".").title() + "\n"
        out.append(sentence)
        total += len(sentence) + 1
    return " ".join(out)[:size]


#: Claude Code-like tool names and description sizes (chars): ~64 KB of descriptions, ~85 KB with the schemas.
_TOOLS = {
    "Agent": 2400,
    "Bash": 9500,
    "Glob": 700,
    "Grep": 2100,
    "LS": 400,
    "ExitPlanMode": 1300,
    "Read": 1600,
    "Edit": 1100,
    "MultiEdit": 2300,
    "Write": 700,
    "NotebookEdit": 900,
    "WebFetch": 1300,
    "WebSearch": 900,
    "TodoWrite": 7000,
    "CronCreate": 3500,
    "CronDelete": 250,
    "EnterWorktree": 3600,
    "ExitWorktree": 2300,
    "Skill": 2000,
    "TaskCreate": 2600,
    "TaskList": 1200,
    "TaskOutput": 1300,
    "TaskUpdate": 2700,
    "Workflow": 11500,
    "SlashCommand": 1400,
}


def tool_definitions(rng: random.Random) -> list[dict[str, Any]]:
    tools = []
    for name, size in _TOOLS.items():
        properties = {}
        for index in range(rng.randint(2, 6)):
            properties[f"{rng.choice(_VOCAB)}_{index}"] = {
                "type": rng.choice(["string", "string", "number", "boolean"]),
                "description": prose(rng, rng.randint(40, 260)),
            }
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(properties)[:2],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        }
        tools.append({"name": name, "description": prose(rng, size), "input_schema": schema})
    return tools


_COMMANDS = {
    "instance_id": "aws ec2 describe-instances --instance-ids {v} --region us-east-1",
    "vpc_id": "aws ec2 describe-subnets --filters Name=vpc-id,Values={v}",
    "subnet_id": "aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={v}",
    "security_group_id": "aws ec2 describe-security-groups --group-ids {v} --output json",
    "bucket": "aws s3 ls s3://{v}/ --recursive | head -50",
    "role_name": "aws iam list-attached-role-policies --role-name {v}",
    "account_id": "aws sts get-caller-identity && aws organizations describe-account --account-id {v}",
    "rds_instance": "aws rds describe-db-instances --db-instance-identifier {v}",
    "function_name": "aws lambda get-function-configuration --function-name {v}",
}


def _command_for(doc: awsgen.Document, rng: random.Random) -> str:
    usable = [p for p in doc.planted if p.label in _COMMANDS and "\n" not in p.value and len(p.value) < 80]
    if not usable:
        return f"aws cloudtrail lookup-events --max-results 50 --region us-west-{rng.randint(1, 2)}"
    planted = rng.choice(usable)
    return _COMMANDS[planted.label].format(v=planted.value)


@dataclass
class ClaudeCodeSession:
    """A Claude Code conversation about AWS work: system, tools, and tool-call turns; `body(turns)` renders it."""

    system: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    opening: list[dict[str, Any]]
    turns: list[list[dict[str, Any]]] = field(default_factory=list)  # each: [assistant msg, user msg]

    @classmethod
    def new(cls, rng: random.Random, base_bytes: int = 150_000, extra_turns: int = 0) -> tuple[ClaudeCodeSession, int]:
        """A session whose first `base` turns make a body of ~base_bytes, plus `extra_turns` more turns."""
        billing = (
            f"x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli; cch={rng.getrandbits(32):08x};"
        )
        system = [
            {"type": "text", "text": billing},
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": prose(rng, 5700), "cache_control": {"type": "ephemeral"}},
        ]
        context = aws_text(rng, 1200)
        opening = [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nAs you answer the user's questions, you can use the following "
                        "context:\n# claudeMd\n" + prose(rng, 900) + "\n```\n" + context + "\n```\n</system-reminder>",
                    },
                    {"type": "text", "text": "The checkout service is timing out since this morning. Find out why."},
                ],
            },
            {"role": "system", "content": "Plan mode is off."},
        ]
        session = cls(system, tool_definitions(rng), opening)
        base = 0
        while len(session.raw(base)) < base_bytes:
            session.add_turn(rng)
            base += 1
        for _ in range(extra_turns):
            session.add_turn(rng)
        return session, base

    def add_turn(self, rng: random.Random) -> None:
        doc = awsgen.generate_documents(rng, 1)[0]
        result = doc.text[:8000]
        tool_id = "toolu_01" + base64.b32encode(rng.randbytes(15)).decode().lower()[:22]
        assistant: list[dict[str, Any]] = []
        if rng.random() < 0.5:
            assistant.append(
                {
                    "type": "thinking",
                    "thinking": prose(rng, rng.randint(200, 700)),
                    "signature": base64.b64encode(rng.randbytes(180)).decode(),
                }
            )
        assistant.append({"type": "text", "text": "Let me check " + prose(rng, rng.randint(40, 160))})
        assistant.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": "Bash",
                "input": {"command": _command_for(doc, rng), "description": prose(rng, 50)},
            }
        )
        user = [{"type": "tool_result", "tool_use_id": tool_id, "content": result}]
        self.turns.append([{"role": "assistant", "content": assistant}, {"role": "user", "content": user}])

    def body(self, turns: int) -> dict[str, Any]:
        messages = list(self.opening)
        for pair in self.turns[:turns]:
            messages.extend(pair)
        return {
            "model": MODEL,
            "max_tokens": 32000,
            "system": self.system,
            "tools": self.tools,
            "messages": messages,
            "metadata": {"user_id": CC_USER},
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "stream": True,
        }

    def raw(self, turns: int) -> bytes:
        return encode(self.body(turns))


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def user_body(text: str, *, stream: bool = False, context: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if context is not None:
        messages += [{"role": "user", "content": context}, {"role": "assistant", "content": "Noted."}]
    messages.append({"role": "user", "content": text})
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 4096, "messages": messages}
    if stream:
        body["stream"] = True
    return body


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def sse_answer(raw: bytes) -> tuple[str, bool, bool]:
    """(concatenated text deltas, an error event was seen, message_stop was seen)."""
    text: list[str] = []
    error = stop = False
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        event = json.loads("\n".join(data))
        kind = event.get("type")
        error = error or kind == "error"
        stop = stop or kind == "message_stop"
        if kind == "content_block_delta" and event["delta"].get("type") == "text_delta":
            text.append(event["delta"]["text"])
    return "".join(text), error, stop


@dataclass
class Sample:
    total: float  # seconds to the last byte
    first: float  # seconds to the first body byte
    body: bytes
    status: int


class Clients:
    """One keep-alive client per target."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.http = {name: httpx.Client(timeout=60, trust_env=False) for name in urls}
        self.headers = {
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        }

    def close(self) -> None:
        for client in self.http.values():
            client.close()

    def send(self, target: str, raw: bytes) -> Sample:
        client = self.http[target]
        chunks: list[bytes] = []
        first = 0.0
        started = time.perf_counter()
        with client.stream("POST", self.urls[target] + "/v1/messages", content=raw, headers=self.headers) as answer:
            for chunk in answer.iter_raw():
                if not first:
                    first = time.perf_counter()
                chunks.append(chunk)
        ended = time.perf_counter()
        return Sample(ended - started, (first or ended) - started, b"".join(chunks), answer.status_code)


def interleaved(
    clients: Clients,
    bodies: list[bytes],
    check: Callable[[int, Sample], str | None],
    targets: tuple[str, ...] | None = None,
) -> tuple[dict[str, list[Sample]], list[str]]:
    """Send every body to every target, rotating the order per body; returns samples and failures."""
    targets = targets or tuple(clients.urls)
    samples: dict[str, list[Sample]] = {t: [] for t in targets}
    failures: list[str] = []
    for index, raw in enumerate(bodies):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            sample = clients.send(target, raw)
            samples[target].append(sample)
            problem = check(index, sample)
            if problem:
                failures.append(f"{target} #{index}: {problem}")
    return samples, failures


def json_echo_check(texts: list[str]) -> Callable[[int, Sample], str | None]:
    def check(index: int, sample: Sample) -> str | None:
        if sample.status != 200:
            return f"status {sample.status}"
        answer = json.loads(sample.body)
        if answer["content"][0]["text"] != "You said: " + texts[index]:
            return "answer differs from the echo of the request"
        return None

    return check


def sse_echo_check(expected: list[str]) -> Callable[[int, Sample], str | None]:
    def check(index: int, sample: Sample) -> str | None:
        if sample.status != 200:
            return f"status {sample.status}"
        text, error, stop = sse_answer(sample.body)
        if error or not stop:
            return "stream ended with an error event or without message_stop"
        if text != expected[index]:
            return "streamed answer differs from the expected restored text"
        return None

    return check


def ms(values: list[float]) -> list[float]:
    return [v * 1000 for v in values]


def summarize(samples: dict[str, list[Sample]], what: str = "total") -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for target, items in samples.items():
        values = ms([getattr(s, what) for s in items])
        out[target] = {"p50": pct(values, 50), "p99": pct(values, 99), "max": max(values), "n": len(values)}
    return out


# --------------------------------------------------------------------------------------------------------------
# In-process measurements (maskkit's own code, no HTTP)
# --------------------------------------------------------------------------------------------------------------


async def measure_cc_mask(
    home: Path, vault_key: str, session: ClaudeCodeSession, base: int, cold_runs: int, warm_runs: int, grow: int
) -> dict[str, Any]:
    from maskkit import Masker, load_settings
    from maskkit.detect.detector import Detector

    settings = load_settings({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": vault_key})
    probe = Masker.from_settings(settings, namespace="bench-probe")
    vault, detector = probe.vault, Detector()
    await vault.aping()
    body = session.body(base)
    pseudonym_counts: list[int] = []

    cold = []
    for run in range(cold_runs):
        masker = Masker(vault, detector, f"bench-cold-{run}")  # empty caches, nothing minted in this namespace
        started = time.perf_counter()
        _, reverse = await masker.amask_request(body)
        cold.append(time.perf_counter() - started)
        pseudonym_counts.append(len(reverse))
    masker = Masker(vault, detector, "bench-warm")
    await masker.amask_request(body)
    warm = []
    for _ in range(warm_runs):
        started = time.perf_counter()
        await masker.amask_request(body)
        warm.append(time.perf_counter() - started)
    growing, growing_cpu, stages = [], [], _Stages(masker)
    vault_wait = stages.vault_wait
    for turns in range(base + 1, base + 1 + grow):
        grown = session.body(turns)
        stages.reset()
        started, cpu = time.perf_counter(), time.process_time()
        await masker.amask_request(grown)
        growing.append(time.perf_counter() - started)
        growing_cpu.append(time.process_time() - cpu)
        stages.keep()
    stages.restore()
    await vault.aclose()
    return {
        "cold_ms": statistics.median(ms(cold)),
        "warm_ms": statistics.median(ms(warm)),
        "warm_p99_ms": pct(ms(warm), 99),
        "grow_ms": statistics.median(ms(growing)) if growing else float("nan"),
        "grow_max_ms": max(ms(growing)) if growing else float("nan"),
        "grow_cpu_ms": statistics.median(ms(growing_cpu)) if growing_cpu else float("nan"),
        "grow_vault_ms": statistics.median(ms(vault_wait)) if vault_wait else float("nan"),
        "grow_stages": stages.medians(),
        "pseudonyms": statistics.median(pseudonym_counts) if pseudonym_counts else 0,
    }


class _Stages:
    """CPU time per stage of `amask_request` (the growing turn), by wrapping the masker's steps in place: walking
    the body (collect + write back), what the keys name, the plan (detection, recall, encoded runs; of it,
    detection of text not seen before), the replacement; and the wall time of the vault round trip."""

    def __init__(self, masker: Any) -> None:
        from maskkit.core import messages

        self.masker, self.messages = masker, messages
        self.vault_wait: list[float] = []
        self.totals: dict[str, float] = {}
        self.samples: dict[str, list[float]] = {}
        self.saved: list[tuple[Any, str, Any]] = []
        self.order: list[str] = []
        self._wrap(messages, "map_request_strings", "walk the body (collect, write back)")
        self._wrap(masker, "_keyed_parts", "what JSON keys name")
        self._wrap(masker, "_plan", "plan (detection + recall + encoded)")
        self._wrap(masker.detector, "detect", "  of it: detection of unseen text")
        self._wrap(masker, "_finish", "replace spans")
        amint = masker.vault.amint
        self.saved.append((masker.vault, "amint", amint))

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await amint(*args, **kwargs)
            finally:
                self.vault_wait.append(time.perf_counter() - started)

        masker.vault.amint = timed

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        import maskkit.masking

        function = getattr(owner, name, None)
        if function is None:
            return
        self.order.append(label)
        self.saved.append((owner, name, owner.__dict__.get(name) if hasattr(owner, "__dict__") else None))
        depth = [0]

        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    self.totals[label] = self.totals.get(label, 0.0) + time.process_time() - started

        object.__setattr__(owner, name, timed)  # (the detector is a frozen dataclass)
        if owner is self.messages and hasattr(maskkit.masking, name):
            self.saved.append((maskkit.masking, name, getattr(maskkit.masking, name)))
            setattr(maskkit.masking, name, timed)

    def reset(self) -> None:
        self.totals = {}

    def keep(self) -> None:
        for label, seconds in self.totals.items():
            self.samples.setdefault(label, []).append(seconds)

    def medians(self) -> dict[str, float]:
        return {label: statistics.median(ms(self.samples[label])) for label in self.order if label in self.samples}

    def restore(self) -> None:
        for owner, name, value in reversed(self.saved):
            if value is None:
                with contextlib.suppress(AttributeError):
                    object.__delattr__(owner, name)
            else:
                object.__setattr__(owner, name, value)


def measure_restore(home: Path, vault_key: str, rng: random.Random, size: int) -> dict[str, float]:
    """MB/s of streamed text through the restorer, three levels deep, with 1-3 character deltas."""
    from maskkit import Masker, load_settings
    from maskkit.core.sse import encode_event
    from maskkit.core.stream import SSERestorer

    settings = load_settings({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": vault_key})
    masker = Masker.from_settings(settings, namespace="bench-restore")
    original = aws_text(rng, size)
    result = masker.mask(original)
    masker.vault.close()
    masked, reverse = result.text, result.reverse
    pieces: list[str] = []
    start = 0
    while start < len(masked):
        step = rng.randint(1, 3)
        pieces.append(masked[start : start + step])
        start += step
    mb = len(original.encode()) / 1e6
    out: dict[str, float] = {"events": len(pieces), "pseudonyms": len(reverse)}

    started = time.perf_counter()
    restorer = masker.restorer(reverse)
    restored = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    out["restorer_mb_s"] = mb / (time.perf_counter() - started)
    if restored != original:
        raise RuntimeError("Restorer did not restore the text exactly")

    def events() -> list[tuple[str, dict[str, Any]]]:
        evs: list[tuple[str, dict[str, Any]]] = [
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
        ]
        evs += [
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            )
            for p in pieces
        ]
        evs.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        return evs

    parsed = events()
    stream = masker.stream_restorer(reverse)
    started = time.perf_counter()
    got: list[str] = []
    for name, data in parsed:
        for _, out_data in stream.feed(name, data):
            if out_data.get("type") == "content_block_delta":
                got.append(out_data["delta"]["text"])
    out["stream_restorer_mb_s"] = mb / (time.perf_counter() - started)
    if "".join(got) != original:
        raise RuntimeError("MessageStreamRestorer did not restore the text exactly")

    wire = [encode_event(name, json.dumps(data, separators=(",", ":"))) for name, data in parsed]

    def run_wire(mapping: dict[str, str]) -> float:
        restorer = SSERestorer(masker.stream_restorer(mapping))
        sent = 0
        started = time.perf_counter()
        for chunk in wire:
            sent += len(restorer.feed(chunk))
        sent += len(restorer.flush())
        return time.perf_counter() - started

    out["wire_mb_s"] = mb / run_wire(reverse)
    out["wire_no_restore_mb_s"] = mb / run_wire({})
    out["wire_us_per_event"] = 1e6 * run_wire(reverse) / len(wire)
    # a fast upstream's deltas arrive several to a read: 16 events per chunk (the run path)
    one_by_one = wire
    wire = [b"".join(one_by_one[i : i + 16]) for i in range(0, len(one_by_one), 16)]
    out["wire_16_mb_s"] = mb / run_wire(reverse)
    return out


# --------------------------------------------------------------------------------------------------------------
# (d) concurrency
# --------------------------------------------------------------------------------------------------------------


async def concurrent_streams(url: str, bodies: list[bytes], expected: list[str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=len(bodies) + 16, max_keepalive_connections=len(bodies) + 16)
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=120, limits=limits, trust_env=False) as client:
        gate = asyncio.Event()

        async def one(index: int) -> tuple[str | None, float, float]:
            await gate.wait()
            started = time.perf_counter()
            first = 0.0
            chunks: list[bytes] = []
            try:
                async with client.stream(
                    "POST", url + "/v1/messages", content=bodies[index], headers=headers
                ) as answer:
                    async for chunk in answer.aiter_raw():
                        if not first:
                            first = time.perf_counter()
                        chunks.append(chunk)
                    status = answer.status_code
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}", 0.0, 0.0
            ended = time.perf_counter()
            if status != 200:
                try:
                    message = json.loads(b"".join(chunks))["error"]["message"][:160]
                except (ValueError, KeyError, TypeError):
                    message = ""
                return f"status {status} {message}".strip(), 0.0, 0.0
            text, error, stop = sse_answer(b"".join(chunks))
            if error or not stop:
                return "error event or no message_stop", 0.0, 0.0
            if text != expected[index]:
                return "cross-talk or wrong restore", 0.0, 0.0
            return None, first - started, ended - started

        tasks = [asyncio.create_task(one(i)) for i in range(len(bodies))]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        gate.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    problems = [r[0] for r in results if r[0]]
    ok = [r for r in results if not r[0]]
    return {
        "ok": len(ok),
        "n": len(bodies),
        "problems": sorted(set(problems)),
        "wall_s": wall,
        "ttfb_p50_ms": pct(ms([r[1] for r in ok]), 50) if ok else float("nan"),
        "ttfb_max_ms": max(ms([r[1] for r in ok])) if ok else float("nan"),
        "total_max_ms": max(ms([r[2] for r in ok])) if ok else float("nan"),
    }


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("uvicorn", "h11", "httptools", "uvloop", "starlette", "httpx", "redis"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{name} {version(name)}")
    return ", ".join(parts)


def print_header(started_load: tuple[float, float, float]) -> None:
    print(f"machine: {_cpu()} ({platform.machine()}), cpus={os.cpu_count()}, {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_version()} ({platform.python_implementation()})")
    print(f"commit:  {_commit()}")
    print(f"stack:   {_versions()}")
    print(f"load:    {started_load[0]:.2f} {started_load[1]:.2f} {started_load[2]:.2f} (1/5/15 min, at start)")


def _process_tree(pid: int) -> list[int]:
    """`pid` and every process under it (the servers run under `timeout`), read from /proc; [] off Linux."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    if not children:
        return []
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class CpuMeter:
    """CPU seconds (user + system) each server's processes used: far steadier than latency on a shared box,
    and what a busy proxy runs out of first. The vault's redis-server is not counted (maskkit and a candidate
    share it)."""

    def __init__(self, children: list[Child]) -> None:
        self.pids = {child.name: _process_tree(child.process.pid) for child in children}
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pids in self.pids.items():
            total = 0
            for pid in pids:
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
            out[name] = total / self.tick
        return out

    def per_request(self, before: dict[str, float], requests: int) -> dict[str, float]:
        """ms of CPU per request (each server saw `requests` of them) since `before`."""
        after = self.snapshot()
        return {name: round(1000 * (after[name] - before[name]) / max(1, requests), 3) for name in before}


def cpu_line(cpu: dict[str, float]) -> None:
    if cpu:
        shown = ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items() if name not in ("standin",))
        print(f"  CPU ms per request (server processes, user+system): {shown}")


def table(title: str, stats: dict[str, dict[str, float]], note: str = "") -> None:
    names = list(stats)
    added = [n for n in names if n != "direct"]
    print(f"\n{title}" + (f"  ({note})" if note else ""))
    print("  " + " " * 8 + "".join(f"{n:>11}" for n in names) + "".join(f"{n + '+':>12}" for n in added))
    for q in ("p50", "p99", "max"):
        row = "".join(f"{stats[n][q]:>11.2f}" for n in names)
        row += "".join(f"{stats[n][q] - stats['direct'][q]:>+12.2f}" for n in added)
        print(f"  {q:8}{row}")


# --------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from maskkit.vault import ensure_embedded_redis, generate_key, stop_embedded_redis

    only = set(args.only.split(","))
    load = os.getloadavg()
    rng, seed = awsgen.fresh_rng() if args.seed is None else (random.Random(args.seed), args.seed)
    home = Path(tempfile.mkdtemp(prefix="mkpo", dir="/tmp"))
    children: list[Child] = []
    results: dict[str, Any] = {"seed": seed}
    failures: list[str] = []
    began = time.perf_counter()
    try:
        ensure_embedded_redis(home)
        vault_key = generate_key()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))}
        py = [sys.executable, str(Path(__file__).resolve()), "--parent", str(os.getpid())]
        standin = _start("standin", [*py, "--serve", "standin"], home, base_env, "/")
        children.append(standin)
        floor = _start("floor", [*py, "--serve", "floor", "--upstream", standin.url], home, base_env, "/v1/models")
        children.append(floor)
        maskkit_env = {
            **base_env,
            "MASKKIT_HOME": str(home),
            "MASKKIT_VAULT_KEY": vault_key,
            "MASKKIT_API_KEY": CLIENT_KEY,
            "ANTHROPIC_API_KEY": UPSTREAM_KEY,
            "MASKKIT_LOG_LEVEL": "WARNING",
        }
        mk_cmd = [*args.maskkit_cmd.format(python=sys.executable).split(), "proxy", "--port", "0"]
        mk_cmd += ["--upstream", standin.url]
        if args.wrap:
            mk_cmd = [*args.wrap.split(), *mk_cmd]
        maskkit = _start("maskkit", mk_cmd, home, maskkit_env, "/health")
        children.append(maskkit)
        urls = {"direct": standin.url, "floor": floor.url, "maskkit": maskkit.url}
        if args.candidate_cmd:  # a second maskkit build, A/B in the same run (own namespace: equally cold)
            cand_cmd = [*args.candidate_cmd.format(python=sys.executable).split(), "proxy", "--port", "0"]
            cand_env = {**maskkit_env, "MASKKIT_NAMESPACE": "bench-candidate"}
            candidate = _start("candidate", [*cand_cmd, "--upstream", standin.url], home, cand_env, "/health")
            children.append(candidate)
            urls["candidate"] = candidate.url
        clients = Clients(urls)
        meter = CpuMeter([c for c in children if c.name != "standin"])
        try:
            # warm-up: connections, imports, regex compilation, the vault connection
            warm_texts = [aws_text(rng, 2000) for _ in range(10)]
            interleaved(clients, [encode(user_body(t)) for t in warm_texts], json_echo_check(warm_texts))

            if "a" in only:
                texts = [aws_text(rng, 10_240) for _ in range(args.n_json)]
                bodies = [encode(user_body(t)) for t in texts]
                before = meter.snapshot()
                samples, bad = interleaved(clients, bodies, json_echo_check(texts))
                results["a_cpu"] = meter.per_request(before, len(bodies))
                failures += [f"(a) {b}" for b in bad]
                results["a_cold"] = summarize(samples)
                results["a_bytes"] = statistics.median(len(b) for b in bodies)
                results["a_regex_ms"] = regex_masker_ms(texts)
                pool = bodies[:10]
                repeats = [pool[i % len(pool)] for i in range(args.n_json // 2)]
                before = meter.snapshot()
                samples, bad = interleaved(
                    clients, repeats, json_echo_check([texts[i % 10] for i in range(len(repeats))])
                )
                results["a_warm_cpu"] = meter.per_request(before, len(repeats))
                failures += [f"(a warm) {b}" for b in bad]
                results["a_warm"] = summarize(samples)

            if "b" in only:
                sessions = [ClaudeCodeSession.new(rng, extra_turns=args.grow) for _ in range(args.n_cc_cold)]
                session, base = sessions[0]
                results["b_bytes"] = len(session.raw(base))
                results["b_tools_bytes"] = len(encode({"tools": session.tools}))
                results["b_turns"] = base
                cold_bodies = [s.raw(b) for s, b in sessions]
                expected_cold = ["You ran: " + _last_command(s.body(b)) for s, b in sessions]
                samples, bad = interleaved(clients, cold_bodies, sse_echo_check(expected_cold))
                failures += [f"(b cold) {b}" for b in bad]
                results["b_cold_first"] = summarize(samples, "first")
                results["b_cold_total"] = summarize(samples, "total")
                warm_body = cold_bodies[0]
                samples, bad = interleaved(
                    clients, [warm_body] * args.n_cc_warm, sse_echo_check([expected_cold[0]] * args.n_cc_warm)
                )
                failures += [f"(b warm) {b}" for b in bad]
                results["b_warm_first"] = summarize(samples, "first")
                results["b_warm_total"] = summarize(samples, "total")
                grow_bodies = [session.raw(base + k) for k in range(1, args.grow + 1)]
                expected_grow = ["You ran: " + _last_command(session.body(base + k)) for k in range(1, args.grow + 1)]
                samples, bad = interleaved(clients, grow_bodies, sse_echo_check(expected_grow))
                failures += [f"(b grow) {b}" for b in bad]
                results["b_grow_first"] = summarize(samples, "first")
                results["b_grow_bytes_last"] = len(grow_bodies[-1]) if grow_bodies else 0
                # in-process, on a fresh session (nothing of it cached by the proxy or the vault)
                fresh, fresh_base = ClaudeCodeSession.new(rng, extra_turns=args.grow)
                results["b_mask"] = asyncio.run(
                    measure_cc_mask(home, vault_key, fresh, fresh_base, args.mask_cold, args.mask_warm, args.grow)
                )

            if "c" in only:
                contexts = [aws_text(rng, 10_000) for _ in range(args.n_sse)]
                lasts = [aws_text(rng, 1_500) for _ in range(args.n_sse)]
                bodies = [encode(user_body(t, stream=True, context=c)) for t, c in zip(lasts, contexts, strict=True)]
                before = meter.snapshot()
                samples, bad = interleaved(clients, bodies, sse_echo_check(["You said: " + t for t in lasts]))
                results["c_cpu"] = meter.per_request(before, len(bodies))
                failures += [f"(c) {b}" for b in bad]
                results["c_total"] = summarize(samples, "total")
                results["c_first"] = summarize(samples, "first")
                # the same 10 streams re-sent: cached plans, known mappings, so what is left is the stream path's
                # own cost (and the vault's version check), apart from masking new text
                repeats = [bodies[i % 10] for i in range(args.n_sse // 2)]
                expected = ["You said: " + lasts[i % 10] for i in range(len(repeats))]
                before = meter.snapshot()
                samples, bad = interleaved(clients, repeats, sse_echo_check(expected))
                results["c_warm_cpu"] = meter.per_request(before, len(repeats))
                failures += [f"(c warm) {b}" for b in bad]
                results["c_warm_total"] = summarize(samples, "total")
                results["c_warm_first"] = summarize(samples, "first")
                results["c_bytes"] = statistics.median(len(b) for b in bodies)
                results["c_answer_chars"] = statistics.median(len(t) + 10 for t in lasts)
                results["restore"] = measure_restore(home, vault_key, rng, args.restore_kb * 1000)

            if "d" in only:
                texts = [aws_text(rng, 400) for _ in range(args.concurrent)]
                bodies = [encode(user_body(t, stream=True)) for t in texts]
                expected = ["You said: " + t for t in texts]
                for name in ("maskkit", "candidate", "floor"):
                    if name in urls:
                        results[f"d_{name}"] = asyncio.run(concurrent_streams(urls[name], bodies, expected))
        finally:
            clients.close()
    finally:
        for child in reversed(children):
            _stop(child)
        stop_embedded_redis(home)
        shutil.rmtree(home, ignore_errors=True)

    report(results, failures, load, time.perf_counter() - began)
    return 1 if failures else 0


def regex_masker_ms(texts: list[str]) -> float:
    """Median ms of the bare regex masker of bench/mask_cli.py on each text (a fresh one each time, as every
    request brings new ids): what the simplest masker costs for this much new text, next to the added latency."""
    from mask_cli import Baseline

    times = []
    for text in texts:
        started = time.perf_counter()
        Baseline().mask(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def report(results: dict[str, Any], failures: list[str], load: tuple[float, float, float], seconds: float) -> None:
    print_header(load)
    print(f"awsgen seed {results['seed']}; {seconds:.0f} s; all times in ms; floor+/maskkit+ = added over direct")
    final: dict[str, Any] = {}
    if "a_cold" in results:
        a = results["a_cold"]
        table(f"(a) 10 KB JSON, new text every request ({results['a_bytes'] / 1024:.1f} KB), time to last byte", a)
        cpu_line(results["a_cpu"])
        print(
            f"  for scale: a bare regex masker (bench/mask_cli.py's baseline: 11 re.sub, no vault, no recall) on"
            f" the same texts, in this process: {results['a_regex_ms']:.2f} ms p50"
        )
        final["regex_masker_10kb_ms"] = round(results["a_regex_ms"], 2)
        table("(a) 10 KB JSON, same 10 bodies repeated (warm)", results["a_warm"])
        cpu_line(results["a_warm_cpu"])
        final["cpu_ms"] = {"a": results["a_cpu"], "a_warm": results["a_warm_cpu"]}
        final["added_p50_ms"] = round(a["maskkit"]["p50"] - a["direct"]["p50"], 2)
        final["added_p99_ms"] = round(a["maskkit"]["p99"] - a["direct"]["p99"], 2)
        final["floor_added_p50_ms"] = round(a["floor"]["p50"] - a["direct"]["p50"], 2)
        warm = results["a_warm"]
        final["warm_added_p50_ms"] = round(warm["maskkit"]["p50"] - warm["direct"]["p50"], 2)
        final["floor_warm_added_p50_ms"] = round(warm["floor"]["p50"] - warm["direct"]["p50"], 2)
    if "b_cold_first" in results:
        kb = results["b_bytes"] / 1024
        note = f"{kb:.0f} KB body, tools {results['b_tools_bytes'] / 1024:.0f} KB, {results['b_turns']} tool turns"
        table("(b) Claude Code request, cold (never-seen session), time to first byte", results["b_cold_first"], note)
        table("(b) Claude Code request, cold, time to last byte", results["b_cold_total"])
        table("(b) Claude Code request, warm (same body re-sent), time to first byte", results["b_warm_first"])
        table("(b) Claude Code request, warm, time to last byte", results["b_warm_total"])
        table(
            "(b) growing conversation (+1 tool result per turn), time to first byte",
            results["b_grow_first"],
            f"last body {results['b_grow_bytes_last'] / 1024:.0f} KB",
        )
        m = results["b_mask"]
        print("\n(b) in-process `await masker.amask_request(body)` on a never-seen 150 KB Claude Code body")
        print(
            f"  cold (fresh caches, fresh namespace): {m['cold_ms']:.2f}   warm p50: {m['warm_ms']:.2f}"
            f"   warm p99: {m['warm_p99_ms']:.2f}   growing turn p50/max: {m['grow_ms']:.2f}/{m['grow_max_ms']:.2f}"
            f"   ({m['pseudonyms']:.0f} pseudonyms)"
        )
        print(
            f"  growing turn, in-process CPU p50: {m['grow_cpu_ms']:.2f}"
            f" (vault round trip, wall: {m['grow_vault_ms']:.2f}); CPU per stage, p50:"
        )
        for label, value in m["grow_stages"].items():
            print(f"    {label:40s} {value:6.2f}")
        final["cc_body_mask_ms"] = round(m["warm_ms"], 2)
        final["cc_body_mask_cold_ms"] = round(m["cold_ms"], 2)
    if "c_total" in results:
        note = f"{results['c_bytes'] / 1024:.1f} KB request, {results['c_answer_chars']:.0f}-char answer"
        note += " in 1-3 char deltas"
        table("(c) SSE stream, time to last byte", results["c_total"], note)
        table("(c) SSE stream, time to first byte", results["c_first"])
        cpu_line(results["c_cpu"])
        table("(c) SSE stream, same 10 requests re-sent (warm), time to first byte", results["c_warm_first"])
        table("(c) SSE stream, warm, time to last byte", results["c_warm_total"])
        cpu_line(results["c_warm_cpu"])
        final.setdefault("cpu_ms", {}).update(c=results["c_cpu"], c_warm=results["c_warm_cpu"])
        r = results["restore"]
        print(f"\n(c) restore throughput in-process ({r['events']:.0f} deltas of 1-3 chars, ", end="")
        print(f"{r['pseudonyms']:.0f} pseudonyms)")
        print(f"  Restorer.feed alone:                          {r['restorer_mb_s']:8.2f} MB/s")
        print(f"  MessageStreamRestorer.feed (parsed events):   {r['stream_restorer_mb_s']:8.2f} MB/s")
        print(
            f"  wire: SSE bytes -> decode -> restore -> bytes {r['wire_mb_s']:8.2f} MB/s"
            f"  ({r['wire_us_per_event']:.1f} us/event)"
        )
        print(f"  wire, nothing to restore (re-encode only):    {r['wire_no_restore_mb_s']:8.2f} MB/s")
        print(f"  wire, 16 events per read:                     {r['wire_16_mb_s']:8.2f} MB/s")
        c = results["c_first"]
        final["ttfb_added_ms"] = round(c["maskkit"]["p50"] - c["direct"]["p50"], 2)
        final["floor_ttfb_added_ms"] = round(c["floor"]["p50"] - c["direct"]["p50"], 2)
        w = results["c_warm_first"]
        final["ttfb_warm_added_ms"] = round(w["maskkit"]["p50"] - w["direct"]["p50"], 2)
        final["floor_ttfb_warm_added_ms"] = round(w["floor"]["p50"] - w["direct"]["p50"], 2)
    if "d_maskkit" in results:
        for name in ("d_maskkit", "d_candidate", "d_floor"):
            if name not in results:
                continue
            d = results[name]
            print(
                f"\n(d) {d['n']} concurrent streams through {name[2:]}: {d['ok']} exact,"
                f" problems {d['problems'] or 'none'};"
                f" wall {d['wall_s']:.2f} s, TTFB p50 {d['ttfb_p50_ms']:.0f} ms max {d['ttfb_max_ms']:.0f} ms,"
                f" slowest stream {d['total_max_ms']:.0f} ms"
            )
        final["concurrent_streams_ok"] = results["d_maskkit"]["ok"] == results["d_maskkit"]["n"]
    print("\ntargets: added p50 <= 2 ms, p99 <= 10 ms (a); amask_request(150 KB) <= 10 ms; TTFB <= floor + 1 ms")
    checks = []
    if "added_p50_ms" in final:
        checks.append(("added p50 (a)", final["added_p50_ms"] <= 2))
        checks.append(("added p99 (a)", final["added_p99_ms"] <= 10))
    if "cc_body_mask_ms" in final:
        checks.append(("cc_body_mask_ms (warm)", final["cc_body_mask_ms"] <= 10))
    if "ttfb_added_ms" in final:
        checks.append(("TTFB vs floor", final["ttfb_added_ms"] <= final["floor_ttfb_added_ms"] + 1))
    print("  " + ", ".join(f"{name}: {'meets' if ok else 'MISSES'}" for name, ok in checks))
    if failures:
        print(f"\n{len(failures)} FAILED CHECKS:", *failures[:20], sep="\n  ")
    ordered = [
        "added_p50_ms",
        "added_p99_ms",
        "ttfb_added_ms",
        "floor_ttfb_added_ms",
        "cc_body_mask_ms",
        "cc_body_mask_cold_ms",
        "concurrent_streams_ok",
        "floor_added_p50_ms",
        "warm_added_p50_ms",
        "floor_warm_added_p50_ms",
        "ttfb_warm_added_ms",
        "floor_ttfb_warm_added_ms",
        "regex_masker_10kb_ms",
        "cpu_ms",
    ]
    print(json.dumps({k: final[k] for k in ordered if k in final}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-json", type=int, default=250, help="(a) requests per target")
    parser.add_argument("--n-cc-cold", type=int, default=8, help="(b) never-seen sessions per target")
    parser.add_argument("--n-cc-warm", type=int, default=30, help="(b) re-sends of one body per target")
    parser.add_argument("--grow", type=int, default=15, help="(b) turns of the growing conversation")
    parser.add_argument("--mask-cold", type=int, default=5, help="(b) in-process cold runs")
    parser.add_argument("--mask-warm", type=int, default=30, help="(b) in-process warm runs")
    parser.add_argument("--n-sse", type=int, default=80, help="(c) streams per target")
    parser.add_argument("--restore-kb", type=int, default=100, help="(c) KB of text for the restore throughput")
    parser.add_argument("--concurrent", type=int, default=200, help="(d) concurrent streams")
    parser.add_argument("--only", default="a,b,c,d", help="workloads to run, e.g. a,c")
    parser.add_argument("--seed", type=int, default=None, help="awsgen seed (default: fresh)")
    parser.add_argument("--wrap", default="", help="prefix for the maskkit server command (e.g. a profiler)")
    parser.add_argument(
        "--maskkit-cmd", default="{python} -m maskkit", help="how to run the maskkit CLI (to try a patched build)"
    )
    parser.add_argument(
        "--candidate-cmd", default="", help="also measure a second maskkit CLI command (A/B), e.g. a patched build"
    )
    parser.add_argument("--parent", type=int, default=0, help=argparse.SUPPRESS)
    # internal: run one of the servers
    parser.add_argument("--serve", choices=["standin", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "standin":
        serve_standin(args.port_file, args.parent)
        return 0
    if args.serve == "floor":
        serve_floor(args.upstream, args.port_file, args.parent)
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
