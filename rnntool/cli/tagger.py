"""rnntool train-tagger / tag / eval-tagger: BiLSTM part-of-speech and entity taggers."""

from __future__ import annotations

import os
import sys

import typer

from rnntool.cli import app
from rnntool.errors import RnntoolError
from rnntool.cli.common import handle_errors, info, model_completion, open_model, print_json
from rnntool.cli.options import FRACTION, JOBS_HELP, NON_NEGATIVE, DecodeErrors, TaggedFormat, TagInput, TagOutput, TrainingOptions, training_command

TRAIN_TAGGER_HELP = """Train a BiLSTM tagger (part of speech or named entities) with character features.

Words, a character CNN (so unseen words still get good tags) and a casing
feature feed a BiLSTM; the output is a softmax or a CRF. IOB1 entity tags are
converted to IOB2. The dev score (accuracy, or entity F1 for IOB tags) picks
the best model; Ctrl-C leaves it and a checkpoint for --resume. Under torchrun
(torchrun ... -m rnntool -- train-tagger ...) every rank takes its share of each
batch and rank 0 alone writes the model.
"""


@training_command(app, "train-tagger", "tagger", TRAIN_TAGGER_HELP)
def train_tagger_command(
    train: str = typer.Argument(..., metavar="TRAIN", help="Tagged training data: CoNLL-U, CoNLL columns, word/TAG lines, or nltk:treebank."),
    dev: str = typer.Option(None, "--dev", metavar="DEV", help="Dev data for model selection [default: 10% of TRAIN, see --dev-frac]."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL", help="Model file [default: next to TRAIN, e.g. train.tagger.safetensors]."),
    fmt: TaggedFormat = typer.Option(TaggedFormat.auto, "--format", help="Input format (auto-detected by default)."),
    column: str = typer.Option(None, "--column", metavar="COL",
                               help="Tag column: upos/xpos for CoNLL-U [upos]; 1-based index for CoNLL files, negative from the end [-1]."),
    dev_frac: float = typer.Option(0.1, "--dev-frac", metavar="F", callback=FRACTION,
                                   help="Without --dev: hold out this fraction of TRAIN sentences."),
    crf: bool = typer.Option(None, "--crf/--no-crf", help="CRF output layer with Viterbi decoding (good for entities) [no]."),
    char_filters: int = typer.Option(None, "--char-filters", min=0, metavar="N", help="Character-CNN filters; 0 turns character features off [64]."),
    word_emb: int = typer.Option(None, "--word-emb", min=1, metavar="N", help="Word embedding size [100]."),
    min_word_freq: int = typer.Option(None, "--min-word-freq", min=1, metavar="N", help="Words seen fewer than N times get no embedding of their own (smaller model) [2]."),
    lm_loss: float = typer.Option(None, "--lm-loss", metavar="W", callback=NON_NEGATIVE,
                                  help="Also train the first BiLSTM layer to predict the next and previous word, at weight W of the tag loss (helps unseen words; the prediction layers serve training only and are not saved) [0]."),
    options: TrainingOptions = None,
) -> None:
    from rnntool.cli.training import run_training
    from rnntool.train.tagger import train_tagger

    def rows(result: dict) -> list[tuple[str, str]]:
        return [("input format", result["format"]),
                ("train / dev sentences", f"{result['train_sentences']:,} / {result['dev_sentences']:,}")]

    run_training(
        "tagger",
        lambda **run: train_tagger(train, output, dev_spec=dev, fmt=fmt.value, column=column, dev_frac=dev_frac,
                                   model_options=options.model_options(crf=crf, char_filters=char_filters,
                                                                       word_emb=word_emb),
                                   train_options=options.train_options(min_word_freq=min_word_freq, lm_loss=lm_loss),
                                   resume=options.resume, record=options.record(), errors=options.errors.value, **run),
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
    from rnntool.parallel import default_jobs
    from rnntool.runtime.tag_io import tag_stream

    tagger = open_model("tagger", model, quiet)
    kind = input_kind.value
    if kind == "auto":
        lower = input_file.lower()
        kind = "conllu" if lower.endswith(".conllu") else "conll" if lower.endswith((".conll", ".iob", ".bio")) else "text"
    out_fmt = fmt.value if fmt is not None else ("conllu" if kind == "conllu" else "conll" if kind == "conll" else "wordtag")
    tag_stream(tagger, input_file, kind, out_fmt, batch, errors.value, sys.stdout,
               warn=lambda message: info(message, quiet), jobs=default_jobs() if jobs is None else jobs)


FOREIGN_TAGS_MAX = 0.5  # more gold tokens than this outside the model's tags: refuse to score


def _bundled_tagger_for(gold_tags: set[str]) -> str | None:
    """The bundled tagger whose tag set holds (nearly) all of these gold tags, if one does."""
    from rnntool.kinds import KINDS
    from rnntool.modelfile import read_header

    for bundled in KINDS["tagger"].bundled:
        tags = set(read_header(bundled.path)["config"]["tags"])
        if len(gold_tags & tags) >= 0.9 * len(gold_tags):
            return bundled.name
    return None


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
    from collections import Counter

    from rnntool.metrics import score_tags
    from rnntool.text.tagged import iob1_to_iob2, read_tagged

    if plot is not None:
        from rnntool.charts import image_format

        image_format(plot)  # a bad name fails now, not after the evaluation
    tagger = open_model("tagger", model, quiet)
    cfg = tagger.cfg
    sentences, _ = read_tagged(data, fmt.value, column if column is not None else cfg.column, errors.value)
    gold = [iob1_to_iob2(s.tags) if cfg.scheme else s.tags for s in sentences]
    known = set(cfg.tags)
    foreign = Counter(t for g in gold for t in g if t not in known)
    if foreign:
        total = sum(len(g) for g in gold)
        shown = ", ".join(t for t, _ in foreign.most_common(6))
        model_tags = f"{', '.join(sorted(known)[:8])}{', ...' if len(known) > 8 else ''}"
        share = sum(foreign.values()) / total
        if share > FOREIGN_TAGS_MAX:  # another tag set: the scores would measure nothing
            better = _bundled_tagger_for(set(t for g in gold for t in g))
            hint = f"; these tags are {better}'s: add -m {better}" if better else ""
            raise RnntoolError(f"{share:.0%} of the gold tags ({shown}) are not in this model's tag set "
                               f"({model_tags}): the tag sets barely overlap{hint} (or choose the gold column "
                               "with --column)")
        info(f"rnntool: warning: {sum(foreign.values()):,} of {total:,} gold tags ({shown}) are not in this model's "
             f"tag set ({model_tags}); they all count as errors -- is it the right tag set or --column?", quiet)
    pred, _ = tagger.tag([s.words for s in sentences])
    in_vocab = [[tagger.in_vocabulary(w) for w in s.words] for s in sentences]
    scores = score_tags(gold, pred, in_vocab, iob=cfg.scheme is not None, full_matrix=plot is not None)
    if plot is not None:
        from rnntool.charts import confusion_figure, save_figure

        full = scores.pop("full_confusion")
        save_figure(confusion_figure(full["labels"], full["counts"], f"{os.path.basename(data)}: accuracy {scores['accuracy']:.4f}"), plot)
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
