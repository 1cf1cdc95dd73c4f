"""The real Claude Code CLI, headless and offline, through a real `maskkit proxy` process to the stand-in model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mktests.proxyfixtures import (
    ProxyProcess,
    claude_env,
    run_claude,
    start_proxy_process,
    stop_proxy_process,
    stream_json_events,
)
from mktests.standin_model import RecordedRequest, StandinModel, Text, ToolUse

INSTANCE = "i-07c3d2e1f0a9b8c7d"
SG = "sg-0fedcba9876543210"
PROMPT = f"why is {INSTANCE} unreachable from {SG}?"


@pytest.fixture
def cc_proxy(env: dict[str, str], model: StandinModel, tmp_path: Path) -> Iterator[ProxyProcess]:
    proxy = start_proxy_process(env, model.url, tmp_path)
    try:
        yield proxy
    finally:
        stop_proxy_process(proxy)
    assert INSTANCE not in proxy.log_text() and SG not in proxy.log_text()


def _bodies(model: StandinModel) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in model.requests)


def _pseudonym(request: RecordedRequest, prefix: str) -> str:
    found = re.search(rf"\b{prefix}-\d{{3,}}\b", request.body.decode())
    assert found, f"no {prefix} pseudonym reached the model"
    return found.group()


def test_claude_code_text_output_is_restored(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    model.responder = lambda r: Text(f"{_pseudonym(r, 'ec2')} sits behind {_pseudonym(r, 'sg')}.")
    result = run_claude(claude_binary, claude_env(cc_proxy.url, tmp_path / "home"), tmp_path, "-p", PROMPT)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == f"{INSTANCE} sits behind {SG}."
    request = model.requests[-1]
    assert request.path == "/v1/messages" and request.query == "beta=true"
    assert request.json["stream"] is True
    assert INSTANCE not in _bodies(model) and SG not in _bodies(model)


def test_claude_code_json_output_is_restored(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    model.responder = lambda r: Text(f"instance {_pseudonym(r, 'ec2')}")
    result = run_claude(
        claude_binary, claude_env(cc_proxy.url, tmp_path / "home"), tmp_path, "-p", PROMPT, "--output-format", "json"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["result"] == f"instance {INSTANCE}"


def test_claude_code_stream_json_output_is_restored(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    model.max_delta_chars = 1
    model.responder = lambda r: Text(f"instance {_pseudonym(r, 'ec2')} ok")
    result = run_claude(
        claude_binary,
        claude_env(cc_proxy.url, tmp_path / "home"),
        tmp_path,
        "-p",
        PROMPT,
        "--output-format",
        "stream-json",
        "--verbose",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    final = [e for e in stream_json_events(result.stdout) if e.get("type") == "result"]
    assert final and final[-1]["result"] == f"instance {INSTANCE} ok"
    assert INSTANCE not in _bodies(model)


def test_bash_tool_round_trip_runs_on_the_real_id_and_the_model_sees_only_pseudonyms(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()

    def respond(request: RecordedRequest) -> ToolUse | Text:
        messages = request.json["messages"]
        if "tool_result" in json.dumps(messages[-1]):
            return Text("The file is written.")
        ec2, sg = _pseudonym(request, "ec2"), _pseudonym(request, "sg")
        return ToolUse(
            "Bash",
            {"command": f"echo {ec2} {sg} | tee ids.txt", "description": "Record the ids"},
            text_before="Recording the ids.",
        )

    model.responder = respond
    model.max_delta_chars = 2
    result = run_claude(
        claude_binary, claude_env(cc_proxy.url, tmp_path / "home"), work, "-p", PROMPT, "--allowedTools", "Bash"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (work / "ids.txt").read_text().strip() == f"{INSTANCE} {SG}"
    assert len(model.requests) >= 2
    second = model.requests[-1]
    assert "tool_result" in second.body.decode()
    assert INSTANCE not in _bodies(model) and SG not in _bodies(model)
    assert result.stdout.strip().endswith("The file is written.")


def test_claude_code_shows_the_upstream_error_restored(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    from mktests.standin_model import Error

    model.responder = lambda r: Error(529, "overloaded_error", f"Overloaded while reading {_pseudonym(r, 'ec2')}")
    result = run_claude(claude_binary, claude_env(cc_proxy.url, tmp_path / "home"), tmp_path, "-p", PROMPT)
    assert result.returncode != 0
    assert "529" in result.stdout + result.stderr
    assert INSTANCE in result.stdout + result.stderr


def test_maskkit_run_starts_a_proxy_and_prints_the_restored_result(
    claude_binary: Path, env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    import subprocess
    import sys

    model.responder = lambda r: Text(f"restart {_pseudonym(r, 'ec2')}")
    run_env = {
        **claude_env("http://unused.invalid", tmp_path / "home"),
        **{k: v for k, v in env.items() if k.startswith("MASKKIT_")},
        "MASKKIT_CLAUDE_BIN": str(claude_binary),
        "MASKKIT_UPSTREAM": model.url,
        "MASKKIT_API_KEY": "mk-run-key",
    }
    run_env["ANTHROPIC_API_KEY"] = "sk-upstream-for-the-proxy"
    result = subprocess.run(
        [sys.executable, "-m", "maskkit", "run", "-p", PROMPT, "--output-format", "json"],
        env=run_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["result"] == f"restart {INSTANCE}"
    assert INSTANCE not in _bodies(model)
    assert model.requests[-1].headers["x-api-key"] == "sk-upstream-for-the-proxy"


def test_claude_code_route_runs_headless_behind_the_proxy(
    claude_binary: Path, settings: object, model: StandinModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from mktests.proxyfixtures import CLIENT_KEY, ServerThread, proxy_settings

    from maskkit.proxy.app import build_app

    monkeypatch.setenv("MASKKIT_CLAUDE_BIN", str(claude_binary))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    model.responder = lambda r: Text(f"{_pseudonym(r, 'ec2')} needs a route to the internet gateway.")
    server = ServerThread(build_app(proxy_settings(settings, model))).start()  # type: ignore[arg-type]
    try:
        refused = httpx.post(
            server.url + "/v1/claude-code",
            headers={"x-api-key": CLIENT_KEY},
            json={"prompt": PROMPT, "allowed_tools": ["Bash"]},
            timeout=30,
        )
        response = httpx.post(
            server.url + "/v1/claude-code", headers={"x-api-key": CLIENT_KEY}, json={"prompt": PROMPT}, timeout=120
        )
        unauthenticated = httpx.post(server.url + "/v1/claude-code", json={"prompt": PROMPT}, timeout=30)
    finally:
        server.stop()
    assert refused.status_code == 403 and "MASKKIT_CLAUDE_CODE_TOOLS" in refused.json()["error"]["message"]
    assert unauthenticated.status_code == 401
    assert response.status_code == 200, response.text
    assert response.json()["result"] == f"{INSTANCE} needs a route to the internet gateway."
    assert INSTANCE not in _bodies(model) and SG not in _bodies(model)


def test_the_headless_child_talks_only_to_this_proxy_inherits_no_key_and_leaves_no_transcript(
    claude_binary: Path, settings: object, model: StandinModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 13 item 1: a forged `Host: 127.0.0.1:<other port>` must not redirect the child (with the unmasked
    prompt and the caller's key) to that port; with tools on, a prompt that runs `env` finds no maskkit setting
    or key and no upstream credential; and no transcript (which holds originals) stays in the data dir."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    from mktests.proxyfixtures import CLIENT_KEY, ServerThread, proxy_settings

    from maskkit import Settings
    from maskkit.proxy.app import build_app

    seen: list[str] = []

    class Impostor(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = do_HEAD = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    impostor = ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    secrets_in_env = {"MASKKIT_VAULT_KEY": "sentinel-vault-key-0001", "MASKKIT_API_KEY": "sentinel-client-key-0002",
                      "ANTHROPIC_AUTH_TOKEN": "sentinel-upstream-token-0003"}
    for name, value in secrets_in_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASKKIT_CLAUDE_BIN", str(claude_binary))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()

    def respond(request: RecordedRequest) -> ToolUse | Text:
        if "tool_result" in json.dumps(request.json["messages"][-1]):
            return Text("done")
        return ToolUse("Bash", {"command": "env > env.txt", "description": "Show the environment"})

    model.responder = respond
    assert isinstance(settings, Settings)
    server = ServerThread(build_app(proxy_settings(settings, model, claude_code_tools=True))).start()
    try:
        response = httpx.post(
            server.url + "/v1/claude-code",
            headers={"x-api-key": CLIENT_KEY, "host": f"127.0.0.1:{impostor.server_address[1]}"},
            json={"prompt": PROMPT, "allowed_tools": ["Bash"], "cwd": str(work)},
            timeout=180,
        )
    finally:
        server.stop()
        impostor.shutdown()
        impostor.server_close()
        thread.join(timeout=5)
    assert seen == [], "the child Claude Code followed the Host header"
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "done"
    assert INSTANCE not in _bodies(model) and SG not in _bodies(model)
    dumped = (work / "env.txt").read_text()
    assert not [value for value in secrets_in_env.values() if value in dumped]
    assert not [line for line in dumped.splitlines() if line.startswith("MASKKIT_") and not line.endswith("=")]
    assert not (settings.home / "claude-code").exists()
    for path in settings.home.rglob("*.jsonl"):
        assert INSTANCE.encode() not in path.read_bytes(), path
