"""What CliRunner cannot show: real processes, imports, pipes."""

import os
import subprocess
import sys

from helpers import ROOT, run_rnntool


def test_help_lists_commands_and_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnntool", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("prep", "corpus"):
        assert command in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "torch" not in imported
    assert "rnntool.cli" in imported


def test_every_command_help_is_torch_free():
    from rnntool.cli import app
    from typer.main import get_command

    group = get_command(app)
    commands = [[name] for name in group.commands if name != "corpus"]
    commands += [["corpus", name] for name in get_command(app).commands["corpus"].commands]
    assert len(commands) >= 18  # every command, found from the app itself
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rnntool.cli import app\n"
        f"for args in {commands!r}:\n"
        "    result = CliRunner().invoke(app, [*args, '--help'])\n"
        "    assert result.exit_code == 0 and 'Usage' in result.output, args\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_version():
    result = run_rnntool("--version", text=True)
    assert result.returncode == 0 and result.stdout.startswith("rnntool ")


def test_error_is_one_line_without_traceback_and_debug_shows_it(tmp_path):
    result = run_rnntool("prep", tmp_path / "missing.txt", "-o", tmp_path / "x", text=True)
    assert result.returncode == 1
    assert result.stderr == f"rnntool: error: {tmp_path / 'missing.txt'}: no such file\n"
    assert result.stdout == ""
    # an unexpected failure: one line by default, the traceback with RNNTOOL_DEBUG=1 (what --debug sets)
    code = ("import typer\nfrom rnntool.cli.common import handle_errors\napp = typer.Typer()\n"
            "@app.command()\n@handle_errors\ndef boom():\n    raise ValueError('a bug')\napp()\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert quiet.returncode == 1 and quiet.stderr.startswith("rnntool: error: unexpected ValueError: a bug")
    assert "Traceback" not in quiet.stderr and len(quiet.stderr.splitlines()) == 1
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "RNNTOOL_DEBUG": "1"})
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "ValueError: a bug" in loud.stderr
    flag = run_rnntool("--debug", "prep", tmp_path / "missing.txt", "-o", tmp_path / "x", text=True)
    assert flag.returncode == 1 and "no such file" in flag.stderr  # --debug is accepted before any command
    # the --debug flag itself: a command of the real app failing unexpectedly shows its traceback
    boom = ("import sys\nfrom rnntool.cli import app, main\nfrom rnntool.cli.common import handle_errors\n"
            "@app.command('boom')\n@handle_errors\ndef boom():\n    raise ValueError('a bug')\n"
            "sys.argv = ['rnntool', *sys.argv[1:]]\nmain()\n")
    env = {k: v for k, v in os.environ.items() if k != "RNNTOOL_DEBUG"}
    plain = subprocess.run([sys.executable, "-c", boom, "boom"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and "unexpected ValueError" in plain.stderr
    debug = subprocess.run([sys.executable, "-c", boom, "--debug", "boom"], capture_output=True, text=True, cwd=ROOT,
                           env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ValueError: a bug" in debug.stderr


def test_usage_error_exits_2():
    result = run_rnntool("prep", text=True)
    assert result.returncode == 2


def test_broken_pipe_inside_a_command_ends_quietly_with_status_1():
    # A command whose reader went away: no traceback and no "Exception ignored" noise at exit.
    code = (
        "import sys, typer\n"
        "from rnntool.cli.common import handle_errors\n"
        "app = typer.Typer()\n"
        "@app.command()\n"
        "@handle_errors\n"
        "def spam():\n"
        "    while True:\n"
        "        sys.stdout.write('x' * 4096 + '\\n')\n"
        "app()\n"
    )
    proc = subprocess.run(
        f"{sys.executable} -c \"{code}\" | head -c 10", shell=True, capture_output=True, text=True,
        cwd=ROOT, executable="/bin/bash",
    )
    assert proc.stdout == "x" * 10
    assert proc.stderr == ""
    status = subprocess.run([sys.executable, "-c", f"import subprocess, sys; p = subprocess.Popen([sys.executable, "
                             f"'-c', {code!r}], stdout=subprocess.PIPE); p.stdout.read(10); p.stdout.close(); "
                             "sys.exit(p.wait())"], capture_output=True, text=True, cwd=ROOT)
    assert status.returncode == 1 and status.stderr == ""
