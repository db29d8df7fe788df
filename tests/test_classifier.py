"""Text classification: input layouts, training, pooling, calibration, multi-label,
the numpy runtime against torch, the classify / eval-classifier commands, bad input."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import assert_one_line_error
from rnntool.classification import ClassifierConfig
from rnntool.errors import RnntoolError
from rnntool.features import build_vocabularies
from rnntool.modelfile import ModelFile, load_model, read_header
from rnntool.nn.classifier import ClassifierModule
from rnntool.runtime.classifier import ClassifierRuntime
from rnntool.text.labelled import LabelledFormat, read_examples
from rnntool.train.batching import Targets, TextTable
from rnntool.train.classifier import class_weights, fit_temperature, nll, train_classifier
from rnntool.train.labelled_texts import PackedTexts

SPAM = ["win", "free", "prize", "claim", "cash", "now", "urgent", "txt"]
HAM = ["lunch", "see", "you", "later", "ok", "home", "mum", "thanks"]
FILLER = ["the", "a", "to", "and", "is", "it"]
TINY = dict(word_emb=12, hidden=12, char_filters=6)


def messages(n, seed):
    """(label, text) pairs: a spam text draws mostly from SPAM words, a ham text from HAM."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = "spam" if rng.random() < 0.35 else "ham"
        words = SPAM if label == "spam" else HAM
        text = " ".join(rng.choice(words if rng.random() < 0.8 else FILLER) for _ in range(int(rng.integers(3, 9))))
        out.append((label, text))
    return out


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sms(tmp_path_factory):
    d = tmp_path_factory.mktemp("sms")
    write(d / "train.tsv", "".join(f"{y}\t{x}\n" for y, x in messages(300, 0)))
    write(d / "test.tsv", "".join(f"{y}\t{x}\n" for y, x in messages(80, 1)))
    return d


@pytest.fixture(scope="module")
def sms_model(sms):
    result, path = train_classifier(str(sms / "train.tsv"), sms / "m.safetensors", model_options=TINY,
                                    train_options={"epochs": 6, "lr": 1e-2, "precision": "fp32"})
    return result, path


# --- input layouts ----------------------------------------------------------------------------

def examples(path, **fmt):
    seen = []
    out = list(read_examples(str(path), LabelledFormat(**fmt), on_detect=seen.append))
    return out, seen[0].name


def test_layouts_are_detected_and_read(tmp_path):
    tsv, name = examples(write(tmp_path / "a.tsv", "spam\tWIN now\nham\tsee you\n"))
    assert name == "tsv" and [(e.labels, e.text) for e in tsv] == [(["spam"], "WIN now"), (["ham"], "see you")]
    ft, name = examples(write(tmp_path / "a.txt", "__label__pos __label__fun great film\n__label__neg dull\n"))
    assert name == "fasttext" and [(e.labels, e.text) for e in ft] == [(["pos", "fun"], "great film"), (["neg"], "dull")]
    csv_text = 'id,review,stars\n1,"Good, very good",pos\n2,"two\nlines ""quoted""",neg\n'
    table, name = examples(write(tmp_path / "a.csv", csv_text), label_col="stars")
    assert name == "csv" and [(e.labels, e.text) for e in table] == [(["pos"], "Good, very good"),
                                                                    (["neg"], 'two\nlines "quoted"')]
    assert [e.line for e in table] == [2, 3]
    by_number, _ = examples(tmp_path / "a.csv", text_col="2", label_col="3")
    assert [e.text for e in by_number] == [e.text for e in table]
    tab, name = examples(write(tmp_path / "n.txt", 'id\tdocument\tlabel\n9\t"""a"" b"\t1\n8\tc\t0\n'))
    assert name == "csv" and [(e.text, e.labels) for e in tab] == [('"a" b', ["1"]), ("c", ["0"])]
    jl, name = examples(write(tmp_path / "a.jsonl", '{"body": "x y", "tags": ["a", "b"]}\n{"body": "z", "tags": []}\n'),
                        text_field="body", label_field="tags")
    assert name == "jsonl" and [(e.text, e.labels) for e in jl] == [("x y", ["a", "b"]), ("z", [])]


def test_text_is_normalised_to_nfc(tmp_path):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "좋아요 영화")
    assert nfd != "좋아요 영화"
    [e], _ = examples(write(tmp_path / "k.tsv", f"1\t{nfd}\n"))
    assert e.text == "좋아요 영화"


@pytest.mark.parametrize("name, text, fmt, message", [
    ("notab.tsv", "spam\tWIN\nham see you\n", {"name": "tsv"}, "line 2: no tab between the label and the text"),
    ("nolabel.csv", "id,text\n1,hello\n", {"name": "csv"}, "no label column among id, text"),
    ("col.csv", "text,label\nhi,a\n", {"name": "csv", "label_col": "stars"}, "has no column 'stars' (its columns: text, label)"),
    ("quotes.csv", 'text,label\n"unbalanced,a\nb,c\n', {"name": "csv"}, "unbalanced quotes"),
    ("mixed.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": ["x", "y"]}\n', {},
     "line 2: a label list after single labels"),
    ("ft.txt", "__label__a yes\nno label here\n", {"name": "fasttext"}, "line 2: no __label__ label"),
    ("odd.txt", "just words\nmore words\n", {}, "cannot tell how the labelled data is laid out"),
])
def test_malformed_labelled_data_names_the_problem(tmp_path, name, text, fmt, message):
    with pytest.raises(RnntoolError, match=re.escape(message)):
        list(read_examples(str(write(tmp_path / name, text)), LabelledFormat(**fmt)))


# --- training and the runtime -----------------------------------------------------------------

def test_training_learns_and_records_the_run(sms_model):
    result, path = sms_model
    assert result["valid"]["accuracy"] >= 0.9
    header = read_header(path, kind="classifier")
    assert header["config"]["labels"] == ["ham", "spam"] and header["config"]["multilabel"] is False
    assert header["training"]["metrics"]["calibration"]["temperature"] == header["config"]["temperature"]
    assert result["train_texts"] + result["dev_texts"] == 300


def random_classifier(pool, bidirectional, cell, multilabel=False, **options):
    texts = [["the", "cat", "sat"], ["a", "dog"], ["Free", "entry", "now", "!", "win"], ["x"]]
    words, chars, _ = build_vocabularies(texts)
    cfg = ClassifierConfig(words=words, chars=chars, labels=["a", "b", "c"], pool=pool, bidirectional=bidirectional,
                           cell=cell, layers=2, hidden=6, word_emb=5, char_filters=4, multilabel=multilabel,
                           tokenizer={"level": "word", "tokenizer": "whitespace"}, **options)
    torch.manual_seed(0)
    model = ClassifierModule(cfg).eval()
    with torch.no_grad():  # wider than the default init, so every gate and pooling choice matters
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
        model.features.word_embedding.weight[0] = 0  # padding rows stay zero (padding_idx), as in training
        model.features.chars.embedding.weight[0] = 0
    return cfg, model, texts


@pytest.mark.parametrize("pool", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_numpy_classifier_matches_torch(pool, bidirectional, cell):
    cfg, model, texts = random_classifier(pool, bidirectional, cell)
    batch = TextTable(PackedTexts.from_token_lists(texts), cfg).batch(np.arange(len(texts)), np.zeros(len(texts), np.int64))  # padded together
    with torch.no_grad():
        expected = model.logits(batch.words, batch.cases, batch.type_chars, batch.type_index, batch.lengths).numpy()
    runtime = ClassifierRuntime(ModelFile({"kind": "classifier", "config": cfg.to_dict()}, model.file_weights()))
    np.testing.assert_allclose(runtime.logits(texts), expected, rtol=1e-5, atol=1e-5)
    single = np.stack([runtime.logits([t])[0] for t in texts])  # one at a time gives the same
    np.testing.assert_allclose(single, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("windows", [7, 65_536])  # many groups of words (a word longer than one), or one
def test_numpy_character_cnn_matches_torch_on_words_of_every_length(kernel, windows, monkeypatch):
    """The runtime convolves all words in one row; each must get what torch's CNN gives it
    alone: one character, none known, clipped long words, lengths in any order."""
    import rnntool.runtime.encoder as encoder

    monkeypatch.setattr(encoder, "CHAR_WINDOWS", windows)
    cfg, model, _ = random_classifier("max", True, "lstm", char_kernel=kernel)
    runtime = ClassifierRuntime(ModelFile({"kind": "classifier", "config": cfg.to_dict()}, model.file_weights()))
    words = ["x", "cat", "Zebedee", "??", "a" * 31, "b" * 32, "catsdogs" * 6, "é", "", "dog", "x" * 40 + "tail", "t"]
    got = runtime.encoder.char_features(words)
    for word, row in zip(words, got):
        ids, _ = cfg.char_id_array([word])
        with torch.no_grad():
            expected = model.features.chars(torch.from_numpy(ids[None].astype(np.int64)))[0].numpy()
        np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6, err_msg=word)


def test_text_stack_is_a_bidirectional_rnn_that_never_reads_padding():
    """Each direction of TextStack equals torch's bidirectional module on a text alone, and a
    padded batch gives every text the outputs it gets alone."""
    from rnntool.nn.encoder import TextStack

    torch.manual_seed(0)
    stack = TextStack("gru", 5, 4, layers=1)
    reference = torch.nn.GRU(5, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, f"{name}_l0").copy_(getattr(stack[0].forward_rnn, f"{name}_l0"))
            getattr(reference, f"{name}_l0_reverse").copy_(getattr(stack[0].backward_rnn, f"{name}_l0"))
    texts = [torch.randn(1, n, 5) for n in (6, 2, 4)]
    padded = torch.zeros(3, 6, 5)
    for b, t in enumerate(texts):
        padded[b, : t.shape[1]] = t[0]
    no_dropout = torch.nn.Identity()
    with torch.no_grad():
        batch = stack.run(padded, torch.tensor([6, 2, 4]), no_dropout)
        for b, t in enumerate(texts):
            alone, _ = reference(t)
            torch.testing.assert_close(batch[b, : t.shape[1]], alone[0])
            torch.testing.assert_close(stack.run(t, torch.tensor([t.shape[1]]), no_dropout)[0], alone[0])


def test_last_pooling_is_the_forward_end_and_the_backward_start():
    """Keras's Bidirectional(return_sequences=False): the forward state after the last token,
    the backward state after reading the whole text right to left (its output at step 0)."""
    cfg, model, texts = random_classifier("last", True, "gru")
    batch = TextTable(PackedTexts.from_token_lists(texts), cfg).batch(np.arange(len(texts)), np.zeros(len(texts), np.int64))
    with torch.no_grad():
        x = model.features(batch.words, batch.cases, batch.type_chars, batch.type_index)
        top = model.rnn.run(x, batch.lengths, model.drop)
        pooled = model.encode(batch.words, batch.cases, batch.type_chars, batch.type_index, batch.lengths)
    H = cfg.hidden
    for b, n in enumerate(batch.lengths.tolist()):
        torch.testing.assert_close(pooled[b], torch.cat([top[b, n - 1, :H], top[b, 0, H:]]))


def test_empty_text_at_classify_time_is_the_output_bias():
    cfg, model, _ = random_classifier("max", True, "lstm")
    runtime = ClassifierRuntime(ModelFile({"kind": "classifier", "config": cfg.to_dict()}, model.file_weights()))
    np.testing.assert_allclose(runtime.logits([[]])[0], model.output.bias.detach().numpy(), rtol=1e-6)


def test_forward_passes_of_a_token_budget_give_the_logits_of_one_pass(monkeypatch):
    """The texts split into several forward passes (runtime/encoder.token_budget_batches):
    each text keeps its logits, an empty one still gets the output bias."""
    import rnntool.runtime.classifier as runtime_classifier
    from rnntool.runtime.encoder import token_budget_batches

    assert list(token_budget_batches([3, 2, 5, 1, 9, 1], 5)) == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 5),
                                                                 slice(5, 6)]
    assert list(token_budget_batches([], 5)) == []
    cfg, model, texts = random_classifier("mean", True, "lstm")
    runtime = ClassifierRuntime(ModelFile({"kind": "classifier", "config": cfg.to_dict()}, model.file_weights()))
    texts = [*texts, [], *texts[::-1]]
    whole = runtime.logits(texts)
    monkeypatch.setattr(runtime_classifier, "MAX_BATCH_TOKENS", 4)
    np.testing.assert_allclose(runtime.logits(texts), whole, rtol=1e-6, atol=1e-6)


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 1.5
    targets = np.array([rng.choice(3, p=np.exp(z) / np.exp(z).sum()) for z in true_logits])
    overconfident = 4.0 * true_logits
    t = fit_temperature(overconfident, targets, multilabel=False)
    assert 3.5 < t < 4.5
    assert nll(overconfident, targets, False, t) < nll(overconfident, targets, False, 1.0)


def test_balanced_class_weights():
    single = Targets(np.array([0, 0, 0, 1], np.int32), [("a",), ("b",)], ["a", "b"], False)
    assert single[np.array([3, 0])].tolist() == [1, 0]
    assert single.class_counts().tolist() == [3, 1]
    assert class_weights(single.class_counts(), 4, False) == [4 / 6, 4 / 2]
    # label sets {a}, {a, b}, {} and {a} again
    multi = Targets(np.array([0, 1, 2, 0], np.int32), [("a",), ("a", "b"), ()], ["a", "b"], True)
    assert multi.all().tolist() == [[1, 0], [1, 1], [0, 0], [1, 0]]
    assert class_weights(multi.class_counts(), 4, True) == pytest.approx([1 / 3, 3.0])


def test_multilabel_fasttext_data_trains_sigmoid_outputs(tmp_path, cli):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(240):
        labels = [c for c in ("sport", "money") if rng.random() < 0.5] or ["other"]
        words = (["goal", "match", "team"] if "sport" in labels else []) + (["bank", "cash", "rate"] if "money" in labels
                                                                           else []) + ["news", "today"]
        rng.shuffle(words)
        lines.append(" ".join(f"__label__{c}" for c in labels) + " " + " ".join(words))
    write(tmp_path / "multi.txt", "\n".join(lines) + "\n")
    result, path = train_classifier(str(tmp_path / "multi.txt"), tmp_path / "multi.safetensors", model_options=TINY,
                                    train_options={"epochs": 8, "lr": 1e-2, "precision": "fp32"})
    assert result["multilabel"] and result["valid"]["micro_f1"] > 0.9
    out = cli("classify", "-m", path, "--format", "jsonl", "-", input="goal cash news\nbank rate\n")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(records[0]["labels"]) == ["money", "sport"] and records[1]["labels"] == ["money"]
    assert sum(records[0]["probabilities"].values()) > 1.2  # independent sigmoids, not a softmax
    strict = cli("classify", "-m", path, "-", "--threshold", "0.999999", input="goal cash news\n")
    assert strict.stdout == "\n"  # no class reaches it: an empty answer line, one per input line
    scores = json.loads(cli("eval-classifier", "-m", path, tmp_path / "multi.txt", "--json").stdout)
    assert "confusion_matrix" not in scores and scores["micro"]["f1"] > 0.9


# --- the commands -------------------------------------------------------------------------------

def test_cli_train_classify_and_eval(cli, sms, tmp_path):
    model = tmp_path / "c.safetensors"
    result = cli("train-classifier", sms / "train.tsv", "-o", model, "--word-emb", "12", "--hidden", "12",
                 "--char-filters", "6", "--epochs", "6", "--lr", "0.01", "--pool", "attention", "--json")
    assert result.exit_code == 0, result.stderr
    assert "reading" in result.stderr and "label<TAB>text lines (detected" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["valid"]["accuracy"] >= 0.9 and "calibration" in summary
    out = cli("classify", "-m", model, "-", input="claim your free cash prize now\nsee you at home later\n")
    assert out.exit_code == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert [r[0] for r in rows] == ["spam", "ham"] and all(0.5 < float(r[1]) <= 1 for r in rows)
    top2 = cli("classify", "-m", model, "--top-k", "2", "--keep-input", "-", input="free prize\n")
    label, p, other, q, echoed = top2.stdout.rstrip("\n").split("\t")
    assert {label, other} == {"ham", "spam"} and abs(float(p) + float(q) - 1) < 1e-3 and echoed == "free prize"
    labelled = cli("classify", "-m", model, "--input", "tsv", "--keep-input", sms / "test.tsv")
    assert len(labelled.stdout.splitlines()) == 80 and labelled.stdout.splitlines()[0].split("\t")[2] in ("ham", "spam")
    scores = json.loads(cli("eval-classifier", "-m", model, sms / "test.tsv", "--json").stdout)
    assert scores["accuracy"] >= 0.9 and scores["positive_class"] == "spam" and 0.9 <= scores["roc_auc"] <= 1
    assert sum(map(sum, scores["confusion_matrix"]["counts"])) == 80 and 0 <= scores["ece"] < 0.2
    table = cli("eval-classifier", "-m", model, sms / "test.tsv")
    assert "ROC-AUC" in table.stdout and "weighted avg" in table.stdout and "confusion matrix" in table.stdout
    summary_table = cli("summary", model)
    assert "Attention pooling" in summary_table.stdout and "Dense (softmax)" in summary_table.stdout


def test_classify_answers_each_line_while_stdin_stays_open(sms_model):
    _, path = sms_model
    with subprocess.Popen([sys.executable, "-m", "rnntool", "classify", "-m", str(path), "-", "-q"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            for line, label in (("win free cash now", "spam"), ("see you at lunch", "ham")):
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                assert proc.stdout.readline().split("\t")[0] == label  # would block if output waited for EOF
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
def test_worker_processes_answer_a_file_as_the_main_process_does(cli, answered_by_workers, sms, sms_model, fmt):
    """--batch 8 over 80 texts: the first batches here, the rest in workers, same lines in the same order."""
    _, path = sms_model
    args = ("classify", "-m", path, "--input", "tsv", "--keep-input", "--batch", "8", "--format", fmt, "--top-k", "2",
            sms / "test.tsv")
    one = cli(*args, "-j", "1")
    assert answered_by_workers == []
    two = cli(*args, "-j", "2")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert len(answered_by_workers) >= 5  # of the 10 batches (here until the letters check has seen 200 letters)
    assert len(one.stdout.splitlines()) == 80 and two.stdout == one.stdout
    if fmt == "tsv":  # --top-k 2 reached the workers: two label/probability pairs on every line
        assert all({line.split("\t")[0], line.split("\t")[2]} == {"ham", "spam"} for line in two.stdout.splitlines())


def test_classify_does_not_import_torch(sms_model):
    _, path = sms_model
    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "from rnntool.cli import app\n"
            f"result = CliRunner().invoke(app, ['classify', '-m', {str(path)!r}, '-'], input='win free cash now\\n')\n"
            "print(result.stdout.split()[0], 'rnntool.runtime.classifier' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["spam", "True", "False"], out.stderr


def test_empty_texts_are_skipped_and_counted(cli, tmp_path):
    data = "".join(f"{y}\t{x}\n" for y, x in messages(120, 3)) + "ham\t   \nspam\t\n"
    write(tmp_path / "t.tsv", data)
    result = cli("train-classifier", tmp_path / "t.tsv", "-o", tmp_path / "m.safetensors", "--epochs", "1",
                 "--hidden", "8", "--word-emb", "8", "--char-filters", "4", "--json")
    assert result.exit_code == 0, result.stderr
    assert "skipped 2 empty text(s)" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["train_texts"] + summary["dev_texts"] == 120


def test_bad_training_input_is_one_line_and_writes_nothing(cli, tmp_path):
    write(tmp_path / "one.tsv", "ham\thello\nham\tthere\n" * 10)
    assert_one_line_error(cli("train-classifier", tmp_path / "one.tsv", "-o", tmp_path / "m.safetensors", "-q"),
                          "has 1 class (ham); a classifier needs at least two")
    write(tmp_path / "train.tsv", "".join(f"{y}\t{x}\n" for y, x in messages(60, 0)))
    write(tmp_path / "dev.tsv", "ham\thello\neggs\tspam spam\n")
    assert_one_line_error(cli("train-classifier", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv", "-o",
                              tmp_path / "m.safetensors", "-q"), "dev data has classes the training data never uses (eggs)")
    write(tmp_path / "notab.tsv", "ham\thello\nspam free prize\n")
    assert_one_line_error(cli("train-classifier", tmp_path / "notab.tsv", "--format", "tsv", "-o",
                              tmp_path / "m.safetensors"), "notab.tsv line 2")
    assert not (tmp_path / "m.safetensors").exists()


def test_other_kinds_are_refused_by_classify(cli, tmp_path):
    from rnntool.kinds import KINDS

    for kind in ("lm", "tagger"):
        result = cli("classify", "-m", KINDS[kind].default_bundled.path, "-", input="hello\n")
        assert_one_line_error(result, f"is a {KINDS[kind].display}, but this command needs a classifier")


def test_init_from_a_language_model_starts_with_its_encoder(tmp_path, cli):
    from rnntool.train.lm import train_lm

    text = write(tmp_path / "text.txt", "".join(x + "\n" for _, x in messages(400, 5)))
    _, lm = train_lm(str(text), tmp_path / "lm.safetensors", model_options=dict(layers=1, emb=8, hidden=16),
                     train_options=dict(bptt=8, batch_size=4, epochs=1))
    write(tmp_path / "train.tsv", "".join(f"{y}\t{x}\n" for y, x in messages(100, 6)))
    result, path = train_classifier(str(tmp_path / "train.tsv"), tmp_path / "c.safetensors", init_from=str(lm),
                                    train_options={"max_steps": 1, "lr": 1e-9, "calibrate": False})
    config = read_header(path)["config"]
    assert read_header(path)["training"]["init_from"] == str(lm)  # rnntool info shows where it started
    assert config["bidirectional"] is False and config["tokenizer"]["level"] == "char"  # the LM's own settings
    assert config["words"] == read_header(lm)["vocab"]["tokens"] and config["normalize_words"] is False
    ours, theirs = load_model(path).tensors, load_model(lm).tensors
    np.testing.assert_allclose(ours["word_embedding.weight"], theirs["embedding.weight"], atol=1e-6)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        np.testing.assert_allclose(ours[f"rnn.{name}"], theirs[f"rnn.{name}"], atol=1e-6)


def test_a_dev_set_too_small_to_calibrate_on_is_said_and_left_alone(cli, tmp_path):
    data = tmp_path / "tiny.tsv"
    data.write_text("".join(f"{'spam' if i % 2 else 'ham'}\t{'win cash now' if i % 2 else 'see you soon'} {i}\n"
                            for i in range(20)))
    result = cli("train-classifier", data, "-o", tmp_path / "m.safetensors", "--epochs", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert "too few to fit a temperature" in result.stderr
    assert "calibration" not in json.loads(result.stdout)
    assert read_header(tmp_path / "m.safetensors")["config"]["temperature"] == 1.0


def test_classify_warns_once_when_the_model_never_saw_the_script(cli):
    korean = "무료 상품에 당첨되었습니다 지금 전화하세요\n내일 점심 같이 먹을래요\n"
    result = cli("classify", "-m", "sms-spam", "-", input=korean)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2  # still answered
    warnings = [line for line in result.stderr.splitlines() if "never saw most of these letters" in line]
    assert len(warnings) == 1 and "무" in warnings[0] and "train-classifier" in warnings[0]
    english = cli("classify", "-m", "sms-spam", "-", input="free prize, call now\nlunch tomorrow?\n")
    assert "never saw" not in english.stderr
