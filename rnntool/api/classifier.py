"""A loaded text classifier: labels and calibrated probabilities for texts."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from rnntool.api.checks import check_counts, check_letters, check_text, real_number, warn, whole_number
from rnntool.api.loading import Model
from rnntool.errors import InputError, OutOfRangeError, RnntoolWarning
from rnntool.results import Classification, Evaluation


class Classifier(Model):
    """A many-to-one (Bi)LSTM text classifier (``rnntool train-classifier``)."""

    kind = "classifier"

    @property
    def labels(self) -> list[str]:
        """The classes, in the order of every ``probabilities`` dict."""
        return list(self._runtime.labels)

    @property
    def multilabel(self) -> bool:
        """Whether a text may have several labels (independent sigmoids and a threshold)."""
        return self._runtime.cfg.multilabel

    def classify(self, texts: str | Sequence[str], *, top_k: int = 1,
                 threshold: float | None = None) -> Classification | list[Classification]:
        """Classify a text, or each of a list of texts. ``labels`` holds the ``top_k`` most
        likely classes, best first (multi-label models: every class whose probability reaches
        ``threshold``, the model's own by default)."""
        if isinstance(texts, str):
            return next(self.classify_many([texts], top_k=top_k, threshold=threshold))
        if not isinstance(texts, (list, tuple)):
            raise InputError(f"classify takes a text (str) or a list of texts, not {type(texts).__name__}")
        return list(self.classify_many(texts, top_k=top_k, threshold=threshold))

    def classify_many(self, texts: Iterable[str], *, batch_size: int = 1024, top_k: int = 1,
                      threshold: float | None = None) -> Iterator[Classification]:
        """``classify`` for any iterable of texts, ``batch_size`` at a time, results in input
        order, each batch as soon as it is there (or the input pauses)."""
        from rnntool.api.io import batched, not_one_str

        _check_top_k_threshold(top_k, threshold)
        checked = (check_text(t, "a classifier's text") for t in not_one_str(texts, "classify_many", "text"))
        return (c for chunk in batched(checked, batch_size) for c in self._classify(chunk, top_k, threshold))

    def _classify(self, texts: list[str], top_k: int, threshold: float | None) -> list[Classification]:
        runtime = self._runtime
        with self._lock:
            token_lists = runtime.tokens_many(texts)
            probs = runtime.probabilities(token_lists)
        check_letters(runtime.cfg, "classifier", "labels", token_lists)
        chosen = runtime.decide(probs, threshold)
        labels = runtime.labels
        out = []
        for text, row, picked in zip(texts, probs.tolist(), chosen):
            probabilities = dict(zip(labels, row))
            if not runtime.cfg.multilabel:
                picked = [c for c, _ in sorted(probabilities.items(), key=lambda kv: -kv[1])[:top_k]]
            out.append(Classification(text, picked, probabilities))
        return out

    def classify_file(self, source: str | os.PathLike = "-", out: TextIO | str | os.PathLike | None = None, *,
                      input: str = "auto", text_col: str | None = None, label_col: str | None = None,
                      text_field: str = "text", label_field: str = "label", label_sep: str | None = None,
                      format: str = "tsv", top_k: int = 1, threshold: float | None = None, keep_input: bool = False,
                      batch_size: int = 1024, jobs: int | None = None, errors: str = "strict") -> None:
        """``rnntool classify``: one output line per input text, streamed, into ``out`` (a text
        stream, a path, or stdout). ``input``: text (one per line) or any train-classifier
        layout, its labels ignored (auto: JSONL, fastText and headed tables are recognised,
        and logged; anything else is text). ``format``: tsv (``label<TAB>probability``, more
        pairs with ``top_k`` or for multi-label models; ``keep_input`` appends the input line)
        or jsonl (``Classification.to_dict()``, with ``"input"``). Past the first batches of a
        file, ``jobs`` worker processes answer; the output is the same for any number."""
        from rnntool.api.io import output_stream
        from rnntool.config import CLASSIFY_INPUTS, CLASSIFY_OUTPUTS, choice
        from rnntool.parallel import default_jobs
        from rnntool.runtime.classify_io import ClassifyAnswers
        from rnntool.runtime.stream import answer_stream
        from rnntool.text.labelled import LabelledFormat, read_examples

        choice(format, CLASSIFY_OUTPUTS, "format")
        choice(input, CLASSIFY_INPUTS, "input")
        _check_top_k_threshold(top_k, threshold)
        check_counts(batch_size, jobs)
        fmt = LabelledFormat(input, text_col, label_col, text_field, label_field, label_sep)
        source = os.fspath(source)

        def detected(found) -> None:
            if found.name != "text":
                logging.getLogger("rnntool").info("reading %s as %s", source, found.describe())

        runtime = type(self._runtime)(self._runtime.model_file)  # its own caches: other threads go on
        answers = ClassifyAnswers(runtime, jsonl=format == "jsonl", top_k=top_k, threshold=threshold,
                                  keep_input=keep_input, warn=warn)
        examples = read_examples(source, fmt, errors, labelled=False, on_detect=detected)
        with output_stream(out) as stream:
            answer_stream(examples, answers, batch_size, stream, default_jobs() if jobs is None else jobs)

    def evaluate(self, data: str, *, format: str = "auto", text_col: str | None = None,
                 label_col: str | None = None, text_field: str = "text", label_field: str = "label",
                 label_sep: str | None = None, threshold: float | None = None,
                 errors: str = "strict") -> Evaluation:
        """``eval-classifier``: accuracy; per-class precision, recall, F1 and support; macro,
        micro and weighted averages; the confusion matrix; calibration (ECE, 15 bins); and
        ROC-AUC for two classes, on labelled texts in any ``train-classifier`` layout. Classes
        the model does not know are warned about (:class:`~rnntool.errors.RnntoolWarning`)."""
        from rnntool.metrics import score_classes
        from rnntool.text.labelled import LabelledFormat, read_examples

        _check_top_k_threshold(1, threshold)
        data = os.fspath(data)
        fmt = LabelledFormat(format, text_col, label_col, text_field, label_field, label_sep)
        examples = list(read_examples(data, fmt, errors, on_detect=self._detected(data)))
        runtime = self._runtime
        unknown = sorted({c for e in examples for c in e.labels} - set(runtime.labels))
        if unknown:
            warnings.warn(f"{len(unknown)} class(es) in {data} the model does not know ({', '.join(unknown[:5])}); "
                          "their texts count as errors", RnntoolWarning, stacklevel=2)
        with self._lock:
            probs = runtime.probabilities(runtime.tokens_many([e.text for e in examples]))
        return Evaluation("classifier", score_classes([e.labels for e in examples], runtime.decide(probs, threshold),
                                                      runtime.labels, probs, runtime.cfg.multilabel))

    @staticmethod
    def _detected(data: str):
        def said(fmt) -> None:  # a note, not a warning: logged (the CLI shows it on stderr)
            logging.getLogger("rnntool").info("reading %s as %s", data, fmt.describe())

        return said


def _check_top_k_threshold(top_k: int, threshold: float | None) -> None:
    whole_number(top_k, "top_k", 1)
    if threshold is not None and not 0.0 < real_number(threshold, "threshold") < 1.0:
        raise OutOfRangeError(f"threshold must be between 0 and 1, not {threshold}")
