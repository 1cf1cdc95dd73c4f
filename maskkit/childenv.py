"""The environment of a process maskkit starts for someone else (a command for the model, a headless Claude Code
for a tenant): everything but maskkit's own settings and keys and the upstream API credentials. No I/O here.

One list, used by the MCP server's shell (`run_unmasked`) and the proxy's headless route: a command that runs
`env` must not find the vault key, a client key, or the key the proxy pays the upstream with.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SCRUBBED_NAMES", "SCRUBBED_PREFIXES", "is_scrubbed", "scrubbed_environ"]

#: Every variable with one of these prefixes is removed (MASKKIT_VAULT_KEY, MASKKIT_API_KEY, MASKKIT_KEYS_FILE,
#: MASKKIT_HOME ...: with them a command could open the vault, or find the files that hold its key).
SCRUBBED_PREFIXES = ("MASKKIT_",)
#: Credentials of the model API (the proxy's own upstream key, an OAuth token).
SCRUBBED_NAMES = frozenset({"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"})


def is_scrubbed(name: str) -> bool:
    """True if a child maskkit starts for someone else must not inherit `name`."""
    return name.upper().startswith(SCRUBBED_PREFIXES) or name.upper() in SCRUBBED_NAMES


def scrubbed_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the scrubbed variables."""
    return {k: v for k, v in environ.items() if not is_scrubbed(k)}
