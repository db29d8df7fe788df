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


def ner_sentences(n: int, seed: int) -> str:
    """CoNLL columns (word, X, IOB1 entity tag) of ``n`` made-up sentences: people going places."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        who = rng.choice(["Alice Smith", "Bob Jones", "Carol"])
        where = rng.choice(["Paris", "New York", "London"])
        rows = [(w, "I-PER") for w in who.split()] + [("went", "O"), ("to", "O")]
        rows += [(w, "I-LOC") for w in where.split()] + [(".", "O")]
        out.append("\n".join(f"{w} X {t}" for w, t in rows))
    return "\n\n".join(out) + "\n"


def tiny_ner_tagger(directory: Path) -> Path:
    """A small CRF entity tagger (PER, LOC) trained in a few seconds; its path."""
    import rnntool

    (directory / "ner.conll").write_text(ner_sentences(150, 0))
    (directory / "ner-dev.conll").write_text(ner_sentences(20, 1))
    path = directory / "ner.safetensors"
    rnntool.train_tagger(directory / "ner.conll", path, dev=str(directory / "ner-dev.conll"), crf=True,
                         word_emb=16, hidden=16, char_filters=8, epochs=6, lr=1e-2, precision="fp32", seed=1)
    return path


class Serving:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port in a background thread, for
    ``with`` blocks: ``with Serving(app) as url: ...``."""

    def __init__(self, app):
        self.app = app

    def __enter__(self) -> str:
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY on connections
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.sock = sock
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def alike(a, b, tolerance: float = 2e-3) -> bool:
    """Equal JSON values, numbers within ``tolerance``: a probability's last digits depend on
    the CPU and on the texts computed in the same batch."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(alike(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(alike(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tolerance
    return a == b
