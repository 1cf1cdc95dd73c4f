"""`%%safeclaude`: ask Claude from IPython/Jupyter; AWS identifiers are masked before the call, restored after.

I/O edge. The cell is masked in-process with the same `Masker` the proxy uses (no proxy in a notebook), sent
through LiteLLM, and the answer is restored and displayed. If masking fails (vault down, detector error) the
error propagates into the cell and nothing is sent. LiteLLM is imported on first use, never at `%load_ext`.

    %load_ext maskkit
    %%safeclaude --model claude-sonnet-4-5 -o answer
    Why does i-1234567890abcdef0 lose its route to vpc-0a1b2c3d4e5f67890 after {change_id}?

Interpolation: `{name}` and `{name.attr}` are replaced by the value of `name` in the user namespace *before*
masking, so interpolated identifiers are masked too. Only simple names and public attributes are looked up (no
indexing, calls or expressions). Everything else is left exactly as written: `{` `}` that are not such a
placeholder (JSON, Go templates), `{name}` when `name` is not defined, and `${...}` (shell, Terraform,
CloudFormation). `{{name}}` sends the literal `{name}`. `--no-interpolate` turns it off. The magic line itself is
not expanded by IPython (`$x` stays `$x`); `--system` gets the same interpolation as the cell.

Display: the answer is returned as an `Answer` (Markdown in notebooks, plain text in terminals). `--stream` shows
tokens as they arrive, restored (a pseudonym split across deltas included): in a kernel by updating one display,
which is emptied at the end when the whole Answer is returned (so saved outputs do not depend on display updates,
which nbval does not replay); in a terminal by writing to stdout. `--widget` shows a side-by-side view (what the
model saw | what you see, and the pseudonyms of the call) as ipywidgets in a Jupyter kernel; elsewhere (terminal,
plain InteractiveShell) it falls back to an HTML/Markdown/text rendering. Widgets are opt-in (`--widget` or
`c.SafeClaude.widget = True`), so by default notebooks run under nbval get plain, deterministic outputs.

After every call `_safeclaude_last` holds a `SafeClaudeResult` (masked prompt and system, the (kind, pseudonym)
pairs, the raw LiteLLM response, the restored text); `-o VAR` stores the restored answer as `str` in VAR.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib
import re
import shlex
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display
from traitlets import Bool, Float, Int, TraitError, Unicode, validate

from maskkit.config import DEFAULT_UPSTREAM, Settings, check_namespace, load_settings
from maskkit.errors import ConfigError, MaskkitError, UpstreamError, UpstreamTimeout
from maskkit.masking import Masker

__all__ = [
    "Answer",
    "Chat",
    "MaskedRequest",
    "SafeClaude",
    "SafeClaudeResult",
    "SideBySide",
    "interpolate",
    "litellm_model",
    "load_ipython_extension",
    "unload_ipython_extension",
]

#: The user-namespace variable that holds the last call's SafeClaudeResult.
LAST = "_safeclaude_last"


def _display(obj: Any, **kwargs: Any) -> Any:
    """IPython's display() (untyped upstream); returns a DisplayHandle when display_id=True."""
    return display(obj, **kwargs)  # type: ignore[no-untyped-call]


# --- LiteLLM ---------------------------------------------------------------------------------------------------------


def _litellm() -> Any:
    """LiteLLM, imported quietly and only when a cell first needs it."""
    from maskkit.proxy.via_litellm import import_litellm

    with _quiet():
        return import_litellm()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """LiteLLM and pydantic emit warnings at import and on some responses; in a notebook they are noise (and
    fail nbval), so they are ignored while LiteLLM runs, and only then."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def litellm_model(name: str) -> str:
    """The LiteLLM model string for `name`: a bare `claude-…` means `anthropic/claude-…`; others pass as given."""
    name = name.strip()
    if not name:
        raise UsageError("--model needs a model name, e.g. claude-sonnet-4-5")
    return f"anthropic/{name}" if "/" not in name and name.startswith("claude") else name


def _api_base(settings: Settings) -> str | None:
    """MASKKIT_UPSTREAM, else ANTHROPIC_BASE_URL, else None (LiteLLM's default, api.anthropic.com).

    An explicit MASKKIT_UPSTREAM equal to the default cannot be told from an unset one; both mean the real API.
    """
    if settings.upstream != DEFAULT_UPSTREAM:
        return settings.upstream
    return settings.anthropic_base_url.rstrip("/") if settings.anthropic_base_url else None


def _upstream_error(exc: Exception, timeout_class: type[BaseException] | None) -> UpstreamError:
    """A LiteLLM failure as our error. The message holds what the API said, which only ever saw masked text."""
    status = getattr(exc, "status_code", None)
    where = f", HTTP {status}" if isinstance(status, int) else ""
    error = UpstreamTimeout if timeout_class is not None and isinstance(exc, timeout_class) else UpstreamError
    return error(f"the model call failed ({type(exc).__name__}{where}): {exc}")


def _chunks(stream: Any, timeout_class: type[BaseException] | None) -> Iterator[Any]:
    """Iterate a LiteLLM stream, turning its failures (and only its failures) into UpstreamError."""
    iterator = iter(stream)
    while True:
        try:
            with _quiet():
                chunk = next(iterator)
        except StopIteration:
            return
        except MaskkitError:
            raise
        except Exception as exc:
            raise _upstream_error(exc, timeout_class) from exc
        yield chunk


def _delta_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)
    return content if isinstance(content, str) else ""


def _message_text(response: Any) -> str:
    choices = getattr(response, "choices", None)
    if not choices:
        return ""
    content = getattr(getattr(choices[0], "message", None), "content", None)
    return content if isinstance(content, str) else ""


# --- interpolation -----------------------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(
    r"\$\{[^{}\n]*\}"  # ${...}: shell, Terraform, CloudFormation: never ours
    rf"|\{{\{{(?P<escaped>{_NAME}(?:\.{_NAME})*)\}}\}}"  # {{name}}: the literal text {name}
    rf"|\{{(?P<name>{_NAME}(?:\.{_NAME})*)\}}"  # {name} or {name.attr}: its value
)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace `{name}` / `{name.attr}` with values from `namespace`; leave every other brace as written.

    Attributes starting with `_` are not looked up; an undefined name or missing attribute leaves the
    placeholder unchanged (so code snippets with f-string braces survive). `{{name}}` becomes `{name}`.
    """

    def replace(match: re.Match[str]) -> str:
        if match["escaped"] is not None:
            return "{" + match["escaped"] + "}"
        if match["name"] is None:
            return match.group()
        root, *attributes = match["name"].split(".")
        if root not in namespace:
            return match.group()
        value = namespace[root]
        for attribute in attributes:
            if attribute.startswith("_"):
                return match.group()
            try:
                value = getattr(value, attribute)
            except AttributeError:
                return match.group()
        return str(value)

    return _PLACEHOLDER.sub(replace, text)


# --- arguments -----------------------------------------------------------------------------------------------------


class _HelpShown(Exception):
    """`-h` printed the usage: nothing more to do."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(message or f"{self.prog}: invalid arguments")
        raise _HelpShown


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _temperature(text: str) -> float | None:
    if text.strip().lower() in ("none", ""):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 2, not {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2, not {value}")
    return value


def _namespace(text: str) -> str:
    try:
        return check_namespace(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid Python variable name")
    return text


def _chat_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", text):
        raise argparse.ArgumentTypeError("a chat name is 1-64 letters, digits, '.', '_' or '-'")
    return text


def _add_shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="LiteLLM model string; a bare claude-… name means anthropic/claude-…")
    parser.add_argument("--system", "-s", help="system prompt (interpolated and masked like the cell)")
    parser.add_argument("--max-tokens", type=_positive_int, metavar="N", help="answer length limit")
    parser.add_argument("--temperature", "-t", type=_temperature, metavar="T", help="0-2 (none: the API's default)")
    parser.add_argument("--namespace", "-n", type=_namespace, help="vault namespace (default: MASKKIT_NAMESPACE)")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None, help="show tokens live")
    parser.add_argument("--widget", action=argparse.BooleanOptionalAction, default=None, help="side-by-side view")
    parser.add_argument(
        "--show-masked", action=argparse.BooleanOptionalAction, default=None, help="show exactly what is sent"
    )
    parser.add_argument(
        "--interpolate", action=argparse.BooleanOptionalAction, default=None, help="replace {name} placeholders"
    )


def _cell_parser() -> _Parser:
    parser = _Parser(prog="%%safeclaude", add_help=True, exit_on_error=False, allow_abbrev=False)
    _add_shared(parser)
    parser.add_argument("-o", "--output", type=_identifier, metavar="VAR", help="store the restored answer in VAR")
    parser.add_argument("--no-display", action="store_true", help="do not display the answer")
    parser.add_argument("--chat", type=_chat_name, metavar="NAME", help="continue conversation NAME")
    parser.add_argument("--reset", action="store_true", help="with --chat: start that conversation afresh")
    return parser


def _config_parser() -> _Parser:
    parser = _Parser(prog="%safeclaude_config", add_help=True, exit_on_error=False, allow_abbrev=False)
    _add_shared(parser)
    parser.add_argument("--defaults", action="store_true", help="first put every option back to its default")
    return parser


def _parse(parser: _Parser, line: str) -> argparse.Namespace | None:
    """The magic line as options; None when `-h` printed the usage. Every mistake is a UsageError."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{parser.prog}: cannot split the options ({exc}); check the quotes") from None
    try:
        return parser.parse_args(words)
    except _HelpShown:
        return None
    except argparse.ArgumentError as exc:
        parser.error(str(exc))


@dataclass(frozen=True)
class CallOptions:
    """The options of one `%%safeclaude` call: the magic line over the `SafeClaude` defaults."""

    model: str
    system: str | None = field(repr=False)  # not masked yet
    max_tokens: int
    temperature: float | None
    namespace: str | None
    stream: bool
    widget: bool
    show_masked: bool
    interpolate: bool
    output: str | None = None
    display: bool = True
    chat: str | None = None
    reset: bool = False


# --- results and display objects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafeClaudeResult:
    """The last successful `%%safeclaude` call, kept in `_safeclaude_last`. The repr shows only what the model saw."""

    model: str
    namespace: str
    masked_prompt: str
    masked_system: str | None
    masked_answer: str
    #: (kind, pseudonym) of every pseudonym in this cell's prompt and system, in first-seen order.
    pseudonyms: tuple[tuple[str, str], ...]
    #: The restored answer (what you see).
    text: str = field(repr=False)
    #: The raw LiteLLM ModelResponse (masked; for `--stream`, rebuilt from the chunks).
    response: Any = field(repr=False)
    chat: str | None = None


@dataclass
class Chat:
    """A `--chat NAME` conversation. History is kept masked; `reverse` restores every turn's pseudonyms."""

    namespace: str
    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    reverse: dict[str, str] = field(default_factory=dict, repr=False)


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _code(text: str) -> str:
    fence = _fence(text)
    return f"{fence}text\n{text}\n{fence}"


class Answer:
    """The restored answer: Markdown in notebooks, plain text in terminals. `str(answer)` is the text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Answer({len(self.text)} characters)"


class MaskedRequest:
    """`--show-masked`: exactly the system prompt and prompt that were sent (pseudonyms only)."""

    def __init__(self, system: str | None, prompt: str, pseudonyms: Sequence[tuple[str, str]]) -> None:
        self.system = system
        self.prompt = prompt
        self.pseudonyms = tuple(pseudonyms)

    def _summary(self) -> str:
        listed = ", ".join(f"{p} ({k})" for k, p in self.pseudonyms) or "none"
        return f"Sent to the model (masked). Pseudonyms: {listed}"

    def _repr_markdown_(self) -> str:
        parts = [f"**{self._summary()}**"]
        if self.system is not None:
            parts += ["System:", _code(self.system)]
        parts += ["Prompt:", _code(self.prompt)]
        return "\n\n".join(parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        lines = [f"--- {self._summary()}"]
        if self.system is not None:
            lines += ["--- system", self.system]
        lines += ["--- prompt", self.prompt, "---"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"MaskedRequest({len(self.prompt)} characters, {len(self.pseudonyms)} pseudonyms)"


def _rows_html(rows: Sequence[tuple[str, str, str]]) -> str:
    cells = ((html.escape(p), html.escape(k), html.escape(o)) for p, k, o in rows)
    body = "".join(f"<tr><td><code>{p}</code></td><td>{k}</td><td><code>{o}</code></td></tr>" for p, k, o in cells)
    return (
        f"<table><thead><tr><th>pseudonym</th><th>kind</th><th>original</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _table_cell(text: str) -> str:
    """A value that keeps a Markdown table row intact (a PEM key spans lines; `|` ends a cell)."""
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")


def _pre(title: str, text: str) -> str:
    return f"<b>{html.escape(title)}</b><pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"


@dataclass(frozen=True)
class _Sides:
    """Both sides of one call: masked (what the model saw) and restored (what you see)."""

    masked_system: str | None
    masked_prompt: str
    system: str | None = field(repr=False)
    prompt: str = field(repr=False)
    #: (pseudonym, kind, original) of this call.
    rows: tuple[tuple[str, str, str], ...] = field(repr=False)

    def column(self, masked: bool, answer: str) -> str:
        system, prompt = (self.masked_system, self.masked_prompt) if masked else (self.system, self.prompt)
        return (_pre("system", system) if system is not None else "") + _pre("prompt", prompt) + _pre("answer", answer)


@dataclass(frozen=True)
class _Turn:
    """One masked request: both sides, the messages to send, and the mapping that restores the answer."""

    sides: _Sides
    messages: list[dict[str, str]]
    reverse: dict[str, str] = field(repr=False)
    pseudonyms: tuple[tuple[str, str], ...] = ()


class SideBySide:
    """`--widget` where widgets cannot render: what the model saw | what you see, then the pseudonym table."""

    def __init__(self, sides: _Sides, masked_answer: str, answer: str) -> None:
        self._sides = sides
        self.masked_answer = masked_answer
        self.answer = answer

    def _repr_html_(self) -> str:
        left = self._sides.column(True, self.masked_answer)
        right = self._sides.column(False, self.answer)
        return (
            "<table><thead><tr><th>What the model saw</th><th>What you see</th></tr></thead>"
            f"<tbody><tr><td style='vertical-align: top'>{left}</td><td style='vertical-align: top'>{right}</td>"
            f"</tr></tbody></table>{_rows_html(self._sides.rows)}"
        )

    def _repr_markdown_(self) -> str:
        parts = []
        for title, masked in (("What the model saw", True), ("What you see", False)):
            system = self._sides.masked_system if masked else self._sides.system
            prompt = self._sides.masked_prompt if masked else self._sides.prompt
            parts.append(f"### {title}")
            if system is not None:
                parts += ["System:", _code(system)]
            parts += ["Prompt:", _code(prompt), "Answer:", _code(self.masked_answer if masked else self.answer)]
        table = ["| pseudonym | kind | original |", "| --- | --- | --- |"]
        table += [f"| `{p}` | {k} | `{_table_cell(o)}` |" for p, k, o in self._sides.rows]
        parts += ["### Pseudonyms", "\n".join(table)]
        return "\n\n".join(parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        lines: list[str] = []
        for title, masked in (("what the model saw", True), ("what you see", False)):
            system = self._sides.masked_system if masked else self._sides.system
            lines.append(f"=== {title}")
            if system is not None:
                lines += ["--- system", system]
            lines += ["--- prompt", self._sides.masked_prompt if masked else self._sides.prompt]
            lines += ["--- answer", self.masked_answer if masked else self.answer]
        lines.append("=== pseudonyms")
        lines += [f"{p}  {k}  {o}" for p, k, o in self._sides.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SideBySide({len(self._sides.rows)} pseudonyms)"


# --- live views --------------------------------------------------------------------------------------------------


class _View(Protocol):
    def update(self, masked: str, restored: str) -> None: ...

    def finish(self) -> None: ...


class _NoView:
    def update(self, masked: str, restored: str) -> None:
        pass

    def finish(self) -> None:
        pass


class _StdoutView:
    """Streaming outside a kernel: restored text goes to stdout as it becomes safe to show."""

    def __init__(self) -> None:
        self._written = False

    def update(self, masked: str, restored: str) -> None:
        if restored:
            sys.stdout.write(restored)
            sys.stdout.flush()
            self._written = True

    def finish(self) -> None:
        if self._written:
            sys.stdout.write("\n")
            sys.stdout.flush()


class _HandleView:
    """Streaming in a kernel: one display, updated at most every `interval` seconds while tokens arrive.

    At the end it is emptied and the magic returns the whole Answer instead: nbval does not apply display
    updates, so a notebook that kept the live display would not match its own re-run; this way the saved
    outputs are an empty display and the final answer, identical on every run.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._text = ""
        self._shown = ""
        self._last = 0.0
        self._handle = _display(Answer(""), display_id=True)

    def update(self, masked: str, restored: str) -> None:
        self._text += restored
        now = time.monotonic()
        if self._text != self._shown and now - self._last >= self._interval:
            self._show(self._text)
            self._last = now

    def _show(self, text: str) -> None:
        self._shown = text
        if self._handle is not None:
            self._handle.update(Answer(text))

    def finish(self) -> None:
        self._show("")


class _WidgetView:
    """`--widget` in a kernel: ipywidgets, what the model saw | what you see, updated as the answer arrives."""

    def __init__(self, sides: _Sides, interval: float) -> None:
        widgets = importlib.import_module("ipywidgets")
        self._sides = sides
        self._interval = interval
        self._masked = self._restored = ""
        self._last = 0.0
        self.left = widgets.HTML(value=sides.column(True, ""))
        self.right = widgets.HTML(value=sides.column(False, ""))
        half = widgets.Layout(width="50%")
        self.box = widgets.VBox(
            [
                widgets.HBox(
                    [
                        widgets.VBox([widgets.HTML("<h4>What the model saw</h4>"), self.left], layout=half),
                        widgets.VBox([widgets.HTML("<h4>What you see</h4>"), self.right], layout=half),
                    ]
                ),
                widgets.HTML(_rows_html(sides.rows)),
            ]
        )
        _display(self.box)

    def update(self, masked: str, restored: str) -> None:
        self._masked += masked
        self._restored += restored
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._show()
            self._last = now

    def _show(self) -> None:
        self.left.value = self._sides.column(True, self._masked)
        self.right.value = self._sides.column(False, self._restored)

    def finish(self) -> None:
        self._show()


def _in_kernel(shell: Any) -> bool:
    """True in a Jupyter kernel (where display updates and widgets reach a frontend); False in terminals."""
    return getattr(shell, "kernel", None) is not None


def _widgets_available() -> bool:
    try:
        importlib.import_module("ipywidgets")
    except ImportError:
        return False
    return True


#: The SafeClaude traits that %%safeclaude options override (and %safeclaude_config sets).
_OPTION_TRAITS = (
    "model",
    "system",
    "max_tokens",
    "temperature",
    "namespace",
    "stream",
    "widget",
    "show_masked",
    "interpolate",
    "stream_interval",
)

# --- the magics ----------------------------------------------------------------------------------------------------


@magics_class
class SafeClaude(Magics):
    """`%%safeclaude` and `%safeclaude_config`. Defaults are traitlets: `c.SafeClaude.model = "..."`."""

    model = Unicode(
        "claude-sonnet-4-5", help="LiteLLM model string; a bare claude-… name means anthropic/claude-…."
    ).tag(config=True)
    system = Unicode(None, allow_none=True, help="Default system prompt (interpolated and masked).").tag(config=True)
    max_tokens = Int(1024, help="Default answer length limit (max_tokens).").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature, 0-2; None: the API's default.").tag(
        config=True
    )
    namespace = Unicode(None, allow_none=True, help="Vault namespace; None: MASKKIT_NAMESPACE.").tag(config=True)
    stream = Bool(False, help="Stream answers by default (--stream / --no-stream).").tag(config=True)
    widget = Bool(
        False, help="Show the side-by-side ipywidgets view by default (falls back to HTML/Markdown/text)."
    ).tag(config=True)
    show_masked = Bool(False, help="Always show the masked prompt that is sent.").tag(config=True)
    interpolate = Bool(True, help="Replace {name} placeholders from the user namespace before masking.").tag(
        config=True
    )
    stream_interval = Float(0.1, help="Seconds between display updates while streaming in a notebook.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.chats: dict[str, Chat] = {}
        self._masker: Masker | None = None
        self._settings: Settings | None = None
        #: The defaults after configuration (c.SafeClaude.*), for `%safeclaude_config --defaults`.
        self._configured = {name: getattr(self, name) for name in _OPTION_TRAITS}

    @validate("max_tokens")
    def _check_max_tokens(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError("max_tokens must be at least 1")
        return int(proposal["value"])

    @validate("temperature")
    def _check_temperature(self, proposal: Any) -> float | None:
        value = proposal["value"]
        if value is not None and not 0.0 <= value <= 2.0:
            raise TraitError("temperature must be between 0 and 2")
        return value if value is None else float(value)

    @validate("namespace")
    def _check_namespace(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is not None:
            try:
                check_namespace(value)
            except ConfigError as exc:
                raise TraitError(str(exc)) from None
        return value if value is None else str(value)

    # -- plumbing

    @property
    def _user_ns(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("%%safeclaude needs an IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    def _masker_for(self, settings: Settings, namespace: str) -> Masker:
        """One Masker (vault connection, detector, span cache) per settings; rebuilt when the settings change."""
        if self._masker is None or settings != self._settings:
            self.close()
            self._masker = Masker.from_settings(settings)
            self._settings = settings
        masker = self._masker
        return masker if masker.namespace == namespace else masker.for_namespace(namespace)

    def close(self) -> None:
        """Close the vault connection (the extension's unload does this)."""
        if self._masker is not None:
            self._masker.vault.close()
        self._masker = self._settings = None

    def _options(self, args: argparse.Namespace) -> CallOptions:
        def pick(name: str) -> Any:
            value = getattr(args, name, None)
            return getattr(self, name) if value is None else value

        return CallOptions(
            model=litellm_model(pick("model")),
            system=pick("system"),
            max_tokens=pick("max_tokens"),
            temperature=pick("temperature"),
            namespace=pick("namespace"),
            stream=pick("stream"),
            widget=pick("widget"),
            show_masked=pick("show_masked"),
            interpolate=pick("interpolate"),
            output=args.output,
            display=not args.no_display,
            chat=args.chat,
            reset=args.reset,
        )

    def _chat(self, options: CallOptions, namespace: str) -> Chat | None:
        if options.chat is None:
            if options.reset:
                raise UsageError("%%safeclaude: --reset needs --chat NAME (the conversation to start afresh)")
            return None
        chat = self.chats.get(options.chat)
        if chat is None or options.reset:
            return Chat(namespace)
        if chat.namespace != namespace:
            raise UsageError(
                f"%%safeclaude: chat {options.chat!r} was started in namespace {chat.namespace!r}; continue it "
                f"there, or start it afresh with --reset"
            )
        return chat

    # -- %%safeclaude

    @no_var_expand
    @cell_magic
    def safeclaude(self, line: str, cell: str) -> Any:
        """Ask Claude about the cell; AWS identifiers are masked first and restored in the answer.

        %%safeclaude [--model M] [--system S] [--max-tokens N] [--temperature T] [--namespace NS]
                     [--stream] [--widget] [--show-masked] [--no-interpolate]
                     [-o VAR] [--no-display] [--chat NAME [--reset]]

        {name} / {name.attr} in the cell (and in --system) are replaced from the user namespace before masking;
        other braces are left alone and {{name}} sends {name}. The magic line is not expanded by IPython.
        `-o VAR` stores the restored answer (str); `_safeclaude_last` holds a SafeClaudeResult with the masked
        prompt, the pseudonyms, the raw LiteLLM response and the restored text. `--chat NAME` continues a
        conversation across cells (history kept masked). Defaults: %safeclaude_config or c.SafeClaude.*.
        Nothing is sent if masking fails: the error is raised in the cell.
        """
        args = _parse(_cell_parser(), line)
        if args is None:
            return None
        return self._run(self._options(args), cell)

    def _run(self, options: CallOptions, cell: str) -> Any:
        settings = load_settings()
        namespace = options.namespace or settings.namespace
        chat = self._chat(options, namespace)
        masker = self._masker_for(settings, namespace)
        turn = self._mask(options, cell, masker, chat)  # fail closed: raises before anything is sent
        if options.show_masked:
            _display(MaskedRequest(turn.sides.masked_system, turn.sides.masked_prompt, turn.pseudonyms))
        live_widget = options.widget and options.display and _in_kernel(self.shell) and _widgets_available()
        view: _View
        if live_widget:
            view = _WidgetView(turn.sides, self.stream_interval)
        elif options.stream and options.display:
            view = _HandleView(self.stream_interval) if _in_kernel(self.shell) else _StdoutView()
        else:
            view = _NoView()

        masked_answer, answer, response = self._call(options, settings, turn.messages, masker, turn.reverse, view)

        if chat is not None and options.chat is not None and masked_answer:
            chat.messages += [
                {"role": "user", "content": turn.sides.masked_prompt},
                {"role": "assistant", "content": masked_answer},
            ]
            chat.reverse.update(turn.reverse)
            chat.system = turn.sides.masked_system
            self.chats[options.chat] = chat
        self._user_ns[LAST] = SafeClaudeResult(
            model=options.model,
            namespace=namespace,
            masked_prompt=turn.sides.masked_prompt,
            masked_system=turn.sides.masked_system,
            masked_answer=masked_answer,
            pseudonyms=turn.pseudonyms,
            text=answer,
            response=response,
            chat=options.chat,
        )
        if options.output:
            self._user_ns[options.output] = answer
        if not options.display or live_widget:
            return None
        if options.widget:
            return SideBySide(turn.sides, masked_answer, answer)
        if options.stream and not _in_kernel(self.shell):
            return None  # it is on stdout already
        return Answer(answer)

    def _mask(self, options: CallOptions, cell: str, masker: Masker, chat: Chat | None) -> _Turn:
        """Interpolate and mask the cell and the system prompt (one vault round trip); build the messages."""
        user_ns = self._user_ns
        prompt = (interpolate(cell, user_ns) if options.interpolate else cell).strip()
        if not prompt:
            raise UsageError("%%safeclaude: the cell is empty; write the question below the %%safeclaude line")
        system = options.system or None
        if system is not None and options.interpolate:
            system = interpolate(system, user_ns)
        masked, reverse, kinds = masker.mask_texts([prompt] if system is None else [prompt, system])
        # Earlier turns of a chat may mention pseudonyms this cell does not: restore with every turn's mapping.
        full_reverse = {**(chat.reverse if chat is not None else {}), **reverse}
        if system is not None:
            masked_system: str | None = masked[1]
        else:
            masked_system = chat.system if chat is not None else None
            system = masker.unmask_with(masked_system, full_reverse) if masked_system is not None else None
        messages = [{"role": "system", "content": masked_system}] if masked_system is not None else []
        messages += chat.messages if chat is not None else []
        messages.append({"role": "user", "content": masked[0]})
        pseudonyms = tuple((kinds[p], p) for p in reverse)
        rows = tuple((p, k, full_reverse[p]) for k, p in pseudonyms)
        return _Turn(_Sides(masked_system, masked[0], system, prompt, rows), messages, full_reverse, pseudonyms)

    def _call(
        self,
        options: CallOptions,
        settings: Settings,
        messages: list[dict[str, str]],
        masker: Masker,
        reverse: dict[str, str],
        view: _View,
    ) -> tuple[str, str, Any]:
        """Send the masked messages; return (masked answer, restored answer, raw response)."""
        litellm = _litellm()
        timeout_class = getattr(litellm, "Timeout", None)
        request: dict[str, Any] = {
            "model": options.model,
            "messages": messages,
            "max_tokens": options.max_tokens,
            "timeout": settings.upstream_timeout,
        }
        if options.temperature is not None:
            request["temperature"] = options.temperature
        if options.model.startswith("anthropic/"):
            api_base = _api_base(settings)
            if api_base:
                request["api_base"] = api_base
            if settings.anthropic_api_key:
                request["api_key"] = settings.anthropic_api_key
        try:
            with _quiet():
                response = litellm.completion(stream=options.stream, **request)
        except MaskkitError:
            raise
        except Exception as exc:
            raise _upstream_error(exc, timeout_class) from exc
        if not options.stream:
            masked_answer = _message_text(response)
            answer = masker.unmask_with(masked_answer, reverse)
            view.update(masked_answer, answer)
            view.finish()
            return masked_answer, answer, response

        restorer = masker.restorer(reverse)
        chunks: list[Any] = []
        masked_parts: list[str] = []
        restored_parts: list[str] = []
        for chunk in _chunks(response, timeout_class):
            chunks.append(chunk)
            delta = _delta_text(chunk)
            if delta:
                masked_parts.append(delta)
                piece = restorer.feed(delta)
                restored_parts.append(piece)
                view.update(delta, piece)
        tail = restorer.flush()
        restored_parts.append(tail)
        view.update("", tail)
        view.finish()
        with _quiet():
            built = litellm.stream_chunk_builder(chunks, messages=messages) if chunks else None
        return "".join(masked_parts), "".join(restored_parts), built

    # -- %safeclaude_config

    @no_var_expand
    @line_magic
    def safeclaude_config(self, line: str) -> None:
        """Show or set the %%safeclaude defaults for this session.

        %safeclaude_config                                  show them
        %safeclaude_config --model claude-haiku-4-5 --namespace team-a --stream
        %safeclaude_config --defaults                       back to the configured defaults

        Same options as %%safeclaude (--model, --system, --max-tokens, --temperature, --namespace, --stream,
        --widget, --show-masked, --interpolate and their --no- forms). `--system ''`, `--temperature none`
        clear a value. Persistent defaults go in ipython_config.py as c.SafeClaude.<name> = ...
        """
        args = _parse(_config_parser(), line)
        if args is None:
            return
        changes = {name: getattr(args, name) for name in _OPTION_TRAITS if getattr(args, name, None) is not None}
        if "model" in changes:
            litellm_model(changes["model"])
        for name in ("system", "namespace"):
            if changes.get(name) == "":
                changes[name] = None
        try:
            if args.defaults:
                for name, value in self._configured.items():
                    self.set_trait(name, value)
            for name, value in changes.items():
                self.set_trait(name, value)
        except TraitError as exc:
            raise UsageError(f"%safeclaude_config: {exc}") from None
        if not changes and not args.defaults:
            print(self.describe())

    def describe(self) -> str:
        """The current defaults (what `%safeclaude_config` without options prints)."""
        lines = ["%%safeclaude defaults (change with %safeclaude_config --option value, or c.SafeClaude.<name>):"]
        lines += [f"  {name:<16}= {getattr(self, name)!r}" for name in _OPTION_TRAITS]
        if self.chats:
            turns = ", ".join(f"{name} ({len(chat.messages) // 2} turns)" for name, chat in self.chats.items())
            lines.append(f"  chats           : {turns}")
        return "\n".join(lines)


_LOADED: dict[int, SafeClaude] = {}


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext maskkit`: register `%%safeclaude` and `%safeclaude_config` (LiteLLM is not imported yet)."""
    magics = SafeClaude(shell=ipython)
    previous = _LOADED.pop(id(ipython), None)
    if previous is not None:
        previous.close()
    _LOADED[id(ipython)] = magics
    ipython.register_magics(magics)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext maskkit`: close the vault connection."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is not None:
        magics.close()
