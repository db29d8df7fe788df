"""A trained text classifier on the numpy runtime: the shared text encoder
(runtime/encoder.py: per-type gate tables, packed recurrent cells), pooling,
the output layer, and calibrated probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnntool.classification import ClassifierConfig
from rnntool.modelfile import ModelFile
from rnntool.runtime import load_runtime
from rnntool.runtime.cells import Packing
from rnntool.runtime.encoder import TextEncoder, token_budget_batches
from rnntool.text.tokenize import Tokenizer, TokenizerSettings

MAX_BATCH_TOKENS = 32768  # tokens per forward pass


def calibrated_probabilities(logits: np.ndarray, multilabel: bool, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities [B, C] from logits [B, C] at a calibration temperature: a softmax,
    or independent sigmoids for multi-label models (training's validation uses them too)."""
    z = logits / np.float32(temperature)
    if multilabel:
        return 1.0 / (1.0 + np.exp(-z))
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def decide(probs: np.ndarray, labels: Sequence[str], multilabel: bool, threshold: float) -> list[list[str]]:
    """The predicted classes of each row of ``probs``: the most likely one, or every class
    whose probability reaches ``threshold`` (multi-label)."""
    if multilabel:
        return [[labels[j] for j in np.flatnonzero(row >= threshold)] for row in probs]
    return [[labels[j]] for j in probs.argmax(axis=1)]


class ClassifierRuntime:
    def __init__(self, model: ModelFile):
        self.model_file = model
        self.cfg = cfg = ClassifierConfig.from_dict(model.config)
        t = {k: np.asarray(v, dtype=np.float32) for k, v in model.tensors.items()}
        self.encoder = TextEncoder(cfg, t, bidirectional=cfg.bidirectional)
        self.tokenizer = Tokenizer(TokenizerSettings.from_dict(cfg.tokenizer))
        if cfg.pool == "attention":
            self.att_w = np.ascontiguousarray(t["attention.weight"].T)
            self.att_b = t["attention.bias"]
            self.att_v = t["attention_score.weight"][0]
        self.out_w = np.ascontiguousarray(t["output.weight"].T)
        self.out_b = t["output.bias"]
        self.labels = cfg.labels

    @classmethod
    def load(cls, path) -> "ClassifierRuntime":
        return load_runtime(cls, path, "classifier")

    def probe(self) -> None:
        """The last word and character of the vocabularies, through the whole model."""
        chars = self.cfg.chars[-1] * 2 if self.cfg.chars else "a"
        logits = self.logits([[self.cfg.words[-1], chars]])
        if logits.shape[1] != len(self.cfg.labels):
            raise ValueError(f"{logits.shape[1]} outputs for {len(self.cfg.labels)} labels")

    def tokens(self, text: str) -> list[str]:
        return self.tokens_many([text])[0]

    def tokens_many(self, texts: list[str]) -> list[list[str]]:
        """``tokens`` of many texts, tokenized together (see ``Tokenizer.tokenize_many``)."""
        return [tokens[: self.cfg.max_length] for tokens in self.tokenizer.tokenize_many(texts)]

    def pool(self, packed: np.ndarray, state, packing: Packing) -> np.ndarray:
        """[B, D] from the top layer's packed outputs or its final state."""
        cfg = self.cfg
        if cfg.pool == "last":
            h = state[0] if isinstance(state, tuple) else state  # [layers * dirs, B, H]
            top = h[-cfg.directions:]
            return np.concatenate(list(top), axis=1)  # forward at the end, backward at the start
        if cfg.pool == "mean":
            return packing.reduce(np.add, packed) / packing.lengths[:, None].astype(np.float32)
        if cfg.pool == "max":
            return packing.reduce(np.maximum, packed)
        outputs, lengths = packed[packing.token_rows()], packing.lengths  # sentence after sentence
        starts = np.cumsum(lengths) - lengths
        scores = np.tanh(outputs @ self.att_w + self.att_b) @ self.att_v  # [N]
        scores -= np.repeat(np.maximum.reduceat(scores, starts), lengths)
        weights = np.exp(scores)
        weights /= np.repeat(np.add.reduceat(weights, starts), lengths)
        return np.add.reduceat(outputs * weights[:, None], starts, axis=0)

    def logits(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """[B, C] for token lists (an empty one reads as the zero vector: the output bias)."""
        out = np.tile(self.out_b, (len(token_lists), 1)).astype(np.float32)
        todo = [i for i, t in enumerate(token_lists) if t]
        for sl in token_budget_batches([len(token_lists[i]) for i in todo], MAX_BATCH_TOKENS):
            rows = todo[sl]
            pooled = self.pool(*self.encoder.run_packed([token_lists[i] for i in rows]))
            out[rows] = pooled @ self.out_w + self.out_b
        return out

    def probabilities(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """Calibrated class probabilities [B, C] (softmax, or sigmoids for multi-label) for
        texts as ``tokens`` gives them."""
        return calibrated_probabilities(self.logits(token_lists), self.cfg.multilabel, self.cfg.temperature)

    def decide(self, probs: np.ndarray, threshold: float | None = None) -> list[list[str]]:
        """The predicted classes of each text (``decide``), at the model's threshold unless
        another is given."""
        return decide(probs, self.labels, self.cfg.multilabel, self.cfg.threshold if threshold is None else threshold)

    def in_vocabulary(self, word: str) -> bool:
        return self.encoder.in_vocabulary(word)
