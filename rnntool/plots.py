"""Pictures of training runs and evaluations (public; docs/api.md): the curves in ``--log``
files, in the terminal or as an image (``rnntool plot``); an evaluation's confusion matrix
(``eval-* --plot``); and the curves of a run while it trains (the chart after ``train-*``).

Drawing needs the optional ``plot`` extra (plotext for the terminal, matplotlib for
images), imported only when a picture is asked for; a missing one is a one-line error
naming the extra. Reading logs needs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnntool.curves import X_AXES as _X_FIELDS
from rnntool.curves import X_LABELS, Y_METRICS, RunLog
from rnntool.errors import InputError

X_AXES = tuple(_X_FIELDS)  # what the horizontal axis of plot_logs may count
__all__ = ["X_AXES", "Y_METRICS", "image_format", "plot_logs", "plot_confusion", "TrainingCurves"]


def image_format(path: str | os.PathLike) -> str:
    """``"png"``, ``"svg"`` or ``"pdf"``, as the file name asks; checks the name, its directory
    and that matplotlib is installed, so a bad name fails before any work is done."""
    from rnntool.charts import image_format as checked

    return checked(path)


def plot_logs(logs: str | os.PathLike | list[str | os.PathLike], output: str | os.PathLike | None = None, *,
              x: str = "step", y: str = "loss", width: int = 80, height: int = 20,
              color: bool = False) -> str | Path:
    """The ``y`` curves (training and validation, where the logs have them) of every run in
    the ``--log`` files against ``x`` (one of ``X_AXES``). Without ``output``: the chart as
    text, ``width`` x ``height`` characters (ANSI colours if ``color``). With ``output``
    (.png, .svg or .pdf): the image is written there and its path returned. Interrupted and
    resumed runs are one continuous curve."""
    from rnntool.charts import line_figure, save_figure, terminal_chart
    from rnntool.curves import chart_series

    if y not in Y_METRICS:
        raise InputError(f"unknown y {y!r}; use one of: {', '.join(Y_METRICS)}")
    if output is not None:
        image_format(output)
    paths = [str(p) for p in ([logs] if isinstance(logs, (str, os.PathLike)) else logs)]
    series, title = chart_series(paths, x, y)
    if output is None:
        return terminal_chart(series, X_LABELS[x], y, title, width, height, color)
    save_figure(line_figure(series, X_LABELS[x], y, title), output)
    return Path(output)


def plot_confusion(evaluation, output: str | os.PathLike, *, title: str | None = None) -> Path:
    """Draw an evaluation's confusion matrix as a heatmap (a classifier's with its reliability
    diagram beside it) into ``output`` (.png, .svg or .pdf); returns the path. ``evaluation``
    is what ``rnntool.evaluate`` / ``model.evaluate`` returned (or its ``to_dict()``); a
    tagger's needs ``evaluate(..., full_matrix=True)``."""
    from rnntool.charts import confusion_figure, save_figure

    image_format(output)
    scores = evaluation if isinstance(evaluation, dict) else evaluation.to_dict()
    matrix = scores.get("full_confusion") or scores.get("confusion_matrix")
    if matrix is None or "counts" not in matrix:
        raise InputError("this evaluation has no confusion matrix to draw (a multi-label classifier has none; "
                         "evaluate a tagger with full_matrix=True)")
    if title is None:
        title = f"accuracy {scores['accuracy']:.4f}" if "accuracy" in scores else "confusion matrix"
    save_figure(confusion_figure(matrix["labels"], matrix["counts"], title, scores.get("reliability")), output)
    return Path(output)


class TrainingCurves:
    """An ``on_event`` callback that keeps a run's curves as the events go by, and draws them:
    ``curves = TrainingCurves(); rnntool.train_lm(..., on_event=curves); print(curves.charts())``.
    Keeps at most about ``limit`` training points (every other one is dropped, and later ones
    sampled half as often, whenever the limit is reached) and every validation."""

    def __init__(self, limit: int = 4000):
        self.run = RunLog("training")
        self.limit = limit
        self.stride = 1
        self.seen = 0

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start" and event.get("resumed_at_step"):
            self.run.resume_at(event["resumed_at_step"])
        elif kind == "eval":
            self.run.evals.append(event)
        elif kind == "step":
            self.seen += 1
            if self.seen % self.stride:
                return
            self.run.steps.append({k: v for k, v in event.items() if k in ("step", "loss", "tokens_seen", "elapsed")})
            if len(self.run.steps) >= self.limit:
                self.run.steps = self.run.steps[::2]
                self.stride *= 2

    def charts(self, width: int = 100, color: bool = False) -> str:
        """The loss curves (training, and validation where the kind logs a validation loss;
        otherwise its validation metric in a second chart), or "" without plotext or with
        fewer than two points."""
        from rnntool.charts import have_terminal_charts, terminal_chart

        if not have_terminal_charts() or len(self.run.steps) < 2:
            return ""
        charts = [terminal_chart(self.run.series("step", "loss"), "step", "loss", "loss", width, 16, color)]
        if not any(k == "valid_loss" for e in self.run.evals for k in e):
            for metric in ("accuracy", "f1", "macro_f1"):
                valid = self.run.series("step", metric)
                if len(valid) and len(valid[0].x) >= 2:
                    charts.append(terminal_chart(valid, "step", f"valid {metric}", f"valid {metric}", width, 12, color))
                    break
        return "\n".join(charts)
