"""train-tagger --char-lm: a forward and a backward character language model's states at each
word join the tagger's features (Akbik et al. 2018). What the features are, that training and
tagging compute the same ones, that the numpy runtime gives torch's emissions, that the model
file is self-contained, and that what cannot serve is a one-line error."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import rnntool
from helpers import assert_one_line_error, ner_sentences
from rnntool.modelfile import load_model, read_header
from rnntool.runtime.charlm import CharLMFeatures, reading
from rnntool.runtime.lm import LMRuntime

LM = dict(layers=1, emb=8, hidden=24, max_steps=20, precision="fp32", seed=1, remember=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Character LMs both ways on the words of a small NER set, and a CRF tagger that reads them."""
    tmp = tmp_path_factory.mktemp("charlm")
    (tmp / "ner.txt").write_text(ner_sentences(160, 1))
    (tmp / "dev.txt").write_text(ner_sentences(30, 2))
    sentences = [[line.split()[0] for line in block.splitlines()]
                 for block in (tmp / "ner.txt").read_text().split("\n\n") if block.strip()]
    (tmp / "text.txt").write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    forward = rnntool.train_lm(tmp / "text.txt", tmp / "fwd.safetensors", **LM).model_path
    backward = rnntool.train_lm(tmp / "text.txt", tmp / "bwd.safetensors", reverse=True, **LM).model_path
    tagger = rnntool.train_tagger(tmp / "ner.txt", tmp / "tagger.safetensors", dev=tmp / "dev.txt", crf=True,
                                  char_lm=[backward, forward], hidden=16, max_steps=30, precision="fp32", seed=1,
                                  remember=False).model_path
    return {"dir": tmp, "forward": forward, "backward": backward, "tagger": tagger}


def test_each_word_is_read_at_its_last_character_forwards_and_its_first_backwards(models):
    forward, backward = LMRuntime.load(models["forward"]), LMRuntime.load(models["backward"])
    E, sp = forward.line_end_id, forward.vocab.stoi[" "]
    a, b, c = (forward.vocab.stoi[ch] for ch in "Bob"[:1] + "ob")
    ids, at = reading(forward, ["Bo", "b"])
    assert ids == [E, a, b, sp, c] and at == [2, 4]
    ids, at = reading(backward, ["Bo", "b"])
    assert ids == [E, c, sp, b, a] and at == [4, 1]  # "Bo" is last read at its "B"
    ids, at = reading(forward, ["Bob\u2603"])  # a character the model never saw reads as <unk>
    assert ids[-1] == forward.vocab.unk_id and at == [4]


def test_the_features_are_the_models_states_at_those_positions(models):
    lms = [LMRuntime.load(models["forward"]), LMRuntime.load(models["backward"])]
    sentences = [["Bob", "Jones", "went", "to", "Paris", "."], ["Carol", "went"], ["."]]
    features = CharLMFeatures([{"config": lm.model_file.config, "vocab": lm.model_file.header["vocab"],
                                "tokenizer": lm.model_file.header["tokenizer"]} for lm in lms],
                              {f"char_lm.{k}.{n}": t for k, lm in enumerate(lms)
                               for n, t in lm.model_file.tensors.items()})
    got = features(sentences)
    assert got.shape == (9, 48)
    rows = 0
    for s in sentences:
        for col, lm in zip((0, 24), lms):
            ids, at = reading(lm, s)
            h, _ = lm.hidden(np.array(ids)[:, None], lm.zero_state(1))  # one sentence alone, no batching
            np.testing.assert_allclose(got[rows: rows + len(s), col: col + 24], h[at, 0], rtol=1e-5, atol=1e-6)
        rows += len(s)


def test_training_stored_the_features_tagging_computes(models):
    """The features training precomputes by position in its packed data are the ones tag computes."""
    from rnntool.text.tagged import iter_tagged
    from rnntool.train.labelled_texts import TextCollector
    from rnntool.train.tagger import CharLMs

    collector = TextCollector(None, None, tagged=True)
    collector.add_sentences(iter_tagged(str(models["dir"] / "dev.txt"), "auto", None, "strict")[0], 0)
    packed = collector.finish()
    lms = CharLMs.load([str(models["forward"]), str(models["backward"])])
    stored = lms.features_of(packed, None)
    runtime = CharLMFeatures(lms.entries, lms.tensors)
    for i in (0, len(packed) // 2, len(packed) - 1):
        start = int(packed.starts[i])
        np.testing.assert_allclose(stored[start: start + packed.lengths[i]], runtime([packed.tokens(i)]), atol=1e-6)


def test_the_numpy_tagger_gives_torchs_emissions(models):
    from rnntool.nn.tagger import TaggerModule
    from rnntool.runtime.tagger import TaggerRuntime
    from rnntool.train.batching import make_batches
    from rnntool.text.tagged import TaggedSentence

    tagger = TaggerRuntime.load(models["tagger"])
    tensors = load_model(models["tagger"]).tensors
    module = TaggerModule(tagger.cfg, char_lm_tensors={k: v for k, v in tensors.items() if k.startswith("char_lm.")})
    module.load_file_weights(tensors)
    module.eval()
    sentences = [["Bob", "Jones", "went", "to", "Paris", "."], ["Zed", "Quux", "went", "to", "Oslo", "!"], ["Bob"]]
    n_em, _ = tagger.emissions(sentences)
    features = tagger.encoder.char_lm
    for batch in make_batches([TaggedSentence(s, ["O"] * len(s)) for s in sentences], tagger.cfg, 8):
        lm = torch.from_numpy(np.stack([features([sentences[i]]) for i in batch.order]))
        with torch.no_grad():
            t_em = module.emissions(batch.words, batch.cases, batch.type_chars, batch.type_index, lm).numpy()
        for row, i in enumerate(batch.order):
            np.testing.assert_allclose(n_em[i, : len(sentences[i])], t_em[row], rtol=1e-5, atol=1e-5)


def test_char_lm_features_choose_the_smaller_tagger_without_the_lm_loss(models):
    """--char-lm: what the user left unsaid of CHAR_LM_TAGGER is chosen, recorded and kept."""
    from rnntool.recipes import BUDGET_PATIENCE, CHAR_LM_TAGGER

    header = load_model(models["tagger"]).header
    [choice, budget] = header["training"]["choices"]
    assert budget["options"] == {"patience": BUDGET_PATIENCE}  # max_steps=30: no early stopping
    assert choice["options"] == {k: v for k, v in CHAR_LM_TAGGER.items() if k != "hidden"}  # hidden=16 was given
    assert header["config"]["hidden"] == 16 and header["config"]["char_filters"] == CHAR_LM_TAGGER["char_filters"]
    assert header["training"]["train_config"]["lm_loss"] == 0.0
    assert header["config"]["dropout"] == CHAR_LM_TAGGER["dropout"]


def test_info_names_the_models_without_their_vocabularies(models, cli):
    shown = cli("info", models["tagger"]).stdout
    assert f"{models['forward']}: forward 1x24 lstm" in shown and f"{models['backward']}: backward 1x24" in shown
    assert '"counts"' not in shown


def test_the_model_file_carries_the_models_and_tag_runs_without_them_or_torch(models, tmp_path):
    header = read_header(models["tagger"], kind="tagger")
    lms = header["config"]["char_lms"]
    assert [lm["config"]["reverse"] for lm in lms] == [False, True]  # forward first, whatever the order given
    assert header["training"]["char_lm"] == [str(models["backward"]), str(models["forward"])]
    moved = tmp_path / "alone.safetensors"
    moved.write_bytes(models["tagger"].read_bytes())
    for name in ("forward", "backward"):
        models[name].rename(models[name].with_suffix(".gone"))
    try:
        code = ("import sys, rnntool; d = rnntool.load(sys.argv[1]).tag('Bob Jones went to Paris .'); "
                "print(' '.join(t.tag for t in d.tokens)); assert 'torch' not in sys.modules")
        run = subprocess.run([sys.executable, "-c", code, str(moved)], capture_output=True, text=True, timeout=120)
    finally:
        for name in ("forward", "backward"):
            models[name].with_suffix(".gone").rename(models[name])
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.split()) == 6
    summary = rnntool.summary(moved)
    assert "Char LM, forward" in str(summary) and "Char LM, backward" in str(summary)


def test_what_cannot_serve_is_a_one_line_error(models, cli, tmp_path):
    tmp = models["dir"]
    word_lm = rnntool.train_lm(tmp / "text.txt", tmp_path / "w.safetensors", level="word", **LM).model_path
    out = tmp_path / "x.safetensors"
    base = ["train-tagger", tmp / "ner.txt", "--max-steps", "1", "-o", out, "--char-lm"]
    f, b = models["forward"], models["backward"]
    assert_one_line_error(cli(*base, word_lm), "word-level")
    assert_one_line_error(cli(*base, f"{f},{f}"), "both --char-lm models read forward")
    assert_one_line_error(cli(*base, f"{f},{b},{f}"), "one or two")
    assert_one_line_error(cli(*base, models["tagger"]), "language model")
    assert_one_line_error(cli(*base, tmp_path / "missing.safetensors"), "missing")
    assert not out.exists()


def test_the_exported_graph_runs_the_character_models_and_gives_the_runtimes_emissions(models, cli, tmp_path):
    """`export` writes the two character models into the tagger's graph; fed by onnx_feed, it
    gives the numpy runtime's emissions (padded sentences of different lengths, an unseen
    character, a one-word sentence) and, decoded with its CRF, the same tags."""
    ort = pytest.importorskip("onnxruntime")
    from rnntool.runtime.tagger import decode_tokens

    path = tmp_path / "t.onnx"
    result = cli("export", models["tagger"], "-o", path)
    assert result.exit_code == 0 and path.exists()
    tagger = rnntool.load(models["tagger"])
    runtime = tagger._runtime
    sentences = [["Bob", "Jones", "went", "to", "Paris", "."], ["Zo\u00eb", "went"], ["Bob"],
                 ["Carol", "and", "Bob", "went", "to", "Oslo", "and", "Paris", "today", "!"]]
    feed = rnntool.onnx_feed(tagger, sentences)
    lm_ids = [name for name in feed if name.startswith("char_lm") and name.endswith("_ids")]
    assert len(lm_ids) == 2  # a forward and a backward model, each with what it reads
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    emissions, transitions, start, end = session.run(["emissions", "transitions", "start", "end"], feed)
    expected, lengths = runtime.emissions(sentences)
    got = emissions.transpose(1, 0, 2)
    inside = np.arange(got.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_allclose(got[inside], expected[inside], atol=1e-5)
    ids, _ = decode_tokens(got[inside], lengths, (transitions, start, end))
    assert [runtime.tags[i] for i in ids] == [t for tags in runtime.tag(sentences)[0] for t in tags]
    # a sentence alone gives what it gives beside longer ones
    (alone,) = session.run(["emissions"], rnntool.onnx_feed(tagger, [sentences[2]]))
    np.testing.assert_allclose(alone[:1, 0], got[2, :1], atol=1e-5)


def test_the_character_model_inputs_follow_the_rules_docs_api_states(models):
    """docs/api.md spells out char_lmK_ids / _lengths / _at for callers in other languages; built
    from the header by those rules alone, they are what onnx_feed gives."""
    header = read_header(models["tagger"], kind="tagger")
    sentences = [["Bob", "Jo\u2603", "went"], ["Paris"]]
    feed = rnntool.onnx_feed(models["tagger"], sentences)
    for k, entry in enumerate(header["config"]["char_lms"]):
        tokens = entry["vocab"]["tokens"]
        stoi = {t: i for i, t in enumerate(tokens)}
        line_end, unk = stoi.get("\n", stoi["<eos>"]), stoi["<unk>"]
        backward = bool(entry["config"].get("reverse"))
        rows, ats = [], []
        for words in sentences:
            ids, at = [line_end], [0] * len(words)
            order = list(range(len(words)))[::-1] if backward else range(len(words))
            for n, i in enumerate(order):
                if n:
                    ids.append(stoi.get(" ", unk))
                chars = [stoi.get(c, unk) for c in words[i]]
                ids += chars[::-1] if backward else chars
                at[i] = len(ids) - 1
            rows.append(ids)
            ats.append(at)
        assert feed[f"char_lm{k}_lengths"].tolist() == [len(r) for r in rows]
        for b, (ids, at) in enumerate(zip(rows, ats)):
            assert feed[f"char_lm{k}_ids"][: len(ids), b].tolist() == ids
            assert feed[f"char_lm{k}_at"][: len(at), b].tolist() == at
        assert unk in rows[0]  # the snowman is read as <unk>


def test_quantize_stores_the_character_models_smaller_and_the_tagger_tags_alike(models, tmp_path):
    """A --char-lm tagger's file carries its character models: fp16 stores them (and the rest)
    in half the bytes, measured on dev data like any tagger, and the smaller file tags alike."""
    result = rnntool.quantize(models["tagger"], tmp_path / "t.fp16.safetensors", weights="fp16",
                              dev=str(models["dir"] / "dev.txt"))
    assert result.measured["metric"] == "entity_f1" and result.measured["within"]
    stored = load_model(result.path).stored
    char_lm = [name for name in stored if name.startswith("char_lm.")]
    assert char_lm and all(stored[name].dtype == np.float16 for name in char_lm if stored[name].ndim == 2)
    assert result.bytes_after < 0.6 * result.bytes_before
    sentences = [["Bob", "Jones", "went", "to", "Paris", "."], ["Carol", "went"]]
    tags = lambda m: [[t.tag for s in r.sentences for t in s.tokens] for r in rnntool.load(m).tag(sentences)]  # noqa: E731,E501
    assert [len(t) for t in tags(models["tagger"])] == [6, 2]
    assert tags(result.path) == tags(models["tagger"])
    np.testing.assert_allclose(rnntool.load(result.path)._runtime.emissions(sentences)[0],
                               rnntool.load(models["tagger"])._runtime.emissions(sentences)[0], atol=2e-2)


def test_an_interrupted_run_resumes_to_the_same_weights(models, tmp_path):
    """The checkpoint records --char-lm: a resumed run reloads the models, recomputes the same
    features, and ends where an uninterrupted run ends."""
    from rnntool.train.tagger import train_tagger

    common = dict(dev_spec=str(models["dir"] / "dev.txt"), model_options={"hidden": 8},
                  train_options={"max_steps": 12, "seed": 1, "precision": "fp32"},
                  char_lm=[str(models["forward"]), str(models["backward"])])
    train = str(models["dir"] / "ner.txt")
    full, full_path = train_tagger(train, tmp_path / "full.safetensors", **common)
    calls = {"n": 0}

    def stop_after_5():
        calls["n"] += 1
        return calls["n"] == 5

    part, part_path = train_tagger(train, tmp_path / "part.safetensors", should_stop=stop_after_5, **common)
    assert part["stop_reason"] == "interrupted" and part["steps"] == 5
    resumed, _ = train_tagger(train, part_path, resume=tmp_path / "part.ckpt")
    assert resumed["steps"] == full["steps"] == 12
    assert resumed["choices"] == part["choices"] == full["choices"] != []  # kept, not chosen again
    a, b = load_model(full_path), load_model(part_path)
    assert a.config["char_lms"] == b.config["char_lms"]
    for name in a.tensors:
        np.testing.assert_array_equal(a.tensors[name], b.tensors[name], err_msg=name)
