"""What CliRunner cannot show: real processes, imports, pipes."""

import subprocess
import sys

from conftest import ROOT, run_rnntool


def test_help_lists_commands_and_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnntool", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("prep", "corpus"):
        assert command in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "torch" not in imported
    assert "rnntool.cli" in imported


def test_every_command_help_is_torch_free():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rnntool.cli import app\n"
        "for args in (['prep', '--help'], ['corpus', 'list', '--help'], ['corpus', 'fetch', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
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
