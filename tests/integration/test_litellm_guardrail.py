"""maskkit inside a real LiteLLM proxy: `litellm --config` (the example config plus an OpenAI-format model) as a
process on loopback, with the maskkit guardrail, in front of two stand-ins (Anthropic and OpenAI chat
completions). Clients are the real `openai` and `anthropic` SDKs. The LiteLLM proxy starts once per module
(importing LiteLLM takes seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml
from mktests.proxyfixtures import PSEUDONYM, UPSTREAM_KEY, free_port
from mktests.standin_model import Error, RecordedRequest, StandinModel, ToolUse
from mktests.standin_openai import ChatText, ChatToolCall, OpenAIStandin

from maskkit import Masker, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "litellm" / "config.yaml"
MASTER_KEY = "sk-litellm-test-master"
OPENAI_UPSTREAM_KEY = "sk-openai-standin"
_SCRUB = ("ANTHROPIC_", "MASKKIT_", "CLAUDE_", "AWS_", "LITELLM_", "OPENAI_")

INSTANCE = "i-0abc1234def567890"
ACCESS_KEY = "AKIAZQ3DRSTUVWXY2345"
SECRET = "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"
ROLE_ARN = "arn:aws:iam::123456789012:role/deploy-prod"
ORIGINALS = (INSTANCE, ACCESS_KEY, SECRET, "123456789012", "deploy-prod")


@dataclass
class Gateway:
    url: str
    namespace: str
    masker: Masker
    maskkit_env: dict[str, str]
    openai_standin: OpenAIStandin
    log: Path

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=60)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=MASTER_KEY, max_retries=0, timeout=60)


def _config(workdir: Path, dead_redis: str) -> Path:
    """The example config as shipped, plus an OpenAI-format model and a guardrail whose vault is down."""
    config = yaml.safe_load(EXAMPLE.read_text())
    config["model_list"].append(
        {
            "model_name": "gpt-standin",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": "os.environ/MKTESTS_OPENAI_UPSTREAM",
                "api_key": OPENAI_UPSTREAM_KEY,
            },
        }
    )
    down = json.loads(json.dumps(config["guardrails"][0]))
    down["guardrail_name"] = "maskkit-vault-down"
    down["litellm_params"].update({"default_on": False, "redis_url": dead_redis})
    config["guardrails"].append(down)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_until_live(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the LiteLLM proxy exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url + "/health/liveliness", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the LiteLLM proxy did not answer /health/liveliness in 180 s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def gateway(
    vault_home: Path, vault_key: str, standin: StandinModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    namespace = "t" + uuid.uuid4().hex[:12]
    workdir = tmp_path_factory.mktemp("litellm")
    litellm_bin = Path(sys.executable).parent / "litellm"
    if not litellm_bin.exists():
        pytest.fail(f"the LiteLLM proxy command is missing ({litellm_bin}); run `uv sync --all-extras`")
    maskkit_env = {"MASKKIT_HOME": str(vault_home), "MASKKIT_VAULT_KEY": vault_key, "MASKKIT_NAMESPACE": namespace}
    with OpenAIStandin() as openai_standin:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.upper().startswith(_SCRUB)},
            **maskkit_env,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_OFFLINE_MODE": "true",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "MASKKIT_UPSTREAM": standin.url,
            "ANTHROPIC_API_KEY": UPSTREAM_KEY,
            "MKTESTS_OPENAI_UPSTREAM": openai_standin.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        config = _config(workdir, f"redis://127.0.0.1:{free_port()}/0")
        log = workdir / "litellm.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [str(litellm_bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        masker = Masker.from_settings(load_settings(maskkit_env))
        try:
            _wait_until_live(process, url, log)
            yield Gateway(url, namespace, masker, maskkit_env, openai_standin, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            masker.vault.close()


@pytest.fixture
def gw(gateway: Gateway, model: StandinModel) -> Iterator[Gateway]:
    """The module's gateway with both stand-ins reset."""
    gateway.openai_standin.clear()
    yield gateway
    gateway.openai_standin.clear()


def _leaks(text: str) -> list[str]:
    """Which originals occur in `text` (names them by position only, so assertion output shows no original)."""
    return [f"original #{i}" for i, original in enumerate(ORIGINALS) if original in text]


def _pseudonym(text: str, prefix: str) -> str:
    found = [p for p in PSEUDONYM.findall(text) if p.startswith(prefix + "-")]
    assert found, f"no {prefix} pseudonym in what the model received"
    return found[0]


# --- OpenAI chat completions ------------------------------------------------------------------------------------


def test_chat_completion_is_masked_and_the_answer_restored(gw: Gateway) -> None:
    prompt = f"why is {INSTANCE} failing with key {ACCESS_KEY}?"
    answer = gw.openai().chat.completions.create(model="gpt-standin", messages=[{"role": "user", "content": prompt}])
    assert answer.choices[0].message.content == "You said: " + prompt
    [seen] = gw.openai_standin.received
    assert _leaks(seen.body.decode()) == []
    assert seen.headers.get("authorization") == f"Bearer {OPENAI_UPSTREAM_KEY}"


def test_pseudonyms_agree_with_maskkit_mask_on_the_same_vault(gw: Gateway) -> None:
    """The same vault, the same pseudonyms: the Python API and the `maskkit mask` command agree with LiteLLM."""
    prompt = f"reboot {INSTANCE} with role {ROLE_ARN}"
    gw.openai().chat.completions.create(model="gpt-standin", messages=[{"role": "user", "content": prompt}])
    seen = gw.openai_standin.received[0].json["messages"][0]["content"]
    assert seen == gw.masker.mask(prompt).text
    env = {**{k: v for k, v in os.environ.items() if not k.upper().startswith(_SCRUB)}, **gw.maskkit_env}
    cli = subprocess.run(
        [sys.executable, "-m", "maskkit", "mask"], input=prompt, env=env, capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0 and cli.stdout == seen


def test_tool_results_tool_call_history_and_tool_definitions_never_reach_the_model(gw: Gateway) -> None:
    messages: list[Any] = [
        {"role": "system", "content": f"You operate account {ROLE_ARN}."},
        {"role": "user", "content": [{"type": "text", "text": f"check {INSTANCE}"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "shell", "arguments": json.dumps({"command": f"aws ec2 describe {INSTANCE}"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": f"AccessKeyId={ACCESS_KEY} SecretAccessKey={SECRET}"},
    ]
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "shell",
                "description": f"Runs commands; the default instance is {INSTANCE}.",
                "parameters": {
                    "type": "object",
                    "properties": {"command": {"type": "string", "description": f"e.g. aws iam get-role {ROLE_ARN}"}},
                },
            },
        }
    ]
    answer = gw.openai().chat.completions.create(model="gpt-standin", messages=messages, tools=tools)
    assert answer.choices[0].message.content is not None
    [seen] = gw.openai_standin.received
    assert _leaks(seen.body.decode()) == []
    sent = seen.json
    history = json.loads(sent["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert history == {"command": f"aws ec2 describe {_pseudonym(seen.body.decode(), 'ec2')}"}
    assert sent["tools"][0]["function"]["name"] == "shell"
    assert sent["tools"][0]["function"]["parameters"]["properties"]["command"]["type"] == "string"


def test_tool_call_arguments_come_back_restored_as_valid_json(gw: Gateway) -> None:
    def reply(body: dict[str, Any]) -> ChatToolCall:
        ec2 = _pseudonym(json.dumps(body), "ec2")
        return ChatToolCall("shell", {"command": f"aws ec2 reboot-instances --instance-ids {ec2}"}, "On it.")

    gw.openai_standin.responder = reply
    answer = gw.openai().chat.completions.create(
        model="gpt-standin", messages=[{"role": "user", "content": f"reboot {INSTANCE}"}]
    )
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert json.loads(call.function.arguments) == {  # type: ignore[union-attr]
        "command": f"aws ec2 reboot-instances --instance-ids {INSTANCE}"
    }


def test_streamed_chat_text_and_tool_arguments_are_restored_chunk_by_chunk(gw: Gateway) -> None:
    def reply(body: dict[str, Any]) -> ChatToolCall:
        ec2 = _pseudonym(json.dumps(body), "ec2")
        return ChatToolCall("shell", {"command": f"reboot {ec2}"}, f"Rebooting {ec2} now.")

    gw.openai_standin.responder = reply
    gw.openai_standin.max_delta_chars = 1
    stream = gw.openai().chat.completions.create(
        model="gpt-standin", stream=True, messages=[{"role": "user", "content": f"reboot {INSTANCE}"}]
    )
    text, arguments, chunks = "", "", 0
    for chunk in stream:
        chunks += 1
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                arguments += (call.function.arguments if call.function else None) or ""
    assert text == f"Rebooting {INSTANCE} now."
    assert json.loads(arguments) == {"command": f"reboot {INSTANCE}"}
    assert chunks > 20  # streamed as it came, not buffered into one chunk
    assert _leaks(gw.openai_standin.received[0].body.decode()) == []


def test_invented_pseudonyms_are_not_restored(gw: Gateway) -> None:
    gw.openai_standin.responder = lambda body: ChatText(f"{_pseudonym(json.dumps(body), 'ec2')} and ec2-987654")
    answer = gw.openai().chat.completions.create(
        model="gpt-standin", messages=[{"role": "user", "content": f"reboot {INSTANCE}"}]
    )
    assert answer.choices[0].message.content == f"{INSTANCE} and ec2-987654"


def test_vault_down_rejects_the_request_and_sends_nothing(gw: Gateway, model: StandinModel) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        gw.openai().chat.completions.create(
            model="gpt-standin",
            messages=[{"role": "user", "content": f"reboot {INSTANCE}"}],
            extra_body={"guardrails": ["maskkit-vault-down"]},
        )
    assert caught.value.status_code == 503
    assert "not sent" in str(caught.value)
    assert _leaks(str(caught.value)) == []
    assert gw.openai_standin.received == []
    with pytest.raises(anthropic.APIStatusError) as refused:
        gw.anthropic().messages.create(
            model="claude-sonnet-4-5",
            max_tokens=50,
            messages=[{"role": "user", "content": f"reboot {INSTANCE}"}],
            extra_body={"guardrails": ["maskkit-vault-down"]},
        )
    assert refused.value.status_code == 503
    assert model.requests == []


# --- Anthropic messages (/v1/messages) --------------------------------------------------------------------------


def _ec2(request: RecordedRequest) -> str:
    return _pseudonym(request.body.decode(), "ec2")


def _tool_history() -> list[Any]:
    return [
        {"role": "user", "content": f"check {INSTANCE}"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": f"aws iam {ROLE_ARN}"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": f"{ACCESS_KEY} {SECRET}"}],
        },
    ]


def test_messages_json_tool_use_input_is_restored_and_history_masked(gw: Gateway, model: StandinModel) -> None:
    model.responder = lambda r: ToolUse("Bash", {"command": f"aws ec2 reboot-instances --instance-ids {_ec2(r)}"})
    message = gw.anthropic().messages.create(
        model="claude-sonnet-4-5", max_tokens=100, system=f"Account {ROLE_ARN}.", messages=_tool_history()
    )
    tool = next(b for b in message.content if b.type == "tool_use")
    assert tool.input == {"command": f"aws ec2 reboot-instances --instance-ids {INSTANCE}"}
    assert _leaks(model.last_request.body.decode()) == []


def test_messages_json_account_id_numbers_go_out_as_pseudonyms_and_come_back_as_numbers(
    gw: Gateway, model: StandinModel
) -> None:
    """`{"AccountId": 410295837716}` in a tool call: the model sees `acct-…` (a string), and its answer naming
    that pseudonym as a whole JSON value reaches the client as the number again, as in the proxy."""
    history = [
        {"role": "user", "content": "which account?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Org", "input": {"AccountId": 410295837716}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
    ]
    model.responder = lambda r: ToolUse("Org", {"AccountId": _pseudonym(r.body.decode(), "acct")})
    message = gw.anthropic().messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=history)
    tool = next(b for b in message.content if b.type == "tool_use")
    assert tool.input == {"AccountId": 410295837716}
    assert "410295837716" not in model.last_request.body.decode()


def test_messages_stream_is_restored_from_the_raw_sse_bytes(gw: Gateway, model: StandinModel) -> None:
    model.responder = lambda r: ToolUse("Bash", {"command": f"reboot {_ec2(r)}"}, text_before=f"Rebooting {_ec2(r)}.")
    model.max_delta_chars = 1
    with gw.anthropic().messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=_tool_history()) as stream:
        final = stream.get_final_message()
    text = next(b for b in final.content if b.type == "text")
    tool = next(b for b in final.content if b.type == "tool_use")
    assert text.text == f"Rebooting {INSTANCE}."
    assert tool.input == {"command": f"reboot {INSTANCE}"}
    assert _leaks(model.last_request.body.decode()) == []


def test_messages_stream_of_plain_text_is_exact(gw: Gateway, model: StandinModel) -> None:
    model.max_delta_chars = 2
    prompt = f"{INSTANCE}, {ACCESS_KEY}, {ROLE_ARN} and ec2-424242"
    with gw.anthropic().messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        streamed = "".join(stream.text_stream)
    assert streamed == "You said: " + prompt
    assert _leaks(model.last_request.body.decode()) == []


def test_a_pseudonym_at_the_very_end_of_a_chat_stream_is_restored(gw: Gateway) -> None:
    gw.openai_standin.max_delta_chars = 2
    prompt = f"{ROLE_ARN} then {INSTANCE}"
    stream = gw.openai().chat.completions.create(
        model="claude-sonnet-4-5", stream=True, messages=[{"role": "user", "content": prompt}]
    )
    text = "".join(choice.delta.content or "" for chunk in stream for choice in chunk.choices)
    assert text == "You said: " + prompt


def test_a_client_cannot_switch_the_guardrail_off(gw: Gateway) -> None:
    """Only the LiteLLM admin can (key/team metadata); whatever the request body says, it is masked."""
    for extra in (
        {"guardrails": []},
        {"metadata": {"disable_global_guardrails": True, "opted_out_global_guardrails": ["maskkit"]}},
        {"litellm_metadata": {"user_api_key_metadata": {"disable_global_guardrails": True}}},
    ):
        answer = gw.openai().chat.completions.create(
            model="gpt-standin", messages=[{"role": "user", "content": f"reboot {INSTANCE}"}], extra_body=extra
        )
        assert answer.choices[0].message.content == f"You said: reboot {INSTANCE}"
    assert len(gw.openai_standin.received) == 3
    assert all(_leaks(r.body.decode()) == [] for r in gw.openai_standin.received)


def test_upstream_error_messages_on_chat_completions_come_back_restored(gw: Gateway, model: StandinModel) -> None:
    model.responder = lambda r: Error(400, "invalid_request_error", f"no such instance {_ec2(r)}")
    with pytest.raises(openai.APIStatusError) as refused:
        gw.openai().chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": f"reboot {INSTANCE}"}]
        )
    assert refused.value.status_code == 400
    assert f"no such instance {INSTANCE}" in str(refused.value.body)


def test_count_tokens_which_litellm_forwards_without_guardrails_is_refused(gw: Gateway, model: StandinModel) -> None:
    """LiteLLM 1.108.7 sends /v1/messages/count_tokens bodies to the provider with no guardrail run; the example
    config's `allowed_routes` refuses the route, so nothing goes upstream."""
    response = httpx.post(
        gw.url + "/v1/messages/count_tokens",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": f"reboot {INSTANCE}"}]},
        timeout=30,
    )
    assert response.status_code == 403
    assert model.requests == []


def test_the_gateway_log_names_no_original(gateway: Gateway) -> None:
    """Runs last: everything the LiteLLM process printed while masking, restoring and refusing."""
    assert _leaks(gateway.log.read_text(errors="replace")) == []
