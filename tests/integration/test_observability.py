"""What an operator sees of a running proxy: `GET /metrics` (Prometheus text, behind the proxy's key, multi-worker
safe), one access-log line per request, the start-up lines, disabled kinds in `/health`, and `proxy.json` removed
on stop. No original, no pseudonym, no refused path ever appears in any of them."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from mktests.proxyfixtures import CLIENT_KEY, serving, start_proxy_process, stop_proxy_process
from mktests.standin_model import StandinModel

from maskkit import Settings

INSTANCE = "i-0f1e2d3c4b5a69788"
BUCKET = "acme-prod-billing-exports"
PROMPT = f"why is {INSTANCE} unreachable? logs in s3://{BUCKET}/x"


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """Every maskkit.access line, as formatted (the handler the proxy's serve() would install is replaced)."""
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("maskkit.access")
    handler = Capture()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def ask(url: str, stream: bool = False) -> str:
    client = anthropic.Anthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": PROMPT}]
    if stream:
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=messages) as events:
            return "".join(events.text_stream)
    reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages)
    return "".join(block.text for block in reply.content if block.type == "text")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_kinds_and_streams_and_hold_no_original(
    settings: Settings, model: StandinModel, access_lines: list[str]
) -> None:
    with serving(settings, model) as url:
        ask(url)
        ask(url, stream=True)
        refused = httpx.get(f"{url}/metrics")
        assert refused.status_code == 401
        text = httpx.get(f"{url}/metrics", headers={"x-api-key": CLIENT_KEY}).text
        assert httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {CLIENT_KEY}"}).status_code == 200
    assert metric(text, "maskkit_requests_total", route="/v1/messages", method="POST", status="200") == 2
    ns = settings.namespace
    assert metric(text, "maskkit_masked_values_total", kind="INSTANCE_ID", namespace=ns) == 2
    assert metric(text, "maskkit_masked_values_total", kind="S3_BUCKET", namespace=ns) == 2
    assert metric(text, "maskkit_active_streams") == 0
    assert metric(text, "maskkit_vault_seconds_count", operation="mint") == 2
    assert metric(text, "maskkit_upstream_seconds_count") == 2
    names = {m.group(1) for m in re.finditer(r"^# TYPE (\S+)", text, re.M)}
    assert names and all(name.startswith("maskkit_") for name in names)
    assert INSTANCE not in text and BUCKET not in text and not re.search(r"\b(ec2|s3)-\d{3}", text)


def test_metrics_open_on_loopback_only_when_the_setting_says_so(settings: Settings, model: StandinModel) -> None:
    with serving(settings, model, metrics_open=True) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
    with serving(settings, model, metrics_open=True, host="0.0.0.0") as url:
        assert httpx.get(f"{url}/metrics").status_code == 401


def test_one_access_line_per_request_with_counts_and_no_path_of_a_refused_request(
    settings: Settings, model: StandinModel, access_lines: list[str]
) -> None:
    with serving(settings, model) as url:
        ask(url)
        httpx.get(f"{url}/v1/models/{INSTANCE}", headers={"x-api-key": CLIENT_KEY})
        httpx.get(f"{url}/v1/messages", headers={"x-api-key": "wrong"})
    assert len(access_lines) == 3, access_lines
    first, refused, unauthenticated = access_lines
    assert re.fullmatch(
        rf"POST /v1/messages 200 [\d.]+ms ns={settings.namespace} masked=INSTANCE_ID:1,S3_BUCKET:1", first
    ), first
    assert refused.startswith("GET /v1/* 400 ") and INSTANCE not in refused
    assert unauthenticated.startswith("GET /v1/messages 401 ") and "ns=-" in unauthenticated
    assert all(INSTANCE not in line and "ec2-" not in line for line in access_lines)


def test_json_access_lines(settings: Settings, model: StandinModel, access_lines: list[str]) -> None:
    import json

    with serving(settings, model, log_format="json") as url:
        ask(url)
    line = json.loads(access_lines[0])
    assert line["path"] == "/v1/messages" and line["status"] == 200 and line["masked"] == {
        "INSTANCE_ID": 1, "S3_BUCKET": 1
    }


def test_health_shows_disabled_kinds(settings: Settings, model: StandinModel) -> None:
    with serving(settings, model, kinds=frozenset({"INSTANCE_ID"})) as url:
        body = httpx.get(f"{url}/health").json()
    assert "S3_BUCKET" in body["disabled_kinds"] and "INSTANCE_ID" not in body["disabled_kinds"]
    with serving(settings, model) as url:
        assert "disabled_kinds" not in httpx.get(f"{url}/health").json()


def test_proxy_process_start_up_lines_access_log_and_proxy_json_after_stop(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    stray = "MASKKIT_" + "NAMESPCE"  # a typo: a warning, not a refusal
    proxy = start_proxy_process({**env, "MASKKIT_KINDS": "INSTANCE_ID,S3_BUCKET", stray: "x"}, model.url, tmp_path)
    record = Path(env["MASKKIT_HOME"]) / "proxy.json"
    try:
        assert record.exists()
        ask(proxy.url)
    finally:
        proxy.process.send_signal(signal.SIGTERM)
        proxy.process.wait(timeout=15)
        stop_proxy_process(proxy)
    log = proxy.log_text()
    assert "maskkit: the client key comes from MASKKIT_API_KEY" in log
    assert f"{stray} in the environment is not a maskkit setting; ignored; did you mean MASKKIT_NAMESPACE?" in log
    assert log.count("is not a maskkit setting") == 1
    assert re.search(r"WARNING: \d+ kinds are NOT masked \(MASKKIT_KINDS\): ACCESS_KEY_ID, ", log)
    assert re.search(r"maskkit\.access POST /v1/messages 200 [\d.]+ms ns=\S+ masked=INSTANCE_ID:1,S3_BUCKET:1", log)
    assert INSTANCE not in log and BUCKET not in log
    assert "uvicorn.access" not in log and '"POST /v1/messages' not in log
    assert not record.exists()


def test_metrics_add_up_over_workers_with_a_multiprocess_dir(
    env: dict[str, str], model: StandinModel, tmp_path: Path
) -> None:
    shared = tmp_path / "prom"
    shared.mkdir()
    workers_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    first = start_proxy_process(workers_env, model.url, tmp_path)
    second = start_proxy_process(workers_env, model.url, tmp_path)
    try:
        ask(first.url)
        ask(second.url)
        ask(second.url)
        text = httpx.get(f"{first.url}/metrics", headers={"x-api-key": CLIENT_KEY}).text
    finally:
        stop_proxy_process(first)
        stop_proxy_process(second)
    assert metric(text, "maskkit_requests_total", route="/v1/messages", status="200") == 3
    assert metric(text, "maskkit_masked_values_total", kind="INSTANCE_ID") == 3
    assert os.listdir(shared)


def test_recall_hits_are_counted_by_kind_when_a_known_value_comes_back_bare(
    settings: Settings, model: StandinModel
) -> None:
    bare = f"compare {BUCKET} with last week"
    with serving(settings, model) as url:
        ask(url)  # learns the bucket from its context (`s3://`): detection, not recall
        first = httpx.get(f"{url}/metrics", headers={"x-api-key": CLIENT_KEY}).text
        client = anthropic.Anthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": bare}])
        text = httpx.get(f"{url}/metrics", headers={"x-api-key": CLIENT_KEY}).text
    assert metric(first, "maskkit_recall_hits_total", kind="S3_BUCKET") == 0
    assert metric(text, "maskkit_recall_hits_total", kind="S3_BUCKET") == 1
    assert metric(text, "maskkit_recall_hits_total", kind="INSTANCE_ID") == 0
    assert BUCKET not in text and not re.search(r"\bs3-\d{3}", text)
