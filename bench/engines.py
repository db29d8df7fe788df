#!/usr/bin/env python
"""Candidate serving engines on rnntool's hot kernels, side by side (issue #27, part 1).

    pip install numba onnxruntime onnx      # the candidates (not rnntool dependencies)
    python bench/engines.py [--repeat 30]

Kernel A, the tagger/classifier case: one LSTM layer (input 172 = the tagger's word, character
and casing features; hidden 128) over 256 sentences of 20 tokens, input projection included.
Kernel B, the generation case: one step of the bundled 2x256 character LSTM at batch 1
(embedding, both layers, output logits over its 68 characters), state carried.
Kernel C, the question behind issue #27's 8-bit weights: that step's largest matrix-vector
product with float32, int8 (numba) and 8- and 4-bit (onnxruntime MatMulNBits) weights.

Engines: numpy (rnntool's runtime, the reference), numpy with the gate arithmetic fused by
numba (BLAS keeps the matrix products), numba alone (fused loops, one and all threads), and
onnxruntime (its LSTM operator; a one-step graph for kernel B). Reported: median time per
call, the maximum difference from numpy, import time and first-call (compile) cost; then
whole `tag`, `classify`, `score` and `eval-lm` runs on rnntool's two engines
(RNNTOOL_ENGINE=numpy|onnxruntime; `--commands-only` for these alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

T, B, I, H = 20, 256, 172, 128


def timed(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def import_seconds(module: str) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    return statistics.median(runs)


def _lstm_onnx_order(m):
    from rnntool.runtime.ort import _onnx_order

    return _onnx_order(m, "lstm")


# --- kernel A ---------------------------------------------------------------------------------

def kernel_a_numpy(layer, x):
    from rnntool.runtime.cells import Packing, scan

    packing = Packing.of(np.full(B, T))
    gx = x.reshape(T * B, I) @ layer.w_ih_t + layer.b_in  # time-major rows = packed order for equal lengths
    zeros = np.zeros((B, H), np.float32)
    return scan(gx, packing, layer, zeros, zeros)[0]


def make_numba_kernels():
    import numba

    @numba.njit(fastmath=True, cache=True)
    def lstm_gates(g, c, h, H):
        """One step's gates in place, scan layout (i, f, o halved; g): one pass instead of ten."""
        for b in range(g.shape[0]):
            for j in range(H):
                i = 0.5 * (np.tanh(g[b, j]) + 1.0)
                f = 0.5 * (np.tanh(g[b, H + j]) + 1.0)
                o = 0.5 * (np.tanh(g[b, 2 * H + j]) + 1.0)
                cc = f * c[b, j] + i * np.tanh(g[b, 3 * H + j])
                c[b, j] = cc
                h[b, j] = o * np.tanh(cc)

    @numba.njit(fastmath=True, cache=True, inline="always", error_model="numpy")
    def rational_tanh(x):
        """tanh as a rational function (Eigen's float approximation, within ~1e-7): no libm
        call, so a loop of it vectorises."""
        x = max(np.float32(-7.90531110763549805), min(x, np.float32(7.90531110763549805)))
        x2 = x * x
        p = np.float32(-2.76076847742355e-16)
        for a in (2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08, 1.48572235717979e-05,
                  6.37261928875436e-04, 4.89352455891786e-03):
            p = p * x2 + np.float32(a)
        q = np.float32(1.19825839466702e-06)
        for a in (1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03):
            q = q * x2 + np.float32(a)
        return p * x / q

    # error_model="numpy": IEEE division. Numba's default ("python") checks every division for
    # zero to raise ZeroDivisionError, and that branch alone keeps LLVM from vectorising a loop.
    @numba.njit(fastmath=True, cache=True, error_model="numpy")
    def lstm_gates_vectorised(g, c, h, H):
        """``lstm_gates`` with float32 arithmetic and the rational tanh: a vectorised loop."""
        half = np.float32(0.5)
        for b in range(g.shape[0]):
            gb, cb, hb = g[b], c[b], h[b]
            for j in range(H):
                i = half * rational_tanh(gb[j]) + half
                f = half * rational_tanh(gb[H + j]) + half
                o = half * rational_tanh(gb[2 * H + j]) + half
                cc = f * cb[j] + i * rational_tanh(gb[3 * H + j])
                cb[j] = cc
                hb[j] = o * rational_tanh(cc)

    @numba.njit(fastmath=True, cache=True, parallel=True)
    def lstm_layer(x, w_ih_t, w_hh_t, b_in, H):
        """The whole layer in fused loops: per row, input and hidden products and the gates."""
        T, B, _ = x.shape
        out = np.empty((T, B, H), np.float32)
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32)
        for t in range(T):
            for b in numba.prange(B):
                g = b_in.copy()
                for k in range(x.shape[2]):
                    v = x[t, b, k]
                    for j in range(4 * H):
                        g[j] += v * w_ih_t[k, j]
                for k in range(H):
                    v = h[b, k]
                    for j in range(4 * H):
                        g[j] += v * w_hh_t[k, j]
                for j in range(H):
                    i = 0.5 * (np.tanh(g[j]) + 1.0)
                    f = 0.5 * (np.tanh(g[H + j]) + 1.0)
                    o = 0.5 * (np.tanh(g[2 * H + j]) + 1.0)
                    cc = f * c[b, j] + i * np.tanh(g[3 * H + j])
                    c[b, j] = cc
                    out[t, b, j] = o * np.tanh(cc)
            h[:] = out[t]
        return out

    @numba.njit(fastmath=True, cache=True)
    def matvec_gates(w, x, g):
        """g = w @ x for [out, in] w (rows contiguous: the dot product vectorises)."""
        for j in range(w.shape[0]):
            s = np.float32(0.0)
            for k in range(w.shape[1]):
                s += w[j, k] * x[k]
            g[j] = s

    @numba.njit(fastmath=True, cache=True)
    def lm_step(token, table, weights, xh, cells, out, logits, H):
        """One fused step of a stacked LSTM LM at batch 1 (rnntool Stepper's layout: per layer
        [x, h, 1] @ [W_ih^T; W_hh^T; b] as one [out, in] matrix; layer 0's input part a table)."""
        n_layers = len(weights)
        for k in range(n_layers):
            w = weights[k]
            v = xh[k]
            g = np.empty(w.shape[0], np.float32)
            for j in range(w.shape[0]):
                s = np.float32(0.0)
                for m in range(w.shape[1]):
                    s += w[j, m] * v[m]
                g[j] = s
            if k == 0:
                g += table[token]
            c = cells[k]
            hv = np.empty(H, np.float32)
            for j in range(H):
                i = 0.5 * (np.tanh(g[j]) + 1.0)
                f = 0.5 * (np.tanh(g[H + j]) + 1.0)
                o = 0.5 * (np.tanh(g[2 * H + j]) + 1.0)
                cc = f * c[j] + i * np.tanh(g[3 * H + j])
                c[j] = cc
                hv[j] = o * np.tanh(cc)
            width = v.shape[0] - H - 1
            v[width: width + H] = hv
            if k + 1 < n_layers:
                nxt = xh[k + 1]
                nxt[: H] = hv
            else:
                for j in range(out.shape[0]):
                    s = out[j, H]
                    for m in range(H):
                        s += out[j, m] * hv[m]
                    logits[j] = s

    return lstm_gates, lstm_gates_vectorised, lstm_layer, matvec_gates, lm_step


def kernel_a_numpy_numba_gates(layer, x, lstm_gates):
    gx = (x.reshape(T * B, I) @ layer.w_ih_t + layer.b_in).reshape(T, B, 4 * H)
    h = np.zeros((B, H), np.float32)
    c = np.zeros((B, H), np.float32)
    out = np.empty((T, B, H), np.float32)
    gh = np.empty((B, 4 * H), np.float32)
    for t in range(T):
        np.matmul(h, layer.w_hh_t, out=gh)
        gh += gx[t]
        lstm_gates(gh, c, h, H)
        out[t] = h
    return out.reshape(T * B, H)


def ort_lstm_session(layer, threads: int):
    """onnxruntime's LSTM operator on torch's weights (ONNX gate order i, o, f, c)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    W = _lstm_onnx_order(layer.w_ih)[None]
    R = _lstm_onnx_order(layer.w_hh)[None]
    Bias = np.concatenate([_lstm_onnx_order(layer.b_ih), _lstm_onnx_order(layer.b_hh)])[None]
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["y"], hidden_size=H)
    graph = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
                               ((W, "W"), (R, "R"), (Bias, "B"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# --- kernel B ---------------------------------------------------------------------------------

def ort_step_session(lm, threads: int):
    """One step of the stacked LSTM LM as a graph: embedding gather, one LSTM op per layer
    (sequence of 1), output layer; state in and out."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    cfg = lm.cfg
    Hh = cfg.hidden

    inits = [numpy_helper.from_array(lm.embedding.astype(np.float32), "emb"),
             numpy_helper.from_array(np.ascontiguousarray(lm.out_w.T, np.float32), "out_w"),
             numpy_helper.from_array(lm.out_b.astype(np.float32), "out_b")]
    nodes = [helper.make_node("Gather", ["emb", "token"], ["x0"], axis=0)]  # [1, 1, E]
    inputs = [helper.make_tensor_value_info("token", TensorProto.INT64, [1, 1])]
    outputs = []
    x = "x0"
    for k, layer in enumerate(layer[0] for layer in lm.stack.weights):
        inits += [numpy_helper.from_array(_lstm_onnx_order(layer.w_ih)[None].astype(np.float32), f"W{k}"),
                  numpy_helper.from_array(_lstm_onnx_order(layer.w_hh)[None].astype(np.float32), f"R{k}"),
                  numpy_helper.from_array(np.concatenate([_lstm_onnx_order(layer.b_ih), _lstm_onnx_order(layer.b_hh)])[None]
                                          .astype(np.float32), f"B{k}")]
        inputs += [helper.make_tensor_value_info(f"h{k}", TensorProto.FLOAT, [1, 1, Hh]),
                   helper.make_tensor_value_info(f"c{k}", TensorProto.FLOAT, [1, 1, Hh])]
        nodes.append(helper.make_node("LSTM", [x, f"W{k}", f"R{k}", f"B{k}", "", f"h{k}", f"c{k}"],
                                      [f"y{k}", f"h{k}_out", f"c{k}_out"], hidden_size=Hh))
        nodes.append(helper.make_node("Squeeze", [f"y{k}", "one"], [f"x{k + 1}"]))  # [1, 1, 1, H] -> [1, 1, H]
        outputs += [helper.make_tensor_value_info(f"h{k}_out", TensorProto.FLOAT, None),
                    helper.make_tensor_value_info(f"c{k}_out", TensorProto.FLOAT, None)]
        x = f"x{k + 1}"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    nodes += [helper.make_node("MatMul", [x, "out_w"], ["mm"]), helper.make_node("Add", ["mm", "out_b"], ["logits"])]
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# --- kernel C ---------------------------------------------------------------------------------

def quantize_blocks(w: np.ndarray, bits: int, block: int) -> tuple[np.ndarray, np.ndarray, int]:
    """[N, K] float32 -> MatMulNBits' (packed codes [N, blocks, block * bits / 8], scales [N * blocks], K
    padded): symmetric codes around onnxruntime's default zero point 2^(bits - 1)."""
    n, k = w.shape
    padded = -(-k // block) * block
    wp = np.zeros((n, padded), np.float32)
    wp[:, :k] = w
    blocks = wp.reshape(n, padded // block, block)
    top = 2 ** (bits - 1) - 1
    scale = np.maximum(np.abs(blocks).max(axis=2), 1e-12) / top
    codes = (np.clip(np.round(blocks / scale[..., None]), -top, top) + 2 ** (bits - 1)).astype(np.uint8)
    if bits == 4:  # two codes a byte, the first in the low nibble
        codes = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return codes, scale.astype(np.float32).reshape(-1), padded


def ort_matvec_session(w: np.ndarray, threads: int, bits: int | None, block: int = 32):
    """x [1, K] @ w.T as one node: MatMul on float32 weights, or MatMulNBits (com.microsoft) on
    8- or 4-bit ones with int8 activations (accuracy_level 4: onnxruntime's VNNI path)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    n, k = w.shape
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])
    if bits is None:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
        inits = [numpy_helper.from_array(np.ascontiguousarray(w.T), "w")]
    else:
        codes, scales, _ = quantize_blocks(w, bits, block)
        nodes = [helper.make_node("MatMulNBits", ["x", "q", "s"], ["y"], domain="com.microsoft", K=k, N=n, bits=bits,
                                  block_size=block, accuracy_level=4)]
        inits = [numpy_helper.from_array(codes, "q"), numpy_helper.from_array(scales, "s")]
    graph = helper.make_graph(nodes, "matvec", [x_info], [y_info], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_identity_session(k: int):
    """The smallest graph: what one run() costs before any kernel."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [info],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def make_numba_int8_matvec():
    import numba

    def body(w8, scale, x, y):
        for j in numba.prange(w8.shape[0]):
            s = np.float32(0.0)
            for m in range(w8.shape[1]):
                s += np.float32(w8[j, m]) * x[m]
            y[j] = s * scale[j]

    return (numba.njit(fastmath=True, cache=True)(body),
            numba.njit(fastmath=True, cache=True, parallel=True)(body))


def kernel_c(stepper, repeat: int) -> None:
    """The step's largest product at lower precision: is a batch-1 step bound by bytes?"""
    w = np.ascontiguousarray(stepper.weights[-1], np.float32)  # the top layer's [4H, in + H + 1], [out, in]
    n, k = w.shape
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, k).astype(np.float32)
    x[-1] = 1.0
    exact = w.astype(np.float64) @ x
    y = np.empty(n, np.float32)
    scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127
    w8 = np.round(w / scale[:, None]).astype(np.int8)
    scale = scale.astype(np.float32)
    one_thread, all_threads = make_numba_int8_matvec()
    x1 = x[None]
    rows = [("numpy float32 (OpenBLAS gemv)", w.nbytes, lambda: np.dot(w, x, out=y), lambda: np.dot(w, x)),
            ("numba int8 weights x float32, 1 thread", w8.nbytes + scale.nbytes, lambda: one_thread(w8, scale, x, y),
             lambda: (one_thread(w8, scale, x, y), y.copy())[1]),
            ("numba int8 weights x float32, prange", w8.nbytes + scale.nbytes, lambda: all_threads(w8, scale, x, y),
             lambda: (all_threads(w8, scale, x, y), y.copy())[1])]
    cores = os.cpu_count()
    for bits in (None, 8, 4):
        session = ort_matvec_session(w, cores, bits)
        size = w.nbytes if bits is None else sum(a.nbytes for a in quantize_blocks(w, bits, 32)[:2])
        name = "onnxruntime MatMul float32" if bits is None else f"onnxruntime MatMulNBits {bits}-bit (block 32)"
        rows.append((name, size, lambda s=session: s.run(None, {"x": x1}), lambda s=session: s.run(None, {"x": x1})[0][0]))
    identity = ort_identity_session(k)
    rows.append(("onnxruntime run() of an Identity graph (the floor)", 0, lambda: identity.run(None, {"x": x1}), None))
    # where the product sits in a whole step (numpy, the Stepper at batch 1): context for the rows below
    w0, x0, token = stepper.weights[0], stepper.xh[0][0], np.array([5])
    g0 = np.empty(w0.shape[0], np.float32)
    context = [("numpy, the first layer's product " + str(list(w0.shape)), lambda: np.dot(w0, x0, out=g0)),
               ("numpy, a whole Stepper.step (both layers, the gates)", lambda: stepper.step(token)),
               ("numpy, Stepper.step + logits", lambda: (stepper.step(token), stepper.logits()))]
    print("\ncontext: one batch-1 step of the same model on numpy (medians of 5 x 200 calls)")
    for name, fn in context:
        time.sleep(0.3)
        seconds = statistics.median([timed(lambda: [fn() for _ in range(200)], 1) for _ in range(5)]) / 200
        print(f"  {name:50s} {seconds * 1e6:6.1f} us")
    print(f"\nkernel C: the step's largest product, bundled shakespeare-char's top layer [{n}, {k}] @ x, batch 1 "
          f"(medians of {repeat} rounds, the engines alternated, 200 calls each)")
    times: list[list[float]] = [[] for _ in rows]
    for r in range(repeat):  # alternated, each round starting one engine later: this machine's speed drifts
        for i in [(r + j) % len(rows) for j in range(len(rows))]:
            # the previous engine's threads spin-wait after their work (OpenBLAS's for ~0.1 s): let them sleep
            time.sleep(0.3)
            fn = rows[i][2]
            times[i].append(timed(lambda: [fn() for _ in range(200)], 1) / 200)
    base = statistics.median(times[0])
    for (name, size, _, result), samples in zip(rows, times):
        seconds = statistics.median(samples)
        # the quantized rows' differences are their quantization's (numba: a scale per row, float inputs;
        # MatMulNBits: a scale per 32 weights, int8 inputs), not the engine's
        diff = "" if result is None else f"max |diff| from float64 {float(np.abs(result() - exact).max()):.1e}"
        weights = f"{size / 1e6:5.2f} MB" if size else " " * 8
        print(f"  {name:50s} {seconds * 1e6:6.1f} us  {weights}  {base / seconds:4.2f}x numpy  {diff}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--commands", type=int, default=3, metavar="ROUNDS",
                        help="whole tag/classify/score/eval-lm runs per engine, alternated (0: skip)")
    parser.add_argument("--commands-only", action="store_true", help="skip the kernels, run only the commands")
    parser.add_argument("--matvec-only", action="store_true",
                        help="run only kernel C (the batch-1 step's largest product at 32, 8 and 4 bits)")
    args = parser.parse_args()
    if args.commands < 0 or (args.commands_only and args.commands == 0):
        parser.error("--commands must be at least 1 with --commands-only (0 skips the commands)")
    if args.commands_only:
        print(f"whole commands, file in and out (RNNTOOL_ENGINE; medians of {args.commands} alternated runs)")
        commands(args.commands)
        return
    import numba
    import onnxruntime as ort

    from rnntool.runtime.cells import LayerWeights
    from rnntool.runtime.lm import LMRuntime, Stepper
    from rnntool.userstate import locate

    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cpus, python {platform.python_version()}, numpy {np.__version__}, "
          f"numba {numba.__version__}, onnxruntime {ort.__version__}")
    for module in ("numpy", "numba", "onnxruntime"):
        print(f"import {module}: {import_seconds(module) * 1000:.0f} ms")
    t0 = time.perf_counter()
    if args.matvec_only:
        kernel_c(Stepper(LMRuntime.load(locate("shakespeare-char")), 1), args.repeat)
        return
    lstm_gates, lstm_gates_vectorised, lstm_layer, _, lm_step = make_numba_kernels()
    rng = np.random.default_rng(0)
    layer = LayerWeights("lstm", *(rng.uniform(-0.1, 0.1, s).astype(np.float32)
                                   for s in ((4 * H, I), (4 * H, H), (4 * H,), (4 * H,))))
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h_small = np.zeros((2, H), np.float32)
    for gates in (lstm_gates, lstm_gates_vectorised):
        gates(np.zeros((2, 4 * H), np.float32), h_small.copy(), h_small.copy(), H)
    lstm_layer(x[:1, :2], layer.w_ih_t, layer.w_hh_t, layer.b_in, H)
    print(f"numba kernels, first calls (compile, or load from numba's cache on later runs): "
          f"{time.perf_counter() - t0:.2f} s")

    print(f"\nkernel A: LSTM layer, {B} sentences x {T} tokens, input {I}, hidden {H} ({B * T:,} row-steps)")
    ref = kernel_a_numpy(layer, x)
    rows = [("numpy (rnntool runtime)", lambda: kernel_a_numpy(layer, x), ref)]
    rows.append(("numpy matmul + numba gates", lambda: kernel_a_numpy_numba_gates(layer, x, lstm_gates),
                 kernel_a_numpy_numba_gates(layer, x, lstm_gates)))
    rows.append(("numpy matmul + numba gates, vectorised (rational tanh, IEEE division)",
                 lambda: kernel_a_numpy_numba_gates(layer, x, lstm_gates_vectorised),
                 kernel_a_numpy_numba_gates(layer, x, lstm_gates_vectorised)))
    rows.append(("numba fused loops, all threads",
                 lambda: lstm_layer(x, layer.w_ih_t, layer.w_hh_t, layer.b_in, H),
                 lstm_layer(x, layer.w_ih_t, layer.w_hh_t, layer.b_in, H).reshape(T * B, H)))
    for threads in (1, cores):
        session = ort_lstm_session(layer, threads)
        rows.append((f"onnxruntime LSTM op, {threads} thread{'s' if threads > 1 else ''}",
                     lambda s=session: s.run(None, {"x": x}), session.run(None, {"x": x})[0].reshape(T * B, H)))
    base = None
    for name, fn, out in rows:
        seconds = timed(fn, args.repeat)
        base = base or seconds
        diff = float(np.abs(np.asarray(out).reshape(T * B, H) - ref).max())
        print(f"  {name:34s} {seconds * 1000:7.2f} ms  {seconds / (B * T) * 1e6:5.2f} us/row-step  "
              f"{base / seconds:4.2f}x numpy  max |diff| {diff:.1e}")

    print("\nkernel B: one generation step, bundled shakespeare-char (2x256 LSTM, 68 characters), batch 1")
    lm = LMRuntime.load(locate("shakespeare-char"))
    stepper = Stepper(lm, 1)
    token = np.array([5])

    def numpy_step():
        stepper.step(token)
        return stepper.logits()

    numpy_logits = numpy_step().copy()  # (after one warm-up step; compare from equal states below)
    # the fused numba step on the Stepper's own buffers and [out, in] weights
    stepper_b = Stepper(lm, 1)
    weights = [np.ascontiguousarray(w) for w in stepper_b.weights]  # single: already [out, in]
    xh = [buf[0] for buf in stepper_b.xh]
    cells = [c[0] for c in stepper_b.cells]
    out_t = np.ascontiguousarray(stepper_b.out.T)  # [V, H + 1]
    logits = np.empty(out_t.shape[0], np.float32)
    table = stepper_b.table
    from numba.typed import List

    wl, xl, cl = List(weights), List(xh), List(cells)
    t0 = time.perf_counter()
    lm_step(5, table, wl, xl, cl, out_t, logits, lm.cfg.hidden)
    print(f"  numba step, first call: {time.perf_counter() - t0:.2f} s")
    diff_b = float(np.abs(logits - numpy_logits).max())
    session = ort_step_session(lm, 1)
    feeds = {"token": np.array([[5]], np.int64)}
    for k in range(lm.cfg.layers):
        feeds[f"h{k}"] = np.zeros((1, 1, lm.cfg.hidden), np.float32)
        feeds[f"c{k}"] = np.zeros((1, 1, lm.cfg.hidden), np.float32)
    ort_logits = session.run(["logits"], feeds)[0].reshape(-1)
    diff_ort = float(np.abs(ort_logits - numpy_logits).max())
    steps = 2000

    def many(fn):
        return lambda: [fn() for _ in range(steps)]

    base = None
    for name, fn, diff in (
            ("numpy (rnntool Stepper)", many(numpy_step), 0.0),
            ("numba fused step, 1 thread", many(lambda: lm_step(5, table, wl, xl, cl, out_t, logits, lm.cfg.hidden)),
             diff_b),
            ("onnxruntime one-step graph, 1 thread", many(lambda: session.run(None, feeds)), diff_ort)):
        seconds = timed(fn, max(3, args.repeat // 5)) / steps
        base = base or seconds
        print(f"  {name:38s} {seconds * 1e6:7.1f} us/token = {1 / seconds:8,.0f} tokens/s  "
              f"{base / seconds:4.2f}x numpy  max |diff| {diff:.1e}")
    kernel_c(Stepper(lm, 1), args.repeat)
    if args.commands:
        print(f"\nwhole commands, file in and out (RNNTOOL_ENGINE; medians of {args.commands} alternated runs)")
        commands(args.commands)


def commands(rounds: int) -> None:
    """Whole commands, file in and out, on each engine (RNNTOOL_ENGINE), alternated."""
    import tempfile
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from tokenize_speed import ewt_sentences, nsmc_test_reviews  # (bench/ is the script's directory)

        ewt = tmp / "ewt.txt"
        ewt.write_text(ewt_sentences())
        nsmc = tmp / "nsmc.txt"
        nsmc.write_text(nsmc_test_reviews())
        shakespeare = (data / "tinyshakespeare" / "input.txt").read_text().splitlines()
        lines = tmp / "shakespeare-lines.txt"  # the last 4,000 lines (~150 kB), scored one by one
        lines.write_text("\n".join(shakespeare[-4000:]) + "\n")
        exe = str(Path(sys.executable).with_name("rnntool"))
        for label, args in (("tag, bundled en-ewt-upos, EWT raw text x5", ["tag", str(ewt), "-q"]),
                            ("classify, bundled ko-sentiment, NSMC test", ["classify", "-m", "ko-sentiment",
                                                                            str(nsmc), "-q"]),
                            ("score, bundled shakespeare-char, 4,000 lines", ["score", "shakespeare-char",
                                                                              str(lines)]),
                            ("eval-lm, bundled shakespeare-char, the same as one text", ["eval-lm", "shakespeare-char",
                                                                                         str(lines)])):
            times: dict[str, list[float]] = {"numpy": [], "onnxruntime": []}
            outputs = {}
            for _ in range(rounds):
                for engine in times:
                    t0 = time.perf_counter()
                    out = subprocess.run([exe, *args], capture_output=True, check=True,
                                         env={**os.environ, "RNNTOOL_ENGINE": engine}).stdout
                    times[engine].append(time.perf_counter() - t0)
                    outputs[engine] = out
            med = {k: statistics.median(v) for k, v in times.items()}
            a, b = (outputs[k].decode().splitlines() for k in ("numpy", "onnxruntime"))
            answers = sum(x.split("\t")[0] != y.split("\t")[0] for x, y in zip(a, b))  # tags or labels
            lines = sum(x != y for x, y in zip(a, b))
            print(f"  {label}: numpy {med['numpy']:.2f} s, onnxruntime {med['onnxruntime']:.2f} s = "
                  f"{med['numpy'] / med['onnxruntime']:.2f}x; of {len(a):,} output lines {lines} differ "
                  f"({answers} in the answer itself; the rest in a probability's last printed digit)")


if __name__ == "__main__":
    main()
