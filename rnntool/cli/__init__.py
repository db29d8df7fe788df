"""The ``rnntool`` command line: a thin Typer layer over the library.

Each command module parses and validates its options, calls the library and
prints; importing this package must stay cheap (no torch).
"""

from __future__ import annotations

import sys

import typer

from rnntool import __version__
from rnntool.cli import common

app = typer.Typer(
    name="rnntool",
    help="Recurrent-network text models: prepare corpora, train and use RNN language models, taggers and classifiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rnntool {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors (also RNNTOOL_DEBUG=1)."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Recurrent-network text models: prepare corpora, train and use RNN language models, taggers and classifiers.

    Data goes to stdout, progress and messages to stderr; - means stdin.
    """
    common.set_debug(debug)


# Command modules register themselves on `app` when imported.
from rnntool.cli import classifier as _classifier  # noqa: E402,F401
from rnntool.cli import corpus as _corpus  # noqa: E402,F401
from rnntool.cli import export as _export  # noqa: E402,F401
from rnntool.cli import generate as _generate  # noqa: E402,F401
from rnntool.cli import keras as _keras  # noqa: E402,F401
from rnntool.cli import lm as _lm  # noqa: E402,F401
from rnntool.cli import models as _models  # noqa: E402,F401
from rnntool.cli import plot as _plot  # noqa: E402,F401
from rnntool.cli import prep as _prep  # noqa: E402,F401
from rnntool.cli import quantize as _quantize  # noqa: E402,F401
from rnntool.cli import serve as _serve  # noqa: E402,F401
from rnntool.cli import tagger as _tagger  # noqa: E402,F401


def main() -> None:
    """Console-script entry point (click turns EPIPE into a quiet exit 1 and Ctrl-C into 130).

    typer reads every command's signature and options to build the click command tree, at
    each start, whichever command runs (~15 ms for 20 commands here). Where the arguments
    name a command, only that command is built: the root's options, usage lines, errors and
    the command's own help are the same. Anything else (no command, the root's --help, a
    mistyped name, which click answers with the names it knows, shell completion) builds the
    whole tree."""
    name = invoked_command(sys.argv[1:])
    runs = app
    if name is not None:
        only_commands = [c for c in app.registered_commands if command_name(c) == name]
        only_groups = [g for g in app.registered_groups if g.name == name]
        if only_commands or only_groups:
            import copy

            runs = copy.copy(app)  # the shared app (the library's and tests' CliRunner) stays whole
            runs.registered_commands, runs.registered_groups = only_commands, only_groups
    runs()


def command_name(info) -> str:
    """The name a registered command answers to (typer's own rule where none was given)."""
    return info.name or typer.main.get_command_name(info.callback.__name__)


def invoked_command(args: list[str]) -> str | None:
    """The command ``args`` name (``rnntool [--debug] NAME ...``), or None where the whole
    tree is needed: no name, the root's --help or --version, or shell completion."""
    import os

    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return None
    for arg in args:
        if arg == "--debug":
            continue
        return None if arg.startswith("-") else arg
    return None
