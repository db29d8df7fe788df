import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("RNNTOOL_SHARED_DATA", ROOT.parent / "shared" / "data"))

def cat_text(lines: int = 120) -> str:
    """The small repetitive training text the engine tests share."""
    return "".join(f"the cat {i % 7} sat on the mat number {i % 5}.\n" for i in range(lines))


def cat_text_file(directory: Path, lines: int = 120) -> Path:
    """``cat_text(lines)`` written to DIRECTORY/text.txt."""
    path = directory / "text.txt"
    path.write_text(cat_text(lines))
    return path


needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not available")


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture(autouse=True)
def private_user_state(tmp_path_factory, monkeypatch):
    """Models trained by tests must never become the user's "latest model" (what a
    bare `rnntool generate` or `tag` would then use): each test gets its own state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke the CLI in-process: cli("prep", "a.txt", input="...")."""
    from rnntool.cli import app

    def invoke(*args, input=None, env=None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env)

    return invoke


@pytest.fixture
def answered_by_workers(monkeypatch):
    """The batches worker processes answer (rnntool/parallel.py), in a list; the workers
    take over as soon as the first one is ready, from the second full batch on."""
    from rnntool.parallel import Workers

    answered = []
    ordered = Workers.ordered

    def counted(self, items):
        for done in ordered(self, items):
            answered.append(done)
            yield done

    monkeypatch.setattr(Workers, "ready", lambda self: self._started[0].result(timeout=60) and True)
    monkeypatch.setattr(Workers, "ordered", counted)
    return answered


def run_rnntool(*args, input=None, env=None, **kwargs):
    """Run ``python -m rnntool`` in a real subprocess (for pipes, exit codes, imports)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rnntool", *map(str, args)],
        input=input,
        capture_output=True,
        env=full_env,
        **kwargs,
    )


def assert_one_line_error(result, fragment: str = "", code: int = 1):
    """The CLI convention: exit 1 and exactly one line 'rnntool: error: ...' on stderr, no traceback."""
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.exit_code == code if hasattr(result, "exit_code") else result.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rnntool: error: "), stderr
    assert "Traceback" not in stderr
    assert not lines[0].startswith("rnntool: error: unexpected"), lines[0]  # an unhandled exception is a bug
    assert fragment.lower() in lines[0].lower(), lines[0]
