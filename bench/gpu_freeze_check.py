#!/usr/bin/env python
"""--freeze-vectors on a GPU: a tiny tagger trained on the device given (default cuda) from
word vectors, frozen and tuned; the frozen rows must come back exactly, the tuned ones
moved. Run by bench/gpu_check.sh; exits 1 on a failure.

    python bench/gpu_freeze_check.py [DEVICE]
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import rnntool
from rnntool.modelfile import load_model

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
tmp = Path(tempfile.mkdtemp())
sentences = ["The/DET cat/NOUN sat/VERB ./PUNCT", "A/DET dog/NOUN ran/VERB ./PUNCT", "The/DET dog/NOUN sat/VERB ./PUNCT"]
(tmp / "train.txt").write_text("\n".join(sentences * 20) + "\n")
rng = np.random.default_rng(0)
given = {w: np.round(rng.standard_normal(16), 6).astype(np.float32) for w in ("the", "cat", "dog", "zebra")}
(tmp / "v.vec").write_text(f"{len(given)} 16\n" + "".join(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n"
                                                           for w, v in given.items()))  # exactly the rounded values
failed = False
for tune in (False, True):
    result = rnntool.train_tagger(tmp / "train.txt", tmp / f"t{tune}.safetensors", word_vectors=tmp / "v.vec",
                                  tune_vectors=tune, max_steps=30, lr=0.05, batch_size=8, min_word_freq=1, seed=1,
                                  device=device)
    model = load_model(result.model_path, kind="tagger")
    words, emb = model.config["words"], model.tensors["word_embedding.weight"]
    moved = {w: round(float(np.abs(emb[words.index(w)] - v).max()), 6) for w, v in given.items()}
    ok = all(m == 0.0 for m in moved.values()) if not tune else all(m > 1e-4 for w, m in moved.items() if w != "zebra")
    failed |= not ok
    print(f"{'tuned' if tune else 'frozen'} on {device} ({result.summary['steps']} steps): largest change per row "
          f"{moved} -> {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
