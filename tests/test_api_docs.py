"""The ```python blocks of docs/api.md and README.md run: each file's blocks in order, in one
namespace, in an empty working directory, with the user's state (latest models) in a scratch
directory. A failing block is named by its file and first line, and the traceback's line
numbers are the file's own lines.
"""

from __future__ import annotations

import logging
import re
import textwrap
import traceback
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["docs/api.md", "README.md"]
FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```[ \t]*$", re.S | re.M)  # indented: in a list


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number of the block's first code line, its code) for every ```python block."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(2)) + 1, textwrap.dedent(m.group(2))) for m in FENCE.finditer(text)]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """An empty working directory, private user state, no model chosen by the environment,
    and the logging and warnings settings the blocks change put back afterwards."""
    from rnntool.kinds import KINDS

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for kind in KINDS.values():
        monkeypatch.delenv(kind.env, raising=False)
    logger, root = logging.getLogger("rnntool"), logging.getLogger()
    saved = (logger.level, list(logger.handlers), logger.propagate, list(root.handlers), root.level)
    with warnings.catch_warnings():
        yield work
    logger.setLevel(saved[0])
    logger.handlers[:], logger.propagate = saved[1], saved[2]
    root.handlers[:] = saved[3]
    root.setLevel(saved[4])


def test_the_api_tour_has_runnable_blocks():
    assert len(python_blocks(ROOT / "docs" / "api.md")) >= 10


@pytest.mark.parametrize("name", DOCS)
def test_python_blocks_run(name, scratch):
    from rnntool.api.training import TrainingInterrupted

    path = ROOT / name
    blocks = python_blocks(path)
    if not blocks:
        pytest.skip(f"{name} has no ```python blocks")
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks:
        failure = None
        try:  # padded with blank lines, so that tracebacks give the file's own line numbers
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
        except (Exception, SystemExit, TrainingInterrupted) as e:
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
            failure = f"{name}: the python block at line {line} failed: {type(e).__name__}: {e}\n" + \
                "".join(traceback.format_list(frames))
        if failure:
            pytest.fail(failure, pytrace=False)
