"""Option values are checked at parse time, by one shared set of validators: a bad
number is a usage error (exit 2) before any command runs."""

import pytest
import typer

from rnntool.cli import app


def leaves(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


def float_options():
    for path, command in leaves(typer.main.get_command(app)):
        arguments = ["x" for p in command.params if p.param_type_name == "argument" and p.required]
        for p in command.params:
            if p.param_type_name == "option" and p.type.name in ("float", "float range"):
                yield " ".join(path), arguments, p.opts[0]


FLOAT_OPTIONS = list(float_options())


def test_there_are_float_options_in_every_kind_of_command():
    commands = {c for c, _, _ in FLOAT_OPTIONS}
    assert {"prep", "generate", "train-lm", "train-tagger", "train-classifier", "classify"} <= commands


@pytest.mark.parametrize("command, arguments, option", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_option_refuses_non_finite_values(cli, command, arguments, option, value):
    result = cli(*command.split(), *arguments, option, value)
    assert result.exit_code == 2, (command, option, result.stderr)
    assert "not a finite number" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train-tagger", "x", "--dropout", "-1"], "-1 is too small: it must be >= 0"),
    (["train-lm", "x", "--dropout", "1"], "1 is too large: it must be < 1"),
    (["generate", "--top-p", "0"], "0 is too small: it must be > 0"),
    (["generate", "--temperature", "-0.5"], "-0.5 is too small"),
    (["prep", "x", "-o", "y", "--valid-frac", "1.5"], "1.5 is too large"),
    (["classify", "--threshold", "1"], "1 is too large: it must be < 1"),
    (["train-lm", "x", "--lr", "0"], "0 is too small: it must be > 0"),
    (["train-lm", "x", "--batch-size", "0"], "0 is not in the range x>=1"),
    (["train-classifier", "x", "--max-length", "-3"], "-3 is not in the range x>=1"),
])
def test_out_of_range_values_are_usage_errors(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
