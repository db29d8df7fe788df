"""rnntool corpus list / fetch: where data comes from."""

from __future__ import annotations

import typer

from rnntool.cli import app
from rnntool.cli.common import animate, err_console, handle_errors, info

corpus_app = typer.Typer(help="List and download the public corpora rnntool knows about; find the sample corpora it ships.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


@corpus_app.command("list")
@handle_errors
def list_corpora() -> None:
    """Show the corpus registry: name, contents, size, licence, source (tab-separated when piped)."""
    import sys

    from rnntool.corpora import registry

    entries = registry().values()
    if not sys.stdout.isatty():
        for e in entries:
            sys.stdout.write("\t".join([e.name, e.description, _human(e.size), e.licence, e.source]) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "what it is", "size", "licence", "source")
    for e in entries:
        table.add_row(e.name, f"{e.description}\n[dim]{e.use}[/dim]", _human(e.size), e.licence, e.source)
    Console().print(table)


@corpus_app.command("samples")
@handle_errors
def list_samples(
    name: str = typer.Argument(None, metavar="[NAME]", help="Print only this sample's path (for $(...) in scripts)."),
) -> None:
    """The small sample corpora that ship with rnntool: name, path, what it is, licence.

    `rnntool train-lm "$(rnntool corpus samples ko-tiny)" --level word` trains on one.
    """
    import sys

    from rnntool.corpora import get_sample, samples

    if name is not None:
        sys.stdout.write(f"{get_sample(name).path}\n")
        return
    for sample in samples().values():
        sys.stdout.write("\t".join([sample.name, str(sample.path), sample.description, sample.licence]) + "\n")


@corpus_app.command("fetch")
@handle_errors
def fetch_corpus(
    name: str = typer.Argument(..., metavar="NAME", help="Corpus name from `rnntool corpus list`."),
    directory: str = typer.Option("corpora", "--dir", metavar="DIR", help="Download into DIR/NAME/."),
    mirror: str = typer.Option(
        None, "--mirror", metavar="URL", help="Fetch <URL>/<name>/<file> instead of the upstream address (checksums still apply)."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar."),
) -> None:
    """Download a corpus and verify its sha256 checksums; prints the file paths."""
    import sys

    from rnntool.corpora import fetch

    if animate(quiet):
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=err_console(), transient=True, redirect_stdout=False, redirect_stderr=False,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(file, done, total):
                if file.name not in tasks:
                    tasks[file.name] = bar.add_task(file.name, total=total)
                bar.update(tasks[file.name], completed=done)

            paths = fetch(name, directory, mirror, progress)
    else:
        paths = fetch(name, directory, mirror)
    for path in paths:
        sys.stdout.write(f"{path}\n")
    info(f"{name}: {len(paths)} file(s) verified in {directory}", quiet)
