"""A large text scanned in pieces (`maskkit.pieces`, forked children) is masked exactly as when scanned whole:
same spans, same encoded runs, same output of the real `maskkit mask` process, including where a piece's cut
falls inside a construct whose context is far from its values (a long list after its key, a Terraform block,
an `s3api list-buckets` listing)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from mktests import awsgen

from maskkit import pieces
from maskkit.detect.detector import resolve_spans
from maskkit.masking import Masker

SIZE = pieces.MIN_CHARS + 64 * 1024


def _corpus(seed: int, size: int) -> str:
    return "\n\n".join(doc.text for doc in awsgen.generate_corpus(random.Random(seed), size))


def _list_of_tables() -> tuple[str, list[str]]:
    names = [f"billing-ledger-{i:05d}" for i in range(800)]
    return '{\n  "TableNames": [\n' + ",\n".join(f'    "{n}"' for n in names) + "\n  ]\n}\n", names


def _terraform_block() -> tuple[str, list[str]]:
    filler = "".join(f'  tags_{i} = "x"\n' for i in range(1500))
    return f'resource "aws_db_instance" "main" {{\n{filler}  identifier = "payroll-prod-db-7"\n}}\n', [
        "payroll-prod-db-7"
    ]


def _bucket_listing() -> tuple[str, list[str]]:
    names = [f"acme-archive-{i:04d}" for i in range(400)]
    entries = ",\n".join(
        f'    {{\n      "Name": "{n}",\n      "CreationDate": "2024-01-01T00:00:00Z"\n    }}' for n in names
    )
    return '{\n  "Buckets": [\n' + entries + "\n  ]\n}\n", names


def _straddling(construct: str, seed: int) -> str:
    """`construct` in the middle of a text large enough to be cut in two: the cut falls inside it."""
    half = (SIZE - len(construct)) // 2
    text = f"{_corpus(seed, half)}\n\n{construct}\n{_corpus(seed + 1, half)}"
    cut = pieces.parts(text, 2, 0)[1].own_start
    start = text.index(construct)
    assert start < cut < start + len(construct), "the construct does not straddle the cut"
    return text


def _same_as_whole(masker: Masker, text: str, count: int) -> list[str]:
    """Scan `text` in `count` pieces and whole; assert the same spans and runs; return the masked originals."""
    whole = Masker(masker.vault, masker.detector, masker.namespace, processes=1)
    in_pieces = Masker(masker.vault, masker.detector, masker.namespace, processes=count)
    assert whole._piece_count(text) == 1
    assert not text.lstrip().startswith(("{", "[")), "a JSON text also gets its keyed spans: not compared here"
    spans, secrets = in_pieces._in_pieces(text, count)
    expected = whole.spans(text)
    assert (resolve_spans(text, [*spans, *secrets]) if secrets else spans) == expected  # sorted, merged
    assert sorted(in_pieces._decoded_runs(text)) == sorted(whole._decoded_runs(text))
    return [text[span.start : span.end] for span in expected]


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("count", [2, 3])
def test_a_generated_corpus_scanned_in_pieces_gives_the_whole_texts_spans(
    masker: Masker, seed: int, count: int
) -> None:
    text = _corpus(seed, SIZE)
    assert len(_same_as_whole(masker, text, count)) > 3000


@pytest.mark.parametrize("construct", [_list_of_tables, _terraform_block, _bucket_listing])
def test_a_cut_inside_a_construct_loses_none_of_its_values(masker: Masker, construct: object) -> None:
    assert callable(construct)
    block, values = construct()
    text = _straddling(block, seed=21)
    masked = set(_same_as_whole(masker, text, 2))
    assert set(values) <= masked


def _cli(env: dict[str, str], *args: str, data: bytes) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "maskkit", *args], input=data, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_maskkit_mask_in_pieces_writes_what_one_process_writes(env: dict[str, str], tmp_path: Path) -> None:
    """The real CLI (one thread: it forks) against the same CLI told never to fork, each in a fresh namespace:
    byte-identical output, and `maskkit unmask` restores the input byte for byte."""
    block, values = _list_of_tables()
    data = _straddling(block, seed=31).encode()
    forked = _cli({**env, "MASKKIT_NAMESPACE": env["MASKKIT_NAMESPACE"] + "f"}, "mask", data=data)
    single = _cli(
        {**env, "MASKKIT_NAMESPACE": env["MASKKIT_NAMESPACE"] + "s", "MASKKIT_SCAN_PROCESSES": "1"}, "mask", data=data
    )
    assert forked == single
    assert not any(value.encode() in forked for value in values)
    restored = _cli({**env, "MASKKIT_NAMESPACE": env["MASKKIT_NAMESPACE"] + "f"}, "unmask", data=forked)
    assert restored == data
