"""The lines ``classify`` writes for a batch of texts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rnntool.runtime.classifier import Classifier
from rnntool.text.labelled import Example


@dataclass
class ClassifyAnswers:
    """``classify``'s output for a batch of examples: ``label<TAB>prob`` (more pairs with
    ``top_k`` or for multi-label) or JSON lines. It pickles as its model file's contents
    (not the path, which a training run may replace meanwhile) and without its warning:
    a worker process (rnntool/parallel.py) builds the model once and stays quiet, and
    the stream keeps batches in the main process until the letters check is ``settled``."""

    classifier: Classifier | None
    jsonl: bool = False
    top_k: int = 1
    threshold: float | None = None
    keep_input: bool = False
    warn: Callable[[str], None] | None = None

    def __post_init__(self):
        from rnntool.features import UnseenLetterCheck

        self.model_file = self.classifier.model_file
        self.letters = None if self.warn is None else UnseenLetterCheck(self.classifier.cfg, "classifier", "labels",
                                                                         self.warn)

    @property
    def settled(self) -> bool:
        return self.letters is None or self.letters.done

    def load(self) -> None:
        """The model, in a worker process (where it came without one)."""
        if self.classifier is None:
            self.classifier = Classifier(self.model_file)
            self.classifier.tokens("Warm up, the tokenizer.")  # its imports and rules, before the first batch

    def __getstate__(self) -> dict:
        return {**self.__dict__, "classifier": None, "warn": None, "letters": None}

    def __call__(self, examples: list[Example]) -> str:
        self.load()
        classifier = self.classifier
        token_lists = [classifier.tokens(example.text) for example in examples]
        if self.letters is not None:
            self.letters.check(w for tokens in token_lists for w in tokens)
        probs = classifier.probabilities(token_lists)
        chosen = classifier.decide(probs, self.threshold)
        labels = classifier.labels
        lines = []
        for example, row, picked in zip(examples, probs, chosen):
            if self.jsonl:
                record = {"text": example.text, "labels": picked,
                          "probabilities": {c: round(float(p), 6) for c, p in zip(labels, row)}}
                if self.keep_input:
                    record["input"] = example.raw
                lines.append(json.dumps(record, ensure_ascii=False))
                continue
            if not classifier.cfg.multilabel:
                picked = [labels[j] for j in row.argsort()[::-1][: self.top_k]]
            fields = [f"{c}\t{row[labels.index(c)]:.4f}" for c in picked]
            if self.keep_input:
                fields.append(example.raw)
            lines.append("\t".join(fields))
        return "".join(line + "\n" for line in lines)
