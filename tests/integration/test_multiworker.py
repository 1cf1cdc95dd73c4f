"""Several `maskkit proxy` processes on one vault (the shared embedded Redis of one MASKKIT_HOME, or a Redis
Cluster), hammered at once by many clients whose requests carry the same never-seen originals: every worker
gives an original the same pseudonym, no pseudonym means two originals, no request fails, and no original
reaches the model. The evidence is what the stand-in model recorded."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from mktests.proxyfixtures import CLIENT_KEY, ProxyProcess, start_proxy_process, stop_proxy_process
from mktests.rediscluster import running_cluster
from mktests.standin_model import StandinModel

WORKERS = 3
CLIENTS = 24
ROUNDS = 5
SHARED = 12  # new originals per round, in every client's request
OWN = 3  # new originals per client and round, in no other request

_HEADER = re.compile(r"client (?P<client>\d+) round (?P<round>\d+):")


def new_original(index: int) -> str:
    """A never-seen identifier; three kinds, so several counters race at once."""
    kind = index % 3
    if kind == 0:
        return "i-" + secrets.token_hex(9)[:17]
    if kind == 1:
        return "sg-" + secrets.token_hex(9)[:17]
    return "AKIA" + secrets.token_hex(8).upper()


@pytest.fixture(params=["embedded", "cluster"])
def shared_env(request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment every worker gets: the session's embedded vault, or a fresh 3-master Redis Cluster."""
    if request.param == "embedded":
        yield env
        return
    with running_cluster() as cluster:
        yield {**env, "MASKKIT_REDIS_URL": cluster.url, "MASKKIT_HOME": str(tmp_path / "cluster-home")}


@pytest.fixture
def workers(shared_env: dict[str, str], model: StandinModel, tmp_path: Path) -> Iterator[list[ProxyProcess]]:
    """WORKERS real `maskkit proxy` processes in front of the stand-in, started at once, always stopped."""
    started: list[ProxyProcess] = []
    lock = threading.Lock()

    def start(_: int) -> None:
        proxy = start_proxy_process(shared_env, model.url, tmp_path)
        with lock:
            started.append(proxy)

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(start, range(WORKERS)))
        yield started
    finally:
        for proxy in started:
            stop_proxy_process(proxy)


def body(client: int, round_: int, originals: list[str], stream: bool) -> dict[str, Any]:
    text = f"client {client} round {round_}: " + " ".join(originals)
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def answer_text(response: httpx.Response, stream: bool) -> str:
    """The text the client got back: the JSON answer's text, or the text deltas of the stream joined."""
    if not stream:
        return "".join(block["text"] for block in response.json()["content"] if block["type"] == "text")
    parts = []
    for line in response.text.splitlines():
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:])
        assert event["type"] != "error", event
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            parts.append(event["delta"]["text"])
    return "".join(parts)


def test_workers_on_one_vault_agree_on_every_new_original(
    workers: list[ProxyProcess], model: StandinModel
) -> None:
    shared = [[new_original(i) for i in range(SHARED)] for _ in range(ROUNDS)]
    own = [[[new_original(i) for i in range(OWN)] for _ in range(ROUNDS)] for _ in range(CLIENTS)]
    sent = {(c, r): shared[r] + own[c][r] for c in range(CLIENTS) for r in range(ROUNDS)}
    barrier = threading.Barrier(CLIENTS)
    problems: list[str] = []
    served = [0] * len(workers)
    lock = threading.Lock()

    def client(index: int) -> None:
        headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
        with httpx.Client(timeout=60) as http:
            for round_ in range(ROUNDS):
                worker = (index + round_) % len(workers)
                stream = (index + round_) % 2 == 0
                barrier.wait(timeout=60)  # every client sends this round's new originals at the same moment
                payload = body(index, round_, sent[index, round_], stream)
                response = http.post(workers[worker].url + "/v1/messages", json=payload, headers=headers)
                with lock:
                    served[worker] += 1
                    if response.status_code != 200:
                        problems.append(f"client {index} round {round_}: HTTP {response.status_code}")
                        continue
                    expected = "You said: " + payload["messages"][0]["content"]
                    if answer_text(response, stream) != expected:
                        problems.append(f"client {index} round {round_}: the answer was not restored exactly")

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert not problems, problems
    assert all(count == CLIENTS * ROUNDS // len(workers) for count in served), served

    # What the model saw: map every original to the pseudonyms that stood in its place, request by request.
    recorded = [r for r in model.requests if r.path == "/v1/messages"]
    assert len(recorded) == CLIENTS * ROUNDS
    pseudonyms_of: dict[str, set[str]] = {}
    everything = [o for originals in sent.values() for o in originals]
    for request in recorded:
        wire = request.body.decode()
        leaked = [len(o) for o in everything if o in wire]
        assert not leaked, f"originals of lengths {leaked} reached the model"
        text = request.json["messages"][0]["content"]
        header = _HEADER.match(text)
        assert header is not None
        tokens = text[header.end() :].split()
        originals = sent[int(header["client"]), int(header["round"])]
        assert len(tokens) == len(originals)
        for original, pseudonym in zip(originals, tokens, strict=True):
            pseudonyms_of.setdefault(original, set()).add(pseudonym)
    disagreements = sum(1 for seen in pseudonyms_of.values() if len(seen) != 1)
    assert not disagreements, f"{disagreements} originals got different pseudonyms from different workers"
    issued = [next(iter(seen)) for seen in pseudonyms_of.values()]
    assert len(issued) == len(set(issued)) == ROUNDS * (SHARED + CLIENTS * OWN), "a pseudonym was issued twice"
    for proxy in workers:
        log = proxy.log_text()
        assert "Traceback" not in log and " ERROR " not in log, "a worker logged an error"
