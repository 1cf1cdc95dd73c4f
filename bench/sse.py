"""Benchmark: restoring a Messages API event stream on the wire (`SSERestorer`: SSE bytes in, restored bytes out).

The stream is what Claude Code sees: one text block streamed in 1-3 character `text_delta` events (2 on average),
a `ping` now and then, and a tool call whose input streams as `input_json_delta`. The text is masked awsgen
output (an id every few words: the hard case) and masked markdown prose (the common case). Two ways the bytes
arrive: one event per network read (a slow model) and 16 KB reads cut anywhere (a burst, the throughput case).

Measured in the same run, same bytes:
  floor      a do-nothing pass-through: the same loop calling a function that returns its chunk
  baseline   `SSERestorer` (with the restorer module it was written against) as it was at --baseline-rev, loaded
             from git and skipped outside a checkout; more revisions after a comma are timed too (at_<rev>)
  current    `SSERestorer` of this tree
Reported per event (µs) and as MB/s of streamed text (the characters of the answer, not the wire bytes). Every
output is checked: the client must read back exactly the original text and tool input. Also timed: a new
stream's restorer up to its first text delta (message_start, content_block_start, one delta), the restore's share
of the time to first byte, for each text's mapping.

    uv run python bench/sse.py [--chars 200000] [--repeat 5] [--baseline-rev fb3aeed[,16210ce]]

Prints machine, Python, commit and a table; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchinfo import commit, cpu
from mktests import awsgen

ROOT = Path(__file__).resolve().parents[1]

from maskkit.core.messages import apply_spans, unmask_text  # noqa: E402
from maskkit.core.pseudonyms import format_pseudonym  # noqa: E402
from maskkit.core.restorer import MessageStreamRestorer  # noqa: E402
from maskkit.core.sse import SSEDecoder, encode_event  # noqa: E402
from maskkit.core.stream import SSERestorer  # noqa: E402
from maskkit.detect import Detector  # noqa: E402

_PROSE = (
    "Here is what I found. The instance {id} in the **private subnet** cannot reach the NAT gateway because its "
    "route table has no default route; the security group allows egress, so that is not it.\n\n"
    "1. Add a `0.0.0.0/0` route to the NAT gateway.\n2. Re-run the check.\n\nLet me know how it goes!\n"
)


def _mask(detector: Detector, text: str) -> tuple[str, dict[str, str]]:
    forward: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}

    def pseudonym_for(kind: str, original: str) -> str:
        if (kind, original) not in forward:
            prefix = detector.kinds[kind]
            counters[prefix] = counters.get(prefix, 0) + 1
            forward[(kind, original)] = format_pseudonym(prefix, counters[prefix])
        return forward[(kind, original)]

    masked = apply_spans(text, detector.detect(text), pseudonym_for)
    return masked, {p: o for (_, o), p in forward.items()}


def _texts(rng: random.Random, chars: int) -> dict[str, str]:
    aws: list[str] = []
    total = 0
    while total < chars:
        for doc in awsgen.generate_documents(rng, 20):
            aws.append(doc.text)
            total += len(doc.text)
    ids = [f"i-{rng.getrandbits(68):017x}" for _ in range(chars // len(_PROSE) + 1)]
    prose = "".join(_PROSE.format(id=i) for i in ids)
    return {"aws": "\n".join(aws)[:chars], "prose": prose[:chars]}


def _wire(masked: str, tool: dict[str, Any], rng: random.Random) -> tuple[bytes, int]:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-sonnet-4-6",
                    "stop_reason": None,
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    start = 0
    while start < len(masked):
        step = rng.randint(1, 3)
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": masked[start : start + step]},
                },
            )
        )
        start += step
        if rng.random() < 0.002:
            events.append(("ping", {"type": "ping"}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}},
            },
        )
    )
    partial = json.dumps(tool)
    start = 0
    while start < len(partial):
        step = rng.randint(1, 3)
        delta = {"type": "input_json_delta", "partial_json": partial[start : start + step]}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta}))
        start += step
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}}))
    events.append(("message_stop", {"type": "message_stop"}))
    wire = [encode_event(n, json.dumps(d, ensure_ascii=False, separators=(",", ":"))) for n, d in events]
    return b"".join(wire), len(events)


def _read(wire: bytes) -> tuple[str, str]:
    decoder = SSEDecoder()
    text, tool = [], []
    for event in [*decoder.feed(wire), *decoder.flush()]:
        data = json.loads(event.data)
        if data.get("type") == "content_block_delta":
            delta = data["delta"]
            (text if delta["type"] == "text_delta" else tool).append(delta.get("text") or delta.get("partial_json"))
    return "".join(text), "".join(tool)


def _event_chunks(wire: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in wire.split(b"\n\n")[:-1]]


def _byte_chunks(wire: bytes, size: int) -> list[bytes]:
    return [wire[i : i + size] for i in range(0, len(wire), size)]


def _time(makers: dict[str, Callable[[], Any]], chunks: list[bytes], repeat: int) -> dict[str, tuple[float, bytes]]:
    """Best-of-`repeat` CPU seconds for each maker to push `chunks` through a fresh restorer, and its output. The
    makers take turns within each repeat, so a change in the machine's load falls on all of them alike."""
    best: dict[str, tuple[float, bytes]] = {label: (float("inf"), b"") for label in makers}
    for _ in range(repeat):
        for label, make in makers.items():
            restorer = make()
            feed = restorer.feed
            parts: list[bytes] = []
            started = time.process_time()
            for chunk in chunks:
                parts.append(feed(chunk))
            parts.append(restorer.flush())
            seconds = time.process_time() - started
            if seconds < best[label][0]:
                best[label] = (seconds, b"".join(parts))
    return best


class _PassThrough:
    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def flush(self) -> bytes:
        return b""


def _baseline(rev: str) -> Callable[[dict[str, str], Any], Any] | None:
    """A maker of `SSERestorer` as it was at `rev`: maskkit/core/restorer.py and stream.py of that revision,
    imported beside the current package (the two change together); None outside a checkout."""
    sources = {}
    for name in ("restorer", "stream"):
        try:
            sources[name] = subprocess.run(
                ["git", "show", f"{rev}:maskkit/core/{name}.py"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
    folder = Path(tempfile.mkdtemp())
    modules = {}
    for name, source in sources.items():
        module_name = f"baseline_{rev}_{name}"
        source = source.replace("from maskkit.core.restorer import", f"from baseline_{rev}_restorer import")
        path = folder / f"{module_name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        modules[name] = module

    def make(mapping: dict[str, str], grammar: Any) -> Any:
        return modules["stream"].SSERestorer(modules["restorer"].MessageStreamRestorer(mapping, grammar))

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--baseline-rev", default="fb3aeed", help="revisions to time, comma-separated; the first is the baseline"
    )
    parser.add_argument("--seed", type=int, default=1414)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    detector = Detector()
    grammar = detector.grammar
    revs = [rev for rev in args.baseline_rev.split(",") if rev]
    baselines = {rev: make for rev in revs if (make := _baseline(rev)) is not None}
    labels = {rev: "baseline" if i == 0 else f"at_{rev}" for i, rev in enumerate(baselines)}
    print(
        f"machine: {cpu()}, Python {platform.python_version()}, commit {commit()}, "
        f"baseline {', '.join(baselines) or 'unavailable'}"
    )
    results: dict[str, Any] = {}
    rows = []
    first_rows: list[tuple[str, int, str, float]] = []
    for name, original in _texts(rng, args.chars).items():
        masked, reverse = _mask(detector, original)
        tool_masked = {"command": masked[:2000]}
        wire, events = _wire(masked, tool_masked, rng)
        expected_text = original
        expected_tool = {"command": unmask_text(masked[:2000], reverse, grammar)}
        mb = len(original.encode()) / 1e6
        for read, chunks in (("event", _event_chunks(wire)), ("16KB", _byte_chunks(wire, 16384))):
            makers: dict[str, Callable[[], Any]] = {
                "floor": _PassThrough,
                "current": lambda mapping=reverse: SSERestorer(MessageStreamRestorer(mapping, grammar)),
            }
            for rev, make_at in baselines.items():
                makers[labels[rev]] = lambda mapping=reverse, make_at=make_at: make_at(mapping, grammar)
            for label, (seconds, out) in _time(makers, chunks, args.repeat).items():
                if label != "floor":
                    text, tool = _read(out)
                    if text != expected_text or json.loads(tool) != expected_tool:
                        raise RuntimeError(f"{label} did not restore the {name} stream exactly")
                key = f"{name}_{read}_{label}"
                results[f"{key}_us_per_event"] = round(1e6 * seconds / events, 3)
                results[f"{key}_mb_s"] = round(mb / seconds, 2)
                rows.append((name, read, label, 1e6 * seconds / events, mb / seconds))
        results[f"{name}_events"] = events
        results[f"{name}_pseudonyms"] = len(reverse)
        # Time to first byte's share: a new stream's restorer up to its first text delta (message_start,
        # content_block_start, one delta), for this text's mapping.
        first = b"".join(_event_chunks(wire)[:3])
        for label, make in makers.items():
            best = float("inf")
            for _ in range(20 * args.repeat):
                started = time.perf_counter()
                restorer = make()
                restorer.feed(first)
                best = min(best, time.perf_counter() - started)
            results[f"{name}_first_delta_{label}_us"] = round(1e6 * best, 1)
            first_rows.append((name, len(reverse), label, 1e6 * best))
    print(f"\n{'text':6} {'reads':6} {'path':16} {'us/event':>9} {'MB/s text':>10}")
    for name, read, label, us, mbs in rows:
        print(f"{name:6} {read:6} {label:16} {us:9.3f} {mbs:10.2f}")
    print(f"\n{'text':6} {'pseudonyms':>10} {'path':16} {'us to the first delta (new stream)':>36}")
    for name, count, label, us in first_rows:
        print(f"{name:6} {count:10} {label:16} {us:36.1f}")
    for name in ("aws", "prose"):
        for read in ("event", "16KB"):
            for label in labels.values():
                if f"{name}_{read}_{label}_mb_s" in results:
                    suffix = "" if label == "baseline" else f"_vs_{label[3:]}"
                    results[f"{name}_{read}_speedup{suffix}"] = round(
                        results[f"{name}_{read}_current_mb_s"] / results[f"{name}_{read}_{label}_mb_s"], 2
                    )
    results["median_speedup"] = statistics.median(
        [v for k, v in results.items() if k.endswith("_speedup")] or [float("nan")]
    )
    print(json.dumps({"bench": "sse", "commit": commit(), **results}))


if __name__ == "__main__":
    main()
