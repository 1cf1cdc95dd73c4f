"""No planted AWS identifier or secret survives masking through the real Masker and vault; decoys do; and the
vault restores every document exactly.

Each run generates documents with fresh random identifiers (`awsgen.fresh_rng`), so the detectors are tested
on values nobody has seen; the seed is in every failure message (`random.Random(seed)` replays the run).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from mktests import awsgen
from mktests.leakcheck import assert_decoys_survive, assert_no_planted, find_lost_decoys, find_planted

from maskkit import Masker

DOCUMENTS = 220  # 20 of each of the 11 kinds: a couple of seconds with the real vault


@pytest.fixture(scope="module")
def corpus() -> tuple[int, list[awsgen.Document]]:
    rng, seed = awsgen.fresh_rng()
    return seed, awsgen.generate_documents(rng, DOCUMENTS)


def test_every_label_is_planted_in_the_corpus(corpus: tuple[int, list[awsgen.Document]]) -> None:
    seed, docs = corpus
    labels = {p.label for doc in docs for p in doc.planted}
    assert labels == awsgen.LABELS, f"labels never planted: {sorted(awsgen.LABELS - labels)} (seed={seed})"


def test_no_planted_value_survives_masking(masker: Masker, corpus: tuple[int, list[awsgen.Document]]) -> None:
    seed, docs = corpus
    findings = []
    for index, doc in enumerate(docs):
        masked = masker.mask(doc.text).text
        findings += [
            f"{f.label} in document #{index} ({doc.kind}) at offset {f.offset}" for f in find_planted(masked, [doc])
        ]
    assert not findings, f"{len(findings)} planted values leaked (replay: awsgen seed={seed}):\n" + "\n".join(
        findings[:40]
    )


def test_decoys_survive_masking(masker: Masker, corpus: tuple[int, list[awsgen.Document]]) -> None:
    seed, docs = corpus
    lost = []
    for index, doc in enumerate(docs):
        masked = masker.mask(doc.text).text
        lost += [f"{f.label} in document #{index} ({doc.kind})" for f in find_lost_decoys(masked, [doc])]
    assert not lost, f"{len(lost)} decoys were masked (replay: awsgen seed={seed}):\n" + "\n".join(lost[:40])


def test_vault_unmask_restores_every_document_exactly(
    masker: Masker, corpus: tuple[int, list[awsgen.Document]]
) -> None:
    seed, docs = corpus
    broken = [
        f"document #{index} ({doc.kind})"
        for index, doc in enumerate(docs)
        if masker.unmask(masker.mask(doc.text).text) != doc.text
    ]
    assert not broken, f"round trip changed {len(broken)} documents (replay: awsgen seed={seed}): {broken[:20]}"


def test_documents_masked_in_one_call_leak_nothing_and_mask_stably(
    masker: Masker, corpus: tuple[int, list[awsgen.Document]]
) -> None:
    """What the proxy does with a long conversation: every text of a request masked with one vault round trip.
    A value planted in one document must not show up in any masked text, and masking the same texts again
    (Claude Code re-sends its history every turn) must give the same masked texts."""
    seed, docs = corpus
    sample = random.Random(seed).sample(docs, 40)
    texts = [doc.text for doc in sample]
    masked, reverse, _ = masker.mask_texts(texts)
    assert_no_planted("\n".join(masked), sample, seed=seed)
    assert_decoys_survive("\n".join(masked), sample, seed=seed)
    assert [masker.unmask_with(text, reverse) for text in masked] == texts
    again, _, _ = masker.mask_texts(texts)
    assert again == masked, f"masking the same texts twice differed (replay: awsgen seed={seed})"


def test_planted_values_inside_a_json_body_do_not_leak(
    masker: Masker, corpus: tuple[int, list[awsgen.Document]]
) -> None:
    """The same check on a Messages-shaped body: `assert_no_planted` also looks for JSON-escaped spellings."""
    seed, docs = corpus
    sample = docs[:11]
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": doc.text}]} for doc in sample]}
    masked, _ = asyncio.run(masker.amask_json(body))
    assert_no_planted(masked, sample, seed=seed)
