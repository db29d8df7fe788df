"""What every train-* command shows around the library call (rnntool.train_*, which also
writes --log and turns Ctrl-C/SIGTERM into a saved checkpoint): a live rich progress line
on a terminal (one plain line per evaluation otherwise), the summary table, and the model
path or the JSON summary on stdout. Under torchrun only rank 0 shows anything."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rnntool.cli.common import animate, err_console, print_json


def _rate(n: float) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else f"{n:.0f}"


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class TrainingDisplay:
    """The training events on stderr: a live progress line on a terminal, else a plain line per
    evaluation; notes as ``rnntool: ...`` lines."""

    def __init__(self, quiet: bool, metric: str, unit: str = "tok"):
        self.quiet = quiet
        self.metric = metric  # "ppl" or "bpc" or "acc" ...
        self.unit = unit
        self.live = animate(quiet)
        self.progress = None
        self.task = None
        self.last_refresh = 0.0
        self.window: list[tuple[float, int]] = []
        from rnntool.plots import TrainingCurves

        self.curve = TrainingCurves()

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                console=err_console(), transient=True, redirect_stdout=False, redirect_stderr=False,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("starting", total=1.0, status="")
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def print(self, line: str, always: bool = False) -> None:
        if self.quiet and not always:
            return
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def __call__(self, event: dict) -> None:
        if event["event"] == "stopping":  # the answer to a Ctrl-C is shown even with --quiet
            self.print(f"\nrnntool: {event['message']}", always=True)
        if self.quiet:
            return
        self.curve(event)
        kind = event["event"]
        if kind == "start":
            budget = []
            if event.get("epochs"):
                budget.append(f"{event['epochs']} epochs")
            if event.get("max_time"):
                budget.append(f"{event['max_time']:g} s")
            resumed = f", resuming at step {event['resumed_at_step']}" if event.get("resumed_at_step") else ""
            ranks = f" x {event['world_size']} ranks ({event['backend']})" if event.get("world_size", 1) > 1 else ""
            self.print(f"training {event['params']:,} parameters on {event['device']}{ranks} ({event['precision']}), "
                       f"{event['steps_per_epoch']:,} steps per epoch, budget {' or '.join(budget) or '-'}{resumed}")
        elif kind == "step":
            self.window.append((event["elapsed"], event["tokens_seen"]))
            self.window = self.window[-50:]
            if self.progress is not None and time.monotonic() - self.last_refresh > 0.2:
                self.last_refresh = time.monotonic()
                speed = self.speed()
                p = event["progress"]
                eta = (event["elapsed"] / p - event["elapsed"]) if p > 0 else None
                value = event.get(self.metric, event["loss"])
                self.progress.update(
                    self.task, completed=p, description=f"epoch {event['epoch']:.2f}",
                    status=f"loss {event['loss']:.3f} {self.metric} {value:.3f} | {_rate(speed)} {self.unit}/s | "
                           f"ETA {_clock(eta)}",
                )
        elif kind == "note":
            self.print(f"rnntool: {event['message']}")
        elif kind == "eval":
            mark = " *" if event.get("improved") else ""
            metrics = "  ".join(
                f"{k[6:]} {v:.4f}" for k, v in event.items() if k.startswith("valid_") and isinstance(v, float)
            )
            self.print(f"epoch {event['epoch']:6.2f}  step {event['step']:>7,}  valid {metrics}  "
                       f"lr {event['lr']:.2e}  {_rate(self.speed())} {self.unit}/s  {_clock(event['elapsed'])}{mark}")

    def speed(self) -> float:
        if len(self.window) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.window[0], self.window[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def summary_table(title: str, rows: list[tuple[str, str]]):
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    return table


def run_training(train: Callable, options, metric: str, title: str,
                 extra_rows: Callable[[dict], list[tuple[str, str]]] = lambda result: [], unit: str = "tok") -> None:
    """Run ``train(on_event=...)`` (an rnntool.train_* call) with progress on stderr, then print
    the summary (stderr) and the model path or JSON (stdout). A run stopped by Ctrl-C has saved
    its checkpoint and prints its summary too. Under torchrun only rank 0 shows anything."""
    import rnntool

    main = rnntool.is_main_process()
    quiet = options.quiet or not main
    with TrainingDisplay(quiet, metric, unit) as display:
        try:
            trained = train(on_event=display)
        except rnntool.TrainingInterrupted as stopped:
            trained = stopped.result
    if not main:
        return
    result, path = trained.summary, trained.model_path
    if not quiet:
        rows = [(f"best valid {k}", f"{v:.4f}") for k, v in result["valid"].items()]
        rows += [(f"test {k}", f"{v:.4f}") for k, v in result.get("test", {}).items()]
        rows += [("stopped", result["stop_reason"]), ("epochs", f"{result['epochs']:.2f}"),
                 ("steps", f"{result['steps']:,}"), (f"{'texts' if unit == 'texts' else 'tokens'} seen", f"{result['tokens_seen']:,}"),
                 *extra_rows(result),
                 ("training time", f"{result['train_seconds']:.1f} s"), ("parameters", f"{result['params']:,}")]
        if result.get("world_size", 1) > 1:
            rows.append(("ranks", str(result["world_size"])))
        rows.append(("model", str(path)))
        if result.get("checkpoint"):
            rows.append(("checkpoint", f"{result['checkpoint']}  (continue with --resume)"))
        console = err_console()
        console.print(summary_table(title, rows))
        if display.live:  # a person is watching: the curves under the table
            charts = display.curve.charts(width=min(console.width, 100), color=not console.no_color)
            if charts:
                sys.stderr.write(charts + "\n")
    if options.json_out:
        print_json(trained.to_dict())
    else:
        sys.stdout.write(f"{path}\n")
