"""Choosing the next token from scores: greedy, temperature, top-k, top-p."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnntool.errors import RnntoolError


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 1.0  # 0 means greedy
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1: no limit

    def validate(self) -> None:
        if self.temperature < 0:
            raise RnntoolError("--temperature must be >= 0 (0 means greedy)")
        if self.top_k < 0:
            raise RnntoolError("--top-k must be >= 0")
        if not 0.0 < self.top_p <= 1.0:
            raise RnntoolError("--top-p must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def logit_scale(self) -> float:
        """Temperature is applied by scaling the output layer once, not per token."""
        return 1.0 if self.greedy else 1.0 / self.temperature


class Sampler:
    def __init__(self, opts: SamplingOptions, rng: np.random.Generator):
        opts.validate()
        self.opts = opts
        self.rng = rng

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Token ids [B] from temperature-scaled scores [B, V] (modified in place)."""
        if self.opts.greedy:
            return scores.argmax(axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        k = self.opts.top_k
        if 0 < k < scores.shape[1]:
            kth = np.partition(scores, -k, axis=1)[:, -k, None]
            scores[scores < kth] = 0.0
        if self.opts.top_p < 1.0:
            self._nucleus(scores)
        cdf = np.cumsum(scores, axis=1)
        u = self.rng.random(scores.shape[0]) * cdf[:, -1]
        if scores.shape[0] == 1:
            return np.array([min(int(np.searchsorted(cdf[0], u[0], side="right")), scores.shape[1] - 1)])
        return np.minimum((cdf <= u[:, None]).sum(axis=1), scores.shape[1] - 1)

    def _nucleus(self, probs: np.ndarray) -> None:
        """Keep the smallest set of tokens whose probability reaches top_p."""
        order = np.argsort(-probs, axis=1)
        sorted_p = np.take_along_axis(probs, order, axis=1)
        cum = np.cumsum(sorted_p, axis=1)
        total = cum[:, -1:]
        # drop a token when the mass before it already reaches top_p (the first token always stays)
        drop_sorted = (cum - sorted_p) >= self.opts.top_p * total
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=1)
        probs[drop] = 0.0
