"""Shared fixtures: one embedded Redis for the session (a real redis-server), a fresh namespace per test, and
an environment that never depends on the developer's own (no real keys, no real MASKKIT_HOME)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the unit tests need none of these fixtures: they import the vault stack only when used
    from maskkit import Masker, Settings

_SCRUB = ("ANTHROPIC_", "MASKKIT_", "CLAUDE_", "AWS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="session")
def vault_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MASKKIT_HOME for the whole session, with its embedded Redis started once and always stopped."""
    from maskkit.vault import ensure_embedded_redis, stop_embedded_redis

    home = Path(tmp_path_factory.mktemp("mkhome", numbered=True))
    try:
        ensure_embedded_redis(home)
    except Exception as exc:  # never skip: a missing vault is a failure with its reason
        pytest.fail(f"the embedded redis-server could not start in {home}: {exc}")
    try:
        yield home
    finally:
        stop_embedded_redis(home)


@pytest.fixture(scope="session")
def vault_key() -> str:
    from maskkit.vault import generate_key

    return generate_key()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's keys, proxies or maskkit settings."""
    for name in list(os.environ):
        if name.upper().startswith(_SCRUB) or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MASKKIT_HOME", str(tmp_path / "unused-home"))


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses: tests share one Redis but never each other's mappings."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def settings(vault_home: Path, vault_key: str, namespace: str) -> Settings:
    from maskkit import load_settings

    return load_settings(
        {"MASKKIT_HOME": str(vault_home), "MASKKIT_VAULT_KEY": vault_key, "MASKKIT_NAMESPACE": namespace}
    )


def _open_masker(settings: Settings) -> Iterator[Masker]:
    from maskkit import Masker

    masker = Masker.from_settings(settings)
    try:
        yield masker
    finally:
        masker.vault.close()


@pytest.fixture
def masker(settings: Settings) -> Iterator[Masker]:
    yield from _open_masker(settings)


@pytest.fixture
def other(settings: Settings) -> Iterator[Masker]:
    """A second masker on the same vault and namespace: another worker, with its own recall index."""
    yield from _open_masker(settings)


@pytest.fixture
def env(settings: Settings, vault_key: str, namespace: str) -> dict[str, str]:
    """Environment for a maskkit subprocess that shares the session vault."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(_SCRUB)}
    return {
        **base,
        "MASKKIT_HOME": str(settings.home),
        "MASKKIT_VAULT_KEY": vault_key,
        "MASKKIT_NAMESPACE": namespace,
    }

