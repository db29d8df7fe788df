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


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) over the last axis, shifted by the maximum (no overflow)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass
class LayerWeights:
    """One direction of one layer, in torch's layout, plus the layout the scans use.

    Scan layout: every bias that can be is folded into the input side (so a step
    adds nothing but ``h @ W_hh``); for LSTMs the gates are reordered to i, f, o, g
    with the sigmoid gates' weights halved, so that one tanh over all gates
    serves them all: sigmoid(x) = (tanh(x / 2) + 1) / 2.
    """

    cell: str
    w_ih: np.ndarray  # [G*H, I]
    w_hh: np.ndarray  # [G*H, H]
    b_ih: np.ndarray  # [G*H]
    b_hh: np.ndarray  # [G*H]

    def __post_init__(self):
        H = self.hidden
        b_in, self.b_h = self.b_ih + self.b_hh, None
        if self.cell == "gru":  # the reset gate multiplies W_hn h + b_hn, so b_hn stays on the hidden side
            b_in = np.concatenate([self.b_ih[: 2 * H] + self.b_hh[: 2 * H], self.b_ih[2 * H:]])
            self.b_h = np.concatenate([np.zeros(2 * H, np.float32), self.b_hh[2 * H:]])
        # Contiguous [in, out] matrices: x @ w_ih_t and h @ w_hh_t go straight to BLAS every step.
        self.w_ih_t = np.ascontiguousarray(self.scan_order(self.w_ih).T)
        self.w_hh_t = np.ascontiguousarray(self.scan_order(self.w_hh).T)
        self.b_in = self.scan_order(b_in)

    def scan_order(self, m: np.ndarray) -> np.ndarray:
        """Rows (or entries) in torch gate order -> scan layout."""
        if self.cell != "lstm":
            return m
        H = self.hidden
        i, f, g, o = (m[j * H:(j + 1) * H] for j in range(4))
        return np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, g], axis=0)

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[1]


def layer_weights(weights: Mapping[str, np.ndarray], cell: str, prefix: str, layer: int,
                  reverse: bool = False) -> LayerWeights:
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    get = lambda name: np.asarray(weights[f"{prefix}{name}{suffix}"], dtype=np.float32)  # noqa: E731
    return LayerWeights(cell, get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))


@dataclass
class Packing:
    """Sequences of different lengths laid out as torch's PackedSequence: sorted
    longest first, the rows of time step t are the ``batch_sizes[t]`` sequences
    still running, stored together from ``offsets[t]``. A step then works on a
    leading block of rows: padding costs nothing and needs no masks."""

    order: np.ndarray  # rank -> sequence index (longest first)
    lengths: np.ndarray  # [B], in the sequences' own order
    batch_sizes: np.ndarray  # [T]
    offsets: np.ndarray  # [T]

    @classmethod
    def of(cls, lengths) -> "Packing":
        lengths = np.asarray(lengths, dtype=np.int64)
        order = np.argsort(-lengths, kind="stable")
        desc = lengths[order]
        T = int(desc[0]) if len(desc) else 0
        batch_sizes = np.searchsorted(-desc, -np.arange(T), side="left")  # sequences longer than t
        offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
        return cls(order, lengths, batch_sizes, offsets)

    @property
    def uniform(self) -> bool:
        """All sequences equally long: packed rows are the dense [T, B] rows as they are."""
        return bool(len(self.lengths)) and bool((self.lengths == self.lengths[0]).all())

    @property
    def total(self) -> int:
        return int(self.lengths.sum())

    def token_rows(self) -> np.ndarray:
        """The packed row of every token, sequence after sequence in their own order."""
        starts = np.cumsum(self.lengths) - self.lengths
        position = np.arange(self.total) - np.repeat(starts, self.lengths)
        rank = np.empty_like(self.order)
        rank[self.order] = np.arange(len(self.order))
        return self.offsets[position] + np.repeat(rank, self.lengths)

    def reduce(self, ufunc: np.ufunc, rows: np.ndarray) -> np.ndarray:
        """``ufunc`` (np.maximum, np.add) over each sequence's packed rows [N, D] -> [B, D],
        in the sequences' own order: a step at a time, on the block of rows still running
        (none of the sequences may be empty)."""
        acc = rows[: int(self.batch_sizes[0])].copy()
        for n, start in zip(self.batch_sizes[1:].tolist(), self.offsets[1:].tolist()):
            ufunc(acc[:n], rows[start: start + n], out=acc[:n])
        result = np.empty_like(acc)
        result[self.order] = acc
        return result

    def dense_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(time step, sequence) of every packed row: dense[t, b] <-> packed[row]."""
        T = len(self.batch_sizes)
        t = np.repeat(np.arange(T), self.batch_sizes)
        rank = np.arange(len(t)) - np.repeat(self.offsets, self.batch_sizes)
        return t, self.order[rank]


def scan(gx: np.ndarray, packing: Packing, w: LayerWeights, h0: np.ndarray, c0: np.ndarray | None,
         reverse: bool = False, gx_rows: np.ndarray | None = None):
    """Run one direction of one layer over packed gate inputs ``gx`` [N, G*H] =
    x @ w.w_ih_t + w.b_in (overwritten: the steps work in place), or, with
    ``gx_rows`` [N], over ``gx[gx_rows]`` (a table of gate inputs, read a step at a
    time and left as it is). h0/c0 [B, H] are in the sequences' own order.
    Returns (outputs [N, H] packed, h [B, H], c).

    A reverse pass starts each sequence at its own last token, as torch's packed
    sequences do: a sequence joins the running block when its last token comes up.
    """
    H = w.hidden
    B = len(packing.order)
    N = gx.shape[0] if gx_rows is None else len(gx_rows)
    out = np.empty((N, H), dtype=np.float32)
    step_gx = np.empty((B, gx.shape[1]), dtype=np.float32) if gx_rows is not None else None
    h = np.array(h0[packing.order], dtype=np.float32)
    c = None if c0 is None else np.array(c0[packing.order], dtype=np.float32)
    gh = np.empty((B, w.w_hh_t.shape[1]), dtype=np.float32)
    tmp = np.empty((B, H), dtype=np.float32)
    T = len(packing.batch_sizes)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        n, start = int(packing.batch_sizes[t]), int(packing.offsets[t])
        if gx_rows is None:
            g = gx[start: start + n]
        else:
            g = np.take(gx, gx_rows[start: start + n], axis=0, out=step_gx[:n])
        hn = h[:n]
        np.matmul(hn, w.w_hh_t, out=gh[:n])
        if w.cell == "lstm":
            g += gh[:n]
            np.tanh(g, out=g)
            sig = g[:, : 3 * H]
            sig += 1.0
            sig *= 0.5
            cn = c[:n]
            cn *= g[:, H: 2 * H]
            np.multiply(g[:, :H], g[:, 3 * H:], out=tmp[:n])
            cn += tmp[:n]
            np.tanh(cn, out=hn)
            hn *= g[:, 2 * H: 3 * H]
        elif w.cell == "gru":
            ghn = gh[:n]
            ghn += w.b_h
            rz = g[:, : 2 * H]
            rz += ghn[:, : 2 * H]
            sigmoid(rz, out=rz)
            n_gate = g[:, 2 * H:]
            np.multiply(g[:, :H], ghn[:, 2 * H:], out=tmp[:n])
            n_gate += tmp[:n]
            np.tanh(n_gate, out=n_gate)
            hn -= n_gate  # h' = n + z * (h - n)
            hn *= g[:, H: 2 * H]
            hn += n_gate
        else:
            g += gh[:n]
            if w.cell == "rnn-relu":
                np.maximum(g, 0.0, out=hn)
            else:
                np.tanh(g, out=hn)
        out[start: start + n] = hn
    inverse = np.argsort(packing.order)
    return out, h[inverse], None if c is None else c[inverse]


class RNNStack:
    """A stacked (optionally bidirectional) RNN/LSTM/GRU, like torch's nn.LSTM etc.

    ``forward`` returns all time steps (Keras's return_sequences) and the final
    state (return_state): h [layers * dirs, B, H], plus c for LSTM, in torch's
    order (layer-major, forward direction first). ``forward_packed`` does the
    same on packed rows (see ``Packing``).
    """

    def __init__(self, cell: str, weights: Mapping[str, np.ndarray], layers: int, bidirectional: bool = False,
                 prefix: str = ""):
        self.cell = cell
        self.layers = layers
        self.dirs = 2 if bidirectional else 1
        self.weights = [
            [layer_weights(weights, cell, prefix, layer, reverse=bool(d)) for d in range(self.dirs)]
            for layer in range(layers)
        ]
        self.hidden = self.weights[0][0].hidden
        self.gates = GATES[cell]

    def zero_state(self, batch: int):
        h = np.zeros((self.layers * self.dirs, batch, self.hidden), dtype=np.float32)
        return (h, h.copy()) if self.cell == "lstm" else h

    def input_gates(self, x: np.ndarray, direction: int = 0, layer: int = 0) -> np.ndarray:
        """A layer's input projection for one direction, in scan layout (x [..., I]
        -> [..., G*H]). Callers may compute the first layer's once per input type
        and pass the results to ``forward_packed`` as ``first_gates``."""
        w = self.weights[layer][direction]
        out = np.asarray(x, dtype=np.float32) @ w.w_ih_t
        out += w.b_in
        return out

    def forward_packed(self, x: np.ndarray | None, packing: Packing, state=None,
                       first_gates: list[np.ndarray] | None = None, first_rows: np.ndarray | None = None):
        """Packed inputs x [N, I], or, instead, the first layer's gate inputs:
        ``first_gates`` per direction, as made by ``input_gates`` -- [N, G*H] packed
        (overwritten), or a table read at ``first_rows`` [N]. Returns (outputs
        [N, H * dirs] packed, final state)."""
        B = len(packing.order)
        if state is None:
            state = self.zero_state(B)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        hs, cs = [], []
        layer_in = x
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                k = layer * self.dirs + d
                first = layer == 0 and first_gates is not None
                gx = first_gates[d] if first else self.input_gates(layer_in, d, layer)
                out, h, c = scan(gx, packing, self.weights[layer][d], h0[k], None if c0 is None else c0[k],
                                 reverse=bool(d), gx_rows=first_rows if first else None)
                outs.append(out)
                hs.append(h)
                cs.append(c)
            layer_in = outs[0] if self.dirs == 1 else np.concatenate(outs, axis=-1)
        h_n = np.stack(hs)
        return layer_in, ((h_n, np.stack(cs)) if self.cell == "lstm" else h_n)

    def forward(self, x: np.ndarray, state=None, lengths: np.ndarray | None = None):
        """x [T, B, I] -> (outputs [T, B, H * dirs], final state). With ``lengths``,
        each sequence stops at its own end: outputs past it are zero and its final
        state is the one at its last token (what torch's packed sequences give)."""
        x = np.asarray(x, dtype=np.float32)
        T, B = x.shape[:2]
        packing = Packing.of(np.full(B, T) if lengths is None else lengths)
        if packing.uniform and len(packing.batch_sizes) == T:  # the dense rows are the packed rows
            out, new_state = self.forward_packed(x.reshape(T * B, -1), packing, state)
            return out.reshape(T, B, -1), new_state
        t, b = packing.dense_index()
        out, new_state = self.forward_packed(x[t, b], packing, state)
        dense = np.zeros((T, B, out.shape[1]), dtype=np.float32)
        dense[t, b] = out
        return dense, new_state
