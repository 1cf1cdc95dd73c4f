"""Settings: the one place that reads the environment (`MASKKIT_*`, plus `ANTHROPIC_API_KEY` for the upstream).

Each value comes from the environment mapping, else from `$MASKKIT_HOME/maskkit.env` (KEY=VALUE lines), else
its default, and is cast and checked here so a bad value fails at start-up with the variable's name.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from maskkit.errors import ConfigError

__all__ = ["Settings", "check_namespace", "load_settings"]

DEFAULT_TTL = 7 * 24 * 3600
DEFAULT_UPSTREAM = "https://api.anthropic.com"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Secrets are kept out of the repr."""

    home: Path
    redis_url: str | None = None
    vault_key: str | None = field(default=None, repr=False)
    ttl: int = DEFAULT_TTL
    namespace: str = "default"
    upstream: str = DEFAULT_UPSTREAM
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = field(default=None, repr=False)
    anthropic_api_key: str | None = field(default=None, repr=False)
    passthrough: bool = False
    key_namespaces: Mapping[str, str] = field(default_factory=dict, repr=False)
    kinds: frozenset[str] | None = None
    mask_private_ips: bool = False
    custom_patterns: tuple[tuple[str, str, str], ...] = ()
    media: str = "pass"
    max_body_bytes: int = 32 * 1024 * 1024
    upstream_timeout: float = 600.0
    redis_maxmemory: str = "0"
    log_level: str = "WARNING"
    via: str = "http"
    litellm_models: Mapping[str, str] = field(default_factory=dict)
    allow_reveal: bool = False
    claude_code_tools: bool = False
    #: ANTHROPIC_BASE_URL as the parent process (Claude Code) set it; read from the real environment only,
    #: never from maskkit.env, because the MCP server's reveal rule trusts it to say where Claude Code sends.
    anthropic_base_url: str | None = None
    # -- security hardening (issue 13) --------------------------------------------------------------------------
    #: Connections one proxy process keeps open (and requests in flight) before it answers 529 + retry-after.
    max_connections: int = 1024
    #: Namespaces the MCP server serves (MASKKIT_MCP_NAMESPACES, comma-separated); empty: its own namespace only.
    mcp_namespaces: frozenset[str] = frozenset()
    #: Characters of text one proxy request may ask to mask (images and other opaque data do not count): 413 over.
    max_text_bytes: int = 16 * 1024 * 1024

    def evolve(self, **changes: object) -> Settings:
        """A copy with some values changed (CLI flags override the environment this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _env_file(home: Path) -> dict[str, str]:
    path = home / "maskkit.env"
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected NAME=VALUE")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false")  # never echo a value: it may be a secret


def _int(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None  # never echo a value: it may be a secret
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return number


def _load_toml(name: str, path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: {path} is not valid TOML: {exc}") from None


def _patterns(path: str) -> tuple[tuple[str, str, str], ...]:
    """Custom rules: a TOML file with `[[pattern]]` tables holding kind, prefix and regex."""
    data = _load_toml("MASKKIT_PATTERNS", path)
    rules = data.get("pattern", [])
    if not isinstance(rules, list):
        raise ConfigError("MASKKIT_PATTERNS: expected [[pattern]] tables")
    out = []
    for rule in rules:
        if not isinstance(rule, dict) or not all(
            isinstance(rule.get(k), str) for k in ("kind", "prefix", "regex")
        ):
            raise ConfigError("MASKKIT_PATTERNS: each [[pattern]] needs string kind, prefix and regex")
        out.append((rule["kind"], rule["prefix"], rule["regex"]))
    return tuple(out)


def _key_namespaces(path: str) -> dict[str, str]:
    """API key -> namespace bindings: a TOML file with a `[keys]` table (`"<api key>" = "team-a"`)."""
    data = _load_toml("MASKKIT_KEYS_FILE", path)
    keys = data.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ConfigError('MASKKIT_KEYS_FILE: expected a [keys] table of "api key" = "namespace"')
    return dict(keys)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: os.environ), the home's maskkit.env, and defaults."""
    env = dict(os.environ if environ is None else environ)
    home = Path(
        env.get("MASKKIT_HOME") or platformdirs.user_data_dir("maskkit", appauthor=False)
    ).expanduser()
    merged = {**_env_file(home), **env}

    def get(name: str, default: str | None = None) -> str | None:
        value = merged.get(name)
        return default if value is None or value == "" else value

    namespace = get("MASKKIT_NAMESPACE", "default") or "default"
    check_namespace(namespace)
    media = get("MASKKIT_MEDIA", "pass") or "pass"
    if media not in ("pass", "block"):
        raise ConfigError("MASKKIT_MEDIA must be pass or block")
    via = get("MASKKIT_VIA", "http") or "http"
    if via not in ("http", "litellm"):
        raise ConfigError("MASKKIT_VIA must be http or litellm")
    kinds = get("MASKKIT_KINDS")
    models = get("MASKKIT_LITELLM_MODELS")
    return Settings(
        home=home,
        redis_url=get("MASKKIT_REDIS_URL"),
        vault_key=get("MASKKIT_VAULT_KEY"),
        ttl=_int("MASKKIT_TTL", get("MASKKIT_TTL", str(DEFAULT_TTL)) or "", minimum=1),
        namespace=namespace,
        upstream=(get("MASKKIT_UPSTREAM", DEFAULT_UPSTREAM) or DEFAULT_UPSTREAM).rstrip("/"),
        host=get("MASKKIT_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int("MASKKIT_PORT", get("MASKKIT_PORT", "8000") or ""),
        api_key=get("MASKKIT_API_KEY"),
        anthropic_api_key=get("ANTHROPIC_API_KEY"),
        passthrough=_bool("MASKKIT_PASSTHROUGH", get("MASKKIT_PASSTHROUGH", "") or ""),
        key_namespaces=_key_namespaces(k) if (k := get("MASKKIT_KEYS_FILE")) else {},
        kinds=frozenset(x.strip() for x in kinds.split(",") if x.strip()) if kinds else None,
        mask_private_ips=_bool("MASKKIT_MASK_PRIVATE_IPS", get("MASKKIT_MASK_PRIVATE_IPS", "") or ""),
        custom_patterns=_patterns(p) if (p := get("MASKKIT_PATTERNS")) else (),
        media=media,
        max_body_bytes=_int("MASKKIT_MAX_BODY_BYTES", get("MASKKIT_MAX_BODY_BYTES", str(32 << 20)) or "", 1),
        upstream_timeout=float(
            _int("MASKKIT_UPSTREAM_TIMEOUT", get("MASKKIT_UPSTREAM_TIMEOUT", "600") or "", 1)
        ),
        redis_maxmemory=get("MASKKIT_REDIS_MAXMEMORY", "0") or "0",
        log_level=(get("MASKKIT_LOG_LEVEL", "WARNING") or "WARNING").upper(),
        via=via,
        litellm_models=dict(pair.split("=", 1) for pair in models.split(",") if "=" in pair)
        if models
        else {},
        # -- security hardening (issue 13): reveal permission from the real environment only, never maskkit.env
        # (a file the MCP tools could once write); the MCP namespace allowlist; the connection limit.
        allow_reveal=_bool("MASKKIT_ALLOW_REVEAL", env.get("MASKKIT_ALLOW_REVEAL") or ""),
        mcp_namespaces=frozenset(
            check_namespace(n.strip()) for n in (get("MASKKIT_MCP_NAMESPACES") or "").split(",") if n.strip()
        ),
        max_connections=_int("MASKKIT_MAX_CONNECTIONS", get("MASKKIT_MAX_CONNECTIONS", "1024") or "", 1),
        max_text_bytes=_int("MASKKIT_MAX_TEXT_BYTES", get("MASKKIT_MAX_TEXT_BYTES", str(16 << 20)) or "", 1),
        claude_code_tools=_bool("MASKKIT_CLAUDE_CODE_TOOLS", get("MASKKIT_CLAUDE_CODE_TOOLS", "") or ""),
        anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
    )


_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_namespace(namespace: str) -> str:
    """Return `namespace` if valid (1-64 ASCII letters, digits, '.', '_', '-'); else raise ConfigError."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            "a namespace is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return namespace
