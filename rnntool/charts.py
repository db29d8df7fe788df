"""Pictures: line charts in the terminal (plotext) and as image files (matplotlib's
Agg backend, no display needed); confusion-matrix heatmaps and reliability diagrams.

Both libraries are the optional ``plot`` extra and are imported only here, only when a
picture is asked for; a missing one is a one-line error that names the extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rnntool.curves import Series
from rnntool.errors import RnntoolError

IMAGE_FORMATS = ("png", "svg", "pdf")
PLOT_EXTRA = 'pip install "rnntool[plot]"'


def _plotext():
    try:
        import plotext
    except ImportError:
        raise RnntoolError(f"terminal charts need plotext; install it with {PLOT_EXTRA}") from None
    return plotext


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure  # the Agg canvas: no pyplot, no display, no global state
    except ImportError:
        raise RnntoolError(f"image files need matplotlib; install it with {PLOT_EXTRA}") from None
    return Figure


def have_terminal_charts() -> bool:
    try:
        import plotext  # noqa: F401
    except ImportError:
        return False
    return True


def terminal_chart(series: Sequence[Series], xlabel: str, ylabel: str, title: str = "",
                   width: int = 80, height: int = 18, color: bool = True) -> str:
    """The series as a text chart (one string, ANSI colours unless ``color`` is off)."""
    plotext = _plotext()
    figure = plotext.figure
    figure.clear()
    for s in series:
        s = s.thinned(4 * width)  # a few points per column is all a text chart can show
        figure.draw(figure.signal(s.x, s.y).label(s.label).lines())
    figure.label(xlabel, axis="x")
    figure.label(ylabel, axis="y")
    if title:
        figure.title(title)
    figure.plot_size(width, height)
    figure.theme("default" if color else "colorless")
    built = figure.build()
    text = built.string() if callable(built.string) else built.string
    figure.clear()
    return text if color else plotext.uncolorize(text)


def line_figure(series: Sequence[Series], xlabel: str, ylabel: str, title: str = ""):
    """A matplotlib Figure of the series (tests read it back before it is saved)."""
    fig = _matplotlib_figure()(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    for s in series:
        s = s.thinned(5000)
        ax.plot(s.x, s.y, label=s.label, marker="o" if len(s.x) < 30 else None, markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str = "confusion matrix",
                     reliability: dict | None = None):
    """A heatmap of gold (rows) against predicted (columns) counts, each cell annotated,
    and, given ``reliability`` (metrics.reliability_bins), a reliability diagram beside it."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    n = len(labels)
    fig = _matplotlib_figure()(figsize=(min(4 + 0.45 * n, 14) + (5 if reliability else 0), min(3.5 + 0.4 * n, 12)),
                               dpi=100)
    ax = fig.add_subplot(1, 2 if reliability else 1, 1)
    rows = counts.sum(axis=1, keepdims=True)
    shade = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)  # recall per gold class
    image = ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if shade[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold class")
    if reliability:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
        ax2.plot(reliability["confidence"], reliability["accuracy"], marker="o", label="model")
        ax2.set_xlim(0, 1)
        ax2.set_ylim(0, 1)
        ax2.set_xlabel("confidence")
        ax2.set_ylabel("accuracy")
        ax2.set_title(f"reliability (ECE {reliability['ece']:.4f})")
        ax2.legend(loc="upper left")
    fig.tight_layout()
    return fig


def image_format(path: str | os.PathLike) -> str:
    """The format a file name asks for, checked (with the directory) before any work is done."""
    from rnntool.fsutil import check_output_path

    suffix = os.path.splitext(str(path))[1].lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise RnntoolError(f"cannot tell the image format of {path}; end the name with "
                           f"{', '.join('.' + f for f in IMAGE_FORMATS)}")
    check_output_path(path)
    _matplotlib_figure()
    return suffix


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write the figure atomically, in the format the file name asks for."""
    from rnntool.fsutil import atomic_write

    suffix = image_format(path)
    atomic_write(path, lambda f: fig.savefig(f, format=suffix))
