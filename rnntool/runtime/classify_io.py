"""The lines ``classify`` writes for a batch of texts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rnntool.runtime.classifier import ClassifierRuntime
from rnntool.runtime.stream import ModelAnswers
from rnntool.text.labelled import Example


@dataclass
class ClassifyAnswers(ModelAnswers):
    """``classify``'s output for a batch of examples: ``label<TAB>prob`` (more pairs with
    ``top_k`` or for multi-label) or JSON lines; workers may answer too (``ModelAnswers``)."""

    model: ClassifierRuntime | None
    jsonl: bool = False
    top_k: int = 1
    threshold: float | None = None
    keep_input: bool = False
    warn: Callable[[str], None] | None = None
    KIND, ANSWERS = "classifier", "labels"

    def build(self, model_file) -> ClassifierRuntime:
        classifier = ClassifierRuntime(model_file)
        classifier.tokens("Warm up, the tokenizer.")  # its imports and rules, before the first batch
        return classifier

    def __call__(self, examples: list[Example]) -> str:
        self.load()
        classifier = self.model
        token_lists = classifier.tokens_many([example.text for example in examples])
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
