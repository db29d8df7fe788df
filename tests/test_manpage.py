import shutil
import subprocess

import pytest

from helpers import ROOT
from rnntool.cli import app
from rnntool.cli.manpage import render


def test_man_page_is_up_to_date():
    checked_in = (ROOT / "man" / "rnntool.1").read_text()
    assert checked_in == render(app), "man/rnntool.1 is stale: run python -m rnntool.cli.manpage > man/rnntool.1"


def test_man_page_covers_every_command_and_option():
    import typer

    page = render(app)
    root = typer.main.get_command(app)

    def leaves(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from leaves(sub, [*path, name])
        else:
            yield path, cmd

    for path, cmd in leaves(root, []):
        assert f".SS rnntool {' '.join(path)}".replace("-", "\\-") in page
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt.replace("-", "\\-") in page, (path, opt)


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_renders():
    out = subprocess.run(["man", "-l", str(ROOT / "man" / "rnntool.1")], capture_output=True, text=True,
                         env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0
    assert "rnntool prep" in out.stdout and "--valid-frac" in out.stdout


def test_man_page_documents_the_torchrun_launch_line():
    page = render(app)
    assert "torchrun \\-\\-standalone \\-\\-nproc_per_node=2 \\-m rnntool \\-\\- train\\-lm" in page
    assert ".B RNNTOOL_LM" in page and ".B RNNTOOL_TAGGER" in page
