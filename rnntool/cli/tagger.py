"""rnntool train-tagger / tag / eval-tagger: BiLSTM part-of-speech and entity taggers."""

import os
import sys
from typing import Annotated

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, model_completion, open_model, print_json
from rnntool.cli.options import (
    FRACTION, JOBS_HELP, NON_NEGATIVE, Cell, DecodeErrors, Optimizer, Precision, Schedule, TaggedFormat, TagInput, TagOutput,
    TrainingOptions, training_option, value,
)
from rnntool.defaults import CHAR_LM_TAGGER_FLAGS, DEV_FRAC, default_text

TRAIN_TAGGER_HELP = """Train a BiLSTM tagger (part of speech or named entities) with character features.

Words, a character CNN (so unseen words still get good tags) and a casing
feature feed a BiLSTM; the output is a softmax or a CRF. IOB1 entity tags are
converted to IOB2. The dev score (accuracy, or entity F1 for IOB tags) picks
the best model; Ctrl-C leaves it and a checkpoint for --resume. Under torchrun
(torchrun ... -m rnntool -- train-tagger ...) every rank takes its share of each
batch and rank 0 alone writes the model.
"""


@app.command("train-tagger", help=TRAIN_TAGGER_HELP)
@handle_errors
def train_tagger_command(
    train: str = typer.Argument(..., metavar="TRAIN", help="Tagged training data: CoNLL-U, CoNLL columns, word/TAG lines, or nltk:treebank."),
    dev: str = typer.Option(None, "--dev", metavar="DEV", help=f"Dev data for model selection [default: {DEV_FRAC:.0%} of TRAIN, see --dev-frac]."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL", help="Model file [default: next to TRAIN, e.g. train.tagger.safetensors]."),
    fmt: TaggedFormat = typer.Option(TaggedFormat.auto, "--format", help="Input format (auto-detected by default)."),
    column: str = typer.Option(None, "--column", metavar="COL",
                               help="Tag column: upos/xpos for CoNLL-U [upos]; 1-based index for CoNLL files, negative from the end [-1]."),
    dev_frac: float = typer.Option(DEV_FRAC, "--dev-frac", metavar="F", callback=FRACTION,
                                   help="Without --dev: hold out this fraction of TRAIN sentences."),
    crf: bool = typer.Option(None, "--crf/--no-crf", help=f"CRF output layer with Viterbi decoding (good for entities) [{default_text('tagger', 'crf')}]."),
    char_filters: int = typer.Option(None, "--char-filters", min=0, metavar="N", help=f"Character-CNN filters; 0 turns character features off [{default_text('tagger', 'char_filters')}]."),
    word_emb: int = typer.Option(None, "--word-emb", min=1, metavar="N", help=f"Word embedding size [{default_text('tagger', 'word_emb')}]."),
    min_word_freq: int = typer.Option(None, "--min-word-freq", min=1, metavar="N", help=f"Words seen fewer than N times get no embedding of their own (smaller model) [{default_text('tagger', 'min_word_freq')}]."),
    lm_loss: float = typer.Option(None, "--lm-loss", metavar="W", callback=NON_NEGATIVE,
                                  help=f"Also train the first BiLSTM layer to predict the next and previous word, at weight W of the tag loss (helps unseen words; the prediction layers serve training only and are not saved) [{default_text('tagger', 'lm_loss')}]."),
    init_from: str = typer.Option(None, "--init-from", metavar="LM[,BACKWARD]", autocompletion=model_completion("lm"),
                                  help="Start from a word-level language model (a file or bundled name): its word embeddings (its words join the vocabulary; sets --word-emb) and, where --cell and --hidden agree, its first recurrent layer. A forward and a backward model (train-lm --reverse) joined by a comma: their embeddings side by side, each layer in the direction that reads as it does."),
    word_vectors: str = typer.Option(None, "--word-vectors", metavar="FILE",
                                     help="Start the word embeddings from pretrained vectors: word2vec, GloVe or fastText text format (.gz too). Their size sets --word-emb; the file's first 20,000 words join the vocabulary besides the training data's."),
    tune_vectors: bool = typer.Option(None, "--tune-vectors/--freeze-vectors", help=f"Train the rows --word-vectors gave, or keep them as they are (words without vectors learn either way) [{default_text('tagger', 'tune_vectors')}]."),
    char_lm: str = typer.Option(None, "--char-lm", metavar="FORWARD[,BACKWARD]", autocompletion=model_completion("lm"),
                                help=f"Character language models (files or bundled names; the backward one trained with train-lm --reverse) whose states at each word join its features: Akbik et al.'s contextual string embeddings. Frozen; the tagger's model file carries them, and tag computes them without torch. With them, unless given: {CHAR_LM_TAGGER_FLAGS} (said when chosen)."),
    # the training options every train-* command shares (rnntool.cli.options.SHARED)
    cell: Annotated[Cell | None, training_option("tagger", "cell")] = None,
    layers: Annotated[int | None, training_option("tagger", "layers")] = None,
    hidden: Annotated[int | None, training_option("tagger", "hidden")] = None,
    dropout: Annotated[float | None, training_option("tagger", "dropout")] = None,
    batch_size: Annotated[int | None, training_option("tagger", "batch_size")] = None,
    epochs: Annotated[int | None, training_option("tagger", "epochs")] = None,
    max_time: Annotated[float | None, training_option("tagger", "max_time")] = None,
    max_steps: Annotated[int | None, training_option("tagger", "max_steps")] = None,
    lr: Annotated[float | None, training_option("tagger", "lr")] = None,
    optimizer: Annotated[Optimizer | None, training_option("tagger", "optimizer")] = None,
    weight_decay: Annotated[float | None, training_option("tagger", "weight_decay")] = None,
    clip: Annotated[float | None, training_option("tagger", "clip")] = None,
    schedule: Annotated[Schedule | None, training_option("tagger", "schedule")] = None,
    warmup: Annotated[float | None, training_option("tagger", "warmup")] = None,
    patience: Annotated[int | None, training_option("tagger", "patience")] = None,
    eval_every: Annotated[int | None, training_option("tagger", "eval_every")] = None,
    seed: Annotated[int | None, training_option("tagger", "seed")] = None,
    device: Annotated[str | None, training_option("tagger", "device")] = None,
    precision: Annotated[Precision | None, training_option("tagger", "precision")] = None,
    resume: Annotated[str | None, training_option("tagger", "resume")] = None,
    log: Annotated[str | None, training_option("tagger", "log")] = None,
    half: Annotated[bool, training_option("tagger", "half")] = False,
    meta: Annotated[list[str] | None, training_option("tagger", "meta")] = None,
    errors: Annotated[DecodeErrors, training_option("tagger", "errors")] = DecodeErrors.strict,
    json_out: Annotated[bool, training_option("tagger", "json_out")] = False,
    quiet: Annotated[bool, training_option("tagger", "quiet")] = False,
) -> None:
    options = TrainingOptions.collect(locals())
    import rnntool
    from rnntool.cli.training import run_training

    def rows(result: dict) -> list[tuple[str, str]]:
        return [("input format", result["format"]),
                ("train / dev sentences", f"{result['train_sentences']:,} / {result['dev_sentences']:,}")]

    run_training(
        lambda **run: rnntool.train_tagger(
            train, output, dev=dev, format=value(fmt), column=column, dev_frac=dev_frac, crf=crf,
            char_filters=char_filters, word_emb=word_emb, min_word_freq=min_word_freq, lm_loss=lm_loss,
            init_from=init_from, word_vectors=word_vectors, tune_vectors=tune_vectors,
            char_lm=char_lm.split(",") if char_lm is not None else None, **options.api_options(), **run),
        options, "loss", "tagger", rows,
    )


@app.command("tag")
@handle_errors
def tag_command(
    input_file: str = typer.Argument("-", metavar="FILE", help="Text to tag; - for stdin."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("tagger"),
                              help="Tagger: a file or a bundled name [default: your latest trained, else $RNNTOOL_TAGGER, else the bundled en-ewt-upos]."),
    input_kind: TagInput = typer.Option(TagInput.auto, "--input",
                                        help="text: split sentences and words; tokens: one tokenized sentence per line; conll/conllu: keep the columns [auto: by file extension, else text]."),
    fmt: TagOutput = typer.Option(None, "--format",
                                  help="wordtag: word/TAG lines; tsv: token<TAB>tag, blank line between sentences; conllu; jsonl with confidences and entity spans [wordtag, or the input's CoNLL format]."),
    batch: int = typer.Option(1024, "--batch", min=1, metavar="N", help="Sentences tagged together at most; output is flushed per batch, and at once when the input pauses."),
    jobs: int = typer.Option(None, "-j", "--jobs", min=1, metavar="N", help=JOBS_HELP),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Tag text with a BiLSTM tagger: one output sentence per input sentence, streamed.

    Runs on numpy (no torch). Empty input gives empty output.
    """
    open_model("tagger", model, quiet).tag_file(input_file, sys.stdout, input=input_kind.value,
                                               format=None if fmt is None else fmt.value, batch_size=batch,
                                               jobs=jobs, errors=errors.value)


@app.command("eval-tagger")
@handle_errors
def eval_tagger_command(
    data: str = typer.Argument(..., metavar="DATA", help="Gold-tagged data (any train-tagger format)."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("tagger"), help="Tagger [default: as for rnntool tag]."),
    fmt: TaggedFormat = typer.Option(TaggedFormat.auto, "--format", help="Input format (auto-detected by default)."),
    column: str = typer.Option(None, "--column", metavar="COL", help="Gold tag column [the one the model was trained on]."),
    matrix: bool = typer.Option(False, "--matrix", help="Also print the full confusion matrix."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print all scores as JSON."),
    plot: str = typer.Option(None, "--plot", metavar="FILE", help="Also draw the confusion matrix as a heatmap (.png, .svg or .pdf; needs matplotlib)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Score a tagger: accuracy (overall, in- and out-of-vocabulary), per-tag P/R/F1,
    top confusions, and entity-span P/R/F1 by type for IOB taggers (conlleval rules)."""
    if plot is not None:
        from rnntool.plots import image_format

        image_format(plot)  # a bad name fails now, not after the evaluation
    scores = open_model("tagger", model, quiet).evaluate(data, format=fmt.value, column=column, errors=errors.value,
                                                         full_matrix=plot is not None).to_dict()
    if plot is not None:
        from rnntool.plots import plot_confusion

        plot_confusion(scores, plot, title=f"{os.path.basename(data)}: accuracy {scores['accuracy']:.4f}")
        scores.pop("full_confusion")
        info(f"rnntool: wrote the confusion matrix to {plot}", quiet)
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
