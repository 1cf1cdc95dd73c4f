"""`maskkit config` / `maskkit doctor`: the effective settings with their sources, the vault's state, key file
locations and the embedded Redis version. Never a secret value: secret settings show as `set` or `unset`.
"""

from __future__ import annotations

from typing import Any

from maskkit.config import SETTINGS, Settings
from maskkit.errors import MaskkitError

__all__ = ["report"]


def _shown(settings: Settings, name: str, attr: str, secret: bool) -> str:
    value = getattr(settings, attr)
    if secret or name == "MASKKIT_KEYS_FILE":
        return "set" if value else "unset"
    if value is None or value == {} or value == ():
        return "unset"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    if attr == "custom_patterns":
        return f"{len(value)} pattern{'' if len(value) == 1 else 's'}"
    if attr == "custom_rules":
        return f"{len(value)} rule{'' if len(value) == 1 else 's'}"
    return str(value)


def report(settings: Settings) -> dict[str, Any]:
    """What `maskkit config` prints, as data. Starts nothing: an embedded Redis that is down is reported down."""
    from maskkit.vault.embedded import embedded_status, redis_binary, server_version

    rows = [
        {
            "name": s.name,
            "value": _shown(settings, s.name, s.attr, s.secret),
            "source": settings.sources.get(s.name, "default"),
        }
        for s in SETTINGS
    ]
    home = settings.home
    vault: dict[str, Any] = {}
    if settings.redis_url:
        vault["server"] = "external Redis (MASKKIT_REDIS_URL)"
    else:
        try:
            binary = redis_binary()
            vault["server"] = f"embedded {server_version(binary)} ({binary})"
        except MaskkitError as exc:
            vault["server"] = f"none: {exc}"
        state = embedded_status(home)
        vault["embedded"] = (
            f"running (pid {state['pid']}); `maskkit vault stop` stops it"
            if state["running"]
            else "not running (starts on first use)"
        )
    key_file = home / "vault.key"
    if not settings.vault_key and not key_file.exists():
        vault["reachable"] = "not checked: no vault key yet (created on first use)"
    elif not settings.redis_url and not embedded_status(home)["running"]:
        vault["reachable"] = "not checked: the embedded server is not running"
    else:
        vault["reachable"] = _ping(settings)
    files = {
        "data dir": str(home),
        "vault key": "MASKKIT_VAULT_KEY (environment)" if settings.vault_key else _exists(key_file),
        "client key": "MASKKIT_API_KEY" if settings.api_key else _exists(home / "proxy.key"),
        "env file": _exists(home / "maskkit.env"),
    }
    return {"settings": rows, "vault": vault, "files": files, "warnings": list(settings.warnings)}


def _exists(path: Any) -> str:
    return f"{path}" + ("" if path.exists() else " (not created yet)")


def _ping(settings: Settings) -> str:
    from maskkit.vault import Vault

    try:
        vault = Vault.from_settings(settings)
        try:
            vault.ping()
        finally:
            vault.close()
    except MaskkitError as exc:
        return f"no: {type(exc).__name__}: {exc}"
    return "yes (the vault key matches)"
