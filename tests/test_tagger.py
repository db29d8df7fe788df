"""Training taggers, the numpy tagging runtime, and the tag / eval-tagger commands."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_one_line_error, ner_sentences
from rnntool.errors import RnntoolError
from rnntool.modelfile import read_header
from rnntool.runtime.tagger import TaggerRuntime, crf_marginals, viterbi
from rnntool.train.tagger import train_tagger

NOUNS = ["cat", "dog", "bird", "fish", "horse", "Paris", "London", "Alice", "Bob"]
VERBS = ["sees", "likes", "chases", "finds"]
TINY = dict(word_emb=16, hidden=16, char_filters=8)


def pos_corpus(n, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        a, b = rng.choice(NOUNS, 2)
        v = rng.choice(VERBS)
        lines.append(f"the/DET {a}/NOUN {v}/VERB a/DET {b}/NOUN ./PUNCT")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def pos_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("pos")
    (d / "train.txt").write_text(pos_corpus(200, 0))
    (d / "dev.txt").write_text(pos_corpus(30, 1))
    result, path = train_tagger(str(d / "train.txt"), d / "pos.safetensors", dev_spec=str(d / "dev.txt"),
                                model_options=TINY, train_options={"epochs": 6, "lr": 1e-2, "precision": "fp32"})
    return result, path


def test_training_learns_the_tags(pos_model):
    result, path = pos_model
    assert result["valid"]["accuracy"] > 0.95
    header = read_header(path, kind="tagger")
    assert header["config"]["tags"][0] in {"DET", "NOUN"}
    assert header["training"]["metrics"]["valid"]["accuracy"] == result["valid"]["accuracy"]


@pytest.fixture(scope="module")
def two_layer_lm_model(pos_model):
    """Two BiLSTM layers, trained with the language-model loss on the first."""
    train = pos_model[1].parent / "train.txt"
    return train_tagger(str(train), train.parent / "two-layer.safetensors", dev_spec=str(train.parent / "dev.txt"),
                        model_options={**TINY, "layers": 2},
                        train_options={"epochs": 6, "lr": 1e-2, "precision": "fp32", "lm_loss": 0.5})


@pytest.mark.parametrize("model", ["pos_model", "two_layer_lm_model"])
def test_numpy_tagger_matches_torch(model, request):
    _, path = request.getfixturevalue(model)
    tagger = TaggerRuntime.load(path)
    from rnntool.nn.tagger import TaggerModule
    from rnntool.modelfile import load_model
    from rnntool.train.batching import make_batches
    from rnntool.text.tagged import TaggedSentence

    model = TaggerModule(tagger.cfg)
    model.load_file_weights(load_model(path).tensors)
    model.eval()
    sents = [["the", "cat", "sees", "Zebedee", "."], ["a", "dog", "finds", "Xylophone", "!"], ["a", "dog"]]
    batches = make_batches([TaggedSentence(s, ["DET"] * len(s)) for s in sents], tagger.cfg, 8)
    assert [len(b.order) for b in batches] == [1, 2]  # one length per batch
    n_em, lengths = tagger.emissions(sents)  # numpy: all three at once, padded and masked
    for batch in batches:
        with torch.no_grad():
            t_em = model.emissions(batch.words, batch.cases, batch.type_chars, batch.type_index).numpy()
        for row, i in enumerate(batch.order):
            n = len(sents[i])
            np.testing.assert_allclose(n_em[i, :n], t_em[row], rtol=1e-5, atol=1e-5)


def test_lm_loss_heads_stay_out_of_the_model_file(two_layer_lm_model):
    from rnntool.modelfile import load_model

    result, path = two_layer_lm_model
    assert result["valid"]["accuracy"] > 0.95
    tensors = load_model(path).tensors
    rnn = {k for k in tensors if k.startswith("rnn.")}
    assert rnn == {f"rnn.{w}_l{k}{d}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                   for k in (0, 1) for d in ("", "_reverse")}  # the stacked names the runtime reads
    assert not any("lm_heads" in k for k in tensors)
    assert result["params"] == sum(v.size for v in tensors.values())


def test_lm_heads_predict_the_next_and_previous_word():
    from rnntool.nn.tagger import LanguageModelHeads

    torch.manual_seed(0)
    heads = LanguageModelHeads(hidden=3, vocab=5, dropout=0.0)
    layer = torch.randn(2, 4, 6)
    words = torch.tensor([[2, 3, 4, 9], [4, 4, 2, 3]])  # 9 is past the heads' vocabulary: <unk> (1)
    targets = torch.where(words < 5, words, torch.ones_like(words))
    expected = []
    for b in range(2):
        for t in range(4):
            if t + 1 < 4:  # the forward half at t has read words[:t+1]; it predicts words[t+1]
                logits = heads.next_word(layer[b, t, :3])
                expected.append(("next", F.cross_entropy(logits[None], targets[b, t + 1][None])))
            if t > 0:  # the backward half at t has read words[t:]; it predicts words[t-1]
                logits = heads.previous_word(layer[b, t, 3:])
                expected.append(("previous", F.cross_entropy(logits[None], targets[b, t - 1][None])))
    mean = lambda kind: torch.stack([v for k, v in expected if k == kind]).mean()  # noqa: E731
    torch.testing.assert_close(heads.loss(layer, words), (mean("next") + mean("previous")) / 2)


def test_viterbi_and_marginals_agree_with_brute_force():
    rng = np.random.default_rng(0)
    K, T = 3, 4
    em = rng.normal(size=(2, T, K))
    trans, start, end = rng.normal(size=(K, K)), rng.normal(size=K), rng.normal(size=K)
    lengths = np.array([4, 2])
    paths = viterbi(em, lengths, trans, start, end)
    post = crf_marginals(em, lengths, trans, start, end)
    for b, n in enumerate(lengths):
        scores = {}
        for path in itertools.product(range(K), repeat=int(n)):
            s = start[path[0]] + end[path[-1]] + sum(em[b, t, path[t]] for t in range(n))
            s += sum(trans[path[t - 1], path[t]] for t in range(1, n))
            scores[path] = s
        best = max(scores, key=scores.get)
        assert tuple(paths[b, :n]) == best
        z = np.logaddexp.reduce(list(scores.values()))
        for t in range(n):
            for k in range(K):
                p = sum(np.exp(s - z) for path, s in scores.items() if path[t] == k)
                assert post[b, t, k] == pytest.approx(p, abs=1e-9)


def test_crf_ner_tagger_with_iob1_input(tmp_path, monkeypatch):
    (tmp_path / "train.conll").write_text(ner_sentences(150, 0))
    (tmp_path / "dev.conll").write_text(ner_sentences(20, 1))
    result, path = train_tagger(str(tmp_path / "train.conll"), tmp_path / "ner.safetensors",
                                dev_spec=str(tmp_path / "dev.conll"),
                                model_options={**TINY, "crf": True}, train_options={"epochs": 6, "lr": 1e-2})
    config = read_header(path)["config"]
    assert config["crf"] and config["scheme"] == "iob2"
    assert "B-PER" in config["tags"]  # IOB1 was converted
    assert result["valid"]["f1"] > 0.9
    tagger = TaggerRuntime.load(path)
    tags, conf = tagger.tag([["Bob", "Jones", "went", "to", "New", "York", "."]], confidences=True)
    assert tags[0] == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    assert all(0.0 < c <= 1.0 for c in conf[0])
    assert_batching_does_not_change_tags(tagger, monkeypatch)
    # the library's entities: spans with character offsets into the text as given
    import rnntool

    text = "Bob  Jones went to New York."
    doc = rnntool.load(path).tag(text)
    assert [(s.type, s.text, s.start, s.end, s.token_start, s.token_end) for s in doc.spans] == [
        ("PER", "Bob  Jones", 0, 10, 0, 2), ("LOC", "New York", 19, 27, 4, 6)]
    record = doc.sentences[0].to_dict()  # the CLI's tag --format jsonl record: token indices, words joined
    assert record["spans"] == [{"start": 0, "end": 2, "type": "PER", "text": "Bob Jones"},
                               {"start": 4, "end": 6, "type": "LOC", "text": "New York"}]
    assert doc.to_dict()["sentences"][0]["spans"][0]["char_start"] == 0


def assert_batching_does_not_change_tags(tagger, monkeypatch):
    """However sentences are grouped into forward passes and decoding groups, each gets the same tags."""
    import rnntool.runtime.tagger as runtime_tagger

    rng = np.random.default_rng(3)
    words = ["Bob", "Jones", "went", "to", "New", "York", ".", "Carol", "Paris"]
    sents = [list(rng.choice(words, n)) for n in (1, 9, 3, 0, 14, 2, 9, 5)]
    tags, conf = tagger.tag(sents, confidences=True)
    assert [len(t) for t in tags] == [len(s) for s in sents]
    monkeypatch.setattr(runtime_tagger, "MAX_BATCH_TOKENS", 10)
    monkeypatch.setattr(runtime_tagger, "MAX_PADDED_CELLS", 12)
    small_tags, small_conf = tagger.tag(sents, confidences=True)
    assert small_tags == tags
    np.testing.assert_allclose(np.concatenate(small_conf), np.concatenate(conf), rtol=1e-5)
    alone = [tagger.tag([s])[0][0] for s in sents]
    assert alone == tags


def test_tag_set_mismatch_and_missing_tags(tmp_path):
    (tmp_path / "train.txt").write_text(pos_corpus(20, 0))
    (tmp_path / "dev.txt").write_text("the/DT cat/NN\n")
    with pytest.raises(RnntoolError, match="tags the training data never uses \\(DT, NN\\)"):
        train_tagger(str(tmp_path / "train.txt"), tmp_path / "m.safetensors", dev_spec=str(tmp_path / "dev.txt"))


def test_cli_tag_formats(cli, pos_model, tmp_path):
    _, path = pos_model
    text = "The cat sees a dog. A bird likes the fish.\n"
    r = cli("tag", "-m", path, "-", input=text)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["The/DET cat/NOUN sees/VERB a/DET dog/NOUN ./PUNCT",
                                     "A/DET bird/NOUN likes/VERB the/DET fish/NOUN ./PUNCT"]
    r = cli("tag", "-m", path, "--input", "tokens", "--format", "tsv", "-", input="the cat\n")
    assert r.stdout == "the\tDET\ncat\tNOUN\n\n"
    r = cli("tag", "-m", path, "--input", "tokens", "--format", "jsonl", "-", input="the cat\n\nbird\n")
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["tokens"] for rec in records] == [["the", "cat"], [], ["bird"]]  # one record per input line
    assert all(0 < c <= 1 for c in records[0]["confidence"])
    r = cli("tag", "-m", path, "--format", "conllu", "-", input="the dog.\n")
    assert r.stdout.startswith("# text = the dog.\n1\tthe\t_\tDET\t")


def test_cli_tag_keeps_conllu_columns(cli, pos_model, tmp_path):
    _, path = pos_model
    src = tmp_path / "in.conllu"
    src.write_text("# sent_id = 9\n1\tthe\tthe\t_\t_\t_\t2\tdet\t_\t_\n2-3\tcats'\t_\t_\t_\t_\t_\t_\t_\t_\n"
                   "2\tcat\tcat\t_\t_\t_\t0\troot\t_\t_\n3\t'\t'\t_\t_\t_\t2\tcase\t_\t_\n\n")
    r = cli("tag", "-m", path, src)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# sent_id = 9"
    assert lines[1].split("\t") == ["1", "the", "the", "DET", "_", "_", "2", "det", "_", "_"]
    assert lines[2].startswith("2-3\tcats'")  # the multiword token line is kept
    assert lines[3].split("\t")[3] == "NOUN" and lines[3].split("\t")[7] == "root"


def test_cli_eval_tagger_json(cli, pos_model, tmp_path):
    _, path = pos_model
    (tmp_path / "test.txt").write_text(pos_corpus(20, 5) + "the/DET zebra/NOUN finds/VERB ./PUNCT\n")
    r = cli("eval-tagger", "-m", path, tmp_path / "test.txt", "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert {"accuracy", "iv_accuracy", "oov_accuracy", "per_tag"} <= set(s)
    assert s["accuracy"] > 0.95 and s["oov_tokens"] == 1
    r = cli("eval-tagger", "-m", path, tmp_path / "test.txt")
    assert "accuracy" in r.stdout and "macro avg" in r.stdout


def test_cli_tag_edge_cases(cli, pos_model, tmp_path):
    _, path = pos_model
    assert cli("tag", "-m", path, "-", input="").stdout == ""  # empty input: no output, exit 0
    long_sentence = " ".join(["the cat sees a dog"] * 600) + "\n"  # 3000 tokens
    r = cli("tag", "-m", path, "--input", "tokens", "-", input=long_sentence + "x" * 20000 + "\n")
    assert r.exit_code == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 2 and len(out[0].split()) == 3000 and out[1].startswith("x" * 100)


def test_lm_given_to_tag_is_an_error(cli, tmp_path):
    from rnntool.modelfile import save_model

    lm = tmp_path / "lm.safetensors"
    save_model(lm, "lm", {"w": np.zeros(1, np.float32)}, {"config": {}})
    assert_one_line_error(cli("tag", "-m", lm, "-", input="hi\n"), "is a language model, but this command needs a tagger")


def test_cli_train_tagger_errors(cli, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("EU NNP I-ORG\nrejects VBZ\n")
    assert_one_line_error(cli("train-tagger", bad), "line 2")
    (tmp_path / "train.txt").write_text(pos_corpus(20, 0))
    (tmp_path / "dev.txt").write_text("the/DT cat/NN\n")
    assert_one_line_error(cli("train-tagger", tmp_path / "train.txt", "--dev", tmp_path / "dev.txt"), "never uses")


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_cli_train_tagger_precision_is_what_the_run_uses(cli, tmp_path, precision):
    (tmp_path / "train.txt").write_text(pos_corpus(40, 0))
    log, model = tmp_path / "log.jsonl", tmp_path / "m.safetensors"
    result = cli("train-tagger", tmp_path / "train.txt", "-o", model, "--epochs", "1", "--hidden", "8", "--word-emb", "8",
                 "--char-filters", "4", "--precision", precision, "--log", log, "-q")
    from rnntool.train.precision import _cpu_bf16_rnn_runs

    if precision == "bf16" and not _cpu_bf16_rnn_runs():  # a CPU with no bf16 at all: refused up front
        assert_one_line_error(result, "cannot run LSTM/GRU layers in bf16")
        assert not model.exists()
        return
    assert result.exit_code == 0, result.stderr
    start = json.loads(log.read_text().splitlines()[0])
    assert start["event"] == "start" and start["precision"] == precision
    assert read_header(model, kind="tagger")["training"]["train_config"]["precision"] == precision


def test_tag_does_not_import_torch(pos_model):
    _, path = pos_model
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnntool", "tag", "-m", str(path), "-"],
                          input="the cat sees a dog.\n", capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("the/DET")
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "torch" not in imported


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_bad_byte_fails_tag_after_every_line_before_it_is_tagged(cli, answered_by_workers, tmp_path, pos_model,
                                                                   jobs):
    """300 good lines (more than one group of lines tokenized together), then a line that is not
    UTF-8: the 300 are tagged and written, then the one-line error; nothing after it."""
    _, path = pos_model
    text = tmp_path / "in.txt"
    text.write_bytes(b"".join(f"the cat sees a dog number {n}.\n".encode() for n in range(300))
                     + b"the \xff dog.\nthe cat.\n")
    result = cli("tag", "-m", path, "--batch", "4", text, "-j", jobs)
    assert_one_line_error(result, "not valid UTF-8 (byte offset")
    lines = result.stdout.splitlines()
    assert len(lines) == 300 and lines[-1].startswith("the/DET cat/") and "299" in lines[-1]


@pytest.mark.parametrize("fmt", ["wordtag", "conllu", "jsonl"])
def test_worker_processes_tag_a_file_as_the_main_process_does(cli, answered_by_workers, tmp_path, pos_model, fmt):
    """--batch 4 over 40 sentences: the first batches here, the rest in workers, the same output."""
    _, path = pos_model
    text = tmp_path / "in.txt"
    text.write_text("".join(f"the cat sees a dog number {n}.\n" for n in range(40)))
    one, two = (cli("tag", "-m", path, "--batch", "4", "--format", fmt, text, "-j", j) for j in ("1", "2"))
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert one.stdout.count("cat") == (80 if fmt == "conllu" else 40) and two.stdout == one.stdout  # conllu: "# text ="
    assert len(answered_by_workers) >= 5  # of the 10 batches (here until the letters check has seen 200 letters)


def test_tag_answers_each_line_while_stdin_stays_open(pos_model):
    """Interactive/pipe use: a line is tagged when the input pauses, not at EOF."""
    _, path = pos_model
    proc = subprocess.Popen([sys.executable, "-m", "rnntool", "tag", "-m", str(path), "-", "-q"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in ("the cat sees a dog.", "a bird likes the fish."):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()  # would block forever if output waited for EOF
            assert answer.split()[1].endswith("/NOUN"), answer
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_per_type_gate_cache_is_bounded_and_exact(pos_model, monkeypatch):
    import rnntool.runtime.encoder as runtime_encoder

    _, path = pos_model
    sents = [["the", "cat", "sees", "a", f"dog{i}", "."] for i in range(40)]
    reference, _ = TaggerRuntime.load(path).tag(sents)
    monkeypatch.setattr(runtime_encoder, "TYPE_CACHE_LIMIT", 12)
    small = TaggerRuntime.load(path)
    tags = [small.tag([s])[0][0] for s in sents]  # the cache is cleared many times over
    assert tags == reference
    assert len(small.encoder.type_row) <= 12


def test_softmax_tagger_batching_does_not_change_tags(pos_model, monkeypatch):
    assert_batching_does_not_change_tags(TaggerRuntime.load(pos_model[1]), monkeypatch)


def test_cli_half_stores_float16_weights_that_tag_the_same(cli, pos_model, tmp_path):
    from safetensors import safe_open

    _, path = pos_model
    half = tmp_path / "half.safetensors"
    result = cli("train-tagger", path.parent / "train.txt", "--dev", path.parent / "dev.txt", "-o", half, "--half",
                 "--word-emb", "16", "--hidden", "16", "--char-filters", "8", "--epochs", "6", "--lr", "1e-2", "-q")
    assert result.exit_code == 0, result.stderr
    with safe_open(str(half), framework="np") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {np.dtype("float16")}
    assert half.stat().st_size < 0.6 * path.stat().st_size
    sents = [["the", "cat", "sees", "a", "Zebedee", "."], ["a", "bird", "finds", "the", "fish", "."]]
    full_em, _ = TaggerRuntime.load(path).emissions(sents)
    half_em, _ = TaggerRuntime.load(half).emissions(sents)
    np.testing.assert_allclose(half_em, full_em, atol=0.05)  # the same run, rounded to float16


@pytest.mark.parametrize("kernel", [3, 5])
def test_char_cnn_is_the_convolution_it_stores(kernel):
    from rnntool.nn.encoder import CharCNN

    torch.manual_seed(0)
    cnn = CharCNN(n_chars=30, emb=6, filters=5, kernel=kernel)
    chars = torch.randint(1, 30, (7, 9))
    chars[2:, 4:] = 0  # shorter words are padded
    x = cnn.embedding(chars).transpose(1, 2)
    reference = torch.relu(torch.nn.functional.conv1d(x, cnn.conv.weight, cnn.conv.bias, padding=kernel // 2))
    reference = reference.masked_fill((chars == 0).unsqueeze(1), 0.0).max(dim=2).values
    torch.testing.assert_close(cnn(chars), reference)  # the numpy runtime reads conv.weight as a convolution


def test_tag_reads_conll_input_with_the_training_readers_checks(cli, pos_model, tmp_path):
    """One reader serves training and tagging: a short CoNLL-U row is an error with its line
    number, not tagged silently; -DOCSTART- blocks still pass through to CoNLL output."""
    _, path = pos_model
    short = tmp_path / "short.conllu"
    short.write_text("1\tthe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\n\n")
    assert_one_line_error(cli("tag", "-m", path, short, "-q"), "short.conllu line 2: expected 10 tab-separated")
    conll = tmp_path / "in.conll"
    conll.write_text("-DOCSTART- -X- O\n\nthe DT\ncat NN\n\n")
    result = cli("tag", "-m", path, conll, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("-DOCSTART- -X- O\n\nthe DT DET\ncat NN NOUN\n")
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("the DT\ncat\n\n")
    assert_one_line_error(cli("tag", "-m", path, ragged, "-q"), "ragged.conll line 2: 1 columns where earlier lines have 2")


def test_tag_warns_once_when_the_text_is_in_letters_the_model_never_saw(cli):
    korean = "한국어 문장을 태깅해 봅니다 .\n다른 문장도 있습니다 .\n"
    result = cli("tag", "-", "-m", "en-ewt-upos", input=korean)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "never saw" in line]
    assert len(warnings) == 1 and "한" in warnings[0]
    assert len(result.stdout.splitlines()) == 2  # still tagged
    english = cli("tag", "-", "-m", "en-ewt-upos", input="The café was naïve about it .\n")
    assert "never saw" not in english.stderr
    assert "never saw" not in cli("tag", "-", "-m", "en-ewt-upos", "-q", input=korean).stderr


def test_eval_tagger_refuses_another_tag_set_and_warns_on_a_few_foreign_tags(cli, tmp_path):
    ptb = tmp_path / "ptb.txt"
    ptb.write_text("The/DT dog/NN runs/VBZ ./.\nA/DT cat/NN sleeps/VBZ ./.\n")
    # Penn Treebank tags against the UPOS model: an error naming both tag sets and the bundled PTB tagger
    assert_one_line_error(cli("eval-tagger", ptb, "-m", "en-ewt-upos", "--json"), "100% of the gold tags (DT")
    message = cli("eval-tagger", ptb, "-m", "en-ewt-upos").stderr
    assert "NOUN" in message and "-m en-ewt-xpos" in message
    scored = json.loads(cli("eval-tagger", ptb, "-m", "en-ewt-xpos", "--json").stdout)
    assert scored["accuracy"] > 0.7
    mostly = tmp_path / "mostly.txt"  # one foreign tag in eight: scored, with a warning
    mostly.write_text("The/DET dog/NOUN runs/VERB ./PUNCT\nA/DET cat/NOUN sleeps/VBZ ./PUNCT\n")
    result = cli("eval-tagger", mostly, "-m", "en-ewt-upos", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["tokens"] == 8
    warning = [line for line in result.stderr.splitlines() if "not in this model's tag set" in line]
    assert len(warning) == 1 and "1 of 8 gold tags (VBZ)" in warning[0]
    upos = tmp_path / "upos.txt"
    upos.write_text("The/DET dog/NOUN runs/VERB ./PUNCT\n")
    assert "tag set" not in cli("eval-tagger", upos, "-m", "en-ewt-upos").stderr
