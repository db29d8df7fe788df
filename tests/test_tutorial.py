"""docs/tutorial.md runs: every command in it is run here, in order, in one scratch
directory, and where a block is marked exact its printed output must be what the
command prints today (so the tutorial never drifts from the tool).

Blocks are ```console fences preceded by a marker comment:
  <!-- run: exact -->  run; stdout must equal the lines shown
  <!-- run: exit -->   run; must succeed (the output shown is one run's, e.g. sampled text)
  <!-- run: slow -->   needs ../shared/data and minutes: run with -m slow (CI does)
`python tests/test_tutorial.py --update` reruns everything and rewrites the outputs shown.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
SHARED_DATA = Path(os.environ.get("RNNTOOL_SHARED_DATA", ROOT.parent / "shared" / "data"))
BLOCK = re.compile(r"<!-- run: (exact|exit|slow) -->\n```console\n(.*?)```\n", re.S)


def parse(text: str) -> list[tuple[str, list[tuple[str, list[str]]], re.Match]]:
    """(mode, [(command, expected stdout lines)...], match) for every marked block."""
    blocks = []
    for match in BLOCK.finditer(text):
        steps: list[tuple[str, list[str]]] = []
        pending, heredoc = "", None  # a command continued with \ or holding a here-document
        for line in match.group(2).splitlines():
            if pending:
                pending += "\n" + line
                if (heredoc is not None and line == heredoc) or (heredoc is None and not line.endswith("\\")):
                    steps.append((pending, []))
                    pending, heredoc = "", None
            elif line.startswith("$ "):
                here = re.search(r"<<-?'?(\w+)'?", line)
                if here or line.endswith("\\"):
                    pending, heredoc = line[2:], here.group(1) if here else None
                else:
                    steps.append((line[2:], []))
            else:
                if not steps:
                    raise ValueError(f"output before any command in block: {line!r}")
                steps[-1][1].append(line)
        blocks.append((match.group(1), steps, match))
    return blocks


def environment(workdir: Path) -> dict:
    data = workdir / "data"
    links = {"alice/alice.txt": "alice/alice.txt", "conll2003": "conll2003"}
    for name, source in links.items():
        target = SHARED_DATA / source
        if target.exists() and not (data / name).exists():
            (data / name).parent.mkdir(parents=True, exist_ok=True)
            (data / name).symlink_to(target)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb", "NLTK_DATA": str(SHARED_DATA / "ptb-pos" / "nltk_data"),
           "XDG_STATE_HOME": str(workdir / "state")}  # the tutorial's models never become the user's latest
    env.pop("RNNTOOL_LM", None)
    return env


def run_step(command: str, workdir: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=workdir, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=900)


def clean(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_tutorial(workdir: Path, with_slow: bool, check: bool = True) -> list[list[list[str]]]:
    """Run the blocks in order; returns every step's stdout lines (for --update)."""
    env = environment(workdir)
    results = []
    for mode, steps, _ in parse(TUTORIAL.read_text(encoding="utf-8")):
        outs = []
        if mode == "slow" and not with_slow:
            results.append(None)
            continue
        for command, expected in steps:
            result = run_step(command, workdir, env)
            assert result.returncode == 0, f"$ {command}\n{result.stderr}"
            got = clean(result.stdout.splitlines())
            if check and mode == "exact":
                assert got == clean(expected), f"$ {command}\n--- tutorial\n" + "\n".join(expected) + \
                    "\n--- now\n" + "\n".join(got)
            outs.append(got)
        results.append(outs)
    return results


def test_the_tutorial_has_the_whole_path():
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = parse(text)
    commands = " ".join(c for _, steps, _ in blocks for c, _ in steps)
    for needed in ("summary --spec", "layer --spec", "--explain", "return_state=True", "Bidirectional", "LSTM",
                   "GRU", "train-lm", "tyger", "ko-tiny", "--text-col", "alice", "train-tagger", "nltk:treebank",
                   "conll2003", "train-classifier", "classify", "-m ko-novel", "tag "):
        assert needed in commands, needed
    assert sum(mode == "exact" for mode, _, _ in blocks) >= 10


def test_tutorial_commands_print_what_the_tutorial_shows(tmp_path):
    run_tutorial(tmp_path, with_slow=False)


@pytest.mark.slow
def test_tutorial_runs_end_to_end_on_the_shared_data(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    run_tutorial(tmp_path, with_slow=True)


def update() -> None:
    """Rewrite the outputs shown in docs/tutorial.md from a fresh run of every block."""
    import tempfile

    text = TUTORIAL.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        results = run_tutorial(Path(tmp), with_slow=True, check=False)
    pieces, last = [], 0
    for (mode, steps, match), outs in zip(parse(text), results):
        body = []
        for (command, _), out in zip(steps, outs):
            body.append("$ " + command)
            body.extend(out)
        pieces.append(text[last:match.start(2)] + "\n".join(body) + "\n")
        last = match.end(2)
    pieces.append(text[last:])
    TUTORIAL.write_text("".join(pieces), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit("usage: python tests/test_tutorial.py --update")
