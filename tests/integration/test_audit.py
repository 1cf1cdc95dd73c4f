"""`maskkit.audit()`: the vault as a typed, sorted DataFrame with redacted originals, read with SCAN (never KEYS);
plus the CLI helpers `render_table` and `write`."""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
from rich.console import Console

import maskkit
import maskkit.notebook.audit as audit_module
from maskkit import Masker, MaskkitError, Settings, Vault, load_settings
from maskkit.notebook.audit import COLUMNS, audit, redact, render_table, write
from maskkit.vault import ensure_embedded_redis, generate_key, stop_embedded_redis

INSTANCE = "i-1234567890abcdef0"
OTHER_INSTANCE = "i-0fedcba9876543210"
VPC = "vpc-0a1b2c3d4e5f67890"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
TEXT = f"{INSTANCE} and {OTHER_INSTANCE} sit in {VPC}; aws_access_key_id = {ACCESS_KEY}"


@pytest.fixture
def filled(masker: Masker) -> Masker:
    """The test's namespace holding four mappings (two instances, a VPC, an access key id)."""
    result = masker.mask(TEXT)
    assert len(result.reverse) == 4
    return masker


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(settings.home / "redis.sock"))


def test_columns_and_dtypes(filled: Masker, settings: Settings, namespace: str) -> None:
    df = audit(namespace=namespace, settings=settings)

    assert tuple(df.columns) == COLUMNS
    assert len(df) == 4
    for column in ("first_seen", "last_seen"):
        assert isinstance(df[column].dtype, pd.DatetimeTZDtype)
        assert str(df[column].dtype.tz) == "UTC"
        assert df[column].dtype.unit == "ns"
    assert df["ttl_seconds"].dtype == "int64" and df["hits"].dtype == "int64"
    for column in ("namespace", "pseudonym", "kind", "original"):
        assert pd.api.types.is_string_dtype(df[column])
    assert set(df["namespace"]) == {namespace}
    assert set(df["kind"]) == {"INSTANCE_ID", "VPC_ID", "ACCESS_KEY_ID"}
    assert (df["hits"] == 1).all()
    assert df["ttl_seconds"].between(1, settings.ttl).all()
    now = pd.Timestamp.now(tz="UTC")
    assert ((now - df["first_seen"]) < pd.Timedelta(minutes=5)).all()
    assert (df["last_seen"] >= df["first_seen"]).all()


def test_originals_are_redacted_unless_revealed(filled: Masker, settings: Settings, namespace: str) -> None:
    hidden = audit(namespace=namespace, settings=settings)
    shown = audit(namespace=namespace, settings=settings, reveal=True)

    assert set(hidden["original"]) == {"i-12…ef0", "i-0f…210", "vpc-…890", "AKIA…PLE"}
    assert set(shown["original"]) == {INSTANCE, OTHER_INSTANCE, VPC, ACCESS_KEY}
    assert list(hidden["pseudonym"]) == list(shown["pseudonym"])
    assert not any(o in hidden.to_csv() for o in (INSTANCE, OTHER_INSTANCE, VPC, ACCESS_KEY))


def test_hits_and_last_seen_follow_use(filled: Masker, settings: Settings, namespace: str) -> None:
    filled.refresh_seconds = 0  # by default one process counts a value's use at most once a minute
    filled.mask(INSTANCE)
    df = audit(namespace=namespace, settings=settings, reveal=True)
    hits = dict(zip(df["original"], df["hits"], strict=True))
    assert hits[INSTANCE] == 2 and hits[VPC] == 1


@pytest.mark.parametrize(
    ("original", "redacted"),
    [
        ("i-1234567890abcdef0", "i-12…ef0"),
        ("12345678901234", "1234…234"),  # 14 characters: 7 shown, 7 hidden
        ("1234567890123", "…"),  # 13: showing 7 would give away more than half
        ("123456789012", "…"),  # an account id shows nothing
        ("10.0.0.1", "…"),
        ("", "…"),
    ],
)
def test_redact(original: str, redacted: str) -> None:
    assert redact(original) == redacted


def test_kind_filter(filled: Masker, settings: Settings, namespace: str) -> None:
    df = audit(namespace=namespace, kind="instance_id", settings=settings)
    assert list(df["kind"]) == ["INSTANCE_ID", "INSTANCE_ID"]
    both = audit(namespace=namespace, kind=["VPC_ID", "ACCESS_KEY_ID"], settings=settings)
    assert sorted(both["kind"]) == ["ACCESS_KEY_ID", "VPC_ID"]
    assert audit(namespace=namespace, kind="S3_BUCKET", settings=settings).empty


def test_namespace_filter_and_all_namespaces(filled: Masker, settings: Settings, namespace: str) -> None:
    other = filled.for_namespace(namespace + "-b")
    other.mask(f"{INSTANCE} only")

    mine = audit(namespace=namespace, settings=settings)
    theirs = audit(namespace=namespace + "-b", settings=settings, reveal=True)
    everything = audit(settings=settings)  # the session vault: other tests' namespaces are there too

    assert len(mine) == 4 and set(mine["namespace"]) == {namespace}
    assert list(theirs["original"]) == [INSTANCE] and list(theirs["namespace"]) == [namespace + "-b"]
    ours = everything[everything["namespace"].isin([namespace, namespace + "-b"])]
    assert len(ours) == 5
    keys = list(zip(everything["namespace"], everything["kind"], strict=True))
    assert keys == sorted(keys)


def test_rows_are_sorted_by_pseudonym_number_not_text(masker: Masker, settings: Settings, namespace: str) -> None:
    prefixes = dict(masker.detector.kinds)
    items = [("INSTANCE_ID", f"i-{n:017x}") for n in range(1003)]
    masker.vault.pseudonyms_for(namespace, items, prefixes)

    df = audit(namespace=namespace, settings=settings)

    numbers = [int(p.rpartition("-")[2]) for p in df["pseudonym"]]
    assert numbers == list(range(1, 1004))
    assert list(df["pseudonym"][998:1001]) == ["ec2-999", "ec2-1000", "ec2-1001"]


def test_audit_reads_with_scan_never_keys(filled: Masker, settings: Settings, namespace: str) -> None:
    client = _redis(settings)
    try:
        before = client.info("commandstats")
        audit(settings=settings)
        after = client.info("commandstats")
    finally:
        client.close()
    assert after.get("cmdstat_keys", {}).get("calls", 0) == before.get("cmdstat_keys", {}).get("calls", 0)
    assert after["cmdstat_scan"]["calls"] > before.get("cmdstat_scan", {}).get("calls", 0)


def test_an_unused_namespace_gives_an_empty_frame_with_the_same_columns(settings: Settings, namespace: str) -> None:
    df = audit(namespace=namespace, settings=settings)
    assert df.empty and tuple(df.columns) == COLUMNS
    assert isinstance(df["first_seen"].dtype, pd.DatetimeTZDtype) and df["hits"].dtype == "int64"


@pytest.fixture
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A brand-new vault with its own embedded Redis (always stopped)."""
    home = tmp_path_factory.mktemp("empty", numbered=True)
    try:
        ensure_embedded_redis(home)
        yield home
    finally:
        stop_embedded_redis(home)


def test_empty_vault(empty_home: Path) -> None:
    settings = load_settings({"MASKKIT_HOME": str(empty_home), "MASKKIT_VAULT_KEY": generate_key()})
    df = audit(settings=settings)
    assert df.empty and tuple(df.columns) == COLUMNS
    table = render_table(df)
    assert table.row_count == 0 and table.caption == "no mappings"


def test_public_wrapper_and_a_given_vault(filled: Masker, settings: Settings, namespace: str) -> None:
    vault = Vault.from_settings(settings)
    try:
        df = maskkit.audit(namespace=namespace, vault=vault)
        assert len(df) == 4
        # Importing maskkit.notebook.audit (the module) rebinds the package attribute: it must stay callable.
        assert len(maskkit.audit(namespace, "VPC_ID", True, vault=vault)) == 1
        assert len(maskkit.audit(namespace=namespace, kind="INSTANCE_ID", vault=vault)) == 2
        vault.ping()  # a vault passed in is left open
    finally:
        vault.close()


def test_default_settings_come_from_the_environment(
    filled: Masker, settings: Settings, vault_key: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASKKIT_HOME", str(settings.home))
    monkeypatch.setenv("MASKKIT_VAULT_KEY", vault_key)
    assert len(audit(namespace=namespace)) == 4


def test_bad_namespace_is_a_config_error(settings: Settings) -> None:
    with pytest.raises(maskkit.ConfigError):
        audit(namespace="not a namespace!", settings=settings)


# --- render_table / write -----------------------------------------------------------------------------------------


def test_render_table_shows_the_frame_as_given(filled: Masker, settings: Settings, namespace: str) -> None:
    df = audit(namespace=namespace, settings=settings)
    table = render_table(df)
    assert table.row_count == 4
    assert [c.header for c in table.columns] == [
        "namespace",
        "pseudonym",
        "kind",
        "first seen",
        "last seen",
        "ttl",
        "hits",
        "original",
    ]
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    rendered = console.export_text()
    assert "i-12…ef0" in rendered and INSTANCE not in rendered
    assert "6d 23h" in rendered or "7d 0h" in rendered  # the default TTL, humanised


def test_write_csv_round_trips_and_is_private(
    filled: Masker, settings: Settings, namespace: str, tmp_path: Path
) -> None:
    df = audit(namespace=namespace, settings=settings, reveal=True)
    path = write(df, tmp_path / "audit.csv")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = pd.read_csv(path)
    assert list(back.columns) == list(COLUMNS)
    assert list(back["original"]) == list(df["original"])
    assert list(back["first_seen"]) == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in df["first_seen"]]
    assert list(back["hits"]) == list(df["hits"])


def test_write_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(MaskkitError, match=r"\*\.csv or \*\.parquet"):
        write(pd.DataFrame(columns=list(COLUMNS)), tmp_path / "audit.xlsx")
    assert not (tmp_path / "audit.xlsx").exists()


def test_write_parquet_without_pyarrow_says_to_install_it_or_use_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "_has_parquet_engine", lambda: False)
    with pytest.raises(MaskkitError, match="pyarrow") as raised:
        write(pd.DataFrame(columns=list(COLUMNS)), tmp_path / "audit.parquet")
    assert "audit.csv" in str(raised.value)
    assert not (tmp_path / "audit.parquet").exists()
