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
    "redis", "cryptography", "httpx", "starlette", "uvicorn", "anyio", "IPython", "pandas", "numpy", "litellm",
    "mcp", "claude_agent_sdk",
)
NOT_IN_THE_PROXY = ("IPython", "pandas", "numpy", "litellm", "mcp", "claude_agent_sdk")


_PROBE = """
import json, os, sys
out = {}
for name in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child per module: it starts from this clean interpreter, imports one module, reports
        os.close(read)
        try:
            __import__(name)
            data = json.dumps(sorted(sys.modules)).encode()
        except BaseException as exc:
            data = json.dumps({"error": repr(exc)}).encode()
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out[name] = json.loads(pipe.read())
    os.waitpid(pid, 0)
print(json.dumps(out))
"""
_CACHE: dict[str, set[str]] = {}


def _modules_after_import(module: str) -> set[str]:
    """The modules loaded by importing `module` alone. One interpreter forks a clean child per module (all the
    modules this file asks about are probed at once, on first use), which is much faster than one each."""
    if module not in _CACHE:
        wanted = sorted({*_pure_modules(), *_PROXY_MODULES, "maskkit_mcp.server", "maskkit_mcp.__main__", module})
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, *wanted], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert result.returncode == 0, result.stderr
        for name, loaded in json.loads(result.stdout).items():
            assert isinstance(loaded, list), f"importing {name} failed: {loaded}"
            _CACHE[name] = set(loaded)
    return _CACHE[module]


def _loaded(modules: set[str], libraries: tuple[str, ...]) -> list[str]:
    return sorted(lib for lib in libraries if lib in modules)


def _pure_modules() -> list[str]:
    names = ["maskkit", "maskkit.types", "maskkit.errors", "maskkit._version"]
    for folder in ("core", "detect"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            names.append(f"maskkit.{folder}" if path.stem == "__init__" else f"maskkit.{folder}.{path.stem}")
    return names


@pytest.mark.parametrize("module", _pure_modules())
def test_the_pure_layers_load_no_io_library(module: str) -> None:
    assert _loaded(_modules_after_import(module), IO_LIBRARIES) == []


_PROXY_MODULES = ("maskkit.proxy.app", "maskkit.proxy.serve", "maskkit.masking", "maskkit.cli")


@pytest.mark.parametrize("module", _PROXY_MODULES)
def test_the_proxy_start_loads_no_notebook_litellm_or_mcp_stack(module: str) -> None:
    assert _loaded(_modules_after_import(module), NOT_IN_THE_PROXY) == []


@pytest.mark.parametrize("module", ["maskkit_mcp.server", "maskkit_mcp.__main__"])
def test_the_mcp_server_imports_no_proxy_module(module: str) -> None:
    modules = _modules_after_import(module)
    assert sorted(m for m in modules if m.startswith("maskkit.proxy")) == []


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
