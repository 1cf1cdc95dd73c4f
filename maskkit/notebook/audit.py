"""The vault as a table: every live mapping as a pandas DataFrame, for notebooks and `maskkit audit`.

Reads only through `Vault.iter_entries` (SCAN + pipelined HMGET, never KEYS), so auditing a large vault does not
block Redis. Originals are redacted unless `reveal=True`; nothing here logs or prints them. Imported lazily
(`maskkit.audit()` imports this module on first call), because pandas is heavy.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from maskkit.config import Settings, check_namespace, load_settings
from maskkit.errors import MaskkitError
from maskkit.vault import Vault

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table

__all__ = ["COLUMNS", "audit", "redact", "render_table", "write"]

#: The DataFrame's columns, in order.
COLUMNS = ("namespace", "pseudonym", "kind", "first_seen", "last_seen", "ttl_seconds", "hits", "original")
#: SCAN COUNT (and pipeline size) per round trip: bigger batches mean fewer round trips (see bench/audit.py).
SCAN_BATCH = 5000
_TIME = "datetime64[ns, UTC]"
_SHOWN_HEAD, _SHOWN_TAIL = 4, 3
#: Below this length showing head and tail would give away half of the value or more, so only `…` is shown.
_MIN_REDACT_LENGTH = 2 * (_SHOWN_HEAD + _SHOWN_TAIL)


def redact(original: str) -> str:
    """`i-1234567890abcdef0` -> `i-12…ef0`: first 4 and last 3 characters; just `…` when shorter than 14.

    The length rule keeps at least half of every value hidden (a 12-digit account id shows nothing).
    """
    if len(original) < _MIN_REDACT_LENGTH:
        return "…"
    return f"{original[:_SHOWN_HEAD]}…{original[-_SHOWN_TAIL:]}"


def _kinds(kind: str | Iterable[str] | None) -> frozenset[str] | None:
    if kind is None:
        return None
    names = [kind] if isinstance(kind, str) else list(kind)
    return frozenset(name.strip().upper() for name in names if name.strip()) or None


def _number(pseudonym: str) -> int:
    digits = pseudonym.rpartition("-")[2]
    return int(digits) if digits.isdigit() else -1


def audit(
    namespace: str | None = None,
    kind: str | Iterable[str] | None = None,
    reveal: bool = False,
    settings: Settings | None = None,
    vault: Vault | None = None,
) -> pd.DataFrame:
    """Every live mapping as a DataFrame with `COLUMNS`, sorted by namespace, kind and pseudonym number.

    - `namespace`: one namespace, or None for all of them (not MASKKIT_NAMESPACE: an audit sees everything).
    - `kind`: one kind name or several (case-insensitive, e.g. "INSTANCE_ID"); None for all.
    - `reveal`: decrypt the originals; otherwise `original` holds the redacted form (`redact`).
    - `vault`: use this vault (left open); else one is built from `settings` (default: MASKKIT_* environment),
      starting the embedded Redis if needed, and closed afterwards.

    first_seen / last_seen are `datetime64[ns, UTC]`, ttl_seconds and hits int64, the rest strings.
    Raises VaultError (VaultUnavailable, VaultKeyError) like every vault read; ConfigError for a bad namespace.
    """
    if namespace is not None:
        check_namespace(namespace)
    wanted = _kinds(kind)
    own = vault is None
    store = Vault.from_settings(settings or load_settings()) if vault is None else vault
    columns: dict[str, list[Any]] = {name: [] for name in (*COLUMNS, "_number")}
    ns_, ps_, kind_, first_, last_, ttl_, hits_, orig_, num_ = columns.values()
    try:
        # The redacted form needs the original's first and last characters, so it is always decrypted here;
        # it only leaves this function when `reveal` is set.
        for entry in store.iter_entries(namespace, reveal=True, batch=SCAN_BATCH):
            if wanted is not None and entry.kind not in wanted:
                continue
            ns_.append(entry.namespace)
            ps_.append(entry.pseudonym)
            kind_.append(entry.kind)
            first_.append(entry.first_seen)
            last_.append(entry.last_seen)
            ttl_.append(entry.ttl_seconds)
            hits_.append(entry.hits)
            orig_.append(entry.original)
            num_.append(_number(entry.pseudonym))
    finally:
        if own:
            store.close()
    if not reveal:
        columns["original"] = [redact(original) for original in orig_]
    return _frame(columns)


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """Build the typed frame from column lists (much faster than a frame of Entry rows), then sort it."""

    def times(values: list[Any]) -> pd.Series:
        seconds = pd.Series(values, dtype="float64")
        return pd.to_datetime(seconds, unit="s", utc=True).astype(_TIME)

    frame = pd.DataFrame(
        {
            "namespace": pd.Series(columns["namespace"], dtype=str),
            "pseudonym": pd.Series(columns["pseudonym"], dtype=str),
            "kind": pd.Series(columns["kind"], dtype=str),
            "first_seen": times(columns["first_seen"]),
            "last_seen": times(columns["last_seen"]),
            "ttl_seconds": pd.Series(columns["ttl_seconds"], dtype="int64"),
            "hits": pd.Series(columns["hits"], dtype="int64"),
            "original": pd.Series(columns["original"], dtype=str),
            "_number": pd.Series(columns["_number"], dtype="int64"),
        }
    )
    frame = frame.sort_values(["namespace", "kind", "_number"], kind="stable")
    return frame.drop(columns="_number").reset_index(drop=True)


# --- helpers for `maskkit audit` ------------------------------------------------------------------------------------


def _duration(seconds: int) -> str:
    if seconds < 0:  # -1: no expiry; -2: gone between SCAN and TTL
        return "none" if seconds == -1 else "gone"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # one ISO format in every output
    return str(value)


def render_table(df: pd.DataFrame, *, title: str | None = None) -> Table:
    """A rich Table of an `audit()` frame (print it with `rich.console.Console().print(table)`).

    Shows exactly the frame's `original` column, so it reveals originals only if the frame does.
    """
    from rich.table import Table

    count = len(df)
    table = Table(
        title=title or f"maskkit vault: {count} mapping{'' if count == 1 else 's'}",
        caption=None if count else "no mappings",
    )
    headers: tuple[tuple[str, JustifyMethod], ...] = (
        ("namespace", "left"),
        ("pseudonym", "left"),
        ("kind", "left"),
        ("first seen", "left"),
        ("last seen", "left"),
        ("ttl", "right"),
        ("hits", "right"),
        ("original", "left"),
    )
    for name, justify in headers:
        table.add_column(name, justify=justify)
    for row in df.itertuples(index=False):
        table.add_row(
            str(row.namespace),
            str(row.pseudonym),
            str(row.kind),
            _when(row.first_seen),
            _when(row.last_seen),
            _duration(int(row.ttl_seconds)),
            str(row.hits),
            str(row.original),
        )
    return table


def _has_parquet_engine() -> bool:
    return any(importlib.util.find_spec(name) is not None for name in ("pyarrow", "fastparquet"))


def write(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write an `audit()` frame to `path`: CSV for `.csv`, Parquet for `.parquet` / `.pq`. Returns the path.

    The file is created (or truncated) with mode 0600, because a revealed audit holds originals.
    Raises MaskkitError for another suffix, or for Parquet when pyarrow is not installed.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise MaskkitError(f"cannot tell the format of {target.name!r}: name the file *.csv or *.parquet")
    if suffix != ".csv" and not _has_parquet_engine():
        raise MaskkitError(
            "writing Parquet needs pyarrow, which is not installed: install it (`uv add pyarrow`) or write CSV "
            f"instead ({target.with_suffix('.csv').name})"
        )
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    if suffix == ".csv":
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            df.to_csv(handle, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    else:
        with os.fdopen(fd, "wb") as binary:
            df.to_parquet(binary, index=False)
    return target
