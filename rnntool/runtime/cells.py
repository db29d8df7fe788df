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

    def __post_init__(self):
        # Contiguous transposes: x @ w_ih_t and h @ w_hh_t go straight to BLAS every step.
        self.w_ih_t = np.ascontiguousarray(self.w_ih.T)
        self.w_hh_t = np.ascontiguousarray(self.w_hh.T)

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[1]


def layer_weights(weights: Mapping[str, np.ndarray], prefix: str, layer: int, reverse: bool = False) -> LayerWeights:
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    get = lambda name: np.asarray(weights[f"{prefix}{name}{suffix}"], dtype=np.float32)  # noqa: E731
    return LayerWeights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))


def cell_step(cell: str, gx: np.ndarray, h: np.ndarray, c: np.ndarray | None, w: LayerWeights):
    """One time step. ``gx`` = x @ W_ih.T + b_ih (precomputed; overwritten), h/c [B, H]. Returns (h, c)."""
    H = w.hidden
    gh = h @ w.w_hh_t
    gh += w.b_hh
    if cell == "lstm":
        g = gx
        g += gh
        sigmoid(g[:, : 2 * H], out=g[:, : 2 * H])  # i, f
        np.tanh(g[:, 2 * H: 3 * H], out=g[:, 2 * H: 3 * H])  # candidate
        sigmoid(g[:, 3 * H:], out=g[:, 3 * H:])  # o
        c = g[:, H: 2 * H] * c
        c += g[:, :H] * g[:, 2 * H: 3 * H]
        return g[:, 3 * H:] * np.tanh(c), c
    if cell == "gru":
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H: 2 * H] + gh[:, H: 2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h, None
    pre = gx + gh
    return (np.maximum(pre, 0.0) if cell == "rnn-relu" else np.tanh(pre)), None


def run_direction(cell: str, x: np.ndarray | None, w: LayerWeights, h0: np.ndarray, c0: np.ndarray | None,
                  lengths: np.ndarray | None = None, reverse: bool = False, gates_in: np.ndarray | None = None):
    """Run one direction of one layer over x [T, B, I], or over its input
    projection ``gates_in`` = x @ W_ih.T + b_ih [T, B, G*H] when the caller has it.

    With ``lengths``, each sequence stops at its own end (outputs past it are zero,
    its final state is the one at its last token) and a reverse pass starts at its
    own last token -- what torch's packed sequences do. Like packing, sequences are
    ordered longest first so that the ones still running at step t are a leading
    block of rows: padding costs nothing and needs no masks.
    """
    T, B = (x if gates_in is None else gates_in).shape[:2]
    H = w.hidden
    # Equal lengths (or none given) need no reordering: every row runs every step.
    order = None if lengths is None else np.argsort(-np.asarray(lengths), kind="stable")
    pick = (lambda a: a) if order is None else (lambda a: a[:, order] if a.ndim == 3 else a[order])
    if order is None:
        running = np.full(T, B)
    else:  # rows with length > t
        running = (np.asarray(lengths)[order][None, :] > np.arange(T)[:, None]).sum(axis=1)
    if gates_in is None:
        gx_all = pick(x).reshape(T * B, -1) @ w.w_ih_t
        gx_all += w.b_ih
        gx_all = gx_all.reshape(T, B, -1)
    else:
        gx_all = np.array(pick(gates_in), dtype=np.float32)  # a copy: the steps work in place
    out = np.zeros((T, B, H), dtype=np.float32)
    h = np.array(pick(h0), dtype=np.float32)
    c = None if c0 is None else np.array(pick(c0), dtype=np.float32)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        n = running[t]
        if n == 0:
            continue
        h_new, c_new = cell_step(cell, gx_all[t, :n], h[:n], None if c is None else c[:n], w)
        h[:n] = h_new
        if c is not None:
            c[:n] = c_new
        out[t, :n] = h_new
    if order is None:
        return out, h, c
    inverse = np.argsort(order)
    return out[:, inverse], h[inverse], None if c is None else c[inverse]


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

    def input_gates(self, x: np.ndarray, direction: int = 0) -> np.ndarray:
        """The first layer's input projection x @ W_ih.T + b_ih for one direction
        (x [..., I] -> [..., G*H]); callers may compute it once per input type and
        pass the results to ``forward`` as ``first_gates``."""
        w = self.weights[0][direction]
        return np.asarray(x, dtype=np.float32) @ w.w_ih_t + w.b_ih

    def forward(self, x: np.ndarray | None, state=None, lengths: np.ndarray | None = None,
                first_gates: list[np.ndarray] | None = None):
        """x [T, B, I]; or x None and ``first_gates``: per direction, the first layer's
        input projection [T, B, G*H] (see ``input_gates``)."""
        if first_gates is None:
            x = np.asarray(x, dtype=np.float32)
        B = (x if first_gates is None else first_gates[0]).shape[1]
        if state is None:
            state = self.zero_state(B)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        hs, cs = [], []
        layer_in = x
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                k = layer * self.dirs + d
                gates_in = first_gates[d] if (layer == 0 and first_gates is not None) else None
                out, h, c = run_direction(self.cell, layer_in, self.weights[layer][d], h0[k],
                                          None if c0 is None else c0[k], lengths, reverse=bool(d), gates_in=gates_in)
                outs.append(out)
                hs.append(h)
                cs.append(c)
            layer_in = outs[0] if self.dirs == 1 else np.concatenate(outs, axis=-1)
        h_n = np.stack(hs)
        new_state = (h_n, np.stack(cs)) if self.cell == "lstm" else h_n
        return layer_in, new_state
