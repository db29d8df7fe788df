"""The entry point builds only the command it runs (typer's build of every command's options
is a start-up cost), and what a user sees is the same as from the whole command tree."""

from __future__ import annotations

import sys

import pytest
import typer.main

import rnntool.cli as cli


def every_invocation() -> list[list[str]]:
    """Each command's name, and each group's subcommands under it (``corpus list``)."""
    group = typer.main.get_command(cli.app)
    found = []
    for name, command in group.commands.items():
        found.append([name])
        for sub in getattr(command, "commands", {}):
            found.append([name, sub])
    return found


def run_main(monkeypatch, capsys, args: list[str], whole_tree: bool = False) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["rnntool", *args])
    if whole_tree:
        monkeypatch.setattr(cli, "invoked_command", lambda args: None)
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_and_its_errors_read_the_same_as_from_the_whole_tree(monkeypatch, capsys):
    invocations = every_invocation()
    assert len(invocations) >= 20 and ["tag"] in invocations and ["corpus", "list"] in invocations
    registered = (list(cli.app.registered_commands), list(cli.app.registered_groups))
    for args in invocations:
        for extra in (["--help"], ["--no-such-option"]):
            alone = run_main(monkeypatch, capsys, args + extra)
            whole = run_main(monkeypatch, capsys, args + extra, whole_tree=True)
            monkeypatch.undo()
            assert alone == whole, args + extra
            assert alone[0] == (0 if extra == ["--help"] else 2)
        # the app is whole again after each run (the library's and the tests' CliRunner use it)
        assert (cli.app.registered_commands, cli.app.registered_groups) == registered
    code, _, err = run_main(monkeypatch, capsys, ["--debug", "tagg"])  # click's suggestion needs every name
    assert code == 2 and "Did you mean 'tag'?" in err


@pytest.mark.parametrize("args, env, name", [
    (["tag", "x.txt"], {}, "tag"),
    (["--debug", "train-lm", "--help"], {}, "train-lm"),
    (["corpus", "list"], {}, "corpus"),
    ([], {}, None),
    (["--help"], {}, None),
    (["-h", "tag"], {}, None),
    (["--version"], {}, None),
    (["tag", "x.txt"], {"_RNNTOOL_COMPLETE": "bash_complete"}, None),  # completion sees the whole tree
])
def test_the_invoked_command_is_read_from_the_arguments(monkeypatch, args, env, name):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.invoked_command(args) == name


def test_only_the_invoked_command_is_built(monkeypatch, capsys):
    built = []
    build = typer.main.get_command_from_info

    def counting(*args, **kwargs):
        info = args[0] if args else kwargs["command_info"]
        built.append(cli.command_name(info))
        return build(*args, **kwargs)

    monkeypatch.setattr(typer.main, "get_command_from_info", counting)
    assert run_main(monkeypatch, capsys, ["tag", "--help"])[0] == 0
    assert built == ["tag"]
    built.clear()
    assert run_main(monkeypatch, capsys, ["--help"])[0] == 0
    assert len(built) >= 20 and "tag" in built and "train-lm" in built
