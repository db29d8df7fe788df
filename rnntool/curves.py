"""Training curves from ``--log`` files (JSON lines of the training loop's events).

A log may hold several runs (a file given to ``--log`` again is appended to), and a
run that was interrupted and resumed continues in the same log: its ``start`` event
names the step it resumed at, and whatever the interrupted process logged past that
step (work the checkpoint did not keep) is dropped, so the run is one continuous
curve. Torch- and numpy-free: ``rnntool plot`` starts as fast as ``--help``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from rnntool.errors import RnntoolError

X_AXES = {"step": "step", "tokens": "tokens_seen", "time": "elapsed"}
X_LABELS = {"step": "step", "tokens": "tokens seen", "time": "training time (s)"}
Y_METRICS = ("loss", "ppl", "bpc", "accuracy", "f1", "macro_f1", "micro_f1")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float]

    def thinned(self, limit: int) -> "Series":
        """At most about ``limit`` evenly spaced points, the last one kept (a chart cannot show more)."""
        if len(self.x) <= limit:
            return self
        stride = -(-len(self.x) // limit)
        keep = list(range(0, len(self.x), stride))
        if keep[-1] != len(self.x) - 1:
            keep.append(len(self.x) - 1)
        return Series(self.label, [self.x[i] for i in keep], [self.y[i] for i in keep])


@dataclass
class RunLog:
    name: str
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)

    def resume_at(self, step: int) -> None:
        self.steps = [e for e in self.steps if e["step"] <= step]
        self.evals = [e for e in self.evals if e["step"] <= step]

    def metrics(self) -> list[str]:
        """The y choices this run has: metrics of its steps and of its validations."""
        found = {k for e in self.steps for k in e if k in Y_METRICS}
        found |= {k[len("valid_"):] for e in self.evals for k in e if k[len("valid_"):] in Y_METRICS}
        return [m for m in Y_METRICS if m in found]

    def series(self, x: str, y: str, prefix: str = "") -> list[Series]:
        """The training curve (step events) and the validation curve (eval events) of
        ``y`` against ``x``; either may be absent (taggers log no validation loss)."""
        key = X_AXES[x]
        out = []
        for what, events, field_name in (("train", self.steps, y), ("valid", self.evals, f"valid_{y}")):
            points = [(e[key], e[field_name]) for e in events  # a diverged run's NaN cannot be drawn
                      if _finite(e.get(field_name)) and _finite(e.get(key))]
            if points:
                out.append(Series(f"{prefix}{what}", [p[0] for p in points], [p[1] for p in points]))
        return out


def read_log(path: str | os.PathLike) -> list[RunLog]:
    """The runs in one ``--log`` file, named after the file (``name``, ``name #2``, ...)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RnntoolError(f"{path} does not exist; give the file a train-* command wrote with --log") from None
    except IsADirectoryError:
        raise RnntoolError(f"{path} is a directory; give a --log file (JSON lines)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RnntoolError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    runs: list[RunLog] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not text.endswith("\n"):
                break  # the last line of a run killed mid-write
            raise RnntoolError(f"{path}, line {number}: not a JSON line; give a log that --log wrote") from None
        if not isinstance(event, dict) or "event" not in event:
            raise RnntoolError(f"{path}, line {number}: not a training event; give a log that --log wrote")
        kind = event["event"]
        if kind == "start":
            resumed = event.get("resumed_at_step") or 0
            if resumed and runs:
                runs[-1].resume_at(resumed)
            else:
                runs.append(RunLog(path.stem if not runs else f"{path.stem} #{len(runs) + 1}"))
        elif kind in ("step", "eval"):
            if not runs:
                runs.append(RunLog(path.stem))
            if not isinstance(event.get("step"), int):
                raise RnntoolError(f"{path}, line {number}: a {kind} event without a step number")
            (runs[-1].steps if kind == "step" else runs[-1].evals).append(event)
    runs = [r for r in runs if r.steps or r.evals]
    if not runs:
        raise RnntoolError(f"{path} has no training steps yet; give a log that a train-* command wrote with --log")
    return runs


def chart_series(paths: list[str], x: str, y: str) -> tuple[list[Series], str]:
    """Every curve of ``y`` in the logs, labelled by run when there is more than one run;
    and the chart's title."""
    if x not in X_AXES:
        raise RnntoolError(f"unknown --x {x!r}; use one of: {', '.join(X_AXES)}")
    runs = [run for p in paths for run in read_log(p)]
    many = len(runs) > 1
    out: list[Series] = []
    for run in runs:
        found = run.series(x, y, prefix=f"{run.name} " if many else "")
        if not found:
            have = ", ".join(run.metrics()) or "none"
            raise RnntoolError(f"run {run.name} has no {y!r} curve; it has: {have} (choose one with --y)")
        out.extend(found)
    return out, (runs[0].name if not many else f"{len(runs)} runs")
