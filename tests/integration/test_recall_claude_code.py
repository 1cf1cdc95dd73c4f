"""Recall with the real Claude Code CLI: values identified once by their context never reach the model bare later,
whether Claude Code sends them in a sub-agent's prompt, a new conversation, or encoded in a tool's output."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from mktests.proxyfixtures import ProxyProcess, claude_env, run_claude, start_proxy_process, stop_proxy_process
from mktests.standin_model import RecordedRequest, StandinModel, Text, ToolUse

BUCKET = "acme-payroll-archive-7731"
PASSWORD = "Xk9mQ2vLp8Rw4z"
ROLE = "payroll-exporter-role"
ACCOUNT = "410295837716"
RDS = "billing-pg-prod-3"
ORIGINALS = (BUCKET, PASSWORD, ROLE, ACCOUNT, RDS)
PROMPT = (
    f"The nightly export copies s3://{BUCKET}/exports with postgres://app:{PASSWORD}@db.internal/billing, "
    f"assumes arn:aws:iam::{ACCOUNT}:role/{ROLE}, and reads aws rds describe-db-instances "
    f"--db-instance-identifier {RDS}. Delegate the check to a sub-agent."
)
MARK = "SUBAGENT-TASK"


@pytest.fixture
def cc_proxy(env: dict[str, str], model: StandinModel, tmp_path: Path) -> Iterator[ProxyProcess]:
    proxy = start_proxy_process(env, model.url, tmp_path)
    try:
        yield proxy
    finally:
        stop_proxy_process(proxy)


def _seen_by_model(model: StandinModel) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in model.requests)


def _pseudonyms(request: RecordedRequest) -> list[str]:
    body = request.body.decode()
    found = []
    for prefix in ("s3", "pwd", "iamrole", "acct", "rds"):
        match = re.search(rf"\b{prefix}-\d{{3,}}\b", body)
        assert match, f"no {prefix} pseudonym reached the model"
        found.append(match.group())
    return found


def _agent_tool(request: RecordedRequest) -> str:
    names = {tool.get("name") for tool in request.json.get("tools", [])}
    for name in ("Agent", "Task"):
        if name in names:
            return name
    raise AssertionError(f"Claude Code offered no sub-agent tool: {sorted(n for n in names if n)}")


def _assert_no_original(model: StandinModel) -> None:
    seen = _seen_by_model(model)
    for original in ORIGINALS:
        assert original not in seen, "an original reached the model"


def test_a_sub_agents_prompt_names_only_pseudonyms(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    """The sub-agent's prompt is written by the model with pseudonyms, restored by the proxy to bare originals
    (no context left), and sent by Claude Code as a new conversation: recall masks them there."""
    subagent_requests: list[RecordedRequest] = []

    def respond(request: RecordedRequest) -> ToolUse | Text:
        messages = request.json["messages"]
        if "tool_result" in json.dumps(messages[-1]):
            return Text("Checked by the sub-agent.")
        if MARK in json.dumps(messages[0]):  # the sub-agent's own conversation starts with the delegated prompt
            subagent_requests.append(request)
            return Text("Sub-agent: the export path and the role look right.")
        s3, pwd, role, acct, rds = _pseudonyms(request)
        prompt = f"{MARK}: verify bucket {s3}, password {pwd}, role {role} in account {acct}, database {rds}."
        return ToolUse(
            _agent_tool(request),
            {"description": "Check the export", "prompt": prompt, "subagent_type": "general-purpose"},
        )

    model.responder = respond
    result = run_claude(
        claude_binary,
        claude_env(cc_proxy.url, tmp_path / "home"),
        tmp_path,
        "-p",
        PROMPT,
        "--allowedTools",
        "Agent,Task",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert subagent_requests, "Claude Code never started the sub-agent"
    _assert_no_original(model)
    assert "Checked by the sub-agent." in result.stdout


def test_a_new_conversation_naming_the_bare_values_sends_none_of_them(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    model.responder = lambda r: Text("noted")
    first = run_claude(claude_binary, claude_env(cc_proxy.url, tmp_path / "a"), tmp_path, "-p", PROMPT)
    assert first.returncode == 0, first.stderr + first.stdout
    model.clear()
    model.responder = lambda r: Text("ok")
    bare = f"Compare {BUCKET}, {ROLE}, {RDS}, {ACCOUNT} and the password {PASSWORD}."
    second = run_claude(claude_binary, claude_env(cc_proxy.url, tmp_path / "b"), tmp_path, "-p", bare)
    assert second.returncode == 0, second.stderr + second.stdout
    assert model.requests, "the second conversation reached no model"
    _assert_no_original(model)


def test_tool_output_holding_known_values_encoded_reaches_the_model_masked(
    claude_binary: Path, cc_proxy: ProxyProcess, model: StandinModel, tmp_path: Path
) -> None:
    """The model asks for `echo s3-001 pwd-001 | base64` (and hex, and percent-encoding): the command runs on the
    originals, and its output must not hand the model a decodable form of them."""
    work = tmp_path / "work"
    work.mkdir()
    plain = f"{BUCKET} {PASSWORD}"
    encoded_forms = [
        base64.b64encode((plain + "\n").encode()).decode(),
        (plain + "\n").encode().hex(),
        urllib.parse.quote(plain, safe=""),
    ]

    def respond(request: RecordedRequest) -> ToolUse | Text:
        if "tool_result" in json.dumps(request.json["messages"][-1]):
            return Text("Encoded.")
        s3, pwd = _pseudonyms(request)[:2]
        command = (
            f"echo {s3} {pwd} | base64 -w0; echo; echo {s3} {pwd} | od -An -tx1 | tr -d ' \\n'; echo; "
            f"python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=\"\"))' '{s3} {pwd}'"
        )
        return ToolUse("Bash", {"command": command, "description": "Encode the values"})

    model.responder = respond
    result = run_claude(
        claude_binary, claude_env(cc_proxy.url, tmp_path / "home"), work, "-p", PROMPT, "--allowedTools", "Bash"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    seen = _seen_by_model(model)
    assert "tool_result" in seen
    _assert_no_original(model)
    for form in encoded_forms:
        assert form not in seen, "an encoded original reached the model"
    assert "enc-" in seen
