"""The maskkit MCP server: one `MCPServer`, a typed lifespan that opens the vault, and thin tools over maskkit.
I/O edge. Nothing happens at import time: settings are read and the vault is opened when a session starts.

Tools never put an original into a result unless the reveal rule allows it (see reveal.py), and never log
one: errors and logs name kinds, pseudonyms, sizes and what to do next. One server serves its allowed namespaces
only (its own, or MASKKIT_MCP_NAMESPACES) and names no other in a result or an error. The file tools and
run_unmasked stay out of maskkit's own data directory (its keys, its settings file, its vault), and maskkit's own
secrets are replaced in command output even when detection would miss them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from maskkit._version import __version__
from maskkit.config import Settings, check_namespace, load_settings
from maskkit.core.pseudonyms import canonical
from maskkit.errors import ConfigError, MaskkitError
from maskkit.launch import ProxyLauncher
from maskkit.masking import Masker

from .reveal import AUDIT_FILE, AuditLog, Decision, RevealGate, refusal
from .shell import FileTooLarge, read_text_file, run_command, write_text_file

__all__ = ["AppContext", "Unconfigured", "lifespan", "server"]

log = logging.getLogger("maskkit.mcp")

MAX_TEXT_BYTES = 5 * 2**20
MAX_FILE_BYTES = 10 * 2**20
MAX_COMMAND_OUTPUT = 2**20
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 600.0


@dataclass
class AppContext:
    """What every tool shares for the life of the server: settings, the masker (and its vault), the reveal
    gate, the audit log and the proxy launcher."""

    settings: Settings
    masker: Masker
    gate: RevealGate
    audit: AuditLog
    launcher: ProxyLauncher

    @property
    def namespaces(self) -> frozenset[str]:
        """The namespaces this server serves: MASKKIT_MCP_NAMESPACES, plus its own (MASKKIT_NAMESPACE)."""
        return self.settings.mcp_namespaces | {self.masker.namespace}

    @property
    def home(self) -> Path:
        return self.settings.home.expanduser().resolve()


@dataclass(frozen=True)
class Unconfigured:
    """The lifespan's value when the settings are invalid: the server still starts (so Claude Code shows it
    connected) and every tool answers with the configuration error and how to fix it."""

    error: str


Lifespan = AppContext | Unconfigured
Ctx = Context[Lifespan, Any]


@asynccontextmanager
async def lifespan(_: MCPServer[Lifespan]) -> AsyncIterator[Lifespan]:
    """Open the masker and vault from MASKKIT_* settings; on exit stop a non-detached proxy and close the vault.

    The vault connects lazily, on the first tool call, so a vault that is down shows up as a tool error.
    """
    try:
        settings = load_settings()
        masker = Masker.from_settings(settings)
    except MaskkitError as exc:
        log.error("maskkit is not configured: %s", exc)
        yield Unconfigured(str(exc))
        return
    except OSError as exc:
        log.error("maskkit cannot use its data directory: %s", exc.strerror)
        yield Unconfigured(f"maskkit cannot use its data directory (MASKKIT_HOME): {exc.strerror}")
        return
    app = AppContext(
        settings=settings,
        masker=masker,
        gate=RevealGate(masker.vault.key, base_url=settings.anthropic_base_url, allow_reveal=settings.allow_reveal),
        audit=AuditLog(settings.home / AUDIT_FILE),
        launcher=ProxyLauncher(
            settings.home, default_upstream=settings.upstream, api_key_configured=settings.api_key is not None
        ),
    )
    try:
        yield app
    finally:
        with anyio.CancelScope(shield=True):
            await app.launcher.aclose()
            await masker.vault.aclose()


server: MCPServer[Lifespan] = MCPServer(
    "maskkit",
    title="maskkit: AWS identifiers masked",
    version=__version__,
    instructions=(
        "maskkit replaces AWS identifiers and secrets with stable typed pseudonyms (ec2-001, acct-002, ...) "
        "and restores them. Read files with mask_file and run commands with run_unmasked to see AWS data "
        "masked; write real files with unmask_to_file. Pseudonyms are stable: the same original always "
        "has the same pseudonym in a namespace."
    ),
    lifespan=lifespan,
    log_level="WARNING",
)


# --- helpers -----------------------------------------------------------------------------------------------------


def _app(ctx: Ctx) -> AppContext:
    state = ctx.request_context.lifespan_context
    if isinstance(state, Unconfigured):
        raise ToolError(
            f"maskkit is not configured: {state.error}. Fix the MASKKIT_* setting in the environment of this MCP "
            "server (claude mcp add -e NAME=VALUE ...) or in maskkit.env, then restart it (/mcp in Claude Code)."
        )
    return state


@contextlib.contextmanager
def _tool_errors(tool: str) -> Iterator[None]:
    """maskkit errors become tool errors with their (original-free) message; anything else becomes a generic
    tool error naming only the exception type, because foreign messages may quote the text they failed on."""
    try:
        yield
    except ToolError:
        raise
    except MaskkitError as exc:
        raise ToolError(str(exc)) from None
    except Exception as exc:
        log.error("%s failed: %s", tool, type(exc).__name__)
        raise ToolError(f"{tool} failed with an internal error ({type(exc).__name__}); nothing was revealed") from None


def _check_text(text: str, what: str = "text") -> None:
    if not text:
        raise ToolError(f"{what} is empty: pass the text itself")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ToolError(
            f"{what} is {size / 2**20:.1f} MB; the limit is {MAX_TEXT_BYTES // 2**20} MB per call: split it into "
            "smaller pieces (or, for a file, use mask_file)"
        )


async def _masker_for(app: AppContext, namespace: str | None) -> Masker:
    """The masker of `namespace` (default: the server's). Only the namespaces this server serves are reachable,
    and the error names only those (never the one asked for, nor any other the vault holds). Another allowed
    namespace must exist already: a typo must not start a fresh namespace whose ec2-001 means something else."""
    if not namespace or namespace == app.masker.namespace:
        return app.masker
    allowed = ", ".join(sorted(app.namespaces))
    try:
        check_namespace(namespace)
    except ConfigError as exc:
        raise ToolError(f"invalid namespace: {exc}") from None
    if namespace not in app.namespaces:
        raise ToolError(
            f"this MCP server does not serve that namespace; it serves: {allowed}. Omit namespace to use its "
            f"own ({app.masker.namespace}); the user can allow more with MASKKIT_MCP_NAMESPACES."
        )
    known = await anyio.to_thread.run_sync(app.masker.vault.namespaces)
    if namespace not in known:
        raise ToolError(
            f"that namespace holds nothing yet. This server serves: {allowed}. Omit namespace to use its own "
            f"({app.masker.namespace})."
        )
    return app.masker.for_namespace(namespace)


#: Names of maskkit's own files that hold keys or settings: a command that names one is refused.
_OWN_FILES = ("vault.key", "proxy.key", "maskkit.env", "mcp-http.token")


def _outside_home(app: AppContext, target: Path, what: str = "path") -> Path:
    """`target` if it resolves (symlinks followed) outside maskkit's data directory; else ToolError. The data
    directory holds the vault key, the proxy's client key, maskkit.env (settings: a written one could switch
    reveals on or masking off) and the vault itself, none of which a model may read or write."""
    resolved = target.expanduser().resolve()
    if resolved == app.home or resolved.is_relative_to(app.home):
        raise ToolError(
            f"that {what} is inside maskkit's data directory (MASKKIT_HOME), which holds maskkit's keys and "
            "settings: the tools never read or write there"
        )
    return target


def _own_secrets(settings: Settings) -> list[str]:
    """maskkit's own secrets (vault key, client keys, the MCP HTTP token), to be blanked out of command output."""
    found = [settings.vault_key or "", settings.api_key or "", *settings.key_namespaces]
    for name in ("vault.key", "proxy.key", "mcp-http.token"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            found.append((settings.home / name).read_text(encoding="ascii").strip())
    return sorted({s for s in found if len(s) >= 8}, key=len, reverse=True)


def _blank_secrets(text: str, secrets_: list[str]) -> str:
    for secret in secrets_:
        text = text.replace(secret, "[maskkit secret removed]")
    return text


def _replace_originals(text: str, reverse: dict[str, str]) -> str:
    """Every original revealed to a command, written back as its pseudonym (longest first): the command's output
    is masked for these even when detection would not find them (a bucket name on its own)."""
    for pseudonym, original in sorted(reverse.items(), key=lambda item: len(item[1]), reverse=True):
        if len(original) >= 4:
            text = text.replace(original, pseudonym)
    return text


def _redact(masker: Masker, text: str) -> str:
    """`text` with everything detection finds (but pseudonyms) replaced by `<KIND>`: for the audit log."""
    spans = [span for span in masker.spans(text) if span.kind != "PSEUDONYM_LITERAL"]
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        text = text[: span.start] + f"<{span.kind}>" + text[span.end :]
    return text


def _tokens(masker: Masker, text: str) -> list[str]:
    return list(dict.fromkeys(canonical(m.group()) for m in masker.grammar.finditer(text)))


async def _restore(masker: Masker, text: str) -> tuple[str, dict[str, str], list[str]]:
    """(restored text, pseudonym -> original used, pseudonyms found but not issued in this namespace)."""
    tokens = _tokens(masker, text)
    reverse = await masker.vault.aoriginals_for(masker.namespace, tokens)
    unknown = [t for t in tokens if t not in reverse]
    return masker.unmask_with(text, reverse), reverse, unknown


def _pseudonym(masker: Masker, text: str) -> str:
    """The canonical form of one whole pseudonym with a known prefix (`EC2-001` -> `ec2-001`); else ToolError."""
    candidate = canonical(text.strip())
    if not masker.grammar.pattern.fullmatch(candidate) or masker.kind_of(candidate) is None:
        raise ToolError(
            "not a pseudonym: pass one pseudonym exactly as it appears in masked text, a known prefix, a "
            "hyphen and at least three digits (e.g. ec2-001)"
        )
    return candidate


def _client(ctx: Ctx) -> dict[str, str] | None:
    """The MCP client's name and version, for the audit log."""
    params = getattr(ctx.request_context.session, "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return None
    return {"name": str(info.name), "version": str(info.version)}


def _over_http(ctx: Ctx) -> bool:
    return ctx.request_context.request is not None


async def _gate(app: AppContext, ctx: Ctx, what: str) -> Decision:
    decision = await app.gate.check(over_http=_over_http(ctx))
    if not decision.allowed:
        fallback = f"http://{app.settings.host}:{app.settings.port}"
        raise ToolError(refusal(decision, what, app.launcher.proxy_url(fallback)))
    return decision


def _audit(app: AppContext, ctx: Ctx, **fields: Any) -> None:
    """Record a reveal before it happens; if the record cannot be written, refuse (no unrecorded reveals)."""
    try:
        app.audit.record(client=_client(ctx), **fields)
    except OSError as exc:
        raise ToolError(
            f"the reveal audit log ({app.audit.path}) cannot be written ({exc.strerror}); nothing was revealed"
        ) from None


def _when(timestamp: float) -> str | None:
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _summary(namespace: str, pseudonyms: list[tuple[str, str]], **extra: Any) -> TextContent:
    body = {
        "namespace": namespace,
        "pseudonyms": [{"kind": kind, "pseudonym": p} for kind, p in pseudonyms],
        **extra,
    }
    return TextContent(type="text", text=json.dumps(body))


def _path(path: str) -> Path:
    if not path or not path.strip():
        raise ToolError("path is empty: pass an absolute file path")
    return Path(path).expanduser()


Namespace = Annotated[
    str | None,
    Field(
        description="Vault namespace (tenant). Omit it to use this server's namespace; another one must be "
        "among those this server serves (MASKKIT_MCP_NAMESPACES)."
    ),
]


# --- tools --------------------------------------------------------------------------------------------------------


@server.tool(
    structured_output=False,
    annotations=ToolAnnotations(title="Mask text", read_only_hint=False, destructive_hint=False, idempotent_hint=True),
)
async def mask(
    ctx: Ctx,
    text: Annotated[str, Field(description="The text to mask (up to 5 MB).")],
    namespace: Namespace = None,
) -> CallToolResult:
    """Replace every AWS identifier and secret in `text` with a typed pseudonym, e.g. an instance id becomes
    ec2-001 and an account id acct-001.

    The first content block is the masked text, exactly as masked; the second is JSON listing the pseudonyms in
    it, each with its kind. Originals are never returned. The same original always gets the same pseudonym in
    a namespace, so masked texts stay comparable across calls. To read a file masked, use mask_file instead.
    """
    app = _app(ctx)
    _check_text(text)
    with _tool_errors("mask"):
        masker = await _masker_for(app, namespace)
        result = await masker.amask(text)
    return CallToolResult(
        content=[TextContent(type="text", text=result.text), _summary(masker.namespace, result.pseudonyms)]
    )


@server.tool(
    structured_output=False,
    annotations=ToolAnnotations(title="Unmask text", read_only_hint=True, open_world_hint=False),
)
async def unmask(
    ctx: Ctx,
    text: Annotated[str, Field(description="Text holding pseudonyms such as ec2-001 (up to 5 MB).")],
    namespace: Namespace = None,
) -> CallToolResult:
    """Restore the original AWS identifiers behind the pseudonyms in `text` (ec2-001 -> the real instance id).

    Originals are only returned when this conversation provably goes through the maskkit proxy (which masks
    them again before they leave the machine) or the user set MASKKIT_ALLOW_REVEAL=1; otherwise this fails with
    instructions for the user. Every reveal is recorded in an audit log. To put originals in a file or a
    command without seeing them, use unmask_to_file or run_unmasked. The first content block is the restored
    text; the second is JSON with how many pseudonyms were restored and which were not found.
    """
    app = _app(ctx)
    _check_text(text)
    with _tool_errors("unmask"):
        masker = await _masker_for(app, namespace)
        decision = await _gate(app, ctx, "unmask")
        restored, reverse, unknown = await _restore(masker, text)
        if reverse:
            _audit(
                app,
                ctx,
                tool="unmask",
                namespace=masker.namespace,
                pseudonyms=reverse,
                basis=decision.basis,
                target="model",
            )
    note = {"namespace": masker.namespace, "restored": len(reverse), "not_found": unknown}
    return CallToolResult(
        content=[TextContent(type="text", text=restored), TextContent(type="text", text=json.dumps(note))]
    )


@server.tool(annotations=ToolAnnotations(title="Look up a pseudonym", read_only_hint=True, open_world_hint=False))
async def lookup(
    ctx: Ctx,
    pseudonym: Annotated[str, Field(description="One pseudonym as it appears in masked text, e.g. ec2-001.")],
    namespace: Namespace = None,
    reveal: Annotated[
        bool, Field(description="Also return the original; only allowed behind the maskkit proxy.")
    ] = False,
) -> dict[str, Any]:
    """What the vault knows about one pseudonym: its kind, namespace, first and last use, seconds until it
    expires and how often it was used.

    Who may see an original: only a model whose conversation provably goes through the maskkit proxy (the
    proxy masks the original again before anything leaves the machine), or any model if the user set
    MASKKIT_ALLOW_REVEAL=1. So `reveal=true` returns the original only in those cases and is audited; otherwise
    it fails with instructions for the user. Without `reveal` the original is never included.
    """
    app = _app(ctx)
    with _tool_errors("lookup"):
        masker = await _masker_for(app, namespace)
        candidate = _pseudonym(masker, pseudonym)
        decision = await _gate(app, ctx, "lookup with reveal=true") if reveal else None
        entry = await anyio.to_thread.run_sync(
            lambda: masker.vault.lookup(masker.namespace, candidate, reveal=decision is not None)
        )
        if decision is not None:
            _audit(
                app,
                ctx,
                tool="lookup",
                namespace=masker.namespace,
                pseudonyms=[candidate],
                basis=decision.basis,
                target="model",
            )
    row: dict[str, Any] = {
        "pseudonym": entry.pseudonym,
        "namespace": entry.namespace,
        "kind": entry.kind,
        "first_seen": _when(entry.first_seen),
        "last_seen": _when(entry.last_seen),
        "ttl_seconds": entry.ttl_seconds,
        "hits": entry.hits,
    }
    if decision is not None:
        row["original"] = entry.original
    return row


@server.tool(annotations=ToolAnnotations(title="Vault statistics", read_only_hint=True, open_world_hint=False))
async def vault_stats(ctx: Ctx) -> dict[str, Any]:
    """How many live mappings the vault holds in the namespaces this server serves, per namespace and per kind
    (no originals, no pseudonyms)."""
    app = _app(ctx)
    with _tool_errors("vault_stats"):
        counts = await anyio.to_thread.run_sync(app.masker.vault.stats)
    counts = {space: kinds for space, kinds in counts.items() if space in app.namespaces}
    return {
        "default_namespace": app.masker.namespace,
        "total": sum(sum(kinds.values()) for kinds in counts.values()),
        "namespaces": {
            space: {"total": sum(kinds.values()), "kinds": dict(sorted(kinds.items()))}
            for space, kinds in sorted(counts.items())
        },
    }


@server.tool(
    structured_output=False,
    annotations=ToolAnnotations(title="Read a file masked", read_only_hint=True, open_world_hint=False),
)
async def mask_file(
    ctx: Ctx,
    path: Annotated[str, Field(description="Absolute path of a text file (up to 10 MB).")],
    namespace: Namespace = None,
) -> CallToolResult:
    """Read a text file with every AWS identifier and secret masked. Use this instead of the Read tool for any
    file that may hold AWS data (configs, terraform state, logs, CLI output, .env files).

    The first content block is the file's masked text; the second is JSON with the pseudonyms in it, the file's
    size and how many invalid UTF-8 sequences were replaced. Files over 10 MB and binary files are refused.
    """
    app = _app(ctx)
    target = _outside_home(app, _path(path))
    with _tool_errors("mask_file"):
        masker = await _masker_for(app, namespace)
        try:
            text, size, replaced = await anyio.to_thread.run_sync(read_text_file, target, MAX_FILE_BYTES)
        except FileTooLarge as exc:
            raise ToolError(f"{exc}: read a part of it with run_unmasked (e.g. head -c) instead") from None
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        except IsADirectoryError:
            raise ToolError("that path is a directory: pass a file (run_unmasked can list a directory)") from None
        except FileNotFoundError:
            raise ToolError("no such file: check the path (relative paths start in the MCP server's folder)") from None
        except PermissionError:
            raise ToolError("permission denied reading that file") from None
        result = await masker.amask(text)
    return CallToolResult(
        content=[
            TextContent(type="text", text=result.text),
            _summary(masker.namespace, result.pseudonyms, bytes=size, invalid_utf8_replaced=replaced),
        ]
    )


@server.tool(annotations=ToolAnnotations(title="Write a file unmasked", destructive_hint=True, open_world_hint=False))
async def unmask_to_file(
    ctx: Ctx,
    text: Annotated[str, Field(description="Text with pseudonyms to restore and write (up to 5 MB).")],
    path: Annotated[str, Field(description="Absolute path of the file to write; its folder must exist.")],
    overwrite: Annotated[bool, Field(description="Replace the file if it exists.")] = False,
    namespace: Namespace = None,
) -> dict[str, Any]:
    """Write `text` to a file with every pseudonym restored to its original, without showing you the result.

    Use it to produce real configs, scripts or terraform from masked text. Only a summary comes back (bytes
    written, pseudonyms restored, pseudonyms not found), never the content. An existing file is only replaced
    with overwrite=true; a new file is created readable by the user only (0600). Do not read the file back with
    the Read tool: it holds originals; use mask_file.
    """
    app = _app(ctx)
    _check_text(text)
    target = _outside_home(app, _path(path))
    with _tool_errors("unmask_to_file"):
        masker = await _masker_for(app, namespace)
        restored, reverse, unknown = await _restore(masker, text)
        if reverse:
            shown_path = (await masker.amask(str(target))).text
            _audit(
                app,
                ctx,
                tool="unmask_to_file",
                namespace=masker.namespace,
                pseudonyms=reverse,
                basis="originals written to a file, not returned",
                target="file",
                detail={"path": shown_path},
            )
        try:
            written = await anyio.to_thread.run_sync(lambda: write_text_file(target, restored, overwrite=overwrite))
        except FileExistsError:
            raise ToolError("that file exists: pass overwrite=true to replace it, or choose another path") from None
        except IsADirectoryError:
            raise ToolError("that path is a directory: pass a file path") from None
        except FileNotFoundError:
            raise ToolError("the folder of that path does not exist: create it first") from None
        except PermissionError:
            raise ToolError("permission denied writing that file") from None
    return {
        "bytes_written": written,
        "pseudonyms_restored": len(reverse),
        "not_found": unknown,
        "namespace": masker.namespace,
    }


@server.tool(
    annotations=ToolAnnotations(title="Run a command unmasked", destructive_hint=True, open_world_hint=True),
)
async def run_unmasked(
    ctx: Ctx,
    command: Annotated[str, Field(description="A shell command (sh -c) that may contain pseudonyms.")],
    timeout: Annotated[
        float, Field(description="Seconds before the command is killed (1-600).", gt=0)
    ] = DEFAULT_TIMEOUT,
    cwd: Annotated[str | None, Field(description="Working directory; default: the MCP server's.")] = None,
    namespace: Namespace = None,
) -> dict[str, Any]:
    """Run a shell command with its pseudonyms restored to the real AWS identifiers, and get its stdout,
    stderr and exit code back masked. Use it instead of Bash for commands that need real identifiers (aws ...,
    terraform, kubectl) or print AWS data (cat of a config or log).

    Output is cut at 1 MB per stream and the command is killed after `timeout` seconds (default 60, at most
    600); `timed_out` and `*_truncated` say when that happened. The command runs with /bin/sh in the MCP
    server's environment, without maskkit's own keys.
    """
    app = _app(ctx)
    _check_text(command, "command")
    if timeout > MAX_TIMEOUT:
        raise ToolError(f"timeout is at most {MAX_TIMEOUT:.0f} seconds")
    with _tool_errors("run_unmasked"):
        masker = await _masker_for(app, namespace)
        restored, reverse, unknown = await _restore(masker, command)
        home = app.settings.home.expanduser()
        if any(marker in restored for marker in {str(home), str(app.home), *_OWN_FILES}):
            raise ToolError(
                "that command names maskkit's data directory or one of its key or settings files; run_unmasked "
                "never touches them (they hold the keys that protect the originals)"
            )
        workdir = (await _restore(masker, cwd))[0] if cwd else None
        if workdir is not None:
            _outside_home(app, Path(workdir), "cwd")
            if not Path(workdir).expanduser().is_dir():
                raise ToolError("cwd is not a directory")
        if reverse:
            _audit(
                app,
                ctx,
                tool="run_unmasked",
                namespace=masker.namespace,
                pseudonyms=reverse,
                basis="originals passed to a command, output masked",
                target="command",
                detail={"command": _redact(masker, command)},  # as the model wrote it; never the restored one
            )
        try:
            result = await run_command(
                restored,
                timeout=timeout,
                max_output=MAX_COMMAND_OUTPUT,
                cwd=str(Path(workdir).expanduser()) if workdir else None,
            )
        except OSError as exc:
            raise ToolError(f"the command could not be started: {exc.strerror or type(exc).__name__}") from None
        own = _own_secrets(app.settings)
        outputs = [_blank_secrets(out, own) for out in (result.stdout, result.stderr)]
        masked, _, kinds = await masker.amask_texts(outputs)
        # After masking (a pseudonym written before it would be masked again as a literal): originals detection
        # did not find, but which this very command was given, go back to their pseudonyms.
        masked = [_replace_originals(text, reverse) for text in masked]
    return {
        "exit_code": result.exit_code,
        "stdout": masked[0],
        "stderr": masked[1],
        "timed_out": result.timed_out,
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
        "pseudonyms_restored": len(reverse),
        "not_found": unknown,
        "output_pseudonyms": len(kinds),
    }


@server.tool(annotations=ToolAnnotations(title="Start the masking proxy", open_world_hint=True))
async def start_proxy(
    ctx: Ctx,
    port: Annotated[int | None, Field(description="Port on 127.0.0.1; omit or 0 to pick a free one.")] = None,
    upstream: Annotated[
        str | None, Field(description="The Anthropic API URL; default MASKKIT_UPSTREAM or https://api.anthropic.com.")
    ] = None,
    detach: Annotated[bool, Field(description="Keep the proxy running after this MCP server stops.")] = False,
) -> dict[str, Any]:
    """Start the maskkit masking proxy on 127.0.0.1 (a `maskkit proxy` process, logging to proxy.log in the
    maskkit data directory) and wait until it answers.

    Returns the exact ANTHROPIC_BASE_URL and where the ANTHROPIC_API_KEY is kept (never the key itself): the
    user must start Claude Code again with those two settings for the conversation to be masked, which also
    lets unmask and lookup reveal originals. The proxy stops with this MCP server unless detach=true.
    """
    app = _app(ctx)
    with _tool_errors("start_proxy"):
        return await app.launcher.start(port or None, upstream or None, detach)


@server.tool(annotations=ToolAnnotations(title="Masking proxy status", read_only_hint=True, open_world_hint=False))
async def proxy_status(ctx: Ctx) -> dict[str, Any]:
    """Whether the masking proxy started from this MCP server (or a detached one) runs and answers /health,
    the settings Claude Code needs to use it, and whether this conversation already goes through a maskkit
    proxy (which is what unmask needs)."""
    app = _app(ctx)
    with _tool_errors("proxy_status"):
        status = await app.launcher.status()
        decision = await app.gate.check(over_http=_over_http(ctx))
    status["conversation_proxied"] = decision.allowed and decision.basis.startswith("maskkit proxy")
    status["reveal_allowed"] = decision.allowed
    status["reveal_basis"] = decision.basis
    return status


@server.tool(annotations=ToolAnnotations(title="Stop the masking proxy", destructive_hint=True, open_world_hint=False))
async def stop_proxy(ctx: Ctx) -> dict[str, Any]:
    """Stop the masking proxy started by start_proxy (also a detached one from an earlier session). A
    conversation that goes through it stops working until Claude Code is started without it."""
    app = _app(ctx)
    with _tool_errors("stop_proxy"):
        return await app.launcher.stop()
