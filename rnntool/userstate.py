"""Which model a command uses when none is named: the user's latest trained model
of that kind (kept in $XDG_STATE_HOME/rnntool/latest.json, default ~/.local/state),
else the kind's environment variable, else its bundled model. ``-m`` takes a file
or a bundled model's name."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rnntool.fsutil import atomic_write_text
from rnntool.kinds import bundled_model, get_kind


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "rnntool" / "latest.json"


def latest_models() -> dict:
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
        data = latest_models()
        data[kind] = str(Path(path).resolve())
        atomic_write_text(file, json.dumps(data, indent=1) + "\n")
    except Exception:
        pass


def locate(spec: str) -> str:
    """A model file's path: ``spec`` itself, or the bundled model of that name."""
    named = bundled_model(spec)
    return str(named[1].path) if named is not None and not Path(spec).exists() else spec


def resolve_model(kind: str, explicit: str | None) -> tuple[str, str]:
    """(path, why): -m FILE or -m BUNDLED-NAME, else the latest trained, else $RNNTOOL_<KIND>,
    else the kind's bundled model; ("", "") when there is none."""
    row = get_kind(kind)
    if explicit:
        path = locate(explicit)
        return path, "given with -m" if path == explicit else f"the bundled model {explicit}"
    latest = latest_models().get(kind)
    if latest and Path(latest).is_file():
        return latest, "your latest trained model"
    env = os.environ.get(row.env)
    if env:
        return env, f"${row.env}"
    default = row.default_bundled
    if default is not None and default.path.is_file():
        return str(default.path), f"the bundled model {default.name}"
    return "", ""
