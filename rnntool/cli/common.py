"""What every command shares: one-line errors, stderr console, progress, JSON out.

Data goes to stdout (plain writes, never through rich); everything for humans
goes to stderr through rich, which honours NO_COLOR and TERM=dumb.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

import typer

from rnntool.errors import OptionError, RnntoolError

PROG = "rnntool"
_state = {"debug": os.environ.get("RNNTOOL_DEBUG", "") not in ("", "0")}


def set_debug(on: bool) -> None:
    _state["debug"] = _state["debug"] or on


def debug_enabled() -> bool:
    return _state["debug"]


def err_console():
    """A rich console on stderr (created per call: CliRunner swaps sys.stderr)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    # one line whatever the message carries from the input (a quoted field, a file name)
    one_line = message.strip().replace("\r", "\\r").replace("\n", "\\n")
    sys.stderr.write(f"{PROG}: error: {one_line}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")
    sys.stderr.flush()


def info(message: str, quiet: bool = False) -> None:
    if not quiet:
        sys.stderr.write(f"{message}\n")
        sys.stderr.flush()


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush
    does not raise again (the Python docs' note on SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@contextmanager
def library_messages(quiet: bool):
    """Show what the library reports while a command runs: its warnings (RnntoolWarning,
    through ``warnings``) as ``rnntool: warning: ...`` and its notes (the "rnntool" logger)
    as ``rnntool: ...`` on stderr; neither with --quiet."""
    import logging  # here, not at the top: ~10 ms that --help need not pay
    import warnings

    from rnntool.errors import RnntoolWarning

    class StderrNotes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            info(f"{PROG}: {record.getMessage()}")

    logger = logging.getLogger("rnntool")
    handler = StderrNotes()
    saved = logger.level, logger.propagate
    if not quiet:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if not quiet else logging.WARNING)
    logger.propagate = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "always", RnntoolWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, RnntoolWarning):
                warn(str(message))
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]


def handle_errors(func: Callable) -> Callable:
    """Wrap a command: user errors become one line and exit 1; a closed pipe
    ends quietly; anything unexpected is one line too unless --debug. The library's
    warnings and notes are shown on stderr (library_messages)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        quiet = bool(kwargs.get("quiet") or getattr(kwargs.get("options"), "quiet", False))
        try:
            with library_messages(quiet):
                return func(*args, **kwargs)
        except OptionError as e:  # the library names the option as Python spells it; here, its flag
            error_line(e.naming(e.flag))
            raise typer.Exit(1) from None
        except RnntoolError as e:
            error_line(str(e))
            raise typer.Exit(1) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.BadParameter, SystemExit):  # BadParameter: usage, exit 2
            raise
        except Exception as e:  # the last guard: no tracebacks for users
            if debug_enabled():
                raise
            error_line(f"unexpected {type(e).__name__}: {e} (run with --debug or RNNTOOL_DEBUG=1 for details)")
            raise typer.Exit(1) from None

    return wrapper


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def animate(quiet: bool) -> bool:
    """Animated progress only when a person watches stderr."""
    return not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


@contextmanager
def byte_progress(description: str, total: int | None, quiet: bool):
    """A transient progress bar over bytes read; yields an ``advance(n)`` callback."""
    if not animate(quiet):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def parse_meta(items: list[str]) -> dict:
    """--meta KEY=VALUE options -> {"meta": {KEY: VALUE}} for the model file's training record."""
    meta = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise RnntoolError(f"--meta wants KEY=VALUE, got {item!r}")
        meta[key.strip()] = value
    return {"meta": meta} if meta else {}


def open_model(kind: str, model: str | None, quiet: bool = False):
    """The loaded model (rnntool.load) for ``-m MODEL`` (a file or a bundled name), else the
    user's latest model of ``kind``, else its environment variable, else its bundled model."""
    import rnntool

    loaded = rnntool.load(model, kind=kind) if model else rnntool.load(kind=kind)
    if not model:  # say which model a bare command chose
        info(f"rnntool: using {loaded.path} ({loaded.chosen_because})", quiet)
    return loaded


def model_then_files(model: str | None, arguments: list[str] | None, command: str, inputs: str = "FILE",
                     most_files: int | None = None) -> tuple[str, list[str]]:
    """The model and the input files of a command that takes the model as its first argument
    (``score MODEL FILE``) or, as generate/tag/classify do, as ``-m MODEL`` (``score -m MODEL
    FILE``): with -m every argument is an input. A missing model or an extra FILE is a usage
    error (exit 2), as a missing argument always was."""
    arguments, by_option = list(arguments or []), model is not None
    if model is None:
        if not arguments:
            raise typer.BadParameter(f"{command} needs a language model: rnntool {command} MODEL {inputs} (or -m "
                                   f"MODEL {inputs}), MODEL a file or a bundled name such as shakespeare-char")
        model = arguments.pop(0)
    if most_files is not None and len(arguments) > most_files:
        raise typer.BadParameter(f"{command} reads one {inputs} (or - for stdin), not {len(arguments)}: "
                               f"{' '.join(arguments)}" + ("; the model came with -m, so give only the "
                                                           f"{inputs}" if by_option else ""))
    return model, arguments


def model_then_file_completion(kind: str) -> Callable:
    """Shell completion for ``[MODEL] FILE...`` (score, eval-lm): models for the first
    argument, and nothing once the model is known (given first or with -m), so the shell
    completes the files that follow."""
    models = model_completion(kind)

    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        return [] if ctx.params.get("model") or ctx.params.get("arguments") else models(incomplete)

    return complete


def model_completion(kind: str | None = None) -> Callable[[str], list[str]]:
    """Shell completion for a MODEL argument: the bundled models' names (of ``kind``, or of
    every kind) and the model files and directories that start with what was typed."""

    def complete(incomplete: str) -> list[str]:
        import glob

        import rnntool

        names = [name for name in rnntool.bundled_names(kind) if name.startswith(incomplete)]
        paths = [p + ("/" if os.path.isdir(p) else "") for p in sorted(glob.glob(glob.escape(incomplete) + "*"))
                 if os.path.isdir(p) or p.endswith(".safetensors")]
        return names + paths

    return complete
