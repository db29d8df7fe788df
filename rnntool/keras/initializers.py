"""Keras's weight initialisers in numpy, with Keras's documented semantics.

Constant initialisers give exactly Keras's numbers; random ones follow the same
distributions (Keras's own random streams cannot be reproduced, so only the
distribution matches). Fans follow Keras: a matrix [fan_in, fan_out], a vector
[n] has fan_in = fan_out = n.
"""

from __future__ import annotations

import numpy as np

from rnntool.errors import RnntoolError
from rnntool.keras.spec import Initializer

# stddev of a standard normal truncated to [-2, 2], which Keras divides out
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # redraw outside two standard deviations, as Keras's truncated normal does
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


def initialize(init: Initializer, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An array of ``shape`` drawn the way ``init`` says (float32)."""
    kind, a = init.kind, init.args
    fan_in, fan_out = _fans(shape)
    if kind == "zeros":
        out = np.zeros(shape)
    elif kind == "ones":
        out = np.ones(shape)
    elif kind == "constant":
        out = np.full(shape, float(a.get("value", 0.0)))
    elif kind == "random_uniform":
        out = rng.uniform(a.get("minval", -0.05), a.get("maxval", 0.05), shape)
    elif kind == "random_normal":
        out = rng.normal(a.get("mean", 0.0), a.get("stddev", 0.05), shape)
    elif kind == "truncated_normal":
        out = _truncated(rng, shape, a.get("mean", 0.0), a.get("stddev", 0.05))
    elif kind in ("glorot_uniform", "he_uniform", "lecun_uniform"):
        scale = {"glorot_uniform": 6.0 / (fan_in + fan_out), "he_uniform": 6.0 / fan_in,
                 "lecun_uniform": 3.0 / fan_in}[kind]
        limit = np.sqrt(scale)
        out = rng.uniform(-limit, limit, shape)
    elif kind in ("glorot_normal", "he_normal", "lecun_normal"):
        variance = {"glorot_normal": 2.0 / (fan_in + fan_out), "he_normal": 2.0 / fan_in,
                    "lecun_normal": 1.0 / fan_in}[kind]
        out = _truncated(rng, shape, 0.0, np.sqrt(variance) / _TRUNCATED_STD)
    elif kind == "orthogonal":
        if len(shape) < 2:
            raise RnntoolError("the orthogonal initializer needs a matrix, not a vector (use it for kernels)")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        out = a.get("gain", 1.0) * q.reshape(shape)
    elif kind == "identity":
        if len(shape) != 2:
            raise RnntoolError("the identity initializer needs a matrix")
        out = a.get("gain", 1.0) * np.eye(*shape)
    else:  # spec.py accepts only the kinds above
        raise RnntoolError(f"unknown initializer {kind}")
    return np.asarray(out, dtype=np.float32)
