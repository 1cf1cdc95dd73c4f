"""Round-trip time of the MCP server's `mask` and `unmask` tool calls over stdio, against the same Python API
calls in-process, in the same run (target: p50 tool call <= 5 ms over stdio).

Starts an embedded vault in a temporary MASKKIT_HOME (always stopped at the end), spawns `maskkit-mcp` as a
stdio subprocess with the real MCP client, and times N calls of each tool on a short CLI-output-sized text
with a few identifiers (every call after the first finds its mappings in the vault, as in a conversation).
`unmask` runs with MASKKIT_ALLOW_REVEAL=1, so each call also appends an audit record. In-process: the same
text through `Masker.mask` / `Masker.unmask` (sync) and `amask` / `aunmask` (async). Prints machine, Python,
commit and a table; the last line is one JSON object.

    uv run python bench/mcp_latency.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchinfo import commit as _commit
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from maskkit import Masker
from maskkit.config import load_settings
from maskkit.vault import ensure_embedded_redis, generate_key, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 5.0
TEXT = """$ aws ec2 describe-instances --instance-ids i-0a1b2c3d4e5f60718
{
    "Reservations": [{
        "OwnerId": "210987654321",
        "Instances": [{
            "InstanceId": "i-0a1b2c3d4e5f60718",
            "ImageId": "ami-0f1e2d3c4b5a69788",
            "SubnetId": "subnet-0123456789abcdef0",
            "VpcId": "vpc-0fedcba9876543210",
            "SecurityGroups": [{"GroupId": "sg-0aa11bb22cc33dd44", "GroupName": "web"}],
            "IamInstanceProfile": {"Arn": "arn:aws:iam::210987654321:instance-profile/web-prod"},
            "PrivateIpAddress": "10.0.1.17",
            "State": {"Name": "running"}
        }]
    }]
}
"""




def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return f"{cpu} ({platform.machine()}, {cpus} CPUs), {platform.system()} {platform.release()}"


def _ms(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def _time_async(calls: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    await call()  # warm-up: connections, detector cache, first mint
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def _time_sync(calls: int, call: Callable[[], object]) -> list[float]:
    call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


async def _over_stdio(env: dict[str, str], calls: int, masked: str) -> dict[str, list[float]]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"], env=env, cwd=str(ROOT))
    with open(os.devnull, "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=60) as client:

            async def mask() -> None:
                result = await client.call_tool("mask", {"text": TEXT})
                assert not result.is_error and result.content[0].text == masked  # type: ignore[union-attr]

            async def unmask() -> None:
                result = await client.call_tool("unmask", {"text": masked})
                assert not result.is_error and result.content[0].text == TEXT  # type: ignore[union-attr]

            return {"mask": await _time_async(calls, mask), "unmask": await _time_async(calls, unmask)}


async def _in_process_async(masker: Masker, calls: int, masked: str) -> dict[str, list[float]]:
    try:
        return {
            "amask": await _time_async(calls, lambda: masker.amask(TEXT)),
            "aunmask": await _time_async(calls, lambda: masker.aunmask(masked)),
        }
    finally:
        await masker.vault.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per measurement (default 300)")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="mkbench-"))
    try:
        ensure_embedded_redis(home)
        key = generate_key()
        settings = load_settings({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": key})
        masker = Masker.from_settings(settings)
        first = masker.mask(TEXT)
        masked, identifiers = first.text, len(first.pseudonyms)
        sync = {
            "mask": _time_sync(args.calls, lambda: masker.mask(TEXT)),
            "unmask": _time_sync(args.calls, lambda: masker.unmask(masked)),
        }
        masker.vault.close()
        inproc_async = asyncio.run(_in_process_async(Masker.from_settings(settings), args.calls, masked))
        scrub = ("ANTHROPIC_", "MASKKIT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(scrub)}
        env.update({"MASKKIT_HOME": str(home), "MASKKIT_VAULT_KEY": key, "MASKKIT_ALLOW_REVEAL": "1"})
        stdio = asyncio.run(_over_stdio(env, args.calls, masked))
    finally:
        stop_embedded_redis(home)

    rows = [
        ("mcp stdio", "mask", stdio["mask"]),
        ("mcp stdio", "unmask", stdio["unmask"]),
        ("in-process sync", "Masker.mask", sync["mask"]),
        ("in-process sync", "Masker.unmask", sync["unmask"]),
        ("in-process async", "Masker.amask", inproc_async["amask"]),
        ("in-process async", "Masker.aunmask", inproc_async["aunmask"]),
    ]
    print(f"machine: {_machine()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()}")
    print(f"commit:  {_commit()}")
    print(f"calls:   {args.calls} per row after one warm-up call; text {len(TEXT)} chars, {identifiers} pseudonyms")
    print()
    print(f"{'path':<18} {'call':<16} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for path, call, samples in rows:
        p50, p99 = _ms(samples)
        print(f"{path:<18} {call:<16} {p50:8.3f} {p99:8.3f} {statistics.fmean(samples) * 1000:8.3f}")
    mcp_mask = _ms(stdio["mask"])
    mcp_unmask = _ms(stdio["unmask"])
    print()
    verdict = "met" if mcp_mask[0] <= TARGET_P50_MS and mcp_unmask[0] <= TARGET_P50_MS else "MISSED"
    print(f"target p50 <= {TARGET_P50_MS} ms per tool call over stdio: {verdict}")
    figures = {
        "mcp_mask_p50_ms": round(mcp_mask[0], 3),
        "mcp_mask_p99_ms": round(mcp_mask[1], 3),
        "mcp_unmask_p50_ms": round(mcp_unmask[0], 3),
        "mcp_unmask_p99_ms": round(mcp_unmask[1], 3),
        "inproc_mask_p50_ms": round(_ms(sync["mask"])[0], 3),
        "inproc_mask_p99_ms": round(_ms(sync["mask"])[1], 3),
        "inproc_unmask_p50_ms": round(_ms(sync["unmask"])[0], 3),
        "inproc_unmask_p99_ms": round(_ms(sync["unmask"])[1], 3),
        "inproc_amask_p50_ms": round(_ms(inproc_async["amask"])[0], 3),
        "inproc_aunmask_p50_ms": round(_ms(inproc_async["aunmask"])[0], 3),
        "calls": args.calls,
        "commit": _commit(),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
