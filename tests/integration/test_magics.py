"""`%%safeclaude` in a real IPython InteractiveShell, against the stand-in model and the session's real vault:
the model only ever sees pseudonyms, the answer comes back restored, and nothing is sent when masking fails."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from mktests import awsgen
from mktests.leakcheck import find_planted
from mktests.standin_model import Error, StandinModel, Text
from traitlets.config import Config

import maskkit.notebook.magics as magics
from maskkit import Settings, UpstreamError, VaultUnavailable
from maskkit.notebook.magics import Answer, SafeClaude, SafeClaudeResult, SideBySide

INSTANCE = "i-1234567890abcdef0"
VPC = "vpc-0a1b2c3d4e5f67890"
SUBNET = "subnet-0fedcba9876543210"
ACCOUNT = "123456789012"
ORIGINALS = (INSTANCE, VPC, SUBNET, ACCOUNT)
QUESTION = f"Why does {INSTANCE} lose its route to {VPC}?"
API_KEY = "sk-ant-test-magics"


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[StandinModel]:
    with StandinModel() as server:
        yield server


@pytest.fixture
def upstream(upstream_server: StandinModel) -> Iterator[StandinModel]:
    """The module's stand-in model, reset for this test."""
    upstream_server.clear()
    upstream_server.max_delta_chars = 3
    yield upstream_server
    upstream_server.clear()
    upstream_server.max_delta_chars = 3


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    """One real InteractiveShell for the module, with its profile and history in a temporary directory."""
    ipython_dir = tmp_path_factory.mktemp("ipython")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(ipython_dir))
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        InteractiveShell.clear_instance()
        instance = InteractiveShell.instance(config=config, ipython_dir=str(ipython_dir))
        try:
            yield instance
        finally:
            magics.unload_ipython_extension(instance)
            InteractiveShell.clear_instance()


@pytest.fixture
def ip(
    shell: InteractiveShell,
    upstream: StandinModel,
    settings: Settings,
    vault_key: str,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InteractiveShell]:
    """The shell with a fresh `%%safeclaude` whose load_settings() sees the session vault and the stand-in."""
    monkeypatch.setenv("MASKKIT_HOME", str(settings.home))
    monkeypatch.setenv("MASKKIT_VAULT_KEY", vault_key)
    monkeypatch.setenv("MASKKIT_NAMESPACE", namespace)
    monkeypatch.setenv("MASKKIT_UPSTREAM", upstream.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    magics.load_ipython_extension(shell)
    names = set(shell.user_ns)
    try:
        yield shell
    finally:
        for name in set(shell.user_ns) - names:
            del shell.user_ns[name]
        shell.user_ns.pop(magics.LAST, None)


def _magics(shell: InteractiveShell) -> SafeClaude:
    found = shell.magics_manager.registry["SafeClaude"]
    assert isinstance(found, SafeClaude)
    return found


def _bodies(upstream: StandinModel) -> list[str]:
    return [r.body.decode("utf-8", "replace") for r in upstream.requests]


def _assert_no_originals(upstream: StandinModel, originals: tuple[str, ...] = ORIGINALS) -> None:
    __tracebackhide__ = True
    leaked = [i for i, body in enumerate(_bodies(upstream)) for o in originals if o in body]
    assert not leaked, f"an original reached the model in request(s) {sorted(set(leaked))}"


def _last(shell: InteractiveShell) -> SafeClaudeResult:
    result = shell.user_ns[magics.LAST]
    assert isinstance(result, SafeClaudeResult)
    return result


class RecordingPublisher(DisplayPublisher):
    """Records every display (and display update) instead of printing it."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[dict[str, Any], bool]] = []

    def publish(self, data: Any, metadata: Any = None, source: Any = None, **kwargs: Any) -> None:
        self.published.append((data, bool(kwargs.get("update"))))


@pytest.fixture
def publisher(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> RecordingPublisher:
    recorder = RecordingPublisher()
    monkeypatch.setattr(ip, "display_pub", recorder)
    return recorder


# --- loading ----------------------------------------------------------------------------------------------------


def test_load_ext_registers_both_magics(shell: InteractiveShell) -> None:
    shell.run_line_magic("load_ext", "maskkit")
    assert "safeclaude" in shell.magics_manager.magics["cell"]
    assert "safeclaude_config" in shell.magics_manager.magics["line"]


def test_traitlets_config_sets_the_defaults(shell: InteractiveShell) -> None:
    shell.config.SafeClaude.model = "claude-opus-4-6"
    shell.config.SafeClaude.max_tokens = 321
    try:
        magics.load_ipython_extension(shell)
        loaded = _magics(shell)
        assert (loaded.model, loaded.max_tokens) == ("claude-opus-4-6", 321)
        assert SafeClaude.class_traits()["model"].metadata.get("config") is True
        assert SafeClaude.class_traits()["model"].help
    finally:
        del shell.config.SafeClaude["model"]
        del shell.config.SafeClaude["max_tokens"]


# --- the round trip ----------------------------------------------------------------------------------------------


def test_model_sees_only_pseudonyms_and_the_answer_is_restored(ip: InteractiveShell, upstream: StandinModel) -> None:
    returned = ip.run_cell_magic("safeclaude", "--model claude-sonnet-4-5", QUESTION + "\n")

    assert len(upstream.requests) == 1
    _assert_no_originals(upstream)
    request = upstream.last_request
    assert request.path == "/v1/messages"
    assert request.json["model"] == "claude-sonnet-4-5"
    assert request.headers["x-api-key"] == API_KEY
    sent = request.json["messages"][-1]["content"][0]["text"]
    assert "ec2-" in sent and "vpc-" in sent
    assert isinstance(returned, Answer)
    assert returned.text == "You said: " + QUESTION
    assert returned._repr_markdown_() == returned.text
    assert INSTANCE not in repr(returned)
    last = _last(ip)
    assert last.text == "You said: " + QUESTION
    assert last.masked_prompt == sent
    assert last.masked_answer == "You said: " + sent
    assert {kind for kind, _ in last.pseudonyms} == {"INSTANCE_ID", "VPC_ID"}
    assert not any(o in repr(last) for o in ORIGINALS)


def test_output_variable_holds_the_restored_str_and_the_raw_response_stays_masked(
    ip: InteractiveShell, upstream: StandinModel
) -> None:
    ip.run_cell_magic("safeclaude", "-o answer --no-display", QUESTION)

    answer = ip.user_ns["answer"]
    assert type(answer) is str
    assert answer == "You said: " + QUESTION
    raw = _last(ip).response
    assert type(raw).__name__ == "ModelResponse"
    assert raw.choices[0].message.content == "You said: " + _last(ip).masked_prompt
    assert INSTANCE not in raw.model_dump_json()


def test_no_display_returns_nothing_and_prints_nothing(
    ip: InteractiveShell, upstream: StandinModel, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    assert ip.run_cell_magic("safeclaude", "--no-display -o answer", QUESTION) is None
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # LiteLLM stays silent: no banners, warnings or log lines (nbval-safe)
    assert ip.user_ns["answer"] == "You said: " + QUESTION


def test_system_prompt_is_masked_too(ip: InteractiveShell, upstream: StandinModel) -> None:
    ip.run_cell_magic("safeclaude", f"--system 'You administer account_id={ACCOUNT} and {SUBNET}.'", QUESTION)

    _assert_no_originals(upstream)
    system = upstream.last_request.json["system"]
    system_text = system if isinstance(system, str) else system[0]["text"]
    assert system_text == _last(ip).masked_system
    assert "acct-" in system_text and "subnet-" in system_text


def test_show_masked_shows_exactly_what_was_sent(
    ip: InteractiveShell, upstream: StandinModel, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_cell_magic("safeclaude", f"--show-masked --no-display --system 'account_id={ACCOUNT}'", QUESTION)

    out = capsys.readouterr().out
    body = upstream.last_request.json
    sent_prompt = body["messages"][-1]["content"][0]["text"]
    sent_system = body["system"][0]["text"] if isinstance(body["system"], list) else body["system"]
    assert sent_prompt in out and sent_system in out
    assert "ec2-" in out and "(INSTANCE_ID)" in out
    assert not any(o in out for o in ORIGINALS)


# --- streaming ----------------------------------------------------------------------------------------------------


def test_stream_restores_a_pseudonym_split_over_one_character_deltas(
    ip: InteractiveShell, upstream: StandinModel, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.max_delta_chars = 1
    assert ip.run_cell_magic("safeclaude", "--stream", QUESTION) is None

    assert upstream.last_request.json["stream"] is True
    _assert_no_originals(upstream)
    assert capsys.readouterr().out == "You said: " + QUESTION + "\n"
    last = _last(ip)
    assert last.text == "You said: " + QUESTION
    assert last.masked_answer == "You said: " + last.masked_prompt
    assert last.response.choices[0].message.content == last.masked_answer


def test_stream_in_a_kernel_updates_one_display_with_restored_text_only(
    ip: InteractiveShell, upstream: StandinModel, publisher: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(magics, "_in_kernel", lambda shell: True)
    _magics(ip).stream_interval = 0.0
    upstream.max_delta_chars = 1
    returned = ip.run_cell_magic("safeclaude", "--stream", QUESTION)

    final = "You said: " + QUESTION
    shown = [data["text/markdown"] for data, _ in publisher.published]
    assert publisher.published[0][1] is False and all(update for _, update in publisher.published[1:])
    assert len(shown) > 10  # it really streamed
    assert final in shown
    for text in shown:  # every state shown is a prefix of the restored answer: never a pseudonym
        assert final.startswith(text), f"a display update showed something other than restored text: {text!r}"
    # The live display ends empty and the answer is returned: the saved outputs do not depend on updates.
    assert shown[0] == shown[-1] == ""
    assert isinstance(returned, Answer) and returned.text == final


def test_upstream_error_is_raised_in_the_cell(ip: InteractiveShell, upstream: StandinModel) -> None:
    upstream.enqueue(Error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(UpstreamError, match="Overloaded"):
        ip.run_cell_magic("safeclaude", "-o answer", QUESTION)
    assert "answer" not in ip.user_ns


# --- conversations -----------------------------------------------------------------------------------------------


def test_chat_continues_with_masked_history_and_restores_earlier_pseudonyms(
    ip: InteractiveShell, upstream: StandinModel
) -> None:
    ip.run_cell_magic("safeclaude", "--chat ops --system 'You are terse.'", QUESTION)
    first = _last(ip)
    instance_pseudonym = next(p for kind, p in first.pseudonyms if kind == "INSTANCE_ID")
    upstream.enqueue(Text(f"Restart {instance_pseudonym} first."))
    ip.run_cell_magic("safeclaude", "--chat ops -o second", f"And what about {SUBNET}?")

    _assert_no_originals(upstream)
    body = upstream.last_request.json
    texts = [block["text"] for message in body["messages"] for block in message["content"]]
    assert texts == [first.masked_prompt, first.masked_answer, _last(ip).masked_prompt]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["system"][0]["text"] == "You are terse."
    assert ip.user_ns["second"] == f"Restart {INSTANCE} first."  # a pseudonym from turn 1, restored in turn 2
    assert len(_magics(ip).chats["ops"].messages) == 4

    ip.run_cell_magic("safeclaude", "--chat ops --reset", "Fresh start")
    assert len(upstream.last_request.json["messages"]) == 1


def test_failed_turn_is_not_added_to_the_chat(ip: InteractiveShell, upstream: StandinModel) -> None:
    ip.run_cell_magic("safeclaude", "--chat c1 --no-display", QUESTION)
    upstream.enqueue(Error(500, "api_error", "boom"))
    with pytest.raises(UpstreamError):
        ip.run_cell_magic("safeclaude", "--chat c1 --no-display", "second")
    assert len(_magics(ip).chats["c1"].messages) == 2


# --- interpolation -------------------------------------------------------------------------------------------------


def test_interpolated_values_are_masked_and_other_braces_are_left_alone(
    ip: InteractiveShell, upstream: StandinModel
) -> None:
    class Change:
        subnet = SUBNET
        _secret = "hidden"

    ip.user_ns["change_id"] = INSTANCE
    ip.user_ns["change"] = Change()
    cell = (
        "After {change_id} in {change.subnet}: "
        '{"Account": "x"} ${AWS::Region} ${var.name} {undefined_name} {{change_id}} {change._secret}'
    )
    ip.run_cell_magic("safeclaude", "-o answer", cell)

    _assert_no_originals(upstream)
    sent = upstream.last_request.json["messages"][-1]["content"][0]["text"]
    assert sent.startswith("After ec2-") and " in subnet-" in sent
    assert sent.endswith('{"Account": "x"} ${AWS::Region} ${var.name} {undefined_name} {change_id} {change._secret}')
    assert ip.user_ns["answer"].startswith(f"You said: After {INSTANCE} in {SUBNET}: ")


def test_no_interpolate_sends_the_braces_as_written(ip: InteractiveShell, upstream: StandinModel) -> None:
    ip.user_ns["name"] = "value"
    ip.run_cell_magic("safeclaude", "--no-interpolate", "keep {name}")
    assert upstream.last_request.json["messages"][-1]["content"][0]["text"] == "keep {name}"


def test_the_magic_line_is_not_expanded_by_ipython(ip: InteractiveShell, upstream: StandinModel) -> None:
    ip.user_ns["acct"] = ACCOUNT
    ip.run_cell_magic("safeclaude", "--system 'costs: $acct and account_id={acct}'", QUESTION)
    _assert_no_originals(upstream)
    assert upstream.last_request.json["system"][0]["text"].startswith("costs: $acct and account_id=acct-")


# --- options -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--max-tokens 0", "at least 1"),
        ("--max-tokens many", "whole number"),
        ("--temperature 7", "between 0 and 2"),
        ("--bogus", "unrecognized arguments"),
        ("stray", "unrecognized arguments"),
        ("--namespace 'bad namespace!'", "namespace"),
        ("-o 1answer", "not a valid Python variable name"),
        ("--reset", "--reset needs --chat"),
        ("--system 'unclosed", "quotes"),
        ("--model ''", "--model needs a model name"),
    ],
)
def test_bad_options_raise_usage_error_and_send_nothing(
    ip: InteractiveShell, upstream: StandinModel, line: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("safeclaude", line, QUESTION)
    assert upstream.requests == []


def test_empty_cell_is_a_usage_error(ip: InteractiveShell, upstream: StandinModel) -> None:
    with pytest.raises(UsageError, match="empty"):
        ip.run_cell_magic("safeclaude", "", "   \n")
    assert upstream.requests == []


def test_chat_in_another_namespace_is_refused(ip: InteractiveShell, upstream: StandinModel, namespace: str) -> None:
    ip.run_cell_magic("safeclaude", "--chat ns --no-display", QUESTION)
    with pytest.raises(UsageError, match="was started in namespace"):
        ip.run_cell_magic("safeclaude", f"--chat ns --namespace {namespace}-other", QUESTION)
    assert len(upstream.requests) == 1


def test_help_prints_usage_and_sends_nothing(
    ip: InteractiveShell, upstream: StandinModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ip.run_cell_magic("safeclaude", "--help", QUESTION) is None
    assert "--show-masked" in capsys.readouterr().out
    assert upstream.requests == []


def test_namespace_option_masks_in_that_namespace(ip: InteractiveShell, upstream: StandinModel, namespace: str) -> None:
    ip.run_cell_magic("safeclaude", f"--namespace {namespace}-b --no-display", QUESTION)
    assert _last(ip).namespace == f"{namespace}-b"
    _assert_no_originals(upstream)


def test_safeclaude_config_shows_and_sets_defaults(
    ip: InteractiveShell, upstream: StandinModel, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("safeclaude_config", "--model claude-haiku-4-5 --max-tokens 77 --temperature 0.5")
    ip.run_cell_magic("safeclaude", "--no-display", QUESTION)
    body = upstream.last_request.json
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("claude-haiku-4-5", 77, 0.5)

    ip.run_line_magic("safeclaude_config", "")
    shown = capsys.readouterr().out
    assert "'claude-haiku-4-5'" in shown and "77" in shown

    with pytest.raises(UsageError, match="between 0 and 2"):
        ip.run_line_magic("safeclaude_config", "--temperature 3")
    ip.run_line_magic("safeclaude_config", "--defaults")
    assert (_magics(ip).model, _magics(ip).max_tokens, _magics(ip).temperature) == ("claude-sonnet-4-5", 1024, None)


def test_anthropic_base_url_is_used_when_maskkit_upstream_is_not_set(
    ip: InteractiveShell, upstream: StandinModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MASKKIT_UPSTREAM")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", upstream.url + "/")
    ip.run_cell_magic("safeclaude", "-o answer", QUESTION)
    assert len(upstream.requests) == 1 and ip.user_ns["answer"] == "You said: " + QUESTION


def test_without_either_url_litellm_keeps_its_default(settings: Settings) -> None:
    assert magics._api_base(settings) is None
    assert magics._api_base(settings.evolve(upstream="http://127.0.0.1:9", anthropic_base_url="http://x")) == (
        "http://127.0.0.1:9"
    )
    assert magics.litellm_model("claude-haiku-4-5") == "anthropic/claude-haiku-4-5"
    assert magics.litellm_model("bedrock/anthropic.claude-3") == "bedrock/anthropic.claude-3"


# --- fail closed -------------------------------------------------------------------------------------------------


def test_vault_down_raises_in_the_cell_and_nothing_is_sent(
    ip: InteractiveShell, upstream: StandinModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = tmp_path / "closed.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(closed))
    listener.close()  # the socket file stays; nobody listens on it
    monkeypatch.setenv("MASKKIT_REDIS_URL", f"unix://{closed}")

    with pytest.raises(VaultUnavailable) as raised:
        ip.run_cell_magic("safeclaude", "-o answer", QUESTION)

    assert upstream.requests == []
    assert "answer" not in ip.user_ns and magics.LAST not in ip.user_ns
    assert not any(o in str(raised.value) for o in ORIGINALS)


# --- the side-by-side view ---------------------------------------------------------------------------------------


def test_widget_falls_back_to_a_text_and_markdown_view_outside_a_kernel(
    ip: InteractiveShell, upstream: StandinModel
) -> None:
    view = ip.run_cell_magic("safeclaude", "--widget", QUESTION)

    assert isinstance(view, SideBySide)
    masked = _last(ip).masked_prompt
    markdown = view._repr_markdown_()
    assert "What the model saw" in markdown and "What you see" in markdown
    assert masked in markdown and QUESTION in markdown
    assert f"| {INSTANCE} |" not in markdown and f"`{INSTANCE}`" in markdown  # the pseudonym table
    assert masked in view._repr_html_() and str(view).count("=== ") == 3
    assert INSTANCE not in repr(view)


def test_widget_in_a_kernel_shows_both_sides_as_ipywidgets(
    ip: InteractiveShell, upstream: StandinModel, publisher: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[Any] = []
    original_init = magics._WidgetView.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(magics, "_in_kernel", lambda shell: True)
    monkeypatch.setattr(magics._WidgetView, "__init__", recording_init)
    assert ip.run_cell_magic("safeclaude", "--widget --stream", QUESTION) is None

    (view,) = created
    assert any("application/vnd.jupyter.widget-view+json" in data for data, _ in publisher.published)
    masked = _last(ip).masked_prompt
    assert masked in view.left.value and f"You said: {masked}" in view.left.value
    assert QUESTION in view.right.value and f"You said: {QUESTION}" in view.right.value
    assert INSTANCE not in view.left.value


# --- leaks ---------------------------------------------------------------------------------------------------------


def test_no_planted_value_of_generated_aws_documents_reaches_the_model(
    ip: InteractiveShell, upstream: StandinModel
) -> None:
    rng, seed = awsgen.fresh_rng()
    docs = awsgen.generate_documents(rng, 22)  # every document kind twice, fresh identifiers
    for doc in docs:
        ip.run_cell_magic("safeclaude", "--no-interpolate --no-display -o answer", doc.text)
        assert ip.user_ns["answer"] == "You said: " + doc.text.strip(), f"round trip broke (awsgen seed={seed})"

    assert len(upstream.requests) == len(docs)
    bodies = [json.loads(r.body) for r in upstream.requests]
    leaks = find_planted(bodies, docs)
    labels = sorted({f.label for f in leaks})
    assert not leaks, f"{len(leaks)} planted values reached the model; labels {labels} (awsgen seed={seed})"


def test_magic_module_does_not_import_litellm_at_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, maskkit, maskkit.notebook.magics; print('litellm' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKKIT_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
