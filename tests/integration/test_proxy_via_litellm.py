"""`maskkit proxy --via litellm`: the same masking, with the upstream call made through LiteLLM."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from mktests.proxyfixtures import CLIENT_KEY, UPSTREAM_KEY, serving
from mktests.standin_model import Error, RecordedRequest, StandinModel, ToolUse

INSTANCE = "i-0abc1234def567890"
PROMPT = f"reboot {INSTANCE} please"


@pytest.fixture
def litellm_proxy(settings: Any, model: StandinModel) -> Iterator[anthropic.Anthropic]:
    with serving(settings, model, via="litellm") as url:
        yield anthropic.Anthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=60)


def _ec2(request: RecordedRequest) -> str:
    import re

    found = re.search(r"\bec2-\d{3,}\b", request.body.decode())
    assert found
    return found.group()


def test_json_through_litellm_is_masked_and_restored(litellm_proxy: anthropic.Anthropic, model: StandinModel) -> None:
    message = litellm_proxy.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
    )
    assert message.content[0].text == "You said: " + PROMPT
    seen = model.last_request
    assert INSTANCE not in seen.body.decode()
    assert seen.headers.get("x-api-key") == UPSTREAM_KEY


def test_streamed_tool_call_through_litellm_is_restored(
    litellm_proxy: anthropic.Anthropic, model: StandinModel
) -> None:
    model.responder = lambda r: ToolUse("Bash", {"command": f"aws ec2 reboot-instances --instance-ids {_ec2(r)}"})
    model.max_delta_chars = 1
    with litellm_proxy.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        final = stream.get_final_message()
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.input == {"command": f"aws ec2 reboot-instances --instance-ids {INSTANCE}"}
    assert INSTANCE not in model.last_request.body.decode()


def test_upstream_error_through_litellm_keeps_its_status(
    litellm_proxy: anthropic.Anthropic, model: StandinModel
) -> None:
    model.responder = lambda r: Error(529, "overloaded_error", "Overloaded")
    with pytest.raises(anthropic.APIStatusError) as caught:
        litellm_proxy.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code in (529, 500)
