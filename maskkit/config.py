"""Settings: the one place that reads the environment (`MASKKIT_*`, plus `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`).

`SETTINGS` is the one table of settings (name, type, default, doc, env-only flag). `load_settings` reads each one
from the environment mapping, else from `$MASKKIT_HOME/maskkit.env`, else its default, casts and checks it, and
fails closed: a bad value, an unknown kind, an unknown name or a line the env file parser does not understand is a
`ConfigError` that names the setting and where it came from, and never the value (stderr may reach a model).
`settings_markdown()` renders the same table for docs/settings.md.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from maskkit.errors import ConfigError

__all__ = [
    "SETTINGS",
    "Setting",
    "Settings",
    "check_kinds",
    "check_namespace",
    "load_settings",
    "read_env_file",
    "settings_markdown",
]

DEFAULT_TTL = 7 * 24 * 3600
DEFAULT_UPSTREAM = "https://api.anthropic.com"
ENV_FILE = "maskkit.env"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Secrets are kept out of the repr."""

    home: Path
    redis_url: str | None = field(default=None, repr=False)
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
    #: Parsed rules of MASKKIT_RULES_FILE (`maskkit.detect.rules.RuleSpec`), checked against the built-in kinds.
    custom_rules: tuple[Any, ...] = ()
    media: str = "pass"
    max_body_bytes: int = 32 * 1024 * 1024
    upstream_timeout: float = 600.0
    redis_maxmemory: str = "0"
    log_level: str = "WARNING"
    log_format: str = "text"
    metrics_open: bool = False
    via: str = "http"
    litellm_models: Mapping[str, str] = field(default_factory=dict)
    allow_reveal: bool = False
    claude_code_tools: bool = False
    claude_bin: str | None = None
    #: ANTHROPIC_BASE_URL as the parent process (Claude Code) set it; read from the real environment only,
    #: never from maskkit.env, because the MCP server's reveal rule trusts it to say where Claude Code sends.
    anthropic_base_url: str | None = None
    #: Connections one proxy process keeps open (and requests in flight) before it answers 529 + retry-after.
    max_connections: int = 1024
    #: Namespaces the MCP server serves besides its own (MASKKIT_MCP_NAMESPACES).
    mcp_namespaces: frozenset[str] = frozenset()
    #: Characters of text one proxy request may ask to mask (images and other opaque data do not count): 413 over.
    max_text_bytes: int = 16 * 1024 * 1024
    scan_processes: int = 0
    #: setting name -> where its value came from ("environment", "maskkit.env line N", "default").
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: things worth a warning at start-up (unknown MASKKIT_* names in the environment, disabled kinds).
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def evolve(self, **changes: object) -> Settings:
        """A copy with some values changed (CLI flags override the environment this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def known_kinds(self) -> dict[str, str]:
        """Every kind detection knows (built-in and custom pattern kinds) -> its pseudonym prefix."""
        from maskkit.detect import KINDS

        return {
            **KINDS,
            **{kind: prefix for kind, prefix, _ in self.custom_patterns},
            **{rule.kind: rule.prefix for rule in self.custom_rules},
        }

    @property
    def disabled_kinds(self) -> list[str]:
        """Kinds MASKKIT_KINDS leaves out (sorted); empty when every kind is detected."""
        from maskkit.detect import LITERAL

        if self.kinds is None:
            return []
        # Pseudonym-shaped literals are always masked (the round trip depends on it), whatever MASKKIT_KINDS says.
        return sorted(k for k in self.known_kinds if k not in self.kinds and k != LITERAL)


class _Invalid(ValueError):
    """A value did not parse; the message says what was expected and never repeats the value."""


# -- parsers: (raw string) -> value; raise _Invalid with what was expected


def _text(raw: str) -> str:
    return raw


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            number = int(raw.strip())
        except ValueError:
            raise _Invalid("must be an integer") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise _Invalid(f"must be an integer {bound}")
        return number

    return parse


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise _Invalid("must be true or false (1/0, yes/no, on/off)")


def _choice(*choices: str, fold: Callable[[str], str] = str.lower) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = fold(raw.strip())
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _namespace(raw: str) -> str:
    if not _NAMESPACE.fullmatch(raw):
        raise _Invalid(_NAMESPACE_RULE)
    return raw


def _http_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid("must be an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise _Invalid("must be an http:// or https:// URL with a valid port") from None
    return raw.strip().rstrip("/")


_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def _redis_url(raw: str) -> str:
    value = raw.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _REDIS_SCHEMES:
        raise _Invalid("must be a " + ", ".join(f"{s}://" for s in _REDIS_SCHEMES) + " URL")
    if scheme == "unix":
        if not parts.path:
            raise _Invalid("must name a socket path (unix:///path/to/redis.sock)")
        return value
    if scheme in ("redis", "rediss"):
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise _Invalid("has a port that is not a number between 1 and 65535") from None
        if not parts.hostname:
            raise _Invalid("must name a host (redis://host:port/db)")
    return value  # cluster seed lists are checked where they are read (maskkit.vault.store)


def _memory(raw: str) -> str:
    if not re.fullmatch(r"\d+(?:[kKmMgG][bB]?|[bB])?", raw.strip()):
        raise _Invalid("must be a size such as 0 (no limit), 512mb or 2gb")
    return raw.strip()


def _kinds(raw: str) -> frozenset[str] | None:
    names = [x.strip() for x in raw.split(",") if x.strip()]
    if not names:
        return None
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise _Invalid("must be a comma-separated list of kind names (see `maskkit kinds`)")
    return frozenset(names)


def _models(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise _Invalid("must be a comma-separated list of model=litellm-model pairs")
        pairs[name.strip()] = target.strip()
    return pairs


def _namespaces(raw: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        try:
            check_namespace(name)
        except ConfigError:
            raise _Invalid("must be a comma-separated list of namespaces (letters, digits, '.', '_', '-')") from None
    return names


def _file(raw: str) -> str:
    return str(Path(raw.strip()).expanduser())


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: what docs/settings.md shows and what `load_settings` reads."""

    name: str
    attr: str  # the Settings field it fills ("" when something else reads it)
    type: str  # as documented
    default: str  # as documented ("" = unset)
    doc: str
    env_only: bool = False  # never read from maskkit.env
    secret: bool = False  # `maskkit config` shows "set", never the value
    parse: Callable[[str], Any] = _text
    default_value: Any = None  # the value when unset


#: The one table of settings. docs/settings.md is generated from it (tests/unit/test_config.py checks).
SETTINGS: tuple[Setting, ...] = (
    Setting("MASKKIT_HOME", "home", "path", "the platform's user data dir",
            "Data dir: embedded Redis, `vault.key`, `proxy.key`, `proxy.json`, `maskkit.env`.", env_only=True),
    Setting("MASKKIT_REDIS_URL", "redis_url", "URL", "",
            "`redis://`, `rediss://` or `unix://` URL of an external Redis; `redis+cluster://host:port[,…]` or "
            "`rediss+cluster://` for Redis Cluster (docs/deploy.md). Unset: the embedded server in MASKKIT_HOME.",
            secret=True, parse=_redis_url),
    Setting("MASKKIT_VAULT_KEY", "vault_key", "key", "`$MASKKIT_HOME/vault.key`",
            "32-byte urlsafe-base64 vault key (`maskkit vault new-key`).", secret=True),
    Setting("MASKKIT_TTL", "ttl", "integer", str(DEFAULT_TTL),
            "Seconds a mapping lives after its last use.", parse=_integer(1), default_value=DEFAULT_TTL),
    Setting("MASKKIT_NAMESPACE", "namespace", "namespace", "default",
            "Tenant; namespaces cannot resolve each other's pseudonyms.", parse=_namespace, default_value="default"),
    Setting("MASKKIT_UPSTREAM", "upstream", "URL", DEFAULT_UPSTREAM,
            "Where the proxy sends masked requests.", parse=_http_url, default_value=DEFAULT_UPSTREAM),
    Setting("MASKKIT_UPSTREAM_TIMEOUT", "upstream_timeout", "seconds", "600",
            "How long the proxy waits for the upstream API.", parse=lambda raw: float(_integer(1)(raw)),
            default_value=600.0),
    Setting("MASKKIT_HOST", "host", "address", "127.0.0.1",
            "Where the proxy listens; anything but loopback needs MASKKIT_API_KEY or MASKKIT_KEYS_FILE.",
            parse=lambda raw: raw.strip(), default_value="127.0.0.1"),
    Setting("MASKKIT_PORT", "port", "integer", "8000",
            "The proxy's port (0 picks a free one).", parse=_integer(0, 65535), default_value=8000),
    Setting("MASKKIT_API_KEY", "api_key", "key", "generated into `$MASKKIT_HOME/proxy.key`",
            "The key clients present to the proxy (x-api-key or Authorization: Bearer).", secret=True),
    Setting("MASKKIT_KEYS_FILE", "key_namespaces", "path", "",
            "TOML file with a `[keys]` table binding client keys to namespaces.", parse=_file),
    Setting("ANTHROPIC_API_KEY", "anthropic_api_key", "key", "",
            "The proxy's own key for the upstream API.", secret=True),
    Setting("MASKKIT_PASSTHROUGH", "passthrough", "boolean", "false",
            "Forward the client's own Claude credentials (loopback only).", parse=_boolean, default_value=False),
    Setting("MASKKIT_MEDIA", "media", "pass|block", "pass",
            "Images/PDFs cannot be masked: `pass` them or `block` the request.", parse=_choice("pass", "block"),
            default_value="pass"),
    Setting("MASKKIT_KINDS", "kinds", "kind list", "all",
            "Comma-separated kinds to detect (exact, case-sensitive names: `maskkit kinds`); every other kind is "
            "disabled, with a warning at start-up and in `/health`.", parse=_kinds),
    Setting("MASKKIT_MASK_PRIVATE_IPS", "mask_private_ips", "boolean", "false",
            "Also mask RFC 1918 / private addresses and EC2 private DNS names.", parse=_boolean, default_value=False),
    Setting("MASKKIT_PATTERNS", "custom_patterns", "path", "",
            "TOML file of your own `[[pattern]]` rules (kind, prefix, regex).", parse=_file),
    Setting("MASKKIT_RULES_FILE", "custom_rules", "path", "",
            "TOML file of your own detection rules, in the format of the built-in `maskkit/detect/rules.toml`: "
            "kind, prefix, context keys/flags with a value pattern, regex patterns with keywords (docs/detection.md). "
            "Checked at start-up; a bad file stops maskkit with a message naming the rule.", parse=_file),
    Setting("MASKKIT_MAX_BODY_BYTES", "max_body_bytes", "integer", str(32 << 20),
            "Larger request bodies get 413.", parse=_integer(1), default_value=32 << 20),
    Setting("MASKKIT_MAX_TEXT_BYTES", "max_text_bytes", "integer", str(16 << 20),
            "Characters of text one proxy request may ask to mask (images and opaque data do not count); more gets "
            "413. Well above a large Claude Code body.", parse=_integer(1), default_value=16 << 20),
    Setting("MASKKIT_SCAN_PROCESSES", "scan_processes", "integer", "0",
            "Processes that scan one large text (512 KB or more) in pieces, where forking is safe (a process with "
            "one thread, as `maskkit mask`): 0 is one per usable CPU (at most 4), 1 never forks.",
            parse=_integer(0, 64), default_value=0),
    Setting("MASKKIT_MAX_CONNECTIONS", "max_connections", "integer", "1024",
            "Open connections (and requests in flight) one proxy process accepts; past it, 529 with retry-after.",
            parse=_integer(1), default_value=1024),
    Setting("MASKKIT_REDIS_MAXMEMORY", "redis_maxmemory", "size", "0",
            "`maxmemory` of the embedded Redis (0: no limit); when full, masking stops (never evicts).",
            parse=_memory, default_value="0"),
    Setting("MASKKIT_LOG_LEVEL", "log_level", "level", "WARNING",
            "Log level of the proxy (DEBUG, INFO, WARNING, ERROR). The access log is written at INFO.",
            parse=_choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", fold=str.upper), default_value="WARNING"),
    Setting("MASKKIT_LOG_FORMAT", "log_format", "text|json", "text",
            "Access-log lines as human-readable text or JSON lines.", parse=_choice("text", "json"),
            default_value="text"),
    Setting("MASKKIT_METRICS_OPEN", "metrics_open", "boolean", "false",
            "Serve `GET /metrics` without a key (only when the proxy listens on loopback).", parse=_boolean,
            default_value=False),
    Setting("MASKKIT_VIA", "via", "http|litellm", "http",
            "Call the upstream over HTTP or through LiteLLM.", parse=_choice("http", "litellm"), default_value="http"),
    Setting("MASKKIT_LITELLM_MODELS", "litellm_models", "model map", "",
            "With `--via litellm`: comma-separated `model=litellm-model` pairs.", parse=_models),
    Setting("MASKKIT_ALLOW_REVEAL", "allow_reveal", "boolean", "false",
            "Let the MCP server hand originals to the model without the proxy (docs/mcp.md). Environment only: "
            "the env file cannot grant it.", env_only=True, parse=_boolean, default_value=False),
    Setting("MASKKIT_MCP_NAMESPACES", "mcp_namespaces", "namespaces", "",
            "Comma-separated namespaces the MCP server serves besides its own (any other is refused).",
            parse=_namespaces, default_value=frozenset()),
    Setting("MASKKIT_CLAUDE_CODE_TOOLS", "claude_code_tools", "boolean", "false",
            "Let `POST /v1/claude-code` run Claude Code's tools (a shell on the proxy host for every tenant).",
            parse=_boolean, default_value=False),
    Setting("MASKKIT_CLAUDE_BIN", "claude_bin", "path", "`claude` on PATH",
            "The Claude Code CLI used by `maskkit run` and `POST /v1/claude-code`.", parse=_file),
    Setting("ANTHROPIC_BASE_URL", "anthropic_base_url", "URL", "",
            "Where Claude Code sends (read by the MCP server's reveal rule). Environment only.", env_only=True),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _did_you_mean(name: str, choices: list[str]) -> str:
    folded = {c.upper(): c for c in choices}
    match = folded.get(name.upper()) or next(iter(difflib.get_close_matches(name.upper(), folded, 1, 0.85)), None)
    if match is None:
        return ""
    return f"; did you mean {folded.get(match, match)}?"


def read_env_file(path: Path) -> dict[str, tuple[str, int]]:
    """Parse a maskkit.env: `NAME=value`, `export NAME=value`, '…' or "…" quoted values, `#` comments.

    Returns name -> (value, line number). Fails closed on any line it does not understand and on any name that is
    not a setting (or is environment-only); messages name the file and line, never a value.
    """
    values: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path} line {number}"
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{where}: expected NAME=value (or export NAME=value)")
        value = value.strip()
        if value[:1] in ("'", '"'):
            if len(value) < 2 or value[-1] != value[0] or value[0] in value[1:-1]:
                raise ConfigError(f"{where}: {name} has an unbalanced quote")
            value = value[1:-1]
        elif "'" in value or '"' in value:
            raise ConfigError(f"{where}: {name} has a quote inside an unquoted value; quote the whole value")
        setting = _BY_NAME.get(name)
        if setting is None:
            if name.startswith(("MASKKIT_", "ANTHROPIC_")):
                raise ConfigError(
                    f"{where}: {name} is not a maskkit setting{_did_you_mean(name, list(_BY_NAME))}"
                )
            raise ConfigError(f"{where}: not a maskkit setting (names start with MASKKIT_; see docs/settings.md)")
        if setting.env_only:
            raise ConfigError(f"{where}: {name} cannot be set in {ENV_FILE}; set it in the environment only")
        if name in values:
            raise ConfigError(f"{where}: {name} is already set on line {values[name][1]}")
        values[name] = (value, number)
    return values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: os.environ), the home's maskkit.env, and defaults. Fails closed."""
    env = dict(os.environ if environ is None else environ)
    home = Path(
        env.get("MASKKIT_HOME") or platformdirs.user_data_dir("maskkit", appauthor=False)
    ).expanduser()
    env_file = home / ENV_FILE
    try:
        from_file = read_env_file(env_file) if env_file.is_file() else {}
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"cannot read {env_file}") from None
    values: dict[str, Any] = {"home": home}
    sources: dict[str, str] = {"MASKKIT_HOME": "environment" if env.get("MASKKIT_HOME") else "default"}
    for setting in SETTINGS:
        if setting.name == "MASKKIT_HOME":
            continue
        raw = env.get(setting.name)
        if raw:
            where = "environment"
        elif setting.name in from_file and from_file[setting.name][0]:
            raw, line = from_file[setting.name]
            where = f"{env_file} line {line}"
        else:
            sources[setting.name] = "default"
            values[setting.attr] = setting.default_value
            continue
        sources[setting.name] = where
        try:
            values[setting.attr] = setting.parse(raw)
        except _Invalid as exc:
            raise ConfigError(f"{setting.name} {exc} (from the {where})") from None
    if values.get("key_namespaces"):
        values["key_namespaces"] = _key_namespaces(values["key_namespaces"])
    else:
        values["key_namespaces"] = {}
    values["custom_patterns"] = _patterns(values["custom_patterns"]) if values.get("custom_patterns") else ()
    if values.get("custom_rules"):
        values["custom_rules"] = _rules(values["custom_rules"], values["custom_patterns"])
    else:
        values["custom_rules"] = ()
    values["litellm_models"] = values.get("litellm_models") or {}
    warnings = [
        f"{name} in the environment is not a maskkit setting; ignored{_did_you_mean(name, list(_BY_NAME))}"
        for name in sorted(env)
        if name.startswith("MASKKIT_") and name not in _BY_NAME
    ]
    settings = Settings(**values, sources=sources)
    from maskkit.detect import LITERAL

    if settings.kinds is not None:
        check_kinds(settings.kinds, settings.known_kinds, f"MASKKIT_KINDS (from the {sources['MASKKIT_KINDS']})")
        disabled = settings.disabled_kinds
        if disabled:
            total = len(disabled) + len(settings.kinds - {LITERAL})
            if len(disabled) > total // 2:
                enabled = ", ".join(sorted(settings.kinds - {LITERAL}))
                warnings.append(
                    f"MASKKIT_KINDS masks only {total - len(disabled)} of {total} kinds ({enabled}); the other "
                    f"{len(disabled)} are NOT masked (`maskkit kinds` lists them)"
                )
            else:
                warnings.append(f"MASKKIT_KINDS disables {len(disabled)} of {total} kinds: {', '.join(disabled)}")
    return replace(settings, warnings=tuple(warnings))


def check_kinds(kinds: frozenset[str] | list[str] | tuple[str, ...], known: Mapping[str, str], what: str) -> None:
    """Raise ConfigError naming the first unknown kind (kinds are exact, case-sensitive) with a suggestion."""
    for name in sorted(kinds):
        if name not in known:
            hint = _did_you_mean(name, list(known))
            shown = f" {name!r}" if _safe_to_show(name) else ""
            raise ConfigError(f"{what}: unknown kind{shown}{hint} (see `maskkit kinds`)")


def _safe_to_show(name: str) -> bool:
    """A mistyped kind name may be shown back (`instance_id`); anything detection would mask (a pasted key) not."""
    from maskkit.detect import Detector

    return len(name) <= 40 and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) is not None and not Detector().detect(name)


def _load_toml(name: str, path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the file it names ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message is "<what> (at line L, column C)": position only, no content.
        raise ConfigError(f"{name}: the file it names is not valid TOML: {exc}") from None


_PREFIX = re.compile(r"[a-z][a-z0-9]{0,15}")


def _patterns(path: str) -> tuple[tuple[str, str, str], ...]:
    """Custom rules: a TOML file with `[[pattern]]` tables holding kind, prefix and regex."""
    data = _load_toml("MASKKIT_PATTERNS", path)
    rules = data.get("pattern", [])
    if not isinstance(rules, list):
        raise ConfigError("MASKKIT_PATTERNS: expected [[pattern]] tables")
    out = []
    for number, rule in enumerate(rules, 1):
        if not isinstance(rule, dict) or not all(isinstance(rule.get(k), str) for k in ("kind", "prefix", "regex")):
            raise ConfigError("MASKKIT_PATTERNS: each [[pattern]] needs string kind, prefix and regex")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", rule["kind"]):
            raise ConfigError(f"MASKKIT_PATTERNS: pattern {number}: kind must be UPPER_SNAKE_CASE")
        if not _PREFIX.fullmatch(rule["prefix"]):
            raise ConfigError(f"MASKKIT_PATTERNS: pattern {number}: prefix must be 1-16 lower-case letters/digits")
        try:
            re.compile(rule["regex"])
        except re.error:
            raise ConfigError(f"MASKKIT_PATTERNS: pattern {number}: regex does not compile") from None
        out.append((rule["kind"], rule["prefix"], rule["regex"]))
    return tuple(out)


def _rules(path: str, patterns: tuple[tuple[str, str, str], ...]) -> tuple[Any, ...]:
    """MASKKIT_RULES_FILE: parsed and checked now (schema, regexes, validators, kinds and prefixes against the
    built-in ones and MASKKIT_PATTERNS), so a bad file stops start-up instead of failing a request later."""
    from maskkit.detect import Detector
    from maskkit.detect.rules import RuleError, parse_rules

    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"MASKKIT_RULES_FILE: cannot read the file it names ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError("MASKKIT_RULES_FILE: the file it names is not UTF-8") from None
    try:
        from maskkit.detect.detector import FRAGMENTS

        rules = parse_rules(text, "MASKKIT_RULES_FILE", fragments=FRAGMENTS).rules
        Detector().with_patterns(patterns).with_rules(rules)
    except RuleError as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"MASKKIT_RULES_FILE: {exc}") from None
    return rules


def _key_namespaces(path: str) -> dict[str, str]:
    """API key -> namespace bindings: a TOML file with a `[keys]` table (`"<api key>" = "team-a"`)."""
    data = _load_toml("MASKKIT_KEYS_FILE", path)
    keys = data.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ConfigError('MASKKIT_KEYS_FILE: expected a [keys] table of "api key" = "namespace"')
    for namespace in keys.values():
        check_namespace(namespace)
    return dict(keys)


_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAMESPACE_RULE = "must be 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_namespace(namespace: str) -> str:
    """Return `namespace` if valid (1-64 ASCII letters, digits, '.', '_', '-'); else raise ConfigError."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            "a namespace is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return namespace


def settings_markdown() -> str:
    """docs/settings.md, generated from SETTINGS (`maskkit config --markdown > docs/settings.md`)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Settings",
        "",
        "<!-- Generated from maskkit/config.py SETTINGS by `maskkit config --markdown`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable, or a line of `$MASKKIT_HOME/maskkit.env` (`NAME=value`,",
        "`export NAME=value`, quoted values, `#` comments). The environment wins over the file. A bad value, an",
        "unknown kind, an unknown name in the file or a line it does not understand stops maskkit with an error that",
        "names the setting and where it came from, never the value. An unknown `MASKKIT_*` name in the environment",
        "is a warning. Settings marked *environment only* are refused in the file. `maskkit config` shows the",
        "effective values (secrets as `set`) and their sources.",
        "",
        "| Setting | Type | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = s.default if s.default.startswith("`") or not s.default else f"`{s.default}`"
        doc = s.doc + (" *Environment only.*" if s.env_only and "nvironment only" not in s.doc else "")
        lines.append(f"| `{s.name}` | {s.type} | {cell(default) or 'unset'} | {cell(doc)} |")
    return "\n".join(lines) + "\n"
