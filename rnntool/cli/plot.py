"""rnntool plot: training curves from --log files, in the terminal or as an image."""

from __future__ import annotations

import os
import sys

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info
from rnntool.cli.options import choices
from rnntool.plots import X_AXES, Y_METRICS

XAxis = choices("XAxis", X_AXES)
YMetric = choices("YMetric", Y_METRICS)


def use_color() -> bool:
    """Colours on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


@app.command("plot")
@handle_errors
def plot_command(
    logs: list[str] = typer.Argument(..., metavar="LOG.jsonl", help="Logs written by train-* --log; several runs go on one chart."),
    output: str = typer.Option(None, "-o", "--output", metavar="FILE", help="Write an image (.png, .svg or .pdf; needs matplotlib) instead of drawing in the terminal."),
    x: XAxis = typer.Option(XAxis.step, "--x", help="What the horizontal axis counts."),
    y: YMetric = typer.Option(YMetric.loss, "--y", help="The metric: training and validation curves where the log has them."),
    width: int = typer.Option(None, "--width", min=20, metavar="COLS", help="Terminal chart width [the terminal's]."),
    height: int = typer.Option(20, "--height", min=5, metavar="ROWS", help="Terminal chart height."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Training curves: the loss (or another metric) of one or more runs against steps,
    tokens or time. Interrupted and resumed runs are one continuous curve; a log given to
    --log twice holds two runs."""
    from rnntool.plots import plot_logs

    if output is None:
        columns = width or min(os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 80, 120)
        sys.stdout.write(plot_logs(logs, x=x.value, y=y.value, width=columns, height=height, color=use_color()) + "\n")
        return
    plot_logs(logs, output, x=x.value, y=y.value)
    info(f"rnntool: wrote the curves to {output}", quiet)
