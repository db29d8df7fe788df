"""Recurrent layers in numpy, following torch's layouts exactly.

Weights use torch's names and shapes: ``weight_ih_l{k}`` [G*H, I],
``weight_hh_l{k}`` [G*H, H], ``bias_ih_l{k}``, ``bias_hh_l{k}`` [G*H] (and
``..._reverse`` for the backward direction). Gate order: LSTM i, f, g, o;
GRU r, z, n with the reset gate applied to ``W_hn h + b_hn``; RNN tanh or ReLU.
Everything is time-major: inputs [T, B, I], outputs [T, B, H * directions].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rnntool.arch import GATES


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function via tanh (no overflow warnings, one transcendental)."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


@dataclass
class LayerWeights:
    w_ih: np.ndarray  # [G*H, I]
    w_hh: np.ndarray  # [G*H, H]
    b_ih: np.ndarray  # [G*H]
    b_hh: np.ndarray  # [G*H]

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[1]


def layer_weights(weights: Mapping[str, np.ndarray], prefix: str, layer: int, reverse: bool = False) -> LayerWeights:
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    get = lambda name: np.asarray(weights[f"{prefix}{name}{suffix}"], dtype=np.float32)  # noqa: E731
    return LayerWeights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))


def cell_step(cell: str, gx: np.ndarray, h: np.ndarray, c: np.ndarray | None, w: LayerWeights):
    """One time step. ``gx`` = x @ W_ih.T + b_ih (precomputed), h/c [B, H]. Returns (h, c)."""
    H = w.hidden
    gh = h @ w.w_hh.T
    gh += w.b_hh
    if cell == "lstm":
        g = gx + gh
        i = sigmoid(g[:, :H])
        f = sigmoid(g[:, H: 2 * H])
        cand = np.tanh(g[:, 2 * H: 3 * H])
        o = sigmoid(g[:, 3 * H:])
        c = f * c + i * cand
        return o * np.tanh(c), c
    if cell == "gru":
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H: 2 * H] + gh[:, H: 2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h, None
    pre = gx + gh
    return (np.maximum(pre, 0.0) if cell == "rnn-relu" else np.tanh(pre)), None


def run_direction(cell: str, x: np.ndarray, w: LayerWeights, h0: np.ndarray, c0: np.ndarray | None,
                  lengths: np.ndarray | None = None, reverse: bool = False):
    """Run one direction of one layer over x [T, B, I].

    With ``lengths``, steps past a sequence's end leave its state alone and give
    zero outputs (what torch's packed sequences do), so a reverse pass starts at
    each sequence's own last token.
    """
    T, B, _ = x.shape
    H = w.hidden
    gx_all = x.reshape(T * B, -1) @ w.w_ih.T
    gx_all += w.b_ih
    gx_all = gx_all.reshape(T, B, -1)
    out = np.zeros((T, B, H), dtype=np.float32)
    h, c = h0, c0
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        h_new, c_new = cell_step(cell, gx_all[t], h, c, w)
        if lengths is not None:
            valid = (t < lengths)[:, None]
            h_new = np.where(valid, h_new, h)
            if c_new is not None:
                c_new = np.where(valid, c_new, c)
            out[t] = np.where(valid, h_new, 0.0)
        else:
            out[t] = h_new
        h, c = h_new, c_new
    return out, h, c


class RNNStack:
    """A stacked (optionally bidirectional) RNN/LSTM/GRU, like torch's nn.LSTM etc.

    ``forward`` returns all time steps (Keras's return_sequences) and the final
    state (return_state): h [layers * dirs, B, H], plus c for LSTM, in torch's
    order (layer-major, forward direction first).
    """

    def __init__(self, cell: str, weights: Mapping[str, np.ndarray], layers: int, bidirectional: bool = False,
                 prefix: str = ""):
        self.cell = cell
        self.layers = layers
        self.dirs = 2 if bidirectional else 1
        self.weights = [
            [layer_weights(weights, prefix, layer, reverse=bool(d)) for d in range(self.dirs)] for layer in range(layers)
        ]
        self.hidden = self.weights[0][0].hidden
        self.gates = GATES[cell]

    def zero_state(self, batch: int):
        h = np.zeros((self.layers * self.dirs, batch, self.hidden), dtype=np.float32)
        return (h, h.copy()) if self.cell == "lstm" else h

    def forward(self, x: np.ndarray, state=None, lengths: np.ndarray | None = None):
        x = np.asarray(x, dtype=np.float32)
        B = x.shape[1]
        if state is None:
            state = self.zero_state(B)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        hs, cs = [], []
        layer_in = x
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                k = layer * self.dirs + d
                out, h, c = run_direction(self.cell, layer_in, self.weights[layer][d], h0[k],
                                          None if c0 is None else c0[k], lengths, reverse=bool(d))
                outs.append(out)
                hs.append(h)
                cs.append(c)
            layer_in = outs[0] if self.dirs == 1 else np.concatenate(outs, axis=-1)
        h_n = np.stack(hs)
        new_state = (h_n, np.stack(cs)) if self.cell == "lstm" else h_n
        return layer_in, new_state
