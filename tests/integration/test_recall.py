"""Recall across requests, processes and faces, on the real vault: a value the namespace knows is masked in any
later text of that namespace, by whichever process sees it, and never in another namespace."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import anthropic
from mktests.proxyfixtures import Proxy
from mktests.standin_model import StandinModel, Text

from maskkit import Masker, Settings

BUCKET = "acme-payroll-archive-7731"
PASSWORD = "Xk9mQ2vLp8Rw4z"
CONTEXT = f"aws s3 cp out.csv s3://{BUCKET}/x; psql postgres://app:{PASSWORD}@db.internal/billing"
BARE = f"compare {BUCKET} with the password {PASSWORD}"



def run_cli(env: dict[str, str], *args: str, input: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=input, env=env, capture_output=True, timeout=60
    )


def test_a_value_learned_from_context_is_masked_bare_in_a_later_text(masker: Masker) -> None:
    first = masker.mask(CONTEXT)
    later = masker.mask(BARE)
    assert BUCKET not in later.text and PASSWORD not in later.text
    assert set(later.reverse) <= set(first.reverse), "recall must reuse the existing pseudonyms"
    assert masker.unmask(later.text) == BARE


def test_another_worker_recalls_on_its_first_request_after_one_learned(masker: Masker, other: Masker) -> None:
    other.mask("warm up the index")  # `other` is loaded and current before `masker` learns anything
    masker.mask(CONTEXT)
    recalled = other.mask(BARE)
    assert BUCKET not in recalled.text and PASSWORD not in recalled.text
    assert other.unmask(recalled.text) == BARE


def test_async_workers_recall_too(masker: Masker, other: Masker) -> None:
    import asyncio

    async def scenario() -> str:
        await other.amask("warm up")
        await masker.amask(CONTEXT)
        result = await other.amask(BARE)
        await other.vault.aclose()
        await masker.vault.aclose()
        return result.text

    text = asyncio.run(scenario())
    assert BUCKET not in text and PASSWORD not in text


def test_a_new_process_recalls_what_another_process_learned(env: dict[str, str], masker: Masker) -> None:
    learned = run_cli(env, "mask", input=CONTEXT.encode())
    assert learned.returncode == 0, learned.stderr.decode()
    recalled = masker.mask(BARE)
    assert BUCKET not in recalled.text and PASSWORD not in recalled.text
    masker.mask("s3://second-bucket-4410/y")
    again = run_cli(env, "mask", input=b"list second-bucket-4410 now")
    assert again.returncode == 0 and b"second-bucket-4410" not in again.stdout


def test_namespaces_stay_apart(masker: Masker) -> None:
    masker.mask(CONTEXT)
    elsewhere = masker.for_namespace(masker.namespace + "-b")
    result = elsewhere.mask(BARE)
    assert result.text == BARE, "namespace B recalled A's originals"
    assert elsewhere.unmask("s3-001 pwd-001") == "s3-001 pwd-001"


def test_a_forgotten_mapping_is_no_longer_recalled(masker: Masker, other: Masker) -> None:
    other.refresh_seconds = 0  # check every known mapping with the vault on every call
    first = masker.mask(CONTEXT)
    other.mask(BARE)  # loaded, recalls both
    bucket = next(p for p, o in first.reverse.items() if o == BUCKET)
    masker.vault.forget(masker.namespace, bucket)
    result = other.mask(BARE)
    assert BUCKET in result.text, "an expired or forgotten mapping must not be recalled (TTL semantics)"
    assert PASSWORD not in result.text


def test_a_recall_hit_counts_as_a_use(masker: Masker) -> None:
    masker.refresh_seconds = 0  # by default a process counts one use per value and minute
    first = masker.mask(CONTEXT)
    bucket = next(p for p, o in first.reverse.items() if o == BUCKET)
    hits = masker.vault.lookup(masker.namespace, bucket).hits
    masker.mask(BARE)
    assert masker.vault.lookup(masker.namespace, bucket).hits == hits + 1


def test_a_purge_empties_every_workers_index(masker: Masker, other: Masker) -> None:
    masker.mask(CONTEXT)
    assert BUCKET not in other.mask(BARE).text
    masker.vault.purge(masker.namespace)
    masker.mask("s3://fresh-bucket-0001/x")  # a new journal, under a new epoch
    assert other.mask(BARE).text == BARE
    assert "fresh-bucket-0001" not in other.mask("fresh-bucket-0001").text


def test_encoded_forms_of_known_values_are_masked(masker: Masker) -> None:
    masker.mask(CONTEXT)
    encoded = base64.b64encode(f"{BUCKET}:{PASSWORD}\n".encode()).decode()
    hexed = PASSWORD.encode().hex()
    result = masker.mask(f"out: {encoded}\nhex: {hexed}\n")
    assert encoded not in result.text and hexed not in result.text
    assert masker.unmask(result.text) == f"out: {encoded}\nhex: {hexed}\n"


def test_a_detected_secret_inside_base64_is_masked_without_prior_knowledge(masker: Masker) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    encoded = base64.b64encode(f"aws_secret_access_key = {secret}\n".encode()).decode()
    result = masker.mask(f"config: {encoded}")
    assert encoded not in result.text


def test_the_vault_and_data_dir_hold_no_plaintext_after_recall(vault_home: Path, masker: Masker) -> None:
    masker.mask(CONTEXT)
    masker.mask(BARE)
    masker.vault._client().bgrewriteaof()
    client = masker.vault._client()
    for key in client.scan_iter(match=f"mk:{{{masker.namespace}}}:*", count=1000):
        kind = client.type(key)
        values: list[bytes] = []
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"hash":
            values = list(client.hgetall(key).values())
        for value in [key, *values]:
            assert BUCKET.encode() not in value and PASSWORD.encode() not in value
    for path in vault_home.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            assert BUCKET.encode() not in data and PASSWORD.encode() not in data, f"plaintext in {path.name}"


def test_the_proxy_masks_a_new_conversation_naming_known_values(proxy: Proxy, model: StandinModel) -> None:
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)
    model.responder = lambda r: Text("ok")
    client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": CONTEXT}])
    model.clear()
    encoded = base64.b64encode(f"{BUCKET} {PASSWORD}\n".encode()).decode()
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        messages=[
            {"role": "user", "content": BARE},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash",
                                               "input": {"command": f"echo {BUCKET} | base64"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": encoded}]},
        ],
    )
    seen = model.requests[-1].body.decode()
    assert BUCKET not in seen and PASSWORD not in seen and encoded not in seen


def test_after_a_response_the_proxy_builds_what_it_learned_into_its_index_and_recalls_it(
    settings: Settings, model: StandinModel
) -> None:
    """Once a response is sent, the proxy's idle-time upkeep gives the values that request taught it an automaton
    (the next request does not search them one by one), and the next request recalls them."""
    import time
    from functools import partial

    from mktests.proxyfixtures import CLIENT_KEY, ServerThread, proxy_settings

    from maskkit.proxy.app import build_app

    app = build_app(proxy_settings(settings, model))
    server = ServerThread(app).start()
    try:
        client = anthropic.Anthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        model.responder = lambda r: Text("ok")
        ask = partial(client.messages.create, model="claude-sonnet-4-5", max_tokens=50)
        ask(messages=[{"role": "user", "content": CONTEXT}])
        index = app.state.proxy.state.masker._recall[settings.namespace].index
        deadline = time.monotonic() + 10
        while index.untidy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(index) >= 2 and not index.untidy, "the values learned wait in the tail after the response"
        assert index._levels and index._levels[-1].hi == index.version
        model.clear()
        ask(messages=[{"role": "user", "content": BARE}])
        seen = model.requests[-1].body.decode()
        assert BUCKET not in seen and PASSWORD not in seen
    finally:
        server.stop()


def test_idle_upkeep_steps_aside_while_a_mask_is_in_flight(masker: Masker) -> None:
    """The upkeep builds automata on the event loop: it makes no step while a mask is in flight (that request
    would wait for it), and does its work once none is."""
    import asyncio

    async def scenario() -> tuple[bool, bool, bool]:
        await masker.amask(CONTEXT)
        index = masker._recall[masker.namespace].index
        learned = index.untidy
        masker._upkeep.masking += 1  # (as `amask_texts` counts a mask in flight)
        await masker.aupkeep_soon()
        assert masker._upkeep.task is not None
        await masker._upkeep.task
        waited = index.untidy
        masker._upkeep.masking -= 1
        await masker.aupkeep_soon()
        await masker._upkeep.task
        await masker.vault.aclose()
        return learned, waited, index.untidy

    assert asyncio.run(scenario()) == (True, True, False)
    assert BUCKET not in masker.mask(BARE).text


def test_a_synchronous_mask_makes_the_due_merges_while_its_mint_runs(masker: Masker) -> None:
    """The synchronous masker merges the recall index's automata while the vault works (in a thread), as the async
    one does, instead of leaving a search to scan a growing stack; the mask is as exact as ever."""
    masker.mask("load the namespace")
    index = masker._recall[masker.namespace].index
    for batch in range(2):  # two automata of the same size: a merge is due
        index.add_many(("S3_BUCKET", f"unused-bucket-{batch}-{n:04d}", "") for n in range(300))
        index.find("build the automaton for what was added")
    assert index.pending
    result = masker.mask(CONTEXT)
    assert not index.pending, "the due merge was left for a search"
    assert BUCKET not in result.text and PASSWORD not in result.text
    assert masker.unmask(result.text) == CONTEXT
    assert BUCKET not in masker.mask(BARE).text


def test_a_large_body_is_masked_in_a_worker_thread_and_comes_back_exact(masker: Masker) -> None:
    import asyncio

    masker.mask(CONTEXT)
    big = (BARE + " and i-0123456789abcdef0 in prose.\n") * 6000  # > 256 KB: planned off the event loop

    async def scenario() -> tuple[str, str]:
        result = await masker.amask(big)
        restored = await masker.aunmask(result.text)
        await masker.vault.aclose()
        return result.text, restored

    masked, restored = asyncio.run(scenario())
    assert BUCKET not in masked and PASSWORD not in masked and "i-0123456789abcdef0" not in masked
    assert restored == big


def test_values_named_by_their_json_key_are_masked_in_tool_calls_and_json_results(masker: Masker) -> None:
    import asyncio
    import json

    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "deploy it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "deploy",
                                               "input": {"Password": "hunter2", "Bucket": "logs", "Count": 3}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": json.dumps({"DBPassword": "s3cr3t-Pw", "Buckets": ["web-prod"],
                                                                 "note": "the logs bucket"})}]},
        ],
    }

    async def scenario() -> tuple[dict[str, object], dict[str, str]]:
        result = await masker.amask_request(body)
        await masker.vault.aclose()
        return result

    masked, reverse = asyncio.run(scenario())
    sent = json.dumps(masked)
    for original in ("hunter2", '"logs"', "s3cr3t-Pw", "web-prod"):
        assert original not in sent, f"{original} reached the model"
    assert "the logs bucket" in sent, "prose around a short keyed value is left as written"
    tool_input = masked["messages"][1]["content"][0]["input"]
    assert tool_input["Count"] == 3
    assert {reverse[tool_input["Password"]], reverse[tool_input["Bucket"]]} == {"hunter2", "logs"}


# --- loading and the journal's growth ------------------------------------------------------------------------------

_WORKER = """
import sys
from maskkit import Masker
masker = Masker.from_settings()
masker.vault.journal_keep = int(sys.argv[1])
for text in sys.argv[2:]:
    masker.mask(text)
masker.vault.close()
"""


def test_a_worker_behind_a_trimmed_journal_reloads_and_misses_nothing(env: dict[str, str], masker: Masker) -> None:
    masker.vault.journal_keep = 4
    masker.mask("warm up the index")  # this worker is loaded and current: its journal offset is the start
    buckets = [f"trimmed-bucket-{i:04d}" for i in range(12)]
    # Another process learns twelve values in twelve calls: its journal keeps 4 to 8 entries, the rest is trimmed.
    learned = subprocess.run(
        [sys.executable, "-c", _WORKER, "4", *(f"aws s3 ls s3://{b}/" for b in buckets)],
        env=env, capture_output=True, timeout=60,
    )
    assert learned.returncode == 0, learned.stderr.decode()[-2000:]
    client = masker.vault._client()
    base = f"mk:{{{masker.namespace}}}:"
    assert client.llen(base + "j") <= 8 and int(client.get(base + "jb") or 0) >= 4, "the journal was not trimmed"
    bare = "compare " + " ".join(buckets)
    result = masker.mask(bare)
    assert not any(b in result.text for b in buckets), "a worker behind the trimmed point missed a value"
    assert masker.unmask(result.text) == bare


def test_a_worker_within_the_kept_journal_catches_up_without_reloading(env: dict[str, str], masker: Masker) -> None:
    masker.vault.journal_keep = 4
    masker.mask("warm up the index")
    state = masker._state()
    assert state is not None
    index = state.index
    learned = subprocess.run(
        [sys.executable, "-c", _WORKER, "4", "aws s3 ls s3://kept-bucket-0001/"],
        env=env, capture_output=True, timeout=60,
    )
    assert learned.returncode == 0, learned.stderr.decode()[-2000:]
    assert "kept-bucket-0001" not in masker.mask("list kept-bucket-0001").text
    assert masker._state() is state and state.index is index and len(index) >= 1


def test_a_namespace_written_before_the_recall_set_is_loaded_by_a_scan_once(
    env: dict[str, str], masker: Masker
) -> None:
    masker.mask(CONTEXT)
    client = masker.vault._client()
    base = f"mk:{{{masker.namespace}}}:"
    client.delete(base + "r", base + "rc")  # what an older release left: mappings, no recall set
    recalled = run_cli(env, "mask", input=BARE.encode())
    assert recalled.returncode == 0, recalled.stderr.decode()[-2000:]
    assert BUCKET.encode() not in recalled.stdout and PASSWORD.encode() not in recalled.stdout
    assert client.get(base + "rc") == b"1" and client.hlen(base + "r") == 2
    again = run_cli(env, "mask", input=BARE.encode())  # from the recall set now
    assert again.returncode == 0 and BUCKET.encode() not in again.stdout


def test_a_deleted_mapping_leaves_the_recall_set_and_a_new_process_does_not_recall_it(
    env: dict[str, str], masker: Masker
) -> None:
    first = masker.mask(CONTEXT)
    bucket = next(p for p, o in first.reverse.items() if o == BUCKET)
    client = masker.vault._client()
    base = f"mk:{{{masker.namespace}}}:"
    client.delete(base + "p:" + bucket)  # as if it expired: the recall set still names it until a sweep
    assert client.hexists(base + "r", bucket)
    recalled = run_cli(env, "mask", input=BARE.encode())
    assert recalled.returncode == 0 and BUCKET.encode() in recalled.stdout, "an expired mapping was recalled"
    assert PASSWORD.encode() not in recalled.stdout
    assert not client.hexists(base + "r", bucket), "the recall set kept an expired mapping it was told about"


def test_a_request_during_warming_waits_for_the_one_load_and_recalls(masker: Masker, settings: Settings) -> None:
    import threading

    masker.mask(CONTEXT)
    fresh = Masker.from_settings(settings)
    try:
        client = fresh.vault._client()
        client.config_resetstat()
        warming = threading.Thread(target=fresh.warm)
        warming.start()
        result = fresh.mask(BARE)  # while the warm-up may still be loading: waits for it, never plans half-loaded
        warming.join()
        assert BUCKET not in result.text and PASSWORD not in result.text
        stats = client.info("commandstats")
        assert stats["cmdstat_hscan"]["calls"] == 1, "the namespace was loaded twice"
    finally:
        fresh.vault.close()


def test_after_a_key_rotation_a_new_process_loads_and_recalls_under_the_new_key(private_home: Path) -> None:
    from maskkit import load_settings
    from maskkit.vault.keys import VaultKey, generate_key

    old_key, new_key = generate_key(), generate_key()
    old = Masker.from_settings(load_settings({"MASKKIT_HOME": str(private_home), "MASKKIT_VAULT_KEY": old_key}))
    try:
        old.mask(CONTEXT)
        old.vault.rotate_key(VaultKey.parse(new_key, "test"))
    finally:
        old.vault.close()
    fresh = Masker.from_settings(load_settings({"MASKKIT_HOME": str(private_home), "MASKKIT_VAULT_KEY": new_key}))
    try:
        result = fresh.mask(BARE)  # loads the recall set: its ciphertexts were re-encrypted with the mappings
        assert BUCKET not in result.text and PASSWORD not in result.text
        assert fresh.unmask(result.text) == BARE
    finally:
        fresh.vault.close()


def _large_paste(seed: int, size: int = 300_000) -> str:
    """A paste large enough for the early mint (256 KB, hundreds of never-seen ids) of a synchronous mask; with
    `size` 40 000, for the async path's (32 KB of new text, under the 256 KB it plans in a worker thread)."""
    import random

    from mktests import awsgen

    return "\n\n".join(doc.text for doc in awsgen.generate_corpus(random.Random(seed), size))


def test_a_large_mask_recalls_what_another_worker_learned_while_it_minted_early(
    masker: Masker, other: Masker
) -> None:
    """A large synchronous mask mints its detected values in a thread while it plans; the reply also brings
    what another worker learned since this one's view: applied, and the plan made again, before anything is
    used. The bare values (no context here) come out masked, and the round trip is exact."""
    other.mask("warm up the index")  # `other` is loaded and current before `masker` learns anything
    masker.mask(CONTEXT)
    paste = f"{_large_paste(41)}\n{BARE}\n"
    result = other.mask(paste)
    assert BUCKET not in result.text and PASSWORD not in result.text
    assert other.unmask(result.text) == paste
    again = masker.mask(paste)  # the other worker agrees on every pseudonym
    assert again.text == result.text


def test_a_large_mask_after_a_purge_by_another_worker_masks_with_fresh_mappings(
    masker: Masker, other: Masker
) -> None:
    other.mask(CONTEXT)
    masker.vault.purge(masker.namespace)  # `other` still holds the old view: its early mint meets the purge
    paste = f"{_large_paste(42)}\n{CONTEXT}\n"
    result = other.mask(paste)
    assert BUCKET not in result.text and PASSWORD not in result.text
    assert other.unmask(result.text) == paste
    assert masker.unmask(result.text) == paste


def test_an_async_mask_recalls_what_another_worker_learned_while_it_minted_early(
    masker: Masker, other: Masker
) -> None:
    """The async path (the proxy's) mints the values detection finds while it plans the rest of the request; that
    reply also brings what another worker learned since this one's view: applied, and the plan made again, before
    anything is used. The bare values come out masked next to a new detected one, and the round trip is exact."""
    import asyncio
    import secrets

    text = f"{_large_paste(43, 40_000)}\nstarted i-0{secrets.token_hex(8)} for the export; {BARE}"

    async def scenario() -> tuple[str, str, str]:
        # `other` is loaded, has minted, and is current before `masker` learns anything.
        await other.amask(f"warm up with i-0{secrets.token_hex(8)}")
        await masker.amask(CONTEXT)
        result = await other.amask(text)
        restored = await other.aunmask(result.text)
        again = await masker.amask(text)  # the other worker agrees on every pseudonym
        await other.vault.aclose()
        await masker.vault.aclose()
        return result.text, restored, again.text

    masked, restored, again = asyncio.run(scenario())
    assert BUCKET not in masked and PASSWORD not in masked and "for the export; compare s3-" in masked
    assert restored == text
    assert again == masked


def test_an_async_mask_after_a_purge_by_another_worker_masks_with_fresh_mappings(
    masker: Masker, other: Masker
) -> None:
    """The early mint of the async path meets a purge made by another worker after this one's view: the reply
    says reset, the namespace is reloaded and planned again, and every value is masked with a fresh mapping."""
    import asyncio
    import secrets

    text = f"{_large_paste(44, 40_000)}\n{CONTEXT}; started i-0{secrets.token_hex(8)}"  # (new text, new values)

    async def scenario() -> tuple[str, str]:
        await other.amask(CONTEXT)
        masker.vault.purge(masker.namespace)
        result = await other.amask(text)
        restored = await masker.aunmask(result.text)
        await other.vault.aclose()
        await masker.vault.aclose()
        return result.text, restored

    masked, restored = asyncio.run(scenario())
    assert BUCKET not in masked and PASSWORD not in masked
    assert restored == text


def test_a_paste_with_more_new_values_than_one_script_call_takes_is_minted_in_several(masker: Masker) -> None:
    """One mint script runs atomically in Redis: 250k new values in one call would stall every other client for
    seconds (and could outlast the socket timeout). They go in calls of `mint_batch` values (20k; 400 here, so the
    test stays small), and the result is the same: every value masked, each with its own pseudonym, restored
    byte for byte."""
    import random

    from maskkit.masking import _MINT_BATCH

    assert masker.mint_batch == _MINT_BATCH == 20_000
    masker.mint_batch = 400
    rng = random.Random(5)
    ids = [f"i-{rng.getrandbits(68):017x}" for _ in range(1_000)]
    paste = "".join(f"INSTANCES\t{value}\trunning\n" for value in ids)
    client = masker.vault._client()
    calls = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    result = masker.mask(paste)
    after = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    assert after - calls >= 3
    assert not any(value in result.text for value in ids[:: 97])
    assert len(set(result.reverse)) == len(ids)
    assert masker.unmask(result.text) == paste
