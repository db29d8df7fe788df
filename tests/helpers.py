"""Plain helpers the tests share (fixtures live in conftest.py): paths, the shared
training text, running ``python -m rnntool`` in a subprocess, the one-line-error check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def shared(*parts: str) -> Path:
    """A file or folder of ../shared/data; the test is skipped where it is not available."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


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
