"""rnntool train-classifier / classify / eval-classifier: many-to-one text classification."""

import os
import sys
from typing import Annotated

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, model_completion, open_model, print_json
from rnntool.cli.options import (
    FRACTION, JOBS_HELP, OPEN_PROBABILITY, Cell, ClassifyInput, ClassifyInputOption, DecodeErrors, LabelCol,
    LabelField, LabelledFormatChoice, LabelledFormatOption, LabelSep, Level, Optimizer, Pool, Precision, Schedule,
    TOKENIZER_HELP, VOCAB_SIZE_HELP, TextCol, TextField, TrainingOptions, WordTokenizer, choices, training_option, value,
)
from rnntool.defaults import CLASS_WEIGHTS, CLASSIFY_OUTPUTS, DEV_FRAC, default_text
from rnntool.errors import RnntoolError

ClassWeight = choices("ClassWeight", CLASS_WEIGHTS)
ClassifyOutput = choices("ClassifyOutput", CLASSIFY_OUTPUTS)

TRAIN_CLASSIFIER_HELP = """Train a text classifier: spam or ham, sentiment, topics; one label or several per text.

Token features (word embedding, character CNN, casing) feed a stacked (Bi)LSTM/GRU/RNN
whose outputs are pooled into one vector per text, then dropout and one output per
class: a softmax, or independent sigmoids when a text may have several labels. The
input layout is detected (and said) unless --format gives it. The dev accuracy (or
micro-F1 for multi-label data) picks the best model; then a temperature fitted on the
dev set calibrates its probabilities. Ctrl-C leaves the best model and a checkpoint
for --resume; torchrun works as for the other train-* commands.
"""


@app.command("train-classifier", help=TRAIN_CLASSIFIER_HELP)
@handle_errors
def train_classifier_command(
    train: str = typer.Argument(..., metavar="TRAIN", help="Labelled texts (see --format); - for stdin."),
    dev: str = typer.Option(None, "--dev", metavar="DEV", help=f"Dev data in the same layout [default: a stratified {DEV_FRAC:.0%} of TRAIN, see --dev-frac]."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL", help="Model file [default: next to TRAIN, e.g. train.classifier.safetensors]."),
    dev_frac: float = typer.Option(DEV_FRAC, "--dev-frac", metavar="F", callback=FRACTION, help="Without --dev: hold out this fraction of TRAIN (stratified by label)."),
    level: Level = typer.Option(Level.word, "--level", help="Tokens are words or characters."),
    tokenizer: WordTokenizer = typer.Option(None, "--tokenizer", help=f"{TOKENIZER_HELP} [{default_text('classifier', 'tokenizer')}]."),
    vocab_size: int = typer.Option(None, "--vocab-size", min=1, metavar="N", help=VOCAB_SIZE_HELP),
    lower: bool = typer.Option(False, "--lower", help="Lowercase the text before tokenizing (word features are lowercased anyway; characters keep their case)."),
    pool: Pool = typer.Option(None, "--pool", help=f"One vector per text from the top layer: its last states (forward at the end, backward at the start), the mean or max over time, or attention [{default_text('classifier', 'pool')}]."),
    bidirectional: bool = typer.Option(None, "--bidirectional/--unidirectional", help=f"Read each text both ways [{default_text('classifier', 'bidirectional')}]."),
    word_emb: int = typer.Option(None, "--word-emb", min=1, metavar="N", help=f"Word embedding size [{default_text('classifier', 'word_emb')}]."),
    char_filters: int = typer.Option(None, "--char-filters", min=0, metavar="N", help=f"Character-CNN filters; 0 turns character features off [{default_text('classifier', 'char_filters')}]."),
    case_emb: int = typer.Option(None, "--case-emb", min=0, metavar="N", help=f"Casing-feature embedding size; 0 turns it off [{default_text('classifier', 'case_emb')}]."),
    min_word_freq: int = typer.Option(None, "--min-word-freq", min=1, metavar="N", help=f"Words seen fewer than N times get no embedding of their own [{default_text('classifier', 'min_word_freq')}]."),
    max_vocab: int = typer.Option(None, "--max-vocab", min=3, metavar="N", help="At most N words with an embedding of their own (the most frequent)."),
    max_length: int = typer.Option(None, "--max-length", min=1, metavar="N", help=f"Texts are cut to their first N tokens, in training and classifying alike [{default_text('classifier', 'max_length')}]."),
    class_weight: ClassWeight = typer.Option(None, "--class-weight", help=f"balanced: weigh each class by the inverse of its frequency (rare classes count as much as common ones) [{default_text('classifier', 'class_weight')}]."),
    calibrate: bool = typer.Option(None, "--calibrate/--no-calibrate", help=f"Fit a temperature on the dev set so that probabilities mean what they say [{default_text('classifier', 'calibrate')}]."),
    threshold: float = typer.Option(None, "--threshold", metavar="P", callback=OPEN_PROBABILITY, help=f"Multi-label: predict every class whose probability reaches P [{default_text('classifier', 'threshold')}]."),
    pretrain: bool = typer.Option(None, "--pretrain/--no-pretrain", help=f"Train a word language model on the training texts first, for a share of --max-time, and start the classifier from it (the LM is written beside the model, as NAME.lm.safetensors) [{default_text('classifier', 'pretrain')}]."),
    init_from: str = typer.Option(None, "--init-from", metavar="LM[,BACKWARD]", autocompletion=model_completion("lm"), help="Start the encoder from an rnntool language model (its vocabulary, tokenizer and recurrent layers; unidirectional), as ULMFiT does. A forward and a backward model (train-lm --reverse, the same tokenizer and shape) joined by a comma make it bidirectional: their embeddings side by side, each direction starting as its model."),
    word_vectors: str = typer.Option(None, "--word-vectors", metavar="FILE",
                                     help="Start the word embeddings from pretrained vectors: word2vec, GloVe or fastText text format (.gz too). Their size sets --word-emb; the file's first 20,000 words join the vocabulary besides the training data's."),
    tune_vectors: bool = typer.Option(None, "--tune-vectors/--freeze-vectors", help=f"Train the rows --word-vectors gave, or keep them as they are (words without vectors learn either way) [{default_text('classifier', 'tune_vectors')}]."),
    # how the labelled texts are read
    layout: LabelledFormatOption = LabelledFormatChoice.auto,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    text_field: TextField = "text",
    label_field: LabelField = "label",
    label_sep: LabelSep = None,
    # the training options every train-* command shares (rnntool.cli.options.SHARED)
    cell: Annotated[Cell | None, training_option("classifier", "cell")] = None,
    layers: Annotated[int | None, training_option("classifier", "layers")] = None,
    hidden: Annotated[int | None, training_option("classifier", "hidden")] = None,
    dropout: Annotated[float | None, training_option("classifier", "dropout")] = None,
    batch_size: Annotated[int | None, training_option("classifier", "batch_size")] = None,
    epochs: Annotated[int | None, training_option("classifier", "epochs")] = None,
    max_time: Annotated[float | None, training_option("classifier", "max_time")] = None,
    max_steps: Annotated[int | None, training_option("classifier", "max_steps")] = None,
    lr: Annotated[float | None, training_option("classifier", "lr")] = None,
    optimizer: Annotated[Optimizer | None, training_option("classifier", "optimizer")] = None,
    weight_decay: Annotated[float | None, training_option("classifier", "weight_decay")] = None,
    clip: Annotated[float | None, training_option("classifier", "clip")] = None,
    schedule: Annotated[Schedule | None, training_option("classifier", "schedule")] = None,
    warmup: Annotated[float | None, training_option("classifier", "warmup")] = None,
    patience: Annotated[int | None, training_option("classifier", "patience")] = None,
    eval_every: Annotated[int | None, training_option("classifier", "eval_every")] = None,
    seed: Annotated[int | None, training_option("classifier", "seed")] = None,
    device: Annotated[str | None, training_option("classifier", "device")] = None,
    precision: Annotated[Precision | None, training_option("classifier", "precision")] = None,
    resume: Annotated[str | None, training_option("classifier", "resume")] = None,
    log: Annotated[str | None, training_option("classifier", "log")] = None,
    half: Annotated[bool, training_option("classifier", "half")] = False,
    meta: Annotated[list[str] | None, training_option("classifier", "meta")] = None,
    errors: Annotated[DecodeErrors, training_option("classifier", "errors")] = DecodeErrors.strict,
    json_out: Annotated[bool, training_option("classifier", "json_out")] = False,
    quiet: Annotated[bool, training_option("classifier", "quiet")] = False,
) -> None:
    options = TrainingOptions.collect(locals())
    import rnntool
    from rnntool.cli.training import run_training

    def rows(result: dict) -> list[tuple[str, str]]:
        out = [("input", f"{result['format']}, {result['classes']} classes"
                         + (" (multi-label)" if result["multilabel"] else "")),
               ("train / dev texts", f"{result['train_texts']:,} / {result['dev_texts']:,}")]
        pre = result.get("pretraining")
        if pre:
            out.append(("pretrained LM", f"{pre['seconds']:.0f} s, {pre['steps']:,} steps, valid ppl "
                                         f"{pre['valid_ppl']:.1f}: {pre['model']}"))
        cal = result.get("calibration")
        if cal:
            out.append(("calibration", f"T {cal['temperature']:.3f}: dev ECE {cal['dev_ece_before']:.4f} -> "
                                       f"{cal['dev_ece_after']:.4f}"))
        return out

    run_training(
        lambda **run: rnntool.train_classifier(
            train, output, dev=dev, dev_frac=dev_frac, format=value(layout), text_col=text_col, label_col=label_col,
            text_field=text_field, label_field=label_field, label_sep=label_sep, level=value(level),
            tokenizer=value(tokenizer), vocab_size=vocab_size, lower=lower, pool=value(pool), bidirectional=bidirectional,
            word_emb=word_emb, char_filters=char_filters, case_emb=case_emb, min_word_freq=min_word_freq,
            max_vocab=max_vocab, max_length=max_length, class_weight=value(class_weight), calibrate=calibrate,
            threshold=threshold, init_from=init_from, word_vectors=word_vectors, tune_vectors=tune_vectors, pretrain=pretrain, **options.api_options(), **run),
        options, "loss", "classifier", rows, unit="texts",
    )


@app.command("classify")
@handle_errors
def classify_command(
    input_file: str = typer.Argument("-", metavar="FILE", help="Texts to classify, one per line (or see --input); - for stdin."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("classifier"),
                              help="Classifier: a file or a bundled name [default: your latest trained, else $RNNTOOL_CLASSIFIER]."),
    fmt_out: ClassifyOutput = typer.Option(ClassifyOutput.tsv, "--format", help="tsv: label<TAB>probability (more pairs with --top-k or for multi-label); jsonl: the text, its labels and every class's probability."),
    top_k: int = typer.Option(1, "--top-k", min=1, metavar="K", help="Single-label: the K most likely classes, best first."),
    threshold: float = typer.Option(None, "--threshold", metavar="P", callback=OPEN_PROBABILITY, help="Multi-label: every class whose probability reaches P [the model's, 0.5 by default]."),
    keep_input: bool = typer.Option(False, "--keep-input", help="Echo each input line after the answer (tsv: after a tab; jsonl: as \"input\")."),
    batch: int = typer.Option(1024, "--batch", min=1, metavar="N", help="Texts classified together at most; output is flushed per batch, and at once when the input pauses."),
    jobs: int = typer.Option(None, "-j", "--jobs", min=1, metavar="N", help=JOBS_HELP),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
    # how the texts are read
    layout: ClassifyInputOption = ClassifyInput.auto,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    text_field: TextField = "text",
    label_field: LabelField = "label",
    label_sep: LabelSep = None,
) -> None:
    """Classify texts: one output line per input line, streamed (a line is answered as soon
    as it arrives). Runs on numpy (no torch)."""
    open_model("classifier", model, quiet).classify_file(
        input_file, sys.stdout, input=value(layout), text_col=text_col, label_col=label_col, text_field=text_field,
        label_field=label_field, label_sep=label_sep, format=value(fmt_out), top_k=top_k, threshold=threshold,
        keep_input=keep_input, batch_size=batch, jobs=jobs, errors=value(errors))


@app.command("eval-classifier")
@handle_errors
def eval_classifier_command(
    data: str = typer.Argument(..., metavar="DATA", help="Labelled texts, in any train-classifier layout."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("classifier"), help="Classifier [default: as for rnntool classify]."),
    threshold: float = typer.Option(None, "--threshold", metavar="P", callback=OPEN_PROBABILITY, help="Multi-label decision threshold [the model's]."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print all scores as JSON, the full confusion matrix included."),
    plot: str = typer.Option(None, "--plot", metavar="FILE", help="Also draw the confusion matrix and a reliability diagram (.png, .svg or .pdf; needs matplotlib)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
    # how the labelled texts are read
    layout: LabelledFormatOption = LabelledFormatChoice.auto,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    text_field: TextField = "text",
    label_field: LabelField = "label",
    label_sep: LabelSep = None,
) -> None:
    """Score a classifier: accuracy; per-class precision, recall, F1 and support; macro,
    micro and weighted averages; the confusion matrix; calibration (ECE, 15 bins); and
    ROC-AUC for two classes."""
    if plot is not None:
        from rnntool.plots import image_format

        image_format(plot)  # a bad name fails now, not after the evaluation
    classifier = open_model("classifier", model, quiet)
    if plot is not None and classifier.multilabel:
        raise RnntoolError("--plot draws a confusion matrix, which a multi-label model does not have")
    scores = classifier.evaluate(data, format=value(layout), text_col=text_col, label_col=label_col,
                                 text_field=text_field, label_field=label_field, label_sep=label_sep,
                                 threshold=threshold, errors=value(errors)).to_dict()
    if plot is not None:
        from rnntool.plots import plot_confusion

        plot_confusion(scores, plot, title=f"{os.path.basename(data)}: accuracy {scores['accuracy']:.4f}")
        info(f"rnntool: wrote the confusion matrix and reliability diagram to {plot}", quiet)
    if json_out:
        print_json(scores)
        return
    sys.stdout.write(render_class_scores(scores))


def render_class_scores(s: dict) -> str:
    head = [f"texts {s['texts']:,}  accuracy {s['accuracy']:.4f}"]
    if "ece" in s:
        head.append(f"ECE {s['ece']:.4f}")
    if s.get("roc_auc") is not None:
        head.append(f"ROC-AUC {s['roc_auc']:.4f} ({s['positive_class']} positive)")
    width = max(12, *(len(c) + 2 for c in s["per_class"]))
    lines = ["  ".join(head), "", f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for c, v in s["per_class"].items():
        lines.append(f"{c:<{width}}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10,}")
    for name in ("macro", "micro", "weighted"):
        v = s[name]
        lines.append(f"{name + ' avg':<{width}}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}")
    matrix = s.get("confusion_matrix")
    if matrix and len(matrix["labels"]) <= 20:
        labels = matrix["labels"]
        cell = max(6, *(len(c) + 1 for c in labels), *(len(f"{n:,}") + 1 for row in matrix["counts"] for n in row))
        lines += ["", "confusion matrix (rows: gold, columns: predicted):",
                  " " * width + "".join(f"{c:>{cell}}" for c in labels)]
        for c, row in zip(labels, matrix["counts"]):
            lines.append(f"{c:<{width}}" + "".join(f"{n:>{cell},}" for n in row))
    return "\n".join(lines) + "\n"
