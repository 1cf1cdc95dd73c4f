"""Start-up cost of the `maskkit` command against a bare click program, best of N, in the same run.

`import maskkit` is lazy and the CLI imports Redis, crypto and HTTP libraries only for the commands that use them,
so `maskkit --help` (and every command's argument errors) should cost little more than click itself. Also
reports how many modules `import maskkit.proxy.serve` loads (the proxy's start).

    uv run python bench/startup.py [--n 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import commit, cpu

BARE = """
import click

@click.group()
def main() -> None:
    pass

@main.command()
def x() -> None:
    pass

main()
"""


def best(argv: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare_file = Path(tmp) / "bare.py"
        bare_file.write_text(BARE)
        bare = best([sys.executable, str(bare_file), "--help"], args.n)
    maskkit = best([sys.executable, "-m", "maskkit", "--help"], args.n)
    count = subprocess.run(
        [sys.executable, "-c", "import sys, maskkit.proxy.serve; print(len(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    ratio = maskkit / bare
    print(f"# start-up | commit {commit()} | {cpu()} | Python {sys.version.split()[0]} | best of {args.n}")
    print(f"bare click --help       {bare * 1000:8.1f} ms")
    print(f"maskkit --help          {maskkit * 1000:8.1f} ms   ratio {ratio:.2f} (target <= 2.5)")
    print(f"modules loaded by the proxy's start: {count}")
    print(json.dumps({"bench": "startup", "commit": commit(), "bare_ms": round(bare * 1000, 1),
                      "maskkit_ms": round(maskkit * 1000, 1), "ratio": round(ratio, 2), "proxy_modules": int(count)}))


if __name__ == "__main__":
    main()
