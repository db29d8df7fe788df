"""Option definitions the commands share.

Every command lists all of its options in its own signature. The training options
all train-* commands share are declared once, in :data:`SHARED` (flags, help,
parse-time check); a command lists each of them as

    hidden: Annotated[int | None, training_option("lm", "hidden")] = None,

where ``training_option`` makes the ``typer.Option`` with that kind's default in
brackets, read from ``rnntool.recipes`` (the one place defaults live), and
``TrainingOptions.collect(locals())`` gathers them for the command body. The
labelled-input options are plain ``Annotated`` aliases (``TextCol``, ...), and
``labelled_format`` builds a ``LabelledFormat`` from them. Choice enums come from
the tuples in ``rnntool.config``; numbers are checked at parse time (finite, in
range), so a bad value is a usage error (exit 2) before anything runs.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from rnntool import defaults
from rnntool.defaults import SUBWORD_VOCAB_SIZE, default_text


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str-valued Enum for Typer from one of config's choice tuples."""
    return Enum(name, {v: v for v in values}, type=str)


Cell = choices("Cell", defaults.CELLS)
Optimizer = choices("Optimizer", defaults.OPTIMIZERS)
Schedule = choices("Schedule", defaults.SCHEDULES)
Precision = choices("Precision", defaults.PRECISIONS)
Softmax = choices("Softmax", defaults.SOFTMAXES)
DecodeErrors = choices("DecodeErrors", defaults.DECODE_ERRORS)
Level = choices("Level", defaults.LEVELS)
WordTokenizer = choices("WordTokenizer", defaults.WORD_TOKENIZERS)
SplitMode = choices("SplitMode", defaults.SPLIT_MODES)

TOKENIZER_HELP = ("Word splitting: NLTK's Treebank rules, whitespace (pre-tokenized text such as PTB; Korean eojeol), "
                  "Kiwi's Korean morphemes (the Korean extra), or subword pieces learned from the training text by "
                  "SentencePiece, bpe or unigram (the subword extra; implies --level word; see --vocab-size)")
VOCAB_SIZE_HELP = ("With --tokenizer bpe/unigram: about this many subword pieces, learned from the training text "
                   f"(fewer where the text has fewer; the model file carries them) [{SUBWORD_VOCAB_SIZE}].")
TaggedFormat = choices("TaggedFormat", defaults.TAGGED_FORMATS)
TagInput = choices("TagInput", defaults.TAG_INPUTS)
TagOutput = choices("TagOutput", defaults.TAG_OUTPUTS)
Pool = choices("Pool", defaults.POOLS)


def value(option: Any) -> Any:
    """An Enum option's string, anything else as it is."""
    return option.value if isinstance(option, Enum) else option


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False):
    """A click callback: the value must be finite and within [low, high] (open ends as asked)."""

    def check(ctx, param, v):
        if v is None:
            return v
        if isinstance(v, float) and not math.isfinite(v):
            raise typer.BadParameter(f"{v} is not a finite number")
        if low is not None and (v < low or (low_open and v == low)):
            raise typer.BadParameter(f"{v:g} is too small: it must be {'>' if low_open else '>='} {low:g}")
        if high is not None and (v > high or (high_open and v == high)):
            raise typer.BadParameter(f"{v:g} is too large: it must be {'<' if high_open else '<='} {high:g}")
        return v

    return check


POSITIVE = number(0.0, low_open=True)
NON_NEGATIVE = number(0.0)
FRACTION = number(0.0, 1.0, high_open=True)  # probabilities such as dropout, fractions of a run
OPEN_PROBABILITY = number(0.0, 1.0, low_open=True, high_open=True)  # thresholds

JOBS_HELP = ("Processes that answer a large input (a file, or a pipe that keeps up) once its first "
             "batches are done [default: the usable CPUs, at most 8]; the output is the same for any N.")
TOP_P = number(0.0, 1.0, low_open=True)

PRECISION_HELP = ("Arithmetic of the training passes (weights and optimizer stay fp32): bf16 or fp16 autocast, fp32, "
                  "or auto: bf16 where the hardware does it natively (CPUs with AVX512-BF16/AMX for language models; "
                  "GPUs whose cuDNN has bf16 LSTM/GRU kernels), fp16 with loss scaling on other GPUs, else fp32.")


@dataclass(frozen=True)
class Shared:
    """One shared training option: its parameter name, flags, help and parse-time check. Where
    ``help`` holds ``{default}``, ``training_option`` puts the kind's default from the recipes."""

    name: str
    decls: tuple[str, ...]
    help: str
    metavar: str | None = None
    callback: Any = None
    min: int | None = None
    model: bool = False  # part of the model's configuration (else the training run's)

    def option(self, kind: str):
        text = self.help.format(default=default_text(kind, self.name)) if "{default}" in self.help else self.help
        kwargs = dict(help=text, callback=self.callback)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.min is not None:
            kwargs["min"] = self.min
        return typer.Option(*self.decls, **kwargs)


SHARED: tuple[Shared, ...] = (
    Shared("cell", ("--cell",), "Recurrent cell. [{default}]", model=True),
    Shared("layers", ("--layers",), "Stacked recurrent layers. [{default}]", "N", min=1, model=True),
    Shared("hidden", ("--hidden",), "Hidden units per layer (and direction). [{default}]", "N", min=1, model=True),
    Shared("dropout", ("--dropout",), "Dropout probability. [{default}]", "P", callback=FRACTION, model=True),
    Shared("batch_size", ("--batch-size",), "Batch size: parallel streams for language models, sentences "
           "or texts otherwise; the global batch under torchrun, split across ranks. [{default}]", "B", min=1),
    Shared("epochs", ("--epochs",), "Passes over the training data. [{default}]", "N", min=1),
    Shared("max_time", ("--max-time",), "Training time budget in seconds (validation included); "
           "the learning-rate schedule fits it.", "SECONDS", callback=POSITIVE),
    Shared("max_steps", ("--max-steps",), "Stop after N optimizer steps.", "N", min=1),
    Shared("lr", ("--lr",), "Learning rate. [{default}]", "LR", callback=POSITIVE),
    Shared("optimizer", ("--optimizer",), "Optimizer. [{default}]"),
    Shared("weight_decay", ("--weight-decay",), "Weight decay.", "W", callback=NON_NEGATIVE),
    Shared("clip", ("--clip",), "Gradient-norm clipping, 0 for none. [{default}]", "NORM", callback=NON_NEGATIVE),
    Shared("schedule", ("--schedule",), "Learning rate: cosine decay over the run, x0.25 on a "
           "validation plateau, or constant. [{default}]"),
    Shared("warmup", ("--warmup",), "Linear warm-up over this fraction of the run. [{default}]", "F",
           callback=FRACTION),
    Shared("patience", ("--patience",), "Stop after N validations without improvement. [{default}]", "N", min=1),
    Shared("eval_every", ("--eval-every",), "Validate every N steps as well as at the end of each epoch "
           "[{default}].", "STEPS", min=1),
    Shared("seed", ("--seed",), "Random seed (weights, dropout, data order) [{default}].", "S"),
    Shared("device", ("--device",), "auto, cpu, cuda, cuda:N or mps [{default}].", "DEVICE"),
    Shared("precision", ("--precision",), PRECISION_HELP + " [{default}]"),
    Shared("resume", ("--resume",), "Continue an interrupted run from its .ckpt file (same input); the budget, "
           "--patience, --half, --device and --precision may change.", "CHECKPOINT"),
    Shared("log", ("--log",), "Append every training event as a JSON line.", "FILE.jsonl"),
    Shared("half", ("--half",), "Store the weights as float16: half the file size (inference still "
           "computes in float32)."),
    Shared("meta", ("--meta",), "Record KEY=VALUE in the model file (e.g. licence=...; repeatable).", "KEY=VALUE"),
    Shared("errors", ("--errors",), "Invalid UTF-8 in text input: error or replace."),
    Shared("json_out", ("--json",), "Print the run summary as JSON on stdout (default: the model path)."),
    Shared("quiet", ("-q", "--quiet"), "No progress or summary on stderr."),
)
SHARED_BY_NAME = {s.name: s for s in SHARED}



def training_option(kind: str, name: str):
    """The ``typer.Option`` of shared training option ``name`` (see :data:`SHARED`) for
    train-``kind``: its flags, help with the kind's default in brackets, and checks. For
    ``Annotated[type, training_option(kind, name)]`` in a command's signature."""
    return SHARED_BY_NAME[name].option(kind)


@dataclass(frozen=True)
class TrainingOptions:
    """The shared options of one train-* invocation."""

    values: dict

    @classmethod
    def collect(cls, params: Mapping[str, Any]) -> TrainingOptions:
        """The shared options out of a train-* command's parameters (``locals()`` at its top)."""
        missing = [s.name for s in SHARED if s.name not in params]
        if missing:
            raise TypeError(f"a train-* command lacks the shared option(s) {', '.join(missing)}")
        return cls({s.name: params[s.name] for s in SHARED})

    def __getattr__(self, name: str):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def api_options(self) -> dict:
        """The shared options as rnntool.train_*'s keywords (enums as their strings)."""
        from rnntool.cli.common import parse_meta

        skip = ("json_out", "quiet", "meta")
        return {**{k: value(v) for k, v in self.values.items() if k not in skip},
                "meta": parse_meta(self.values["meta"] or []).get("meta"),
                "command": shlex.join(["rnntool", *sys.argv[1:]]),
                "remember": True}  # what a bare command then uses


# --- how labelled texts are read (train-classifier, eval-classifier, classify) ---------------

LabelledFormatChoice = choices("LabelledFormat", defaults.LABELLED_FORMATS)
ClassifyInput = choices("ClassifyInput", defaults.CLASSIFY_INPUTS)

LABELLED_FORMAT_HELP = ("Input layout: label<TAB>text lines (tsv), fastText __label__ lines, a CSV/TSV table with a "
                        "header (csv), or JSONL [auto: detected from the first lines, and said].")
CLASSIFY_INPUT_HELP = ("Input layout: one text per line (text), or any train-classifier layout, whose labels are then "
                       "ignored [auto: JSONL, fastText and headed tables are recognised; anything else is text].")

LabelledFormatOption = Annotated[LabelledFormatChoice, typer.Option("--format", help=LABELLED_FORMAT_HELP)]
ClassifyInputOption = Annotated[ClassifyInput, typer.Option("--input", help=CLASSIFY_INPUT_HELP)]
TextCol = Annotated[Optional[str], typer.Option(
    "--text-col", metavar="COL", help="Tables: the text column, by header name or number from 1 [detected from the "
    "header: text, document, sentence, review, ...].")]
LabelCol = Annotated[Optional[str], typer.Option(
    "--label-col", metavar="COL", help="Tables: the label column, by header name or number from 1 [detected: label, "
    "class, category, sentiment, ...].")]
TextField = Annotated[str, typer.Option("--text-field", metavar="NAME", help="JSONL: the text field.")]
LabelField = Annotated[str, typer.Option(
    "--label-field", metavar="NAME", help="JSONL: the label field (a string, or a list for multi-label data).")]
LabelSep = Annotated[Optional[str], typer.Option(
    "--label-sep", metavar="SEP", help="label<TAB>text and tables: several labels in one field, separated by SEP "
    "(multi-label).")]
