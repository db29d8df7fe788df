"""Remembering the user's latest trained models, so a bare ``rnntool generate``
or ``rnntool tag`` uses them. Kept in $XDG_STATE_HOME/rnntool/latest.json
(default ~/.local/state); environment variables name fallbacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rnntool.fsutil import atomic_write_text

ENV_FALLBACK = {"lm": "RNNTOOL_LM", "tagger": "RNNTOOL_TAGGER"}


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "rnntool" / "latest.json"


def _read() -> dict:
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember_latest(kind: str, path: str | os.PathLike) -> None:
    """Best effort: failing to remember never fails a training run."""
    try:
        file = state_file()
        file.parent.mkdir(parents=True, exist_ok=True)
        data = _read()
        data[kind] = str(Path(path).resolve())
        atomic_write_text(file, json.dumps(data, indent=1) + "\n")
    except Exception:
        pass


def resolve_model(kind: str, explicit: str | None, bundled: Path | None) -> tuple[str, str]:
    """(path, why): the explicit -m, else the latest trained, else $RNNTOOL_LM/TAGGER, else bundled."""
    if explicit:
        return explicit, "given with -m"
    latest = _read().get(kind)
    if latest and Path(latest).is_file():
        return latest, "your latest trained model"
    env = os.environ.get(ENV_FALLBACK[kind])
    if env:
        return env, f"${ENV_FALLBACK[kind]}"
    if bundled is not None and bundled.is_file():
        return str(bundled), "the bundled default model"
    return "", ""
