"""The `maskkit` command. Thin: parses arguments, calls the library, writes bytes; no masking logic here.

`mask` and `unmask` copy stdin (or FILE) to stdout byte for byte apart from the replacements: nothing added,
nothing dropped, invalid UTF-8 carried through. On any failure they print nothing to stdout, a message to
stderr (never an original), and exit non-zero.
"""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from maskkit._version import __version__
from maskkit.config import Settings, check_kinds, check_namespace, load_settings
from maskkit.core.pseudonyms import canonical
from maskkit.errors import ConfigError, MaskkitError, UnknownPseudonym

if TYPE_CHECKING:
    from maskkit.vault import Vault

__all__ = ["main", "program"]


@contextmanager
def _errors(code: int = 1) -> Iterator[None]:
    """Every failure becomes one stderr line and a non-zero exit; tracebacks could carry input text."""
    try:
        yield
    except MaskkitError as exc:
        click.echo(f"maskkit: {exc}", err=True)
        sys.exit(code)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"maskkit: {exc.strerror or type(exc).__name__}{where}", err=True)
        sys.exit(code)
    except Exception as exc:
        click.echo(f"maskkit: internal error ({type(exc).__name__}); nothing was written", err=True)
        sys.exit(2)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """`mask` and `unmask` without the cyclic collector: masking a large paste makes hundreds of thousands of
    small objects and no reference cycle worth collecting, and the collector would only walk them over and
    over. Restored afterwards (the command may run inside another program, e.g. click's test runner); memory is
    freed by reference counting as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _namespace_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-n",
        "--namespace",
        default=None,
        help="Namespace (tenant) to use; default MASKKIT_NAMESPACE or 'default'.",
    )(func)


def _read(file: str | None) -> str:
    data = Path(file).read_bytes() if file and file != "-" else sys.stdin.buffer.read()
    return data.decode("utf-8", "surrogateescape")


def _write(text: str, out: BinaryIO | None = None) -> None:
    stream = out or sys.stdout.buffer
    stream.write(text.encode("utf-8", "surrogateescape"))
    stream.flush()


def _masker(ctx: click.Context, namespace: str | None) -> Any:
    from maskkit.masking import Masker

    settings = _settings(ctx)
    return Masker.from_settings(settings, namespace=check_namespace(namespace) if namespace else None)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskkit")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Mask AWS identifiers and secrets before Claude sees them; restore them in what comes back."""
    with _errors(2 if ctx.invoked_subcommand == "scan" else 1):
        ctx.obj = load_settings()
    if ctx.invoked_subcommand != "proxy":  # the proxy logs them in its start-up lines
        for warning in ctx.obj.warnings:
            click.echo(f"maskkit: warning: {warning}", err=True)


@main.command()
@_namespace_option
@click.argument("file", required=False)
@click.pass_context
def mask(ctx: click.Context, namespace: str | None, file: str | None) -> None:
    """Mask FILE (or stdin) to stdout."""
    with _errors(), _collector_paused():
        text = _read(file)
        masker = _masker(ctx, namespace)
        masker.vault.ping()  # fail closed even when the text holds nothing to mask
        _write(masker.mask(text).text)


@main.command()
@_namespace_option
@click.argument("file", required=False)
@click.pass_context
def unmask(ctx: click.Context, namespace: str | None, file: str | None) -> None:
    """Restore the pseudonyms in FILE (or stdin) to stdout. Unknown pseudonyms are left as they are."""
    with _errors(), _collector_paused():
        text = _read(file)
        masker = _masker(ctx, namespace)
        masker.vault.ping()  # fail closed even when the text holds no pseudonym
        _write(masker.unmask(text))


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if timestamp else "-"


@main.command()
@_namespace_option
@click.argument("pseudonym")
@click.option("--reveal", is_flag=True, help="Also print the original (it lands on your terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lookup(ctx: click.Context, namespace: str | None, pseudonym: str, reveal: bool, as_json: bool) -> None:
    """Show what the vault knows about PSEUDONYM: kind, first/last seen, TTL left, hits."""
    with _errors():
        masker = _masker(ctx, namespace)
        if masker.kind_of(pseudonym.strip()) is None:
            raise UnknownPseudonym("the argument is not a pseudonym (they look like ec2-001: a prefix, '-', digits)")
        entry = masker.vault.lookup(masker.namespace, canonical(pseudonym.strip()), reveal=reveal)
        row = {
            "pseudonym": entry.pseudonym,
            "namespace": entry.namespace,
            "kind": entry.kind,
            "first_seen": _when(entry.first_seen),
            "last_seen": _when(entry.last_seen),
            "ttl_seconds": entry.ttl_seconds,
            "hits": entry.hits,
        }
        if reveal:
            row["original"] = entry.original
        if as_json:
            click.echo(json.dumps(row))
        else:
            for name, value in row.items():
                click.echo(f"{name:<12} {value}")


@main.command()
@click.option("-n", "--namespace", default=None, help="Only this namespace (default: every namespace).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, namespace: str | None, as_json: bool) -> None:
    """Mappings per kind and namespace."""
    with _errors():
        vault = _vault(ctx)
        counts = vault.stats()
        if namespace is not None:
            check_namespace(namespace)
            if namespace not in counts and namespace not in vault.namespaces():
                raise ConfigError("the namespace given with -n does not exist in this vault")
            counts = {namespace: counts.get(namespace, {})}
        if as_json:
            click.echo(json.dumps(counts, sort_keys=True))
            return
        if not counts:
            click.echo("the vault is empty")
        for namespace in sorted(counts):
            total = sum(counts[namespace].values())
            click.echo(f"{namespace}: {total} mapping{'s' if total != 1 else ''}")
            for kind, count in sorted(counts[namespace].items()):
                click.echo(f"  {kind:<32} {count}")


def _vault(ctx: click.Context) -> Vault:
    from maskkit.vault import Vault  # Redis and crypto load only for the commands that use the vault

    return Vault.from_settings(_settings(ctx))


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; anything else needs a key).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8000; 0 picks a free one)."
)
@click.option("--upstream", default=None, help="The Anthropic API URL (default https://api.anthropic.com).")
@_namespace_option
@click.option("--passthrough", is_flag=True, default=None, help="Forward the client's own Claude credentials.")
@click.option(
    "--via", type=click.Choice(["http", "litellm"]), default=None, help="Call the upstream over HTTP or LiteLLM."
)
@click.option("--port-file", type=click.Path(path_type=Path), default=None, help="Write the bound port here.")
@click.pass_context
def proxy(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    upstream: str | None,
    namespace: str | None,
    passthrough: bool | None,
    via: str | None,
    port_file: Path | None,
) -> None:
    """Run the masking proxy: point ANTHROPIC_BASE_URL at it and use Claude Code as before."""
    with _errors():
        from maskkit.proxy.serve import serve

        settings = _settings(ctx)
        changes: dict[str, Any] = {}
        if host is not None:
            changes["host"] = host
        if port is not None:
            changes["port"] = port
        if upstream is not None:
            changes["upstream"] = upstream.rstrip("/")
        if namespace is not None:
            changes["namespace"] = check_namespace(namespace)
        if passthrough:
            changes["passthrough"] = True
        if via is not None:
            changes["via"] = via
        serve(settings.evolve(**changes), port_file=port_file)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, claude_args: tuple[str, ...]) -> None:
    """Run the real `claude` CLI behind the masking proxy, e.g. `maskkit run -p "PROMPT" --output-format json`.

    Uses the proxy already running from this data dir, or starts one for the run.
    """
    with _errors():
        sys.exit(_run_claude(_settings(ctx), claude_args))


def _run_claude(settings: Settings, args: Sequence[str]) -> int:
    """`claude ARGS` with ANTHROPIC_BASE_URL pointing at the proxy (maskkit/launch.py); returns claude's exit code.

    The proxy restores what Claude Code receives, so Claude Code's own output (text, json, stream-json) is already
    restored: this only wires the environment and the proxy's lifetime."""
    import shutil
    import subprocess

    from maskkit.launch import proxy_for_run
    from maskkit.proxy.app import ensure_client_key
    from maskkit.vault.embedded import private_dir

    binary = os.environ.get("MASKKIT_CLAUDE_BIN") or shutil.which("claude")  # a setting (docs/settings.md)
    if not binary:
        raise ConfigError("the Claude Code CLI (`claude`) is not on PATH; npm install -g @anthropic-ai/claude-code")
    private_dir(settings.home)
    with proxy_for_run(settings) as url:
        env = {**os.environ, "ANTHROPIC_BASE_URL": url}
        if not settings.passthrough:
            env["ANTHROPIC_API_KEY"] = ensure_client_key(settings)[0]
            env.pop("ANTHROPIC_AUTH_TOKEN", None)
        return subprocess.run([binary, *args], env=env, check=False).returncode


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def kinds(ctx: click.Context, as_json: bool) -> None:
    """Every kind maskkit detects: its pseudonym prefix, an example, and whether it is enabled (MASKKIT_KINDS)."""
    with _errors():
        from maskkit.kinds import kind_rows

        settings = _settings(ctx)
        rows = kind_rows(settings.known_kinds, settings.kinds)
        if as_json:
            click.echo(json.dumps([
                {"kind": r.kind, "prefix": r.prefix, "pseudonym": f"{r.prefix}-001", "example": r.example,
                 "enabled": r.enabled} for r in rows
            ], indent=2))
            return
        width = max(len(r.kind) for r in rows)
        pwidth = max(len(r.prefix) for r in rows) + 4
        click.echo(f"{'KIND':<{width}}  {'PSEUDONYM':<{pwidth}}  {'ENABLED':<7}  EXAMPLE")
        for r in rows:
            enabled = "yes" if r.enabled else "NO"
            click.echo(f"{r.kind:<{width}}  {r.prefix + '-001':<{pwidth}}  {enabled:<7}  {r.example}")


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--markdown", is_flag=True, help="Print the settings table as docs/settings.md (no values).")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool, markdown: bool) -> None:
    """The effective settings and where each came from, the vault's state, key files, the Redis version.

    Secret settings show as `set` or `unset`, never their value. Also available as `maskkit doctor`.
    """
    with _errors():
        from maskkit.doctor import report

        if markdown:
            from maskkit.config import settings_markdown

            click.echo(settings_markdown(), nl=False)
            return
        found = report(_settings(ctx))
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        click.echo("settings:")
        for row in found["settings"]:
            click.echo(f"  {row['name']:<26} {row['value']:<30} ({row['source']})")
        click.echo("vault:")
        for name, value in found["vault"].items():
            click.echo(f"  {name:<26} {value}")
        click.echo("files:")
        for name, value in found["files"].items():
            click.echo(f"  {name:<26} {value}")
        for warning in found["warnings"]:
            click.echo(f"warning: {warning}")


main.add_command(config_command, "doctor")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
    help="Output format (SARIF 2.1.0 for code-scanning UIs).",
)
@click.option("--kinds", "only", default=None, help="Comma-separated kinds to look for (default: every kind).")
@click.option(
    "--ignore-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Allowlist (default: ./.maskkitignore if present): values, kind:NAME, path:GLOB lines.",
)
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], fmt: str, only: str | None, ignore_file: Path | None) -> None:
    """Find AWS identifiers and secrets in PATHS (files, directories, `-` for stdin). Stores nothing.

    Prints `path:line:col KIND preview` with the original redacted (`i-12...ef0`). Exit status: 1 when
    anything is found, 0 when clean, 2 on an error.
    """
    with _errors(2):
        from maskkit.config import _kinds as parse_kinds
        from maskkit.detect import Detector
        from maskkit.scan import Allowlist, Scanner, render

        settings = _settings(ctx)
        enabled = settings.kinds
        if only is not None:
            try:
                enabled = parse_kinds(only)
            except ValueError:
                raise ConfigError("--kinds must be a comma-separated list of kind names (`maskkit kinds`)") from None
            if enabled is not None:
                check_kinds(enabled, settings.known_kinds, "--kinds")
        try:
            detector = Detector(enabled=enabled, mask_private_ips=settings.mask_private_ips)
            if settings.custom_patterns:
                detector = detector.with_patterns(settings.custom_patterns)
            if settings.custom_rules:
                detector = detector.with_rules(settings.custom_rules)
        except ValueError:
            raise ConfigError("MASKKIT_PATTERNS: the custom patterns clash with the built-in kinds") from None
        default_ignore = Path(".maskkitignore")
        source = ignore_file or (default_ignore if default_ignore.is_file() else None)
        allow = Allowlist.read(source) if source is not None else Allowlist()
        scanner = Scanner(detector, allow)
        scanner.scan_paths(paths, sys.stdin.buffer)
        sys.stdout.write(render(scanner.findings, fmt, files=scanner.files))
        sys.stdout.flush()
        for error in scanner.errors:
            click.echo(f"maskkit: {error}", err=True)
        if scanner.errors:
            sys.exit(2)
        sys.exit(1 if scanner.findings else 0)


@main.command("audit")
@_namespace_option
@click.option("--kind", "kinds", multiple=True, help="Only this kind (exact name, see `maskkit kinds`; repeatable).")
@click.option("--reveal", is_flag=True, help="Show originals instead of redacted forms (they land on your terminal).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None, help="Write FILE.csv or FILE.parquet instead."
)
@click.pass_context
def audit_command(
    ctx: click.Context, namespace: str | None, kinds: tuple[str, ...], reveal: bool, output: Path | None
) -> None:
    """Every live mapping (namespace, pseudonym, kind, first/last seen, TTL, hits, original redacted).

    On a terminal: a table. Piped or redirected: tab-separated plain ASCII with a header row.
    """
    with _errors():
        settings = _settings(ctx)
        check_kinds(kinds, settings.known_kinds, "--kind")
        from maskkit._extras import require

        require("pandas", "notebook", "maskkit audit")
        from maskkit.notebook.audit import audit as audit_frame
        from maskkit.notebook.audit import render_table, write

        frame = audit_frame(
            check_namespace(namespace) if namespace else None, list(kinds) or None, reveal, settings=settings
        )
        if output is not None:
            count = len(frame)
            click.echo(f"wrote {count} row{'' if count == 1 else 's'} to {write(frame, output)}")
        elif sys.stdout.isatty():
            from rich.console import Console

            Console().print(render_table(frame))
        else:
            _write(_tsv(frame, reveal))


def _tsv(frame: Any, reveal: bool) -> str:
    """An audit frame as ASCII TSV: ISO timestamps, `...` in redactions, escapes for tab/newline/non-ASCII."""
    columns = ["namespace", "pseudonym", "kind", "first_seen", "last_seen", "ttl_seconds", "hits", "original"]
    lines = ["\t".join(columns)]
    for row in frame.itertuples(index=False):
        original = str(row.original)
        if reveal:
            original = original.encode("ascii", "backslashreplace").decode("ascii")
            original = original.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        else:
            original = original.replace("\u2026", "...")
        cells = [
            str(row.namespace),
            str(row.pseudonym),
            str(row.kind),
            _iso(row.first_seen),
            _iso(row.last_seen),
            str(int(row.ttl_seconds)),
            str(int(row.hits)),
            original,
        ]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def _iso(value: Any) -> str:
    try:
        return str(value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    except (AttributeError, ValueError):  # None, NaT
        return "-"


@main.group()
def vault() -> None:
    """Manage the vault: forget, purge, stop the embedded server, keys."""


@vault.command()
@_namespace_option
@click.argument("pseudonym")
@click.pass_context
def forget(ctx: click.Context, namespace: str | None, pseudonym: str) -> None:
    """Delete one mapping. Text masked with it can no longer be restored."""
    with _errors():
        settings = _settings(ctx)
        space = check_namespace(namespace or settings.namespace)
        if _masker(ctx, space).kind_of(pseudonym.strip()) is None:
            raise UnknownPseudonym("the argument is not a pseudonym (they look like ec2-001: a prefix, '-', digits)")
        pseudonym = canonical(pseudonym.strip())
        if not _vault(ctx).forget(space, pseudonym):
            raise ConfigError(f"{pseudonym} is not in namespace {space!r}")
        click.echo(f"forgot {pseudonym} in {space}")


@vault.command()
@_namespace_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def purge(ctx: click.Context, namespace: str | None, yes: bool) -> None:
    """Delete every mapping of a namespace."""
    with _errors():
        space = check_namespace(namespace or _settings(ctx).namespace)
        store = _vault(ctx)
        if space not in store.namespaces():
            raise ConfigError("the namespace to purge does not exist in this vault; nothing was deleted")
        if not yes:
            click.confirm(f"Delete every mapping in namespace {space!r}?", abort=True)
        removed = store.purge(space)
        click.echo(f"purged {removed} mapping{'s' if removed != 1 else ''} from {space}")


@vault.command()
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the embedded Redis server (it saves to disk first)."""
    with _errors():
        home = _settings(ctx).home
        from maskkit.vault import stop_embedded_redis

        click.echo("stopped" if stop_embedded_redis(home) else "the embedded vault was not running")


@vault.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether the embedded Redis is running (it stays up between commands), and where."""
    with _errors():
        from maskkit.vault.embedded import embedded_status

        settings = _settings(ctx)
        if settings.redis_url:
            click.echo("the vault is an external Redis (MASKKIT_REDIS_URL); no embedded server is used")
            return
        info = embedded_status(settings.home)
        if info["running"]:
            click.echo(f"the embedded Redis is running (pid {info['pid']}, socket {info['socket']}); "
                       "`maskkit vault stop` stops it")
        else:
            click.echo("the embedded Redis is not running; the next command that needs the vault starts it")


@vault.command("rotate-key")
@click.option(
    "--new-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use the key in this file instead of a fresh one (e.g. to finish an interrupted rotation).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rotate_key(ctx: click.Context, new_key_file: Path | None, yes: bool) -> None:
    """Re-encrypt every mapping under a new vault key; every pseudonym stays the same.

    With vault.key, the new key replaces it and the old one is kept as vault.key.old (both 0600). With
    MASKKIT_VAULT_KEY, the new key is printed on stdout before anything changes: set it for every maskkit
    process. Other processes are refused while it runs, and afterwards until restarted with the new key.
    """
    with _errors():
        settings = _settings(ctx)
        if not yes:
            click.confirm("Re-encrypt every mapping under a new vault key?", abort=True, err=True)
        new_key = new_key_file.read_text(encoding="ascii").strip() if new_key_file else None
        from maskkit.vault import rotate_vault_key

        rotation = rotate_vault_key(settings, new_key=new_key, announce=click.echo)
        count = f"{rotation.rotated} mapping{'s' if rotation.rotated != 1 else ''}"
        if rotation.key_file is not None:
            click.echo(f"re-encrypted {count}; new key in {rotation.key_file}, old key kept in {rotation.backup}")
        else:
            click.echo(f"re-encrypted {count}; set MASKKIT_VAULT_KEY to the key printed above", err=True)


@vault.command("new-key")
def new_key() -> None:
    """Print a fresh vault key (for MASKKIT_VAULT_KEY). Back it up: without it nothing can be restored."""
    from maskkit.vault import generate_key

    click.echo(generate_key())


@vault.command("key-path")
@click.pass_context
def key_path(ctx: click.Context) -> None:
    """Print where the vault key file lives (creating the key if there is none yet)."""
    with _errors():
        settings = _settings(ctx)
        if settings.vault_key:
            click.echo("the vault key comes from MASKKIT_VAULT_KEY")
            return
        from maskkit.vault import VaultKey

        VaultKey.from_settings(settings)
        click.echo(str(settings.home / "vault.key"))


def program() -> None:
    """The `maskkit` program (its console script, and `python -m maskkit`): `main` in a process of its own, whose
    heap is frozen at exit, so the interpreter's last collection does not walk what a large paste left behind
    (66 -> 16 ms after the output of a 1.6 MB paste). Not done by `main`, which may run inside another program."""
    atexit.register(gc.freeze)
    main()


if __name__ == "__main__":  # pragma: no cover
    program()
