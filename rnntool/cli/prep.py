"""rnntool prep: read, clean, tokenize and encode a corpus once."""

from __future__ import annotations

import typer

from rnntool.cli import app
from rnntool.cli.common import byte_progress, err_console, handle_errors, print_json
from rnntool.cli.options import (
    FRACTION, TOKENIZER_HELP, VOCAB_SIZE_HELP, DecodeErrors, Level, SplitMode, WordTokenizer, value,
)


@app.command()
@handle_errors
def prep(
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT", help="Text files, - for stdin, or nltk:<corpus>[/<fileid>] (e.g. nltk:gutenberg/carroll-alice.txt)."
    ),
    output: str = typer.Option(..., "-o", "--output", metavar="DIR", help="Where to write the prepared corpus (a directory)."),
    level: Level = typer.Option(None, "--level", help="Tokens are characters (Unicode code points) or words [default: char; words with a subword --tokenizer]."),
    tokenizer: WordTokenizer = typer.Option(WordTokenizer.treebank, "--tokenizer", help=TOKENIZER_HELP + "."),
    vocab_size: int = typer.Option(None, "--vocab-size", min=1, metavar="N", help=VOCAB_SIZE_HELP),
    lower: bool = typer.Option(False, "--lower", help="Lowercase the text."),
    strip_punct: bool = typer.Option(False, "--strip-punct", help="Remove Unicode punctuation characters."),
    ascii_: bool = typer.Option(False, "--ascii", help="Fold to ASCII (accents, typographic quotes/dashes); drop what cannot be folded."),
    min_freq: int = typer.Option(1, "--min-freq", min=1, metavar="N", help="Words seen fewer than N times in training become <unk>."),
    max_vocab: int = typer.Option(
        None, "--max-vocab", min=4, metavar="N", help="Keep at most N symbols (reserved ones included); the rest become <unk>."
    ),
    valid_frac: float = typer.Option(0.1, "--valid-frac", metavar="F", callback=FRACTION, help="Fraction of tokens for the validation split."),
    test_frac: float = typer.Option(0.0, "--test-frac", metavar="F", callback=FRACTION, help="Fraction of tokens for the test split."),
    split: SplitMode = typer.Option(
        SplitMode.tail, "--split", help="tail: contiguous splits from the end; random: whole lines drawn at random (see --seed)."
    ),
    valid: list[str] = typer.Option([], "--valid", metavar="FILE", help="Use FILE as the validation split (repeatable; overrides --valid-frac)."),
    test: list[str] = typer.Option([], "--test", metavar="FILE", help="Use FILE as the test split (repeatable; overrides --test-frac)."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Seed for --split random."),
    errors: DecodeErrors = typer.Option(
        DecodeErrors.strict, "--errors", help="Invalid UTF-8: stop with an error, or replace it with U+FFFD."
    ),
    text_col: str = typer.Option(None, "--text-col", metavar="COL", help="Read one column of a CSV/TSV table with a header (by name or number from 1): one record per line."),
    text_field: str = typer.Option(None, "--text-field", metavar="NAME", help="Read one field of JSONL records: one record per line."),
    jobs: int = typer.Option(
        None, "-j", "--jobs", min=1, metavar="N",
        help="Processes that split Treebank words of a large input (default: the usable CPUs, at most 8); the corpus is the same for any N.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the statistics as JSON on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or statistics table."),
) -> None:
    """Prepare a corpus: tokenize, build a frequency-ordered vocabulary, encode, split.

    Writes a directory (corpus.json + memory-mappable .npy id arrays) that
    train-lm reads directly. The vocabulary comes from the training split;
    <pad>=0, <unk>=1, <eos>=2. Word level puts <eos> at every line end; char
    level keeps the newline character.
    """
    import rnntool

    with byte_progress("reading", rnntool.text_size([*inputs, *valid, *test]), quiet) as advance:
        result = rnntool.prep(inputs, output, level=value(level), tokenizer=tokenizer.value, lower=lower,
                              strip_punct=strip_punct, ascii=ascii_, min_freq=min_freq, max_vocab=max_vocab,
                              vocab_size=vocab_size,
                              valid_frac=valid_frac, test_frac=test_frac, split=split.value, valid=valid, test=test,
                              seed=seed, errors=errors.value, text_col=text_col, text_field=text_field, jobs=jobs,
                              progress=advance)
    stats = result.to_dict()
    if json_out:
        print_json(stats)
    if not quiet:
        err_console().print(stats_table(stats))


def stats_table(stats: dict):
    from rich.table import Table

    table = Table(title=f"prepared corpus → {stats['output']}", show_header=False, title_justify="left")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    split_tokens = stats["split_tokens"]
    unk = stats["unk_rate"]
    table.add_row("level", stats["level"])
    table.add_row("lines", f"{stats['lines']:,}")
    table.add_row("characters", f"{stats['characters']:,}")
    table.add_row("tokens", f"{stats['tokens']:,}")
    table.add_row("vocabulary (with reserved)", f"{stats['vocab_size']:,}")
    table.add_row("types in training split", f"{stats['train_types']:,}")
    for split_name, n in split_tokens.items():
        if n:
            table.add_row(f"{split_name} tokens", f"{n:,}  ({unk[split_name]:.2%} <unk>)")
    for n, frac in stats["coverage"].items():
        table.add_row(f"top-{int(n):,} coverage", f"{frac:.2%}")
    return table
