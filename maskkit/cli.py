"""The `maskkit` command. Thin: parses arguments, calls the library, writes bytes; no masking logic here.

`mask` and `unmask` copy stdin (or FILE) to stdout byte for byte apart from the replacements: nothing added,
nothing dropped, invalid UTF-8 carried through. On any failure they print nothing to stdout, a message to
stderr (never an original), and exit non-zero.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click

from maskkit._version import __version__
from maskkit.config import Settings, check_namespace, load_settings
from maskkit.core.pseudonyms import canonical
from maskkit.errors import ConfigError, MaskkitError
from maskkit.vault import Vault, VaultKey, generate_key, rotate_vault_key, stop_embedded_redis

__all__ = ["main"]


@contextmanager
def _errors() -> Iterator[None]:
    """Every failure becomes one stderr line and a non-zero exit; tracebacks could carry input text."""
    try:
        yield
    except MaskkitError as exc:
        click.echo(f"maskkit: {exc}", err=True)
        sys.exit(1)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"maskkit: {exc.strerror or type(exc).__name__}{where}", err=True)
        sys.exit(1)
    except Exception as exc:
        click.echo(f"maskkit: internal error ({type(exc).__name__}); nothing was written", err=True)
        sys.exit(2)


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


#: What a pseudonym looks like (canonical form): a prefix, a hyphen and at least three digits.
_PSEUDONYM_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*-[0-9]{3,}")


def _pseudonym_arg(text: str) -> str:
    """The PSEUDONYM argument in canonical form; ConfigError otherwise, naming the argument and never echoing it
    (what was typed may be an original, and Claude Code reads the CLI's stderr)."""
    candidate = canonical(text.strip())
    if not _PSEUDONYM_SHAPE.fullmatch(candidate):
        raise ConfigError(
            "the PSEUDONYM argument is not a pseudonym: pass one as it appears in masked text (e.g. ec2-001)"
        )
    return candidate


def _masker(ctx: click.Context, namespace: str | None) -> Any:
    from maskkit.masking import Masker

    settings = _settings(ctx)
    return Masker.from_settings(settings, namespace=check_namespace(namespace) if namespace else None)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskkit")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Mask AWS identifiers and secrets before Claude sees them; restore them in what comes back."""
    with _errors():
        ctx.obj = load_settings()


@main.command()
@_namespace_option
@click.argument("file", required=False)
@click.pass_context
def mask(ctx: click.Context, namespace: str | None, file: str | None) -> None:
    """Mask FILE (or stdin) to stdout."""
    with _errors():
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
    with _errors():
        text = _read(file)
        masker = _masker(ctx, namespace)
        masker.vault.ping()  # fail closed even when the text holds no pseudonym
        _write(masker.unmask(text))


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if timestamp else "-"


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
        entry = masker.vault.lookup(masker.namespace, _pseudonym_arg(pseudonym), reveal=reveal)
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Mappings per kind and namespace."""
    with _errors():
        counts = _vault(ctx).stats()
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
    return Vault.from_settings(_settings(ctx))


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; anything else needs a key).")
@click.option("--port", type=int, default=None, help="Port (default 8000; 0 picks a free one).")
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
        from maskkit.launch import run_claude

        sys.exit(run_claude(_settings(ctx), claude_args))


@main.command("audit")
@_namespace_option
@click.option("--kind", "kinds", multiple=True, help="Only these kinds (repeatable).")
@click.option("--reveal", is_flag=True, help="Show originals instead of redacted forms (they land on your terminal).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write CSV or Parquet instead.")
@click.pass_context
def audit_command(
    ctx: click.Context, namespace: str | None, kinds: tuple[str, ...], reveal: bool, output: Path | None
) -> None:
    """Every live mapping as a table (namespace, pseudonym, kind, first/last seen, TTL, hits, original redacted)."""
    with _errors():
        from rich.console import Console

        from maskkit.notebook.audit import audit as audit_frame
        from maskkit.notebook.audit import render_table, write

        frame = audit_frame(
            check_namespace(namespace) if namespace else None, list(kinds) or None, reveal, settings=_settings(ctx)
        )
        if output is not None:
            click.echo(f"wrote {len(frame)} rows to {write(frame, output)}")
        else:
            Console().print(render_table(frame))


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
        pseudonym = _pseudonym_arg(pseudonym)
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
        if not yes:
            click.confirm(f"Delete every mapping in namespace {space!r}?", abort=True)
        removed = _vault(ctx).purge(space)
        click.echo(f"purged {removed} mapping{'s' if removed != 1 else ''} from {space}")


@vault.command()
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the embedded Redis server (it saves to disk first)."""
    with _errors():
        home = _settings(ctx).home
        click.echo("stopped" if stop_embedded_redis(home) else "the embedded vault was not running")


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
        rotation = rotate_vault_key(settings, new_key=new_key, announce=click.echo)
        count = f"{rotation.rotated} mapping{'s' if rotation.rotated != 1 else ''}"
        if rotation.key_file is not None:
            click.echo(f"re-encrypted {count}; new key in {rotation.key_file}, old key kept in {rotation.backup}")
        else:
            click.echo(f"re-encrypted {count}; set MASKKIT_VAULT_KEY to the key printed above", err=True)


@vault.command("new-key")
def new_key() -> None:
    """Print a fresh vault key (for MASKKIT_VAULT_KEY). Back it up: without it nothing can be restored."""
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
        VaultKey.from_settings(settings)
        click.echo(str(settings.home / "vault.key"))


if __name__ == "__main__":  # pragma: no cover
    main()
