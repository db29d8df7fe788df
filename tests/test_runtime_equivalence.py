"""The numpy runtime and torch must give the same numbers (<= 1e-5 relative)."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnntool.runtime.lm as runtime_lm
from rnntool.arch import LMConfig
from rnntool.modelfile import ModelFile
from rnntool.nn.lm import LMModule, make_rnn
from rnntool.runtime.cells import RNNStack
from rnntool.runtime.lm import LMRuntime, Stepper
from rnntool.text.vocab import Vocab

CELLS = ["lstm", "gru", "rnn", "rnn-relu"]


def close(a, b, rtol=1e-5, atol=None):
    """Within rtol of each value, or of the output's scale for values near zero: float32
    rounding differs with the order of the sums (BLAS kernels), so an element that
    crosses zero cannot be held to a relative bound of its own."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if atol is None:
        atol = rtol * (max(1.0, float(np.abs(b).max())) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    cell=st.sampled_from(CELLS),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch=st.integers(1, 4),
    steps=st.integers(1, 7),
    input_size=st.integers(1, 9),
    hidden=st.integers(1, 12),
    padded=st.booleans(),
    with_state=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_stack_matches_torch(cell, layers, bidirectional, batch, steps, input_size, hidden, padded, with_state, seed):
    torch.manual_seed(seed)
    rnn = make_rnn(cell, input_size, hidden, layers, 0.0, bidirectional=bidirectional)
    if cell != "rnn-relu":  # a wider range than the default init drives the gates into saturation;
        with torch.no_grad():  # (an unbounded ReLU RNN would only amplify float32 rounding instead)
            for p in rnn.parameters():
                p.uniform_(-1.0, 1.0)
    weights = {k: v.detach().numpy() for k, v in rnn.state_dict().items()}
    stack = RNNStack(cell, weights, layers, bidirectional)
    x = torch.randn(steps, batch, input_size)
    dirs = 2 if bidirectional else 1
    state = None
    if with_state:
        h0 = torch.randn(layers * dirs, batch, hidden)
        state = (h0, torch.randn(layers * dirs, batch, hidden)) if cell == "lstm" else h0
    lengths = None
    if padded:
        lengths = np.random.default_rng(seed).integers(1, steps + 1, size=batch)
        lengths[0] = steps  # pack_padded_sequence wants the longest to span the batch
    with torch.no_grad():
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            out_packed, t_state = rnn(packed, state)
            t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=steps)
        else:
            t_out, t_state = rnn(x, state)
    np_state = None if state is None else (tuple(s.numpy() for s in state) if cell == "lstm" else state.numpy())
    out, n_state = stack.forward(x.numpy(), np_state, lengths)
    close(out, t_out.numpy())  # return_sequences
    if cell == "lstm":
        close(n_state[0], t_state[0].numpy())  # return_state: h
        close(n_state[1], t_state[1].numpy())  # and the LSTM cell state
    else:
        close(n_state, t_state.numpy())


def make_lm(cell, layers, softmax="full", tie=False, vocab_size=40, emb=6, hidden=8, seed=0):
    torch.manual_seed(seed)
    cfg = LMConfig(vocab_size=vocab_size, cell=cell, layers=layers, emb=emb, hidden=hidden, softmax=softmax, tie=tie,
                   cutoffs=[8, 20] if softmax == "adaptive" else [])
    model = LMModule(cfg).eval()
    vocab = Vocab(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(vocab_size - 3)])
    header = {"kind": "lm", "config": cfg.to_dict(), "vocab": vocab.to_dict(), "tokenizer": {"level": "word"}}
    return model, LMRuntime(ModelFile(header, model.file_weights()))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("softmax, tie", [("full", False), ("full", True), ("adaptive", False)])
def test_language_model_log_probs_match_torch(cell, softmax, tie):
    model, lm = make_lm(cell, 2, softmax, tie, emb=16 if tie else 6, hidden=16)
    ids = torch.randint(0, 40, (11, 3))
    with torch.no_grad():
        features, _ = model.features(ids)
        expected = model.log_probs(features).numpy()
    h, _ = lm.hidden(ids.numpy())
    close(lm.log_probs(h.reshape(33, -1)).reshape(11, 3, -1), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("fold", [True, False])
def test_stepper_matches_whole_sequence_run(cell, fold, monkeypatch):
    """Streaming one token at a time gives the same state and scores as running the sequence."""
    if not fold:
        monkeypatch.setattr(runtime_lm, "FOLD_LIMIT", 0)
    model, lm = make_lm(cell, 3)
    ids = np.random.default_rng(1).integers(0, 40, size=(9, 2))
    h, state = lm.hidden(ids)
    stepper = Stepper(lm, 2)
    for t in range(9):
        top = stepper.step(ids[t])
    close(top, h[-1])
    close(stepper.logits(), lm.logits(h[-1]))
    got = stepper.get_state()
    for a, b in zip(got if cell == "lstm" else (got,), state if cell == "lstm" else (state,)):
        close(a, b)
    # and a state passed in continues where it left off
    stepper2 = Stepper(lm, 2)
    _, mid = lm.hidden(ids[:5])
    stepper2.set_state(mid)
    for t in range(5, 9):
        top2 = stepper2.step(ids[t])
    close(top2, h[-1])


def test_runtime_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    from rnntool.modelfile import save_model

    model, lm = make_lm("gru", 2)
    path = tmp_path / "m.safetensors"
    save_model(path, "lm", model.file_weights(), {"config": lm.cfg.to_dict(), "vocab": lm.vocab.to_dict(),
                                                 "tokenizer": {"level": "word"}})
    code = (
        "import sys, numpy as np\n"
        "from rnntool.runtime.lm import LMRuntime, Stepper\n"
        f"lm = LMRuntime.load({str(path)!r})\n"
        "s = Stepper(lm, 1); s.step(np.array([3])); s.logits()\n"
        "out, state = lm.hidden(np.array([[3], [4]]))\n"
        "print('torch' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
