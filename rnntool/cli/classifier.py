"""rnntool train-classifier / classify / eval-classifier: many-to-one text classification."""

from __future__ import annotations

import json
import os
import sys

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, model_completion, open_model, print_json
from rnntool.cli.options import (
    CLASSIFY_LABELLED, FRACTION, JOBS_HELP, OPEN_PROBABILITY, DecodeErrors, Level, Pool, TrainingOptions, WordTokenizer, choices, labelled_input,
    training_command, value,
)
from rnntool.config import CLASS_WEIGHTS, CLASSIFY_OUTPUTS
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


@training_command(app, "train-classifier", "classifier", TRAIN_CLASSIFIER_HELP)
@labelled_input()
def train_classifier_command(
    train: str = typer.Argument(..., metavar="TRAIN", help="Labelled texts (see --format); - for stdin."),
    dev: str = typer.Option(None, "--dev", metavar="DEV", help="Dev data in the same layout [default: a stratified 10% of TRAIN, see --dev-frac]."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL", help="Model file [default: next to TRAIN, e.g. train.classifier.safetensors]."),
    dev_frac: float = typer.Option(0.1, "--dev-frac", metavar="F", callback=FRACTION, help="Without --dev: hold out this fraction of TRAIN (stratified by label)."),
    level: Level = typer.Option(Level.word, "--level", help="Tokens are words or characters."),
    tokenizer: WordTokenizer = typer.Option(WordTokenizer.treebank, "--tokenizer", help="Word splitting: NLTK's Treebank rules, or whitespace (pre-tokenized text; Korean eojeol)."),
    lower: bool = typer.Option(False, "--lower", help="Lowercase the text before tokenizing (word features are lowercased anyway; characters keep their case)."),
    pool: Pool = typer.Option(None, "--pool", help="One vector per text from the top layer: its last states (forward at the end, backward at the start), the mean or max over time, or attention [max]."),
    bidirectional: bool = typer.Option(None, "--bidirectional/--unidirectional", help="Read each text both ways [bidirectional]."),
    word_emb: int = typer.Option(None, "--word-emb", min=1, metavar="N", help="Word embedding size [100]."),
    char_filters: int = typer.Option(None, "--char-filters", min=0, metavar="N", help="Character-CNN filters; 0 turns character features off [64; 0 at char level]."),
    case_emb: int = typer.Option(None, "--case-emb", min=0, metavar="N", help="Casing-feature embedding size; 0 turns it off [8]."),
    min_word_freq: int = typer.Option(None, "--min-word-freq", min=1, metavar="N", help="Words seen fewer than N times get no embedding of their own [2]."),
    max_vocab: int = typer.Option(None, "--max-vocab", min=3, metavar="N", help="At most N words with an embedding of their own (the most frequent)."),
    max_length: int = typer.Option(None, "--max-length", min=1, metavar="N", help="Texts are cut to their first N tokens, in training and classifying alike [400]."),
    class_weight: ClassWeight = typer.Option(None, "--class-weight", help="balanced: weigh each class by the inverse of its frequency (rare classes count as much as common ones) [none]."),
    calibrate: bool = typer.Option(None, "--calibrate/--no-calibrate", help="Fit a temperature on the dev set so that probabilities mean what they say [calibrate]."),
    threshold: float = typer.Option(None, "--threshold", metavar="P", callback=OPEN_PROBABILITY, help="Multi-label: predict every class whose probability reaches P [0.5]."),
    init_from: str = typer.Option(None, "--init-from", metavar="LM", help="Start the encoder from an rnntool language model (its vocabulary, tokenizer and recurrent layers; unidirectional), as ULMFiT does."),
    fmt=None,
    options: TrainingOptions = None,
) -> None:
    from rnntool.cli.training import run_training
    from rnntool.text.tokenize import TokenizerSettings
    from rnntool.train.classifier import train_classifier

    def rows(result: dict) -> list[tuple[str, str]]:
        out = [("input", f"{result['format']}, {result['classes']} classes"
                         + (" (multi-label)" if result["multilabel"] else "")),
               ("train / dev texts", f"{result['train_texts']:,} / {result['dev_texts']:,}")]
        cal = result.get("calibration")
        if cal:
            out.append(("calibration", f"T {cal['temperature']:.3f}: dev ECE {cal['dev_ece_before']:.4f} -> "
                                       f"{cal['dev_ece_after']:.4f}"))
        return out

    model_options = options.model_options(pool=pool, bidirectional=bidirectional, word_emb=word_emb,
                                          char_filters=char_filters, case_emb=case_emb, max_length=max_length,
                                          threshold=threshold)
    train_options = options.train_options(min_word_freq=min_word_freq, max_vocab=max_vocab, class_weight=class_weight,
                                          calibrate=calibrate)
    run_training(
        "classifier",
        lambda **run: train_classifier(
            train, output, dev_spec=dev, fmt=fmt, dev_frac=dev_frac, init_from=init_from,
            settings=TokenizerSettings(value(level), value(tokenizer), lower), model_options=model_options,
            train_options=train_options, resume=options.resume, record=options.record(),
            errors=value(options.errors), on_message=lambda m: info(f"rnntool: {m}", options.quiet), **run),
        options, "loss", "classifier", rows, unit="texts",
    )


@app.command("classify")
@handle_errors
@labelled_input(CLASSIFY_LABELLED)
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
    fmt=None,
) -> None:
    """Classify texts: one output line per input line, streamed (a line is answered as soon
    as it arrives). Runs on numpy (no torch)."""
    from rnntool.parallel import default_jobs
    from rnntool.runtime.classify_io import ClassifyAnswers
    from rnntool.runtime.stream import answer_stream
    from rnntool.text.labelled import read_examples

    answers = ClassifyAnswers(open_model("classifier", model, quiet), jsonl=fmt_out == ClassifyOutput.jsonl,
                              top_k=top_k, threshold=threshold, keep_input=keep_input,
                              warn=lambda message: info(message, quiet))
    examples = read_examples(input_file, fmt, value(errors), labelled=False,
                             on_detect=lambda f: f.name != "text" and info(f"rnntool: reading {input_file} as "
                                                                          f"{f.describe()}", quiet))
    answer_stream(examples, answers, batch, sys.stdout, default_jobs() if jobs is None else jobs)


@app.command("eval-classifier")
@handle_errors
@labelled_input()
def eval_classifier_command(
    data: str = typer.Argument(..., metavar="DATA", help="Labelled texts, in any train-classifier layout."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("classifier"), help="Classifier [default: as for rnntool classify]."),
    threshold: float = typer.Option(None, "--threshold", metavar="P", callback=OPEN_PROBABILITY, help="Multi-label decision threshold [the model's]."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print all scores as JSON, the full confusion matrix included."),
    plot: str = typer.Option(None, "--plot", metavar="FILE", help="Also draw the confusion matrix and a reliability diagram (.png, .svg or .pdf; needs matplotlib)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
    fmt=None,
) -> None:
    """Score a classifier: accuracy; per-class precision, recall, F1 and support; macro,
    micro and weighted averages; the confusion matrix; calibration (ECE, 15 bins); and
    ROC-AUC for two classes."""
    from rnntool.metrics import score_classes
    from rnntool.text.labelled import read_examples

    if plot is not None:
        from rnntool.charts import image_format

        image_format(plot)  # a bad name fails now, not after the evaluation
    classifier = open_model("classifier", model, quiet)
    if plot is not None and classifier.cfg.multilabel:
        raise RnntoolError("--plot draws a confusion matrix, which a multi-label model does not have")
    examples = list(read_examples(data, fmt, value(errors),
                                  on_detect=lambda f: info(f"rnntool: reading {data} as {f.describe()}", quiet)))
    known = set(classifier.labels)
    unknown = sorted({c for e in examples for c in e.labels} - known)
    if unknown:
        info(f"rnntool: warning: {len(unknown)} class(es) in {data} the model does not know "
             f"({', '.join(unknown[:5])}); their texts count as errors", quiet)
    probs = classifier.probabilities([classifier.tokens(e.text) for e in examples])
    scores = score_classes([e.labels for e in examples], classifier.decide(probs, threshold), classifier.labels, probs,
                           classifier.cfg.multilabel)
    if plot is not None:
        _plot_scores(scores, plot, f"{os.path.basename(data)}: accuracy {scores['accuracy']:.4f}", quiet)
    if json_out:
        print_json(scores)
        return
    sys.stdout.write(render_class_scores(scores))


def _plot_scores(scores: dict, path: str, title: str, quiet: bool) -> None:
    from rnntool.charts import confusion_figure, save_figure

    matrix = scores["confusion_matrix"]
    save_figure(confusion_figure(matrix["labels"], matrix["counts"], title, scores.get("reliability")), path)
    info(f"rnntool: wrote the confusion matrix and reliability diagram to {path}", quiet)


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
