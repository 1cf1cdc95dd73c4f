"""The layering is a contract: each layer is imported alone in a clean interpreter and its `sys.modules` inspected.

    maskkit, maskkit.core.*, maskkit.detect.*   pure: no Redis, crypto, HTTP, ASGI, notebook, LiteLLM or MCP library
    maskkit.proxy.*                              no notebook stack, LiteLLM, MCP or Claude Agent SDK at import
    mcp_server                                   never imports the proxy (it launches it as a process)
    inside maskkit                               nothing imports the package hub (`from maskkit import ...`)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "maskkit"

IO_LIBRARIES = (
    "redis", "cryptography", "httpx", "httpcore", "starlette", "uvicorn", "anyio", "IPython", "pandas", "numpy",
    "litellm", "mcp", "claude_agent_sdk",
)
NOT_IN_THE_PROXY = ("IPython", "pandas", "numpy", "litellm", "mcp", "claude_agent_sdk")


_PROBE = """
import json, os, sys
groups = json.loads(sys.argv[1])
children = []
for group in groups:  # a child per group, all at once: each starts from this clean interpreter
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            for name in group:
                __import__(name)
            data = json.dumps(sorted(sys.modules)).encode()
        except BaseException as exc:
            data = json.dumps({"error": repr(exc)}).encode()
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write)
    children.append((pid, read))
out = []
for pid, read in children:
    with os.fdopen(read, "rb") as pipe:
        out.append(json.loads(pipe.read()))
    os.waitpid(pid, 0)
print(json.dumps(out))
"""


class _Probe:
    """The probe script running as a child process for some groups of modules; `result()` waits for it."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.groups = groups
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, json.dumps(groups)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def result(self) -> list[set[str]]:
        """For each group, the modules loaded by importing that group alone in a clean interpreter."""
        try:
            stdout, stderr = self.process.communicate(timeout=120)
        finally:
            self.stop()
        assert self.process.returncode == 0, stderr
        loaded = json.loads(stdout)
        for group, modules in zip(self.groups, loaded, strict=True):
            assert isinstance(modules, list), f"importing {group} failed: {modules}"
        return [set(modules) for modules in loaded]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


_BACKGROUND: list[_Probe] = []


def start_in_background() -> None:
    """Start probing every layer now, while the other unit tests run (tests/unit/conftest.py calls this when the
    session has collected this file): the probe is mostly waiting for imports, and the box has a second core."""
    if not _BACKGROUND:
        _BACKGROUND.append(_Probe([list(layer) for layer in _LAYERS.values()]))


def stop_background() -> None:
    """End of the session: a probe no test waited for (deselected, or the run was interrupted) is stopped."""
    for probe in _BACKGROUND:
        probe.stop()


_GROUPS: dict[tuple[str, ...], set[str]] = {}


def _loaded_by(module: str, group: tuple[str, ...], libraries: tuple[str, ...]) -> list[str]:
    """The `libraries` that importing `module` alone loads.

    One child imports the whole group (one fork per layer, not per module): what importing a single module loads
    is a subset of what importing its whole group loads, so a group that loads none of `libraries` clears every
    member at once. Only when the group loads one is `module` probed alone, for the exact answer.
    """
    if group not in _GROUPS:  # every layer at once: the probe started in the background, else now
        start_in_background()
        _GROUPS.update(zip(_LAYERS.values(), _BACKGROUND[0].result(), strict=True))
    if not _loaded(_GROUPS[group], libraries):
        return []
    return _loaded(_Probe([[module]]).result()[0], libraries)


def _loaded(modules: set[str], libraries: tuple[str, ...]) -> list[str]:
    return sorted(lib for lib in libraries if lib in modules)


def _pure_modules() -> list[str]:
    names = ["maskkit", "maskkit.types", "maskkit.errors", "maskkit._version"]
    for folder in ("core", "detect"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            names.append(f"maskkit.{folder}" if path.stem == "__init__" else f"maskkit.{folder}.{path.stem}")
    return names


_PROXY_MODULES = ("maskkit.proxy.app", "maskkit.proxy.serve", "maskkit.masking", "maskkit.cli")
_MCP_MODULES = ("maskkit_mcp.server", "maskkit_mcp.__main__")
_LAYERS = {"pure": tuple(_pure_modules()), "proxy": _PROXY_MODULES, "mcp": _MCP_MODULES}


@pytest.mark.parametrize("module", _LAYERS["pure"])
def test_the_pure_layers_load_no_io_library(module: str) -> None:
    assert _loaded_by(module, _LAYERS["pure"], IO_LIBRARIES) == []


@pytest.mark.parametrize("module", _PROXY_MODULES)
def test_the_proxy_start_loads_no_notebook_litellm_or_mcp_stack(module: str) -> None:
    assert _loaded_by(module, _PROXY_MODULES, NOT_IN_THE_PROXY) == []


@pytest.mark.parametrize("module", _MCP_MODULES)
def test_the_mcp_server_imports_no_proxy_module(module: str) -> None:
    assert _loaded_by(module, _MCP_MODULES, ("maskkit.proxy",)) == []  # any proxy module loads its package


def test_nothing_inside_the_package_imports_the_package_hub() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (
                node.module == "maskkit" or (node.level == 1 and node.module is None and path.parent == PACKAGE)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
