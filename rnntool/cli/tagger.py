"""rnntool train-tagger / tag / eval-tagger: BiLSTM part-of-speech and entity taggers."""

from __future__ import annotations

import shlex
import sys
from enum import Enum

import typer

from rnntool.cli import app
from rnntool.cli.common import err_console, handle_errors, info, parse_meta, print_json
from rnntool.cli.lm import PRECISION_HELP, Precision
from rnntool.cli.prep import DecodeErrors


class DataFormat(str, Enum):
    auto = "auto"
    conllu = "conllu"
    conll = "conll"
    wordtag = "wordtag"


class TagInput(str, Enum):
    auto = "auto"
    text = "text"
    tokens = "tokens"
    conll = "conll"
    conllu = "conllu"


class TagOutput(str, Enum):
    wordtag = "wordtag"
    tsv = "tsv"
    conllu = "conllu"
    jsonl = "jsonl"


@app.command("train-tagger")
@handle_errors
def train_tagger_command(
    train: str = typer.Argument(..., metavar="TRAIN", help="Tagged training data: CoNLL-U, CoNLL columns, word/TAG lines, or nltk:treebank."),
    dev: str = typer.Option(None, "--dev", metavar="DEV", help="Dev data for model selection [default: 10% of TRAIN, see --dev-frac]."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL", help="Model file [default: next to TRAIN, e.g. train.tagger.safetensors]."),
    fmt: DataFormat = typer.Option(DataFormat.auto, "--format", help="Input format (auto-detected by default)."),
    column: str = typer.Option(None, "--column", metavar="COL",
                               help="Tag column: upos/xpos for CoNLL-U [upos]; 1-based index for CoNLL files, negative from the end [-1]."),
    dev_frac: float = typer.Option(0.1, "--dev-frac", metavar="F", help="Without --dev: hold out this fraction of TRAIN sentences."),
    crf: bool = typer.Option(None, "--crf/--no-crf", help="CRF output layer with Viterbi decoding (good for entities) [no]."),
    char_filters: int = typer.Option(None, "--char-filters", min=0, metavar="N", help="Character-CNN filters; 0 turns character features off [64]."),
    word_emb: int = typer.Option(None, "--word-emb", min=1, metavar="N", help="Word embedding size [100]."),
    min_word_freq: int = typer.Option(None, "--min-word-freq", min=1, metavar="N", help="Words seen fewer than N times get no embedding of their own (smaller model) [2]."),
    hidden: int = typer.Option(None, "--hidden", min=1, metavar="N", help="BiLSTM units per direction [128]."),
    layers: int = typer.Option(None, "--layers", min=1, metavar="N", help="BiLSTM layers [1]."),
    dropout: float = typer.Option(None, "--dropout", metavar="P", help="Dropout [0.33]."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, metavar="B", help="Sentences per batch [32]."),
    epochs: int = typer.Option(None, "--epochs", min=1, metavar="N", help="Passes over the data [20, or unbounded with --max-time]."),
    max_time: float = typer.Option(None, "--max-time", metavar="SECONDS", help="Training time budget; the schedule fits it."),
    lr: float = typer.Option(None, "--lr", metavar="LR", help="Learning rate [2e-3]."),
    patience: int = typer.Option(None, "--patience", min=1, metavar="N", help="Stop after N dev evaluations without improvement [10]."),
    lm_loss: float = typer.Option(None, "--lm-loss", min=0.0, metavar="W",
                                  help="Also train the first BiLSTM layer to predict the next and previous word, at weight W of the tag loss (helps unseen words; the prediction layers serve training only and are not saved) [0]."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Random seed."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda or mps."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help=PRECISION_HELP),
    resume: str = typer.Option(None, "--resume", metavar="CHECKPOINT", help="Continue an interrupted run (same TRAIN)."),
    log: str = typer.Option(None, "--log", metavar="FILE.jsonl", help="Append every training event as a JSON line."),
    half: bool = typer.Option(False, "--half", help="Store the weights as float16: half the file size (inference still computes in float32)."),
    meta: list[str] = typer.Option([], "--meta", metavar="KEY=VALUE", help="Record KEY=VALUE in the model file (e.g. licence=...; repeatable)."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout (default: the model path)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress or summary on stderr."),
) -> None:
    """Train a BiLSTM tagger (part of speech or named entities) with character features.

    Words, a character CNN (so unseen words still get good tags) and a casing
    feature feed a BiLSTM; the output is a softmax or a CRF. IOB1 entity tags are
    converted to IOB2. The dev score (accuracy, or entity F1 for IOB tags) picks
    the best model; Ctrl-C leaves it and a checkpoint for --resume.
    """
    from rnntool.cli.lm import GracefulStop
    from rnntool.cli.training_display import TrainingDisplay, summary_table
    from rnntool.train.tagger import train_tagger
    from rnntool.userstate import remember_latest

    model_options = dict(crf=crf, char_filters=char_filters, word_emb=word_emb, hidden=hidden, layers=layers,
                         dropout=dropout)
    train_options = dict(batch_size=batch_size, epochs=epochs, max_time=max_time, lr=lr, patience=patience,
                         seed=seed, device=device, precision=precision.value, min_word_freq=min_word_freq,
                         lm_loss=lm_loss, half=half or None)
    record = {"command": shlex.join(["rnntool", *sys.argv[1:]]), **parse_meta(meta)}
    with TrainingDisplay(quiet, log, "loss", unit="tok") as display, GracefulStop() as stop:
        result, path = train_tagger(train, output, dev_spec=dev, fmt=fmt.value, column=column, dev_frac=dev_frac,
                                    model_options=model_options, train_options=train_options, resume=resume,
                                    record=record, on_event=display, should_stop=stop, errors=errors.value)
    remember_latest("tagger", path)
    if not quiet:
        rows = [(f"best dev {k}", f"{v:.4f}") for k, v in result["valid"].items()]
        rows += [("stopped", result["stop_reason"]), ("epochs", f"{result['epochs']:.2f}"),
                 ("train / dev sentences", f"{result['train_sentences']:,} / {result['dev_sentences']:,}"),
                 ("training time", f"{result['train_seconds']:.1f} s"), ("parameters", f"{result['params']:,}"),
                 ("model", str(path))]
        if result.get("checkpoint"):
            rows.append(("checkpoint", f"{result['checkpoint']}  (continue with --resume)"))
        err_console().print(summary_table(f"tagger ({result['format']} input)", rows))
    if json_out:
        print_json({k: v for k, v in result.items() if k != "history"})
    else:
        sys.stdout.write(f"{path}\n")


def open_tagger(model: str | None, quiet: bool):
    from rnntool.errors import RnntoolError
    from rnntool.models import BUNDLED_TAGGER
    from rnntool.runtime.tagger import Tagger
    from rnntool.userstate import resolve_model

    path, why = resolve_model("tagger", model, BUNDLED_TAGGER)
    if not path:
        raise RnntoolError("no tagger: train one with rnntool train-tagger or pass -m MODEL")
    if why != "given with -m":
        info(f"rnntool: using {path} ({why})", quiet)
    return Tagger.load(path)


@app.command("tag")
@handle_errors
def tag_command(
    input_file: str = typer.Argument("-", metavar="FILE", help="Text to tag; - for stdin."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL",
                              help="Tagger [default: your latest trained, else $RNNTOOL_TAGGER, else the bundled English UPOS model]."),
    input_kind: TagInput = typer.Option(TagInput.auto, "--input",
                                        help="text: split sentences and words; tokens: one tokenized sentence per line; conll/conllu: keep the columns [auto: by file extension, else text]."),
    fmt: TagOutput = typer.Option(None, "--format",
                                  help="wordtag: word/TAG lines; tsv: token<TAB>tag, blank line between sentences; conllu; jsonl with confidences and entity spans [wordtag, or the input's CoNLL format]."),
    batch: int = typer.Option(1024, "--batch", min=1, metavar="N", help="Sentences tagged together at most; output is flushed per batch, and at once when the input pauses."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Tag text with a BiLSTM tagger: one output sentence per input sentence, streamed.

    Runs on numpy (no torch). Empty input gives empty output.
    """
    from rnntool.runtime.tag_io import tag_stream

    tagger = open_tagger(model, quiet)
    kind = input_kind.value
    if kind == "auto":
        lower = input_file.lower()
        kind = "conllu" if lower.endswith(".conllu") else "conll" if lower.endswith((".conll", ".iob", ".bio")) else "text"
    out_fmt = fmt.value if fmt is not None else ("conllu" if kind == "conllu" else "conll" if kind == "conll" else "wordtag")
    tag_stream(tagger, input_file, kind, out_fmt, batch, errors.value, sys.stdout)


@app.command("eval-tagger")
@handle_errors
def eval_tagger_command(
    data: str = typer.Argument(..., metavar="DATA", help="Gold-tagged data (any train-tagger format)."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", help="Tagger [default: as for rnntool tag]."),
    fmt: DataFormat = typer.Option(DataFormat.auto, "--format", help="Input format (auto-detected by default)."),
    column: str = typer.Option(None, "--column", metavar="COL", help="Gold tag column [the one the model was trained on]."),
    matrix: bool = typer.Option(False, "--matrix", help="Also print the full confusion matrix."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print all scores as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Score a tagger: accuracy (overall, in- and out-of-vocabulary), per-tag P/R/F1,
    top confusions, and entity-span P/R/F1 by type for IOB taggers (conlleval rules)."""
    from rnntool.evaluation import score_tags
    from rnntool.text.tagged import iob1_to_iob2, read_tagged

    tagger = open_tagger(model, quiet)
    cfg = tagger.cfg
    sentences, _ = read_tagged(data, fmt.value, column if column is not None else cfg.column, errors.value)
    gold = [iob1_to_iob2(s.tags) if cfg.scheme else s.tags for s in sentences]
    pred, _ = tagger.tag([s.words for s in sentences])
    in_vocab = [[tagger.in_vocabulary(w) for w in s.words] for s in sentences]
    scores = score_tags(gold, pred, in_vocab, iob=cfg.scheme is not None)
    if not matrix:
        scores.pop("confusion_matrix")
    if json_out:
        print_json(scores)
        return
    sys.stdout.write(render_scores(scores, matrix))


def render_scores(s: dict, matrix: bool) -> str:
    lines = [f"tokens {s['tokens']:,}  accuracy {s['accuracy']:.4f}"]
    if s.get("iv_accuracy") is not None:
        oov = "-" if s["oov_accuracy"] is None else f"{s['oov_accuracy']:.4f}"
        lines.append(f"in-vocabulary accuracy {s['iv_accuracy']:.4f}  out-of-vocabulary accuracy {oov} "
                     f"({s['oov_tokens']:,} OOV tokens)")
    if "spans" in s:
        sp = s["spans"]
        lines.append(f"entities: precision {sp['precision']:.4f}  recall {sp['recall']:.4f}  f1 {sp['f1']:.4f}  "
                     f"({sp['gold_spans']:,} gold, {sp['predicted_spans']:,} predicted)")
        lines.append(f"{'type':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for t, v in sp["by_type"].items():
            lines.append(f"{t:<12}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10,}")
    lines.append("")
    lines.append(f"{'tag':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for t, v in s["per_tag"].items():
        lines.append(f"{t:<12}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10,}")
    for name in ("macro", "micro"):
        v = s[name]
        lines.append(f"{name + ' avg':<12}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}")
    if s["confusions"]:
        lines.append("")
        lines.append("top confusions (gold -> predicted):")
        for c in s["confusions"]:
            lines.append(f"  {c['gold']} -> {c['predicted']}: {c['count']:,}")
    if matrix:
        lines.append("")
        lines.append("confusion matrix (gold<TAB>predicted<TAB>count, errors only):")
        for key, count in sorted(s["confusion_matrix"].items(), key=lambda kv: -kv[1]):
            lines.append(f"{key}\t{count}")
    return "\n".join(lines) + "\n"
