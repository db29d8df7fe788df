"""Choosing the next token from scores: greedy, temperature, top-k, top-p."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnntool.errors import OutOfRangeError


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 1.0  # 0 means greedy
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1: no limit

    def validate(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):  # NaN would sample <pad>s
            raise OutOfRangeError("temperature must be a finite number, 0 or more (0 means greedy), "
                                  f"not {self.temperature:g}")
        if self.top_k < 0:
            raise OutOfRangeError(f"top_k must be 0 or more (0: no limit), not {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise OutOfRangeError(f"top_p must be above 0 and at most 1 (1: no limit), not {self.top_p:g}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def logit_scale(self) -> float:
        """Temperature is applied by scaling the output layer once, not per token."""
        return 1.0 if self.greedy else 1.0 / self.temperature


# Gumbel noise comes in blocks of this many floats (or of one step's need, if larger): one RNG
# call serves many steps, and a step whose noise does not fit in what is left of a block starts
# the next one (the rest is skipped). Those block bounds decide which draws each step gets, so
# they are part of what a seed means: the same since 0.1.0.
NOISE_BLOCK = 1 << 16
# ... but a block is drawn in pieces as it is used, from this size up, so that a short
# generation's first token does not wait for 64k draws (~2 ms). Pieces do not move the bounds.
FIRST_NOISE_PIECE = 1 << 12


class Sampler:
    """Draws by the Gumbel-max trick: argmax(scores + Gumbel noise) is a sample from
    softmax(scores), and costs one add and one argmax per step (no exp, no cumsum).
    Top-k and top-p set the excluded scores to -inf first."""

    def __init__(self, opts: SamplingOptions, rng: np.random.Generator):
        opts.validate()
        self.opts = opts
        self.rng = rng
        self._noise = np.empty(0, dtype=np.float32)  # drawn, of the current block
        self._used = 0  # of _noise
        self._undrawn = 0  # the current block's floats not drawn yet

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Token ids [B] from temperature-scaled scores [B, V] (modified in place)."""
        if self.opts.greedy:
            return scores.argmax(axis=1)
        k = self.opts.top_k
        if 0 < k < scores.shape[1]:
            kth = np.partition(scores, -k, axis=1)[:, -k, None]
            scores[scores < kth] = -np.inf
        if self.opts.top_p < 1.0:
            self._nucleus(scores)
        scores += self._gumbel(scores.shape)
        return scores.argmax(axis=1)

    def _gumbel(self, shape: tuple[int, int]) -> np.ndarray:
        n = shape[0] * shape[1]
        ready = self._noise.size - self._used
        if n > ready + self._undrawn:  # the next block: this one's undrawn rest is skipped
            self.rng.gumbel(size=self._undrawn)  # (drawn and dropped, as a whole block's would be)
            self._noise, self._used, ready = self._noise[:0], 0, 0
            self._undrawn = max(n, NOISE_BLOCK)
        if n > ready:  # the block's next piece, twice the last (the draws are the same in any pieces)
            piece = min(self._undrawn, max(n - ready, FIRST_NOISE_PIECE, 2 * self._noise.size))
            drawn = self.rng.gumbel(size=piece).astype(np.float32)
            self._noise = np.concatenate([self._noise[self._used:], drawn]) if ready else drawn
            self._used = 0
            self._undrawn -= piece
        out = self._noise[self._used: self._used + n].reshape(shape)
        self._used += n
        return out

    def _nucleus(self, scores: np.ndarray) -> None:
        """Keep the smallest set of tokens whose probability reaches top_p."""
        probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        order = np.argsort(-probs, axis=1)
        sorted_p = np.take_along_axis(probs, order, axis=1)
        cum = np.cumsum(sorted_p, axis=1)
        total = cum[:, -1:]
        # drop a token when the mass before it already reaches top_p (the first token always stays)
        drop_sorted = (cum - sorted_p) >= self.opts.top_p * total
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=1)
        scores[drop] = -np.inf
