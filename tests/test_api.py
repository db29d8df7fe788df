"""The public library API: rnntool.load and the model classes, result objects, typed
errors, threads, pickling, and training from Python as the CLI trains."""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import rnntool
from rnntool.kinds import KINDS

TAG_TEXT = ('The old man sailed to the islands. He said "hello" twice.\n'
            "Dr. Smith can't come  today ( or tomorrow ).")
SMS = ["WINNER!! You have won a free prize, call now to claim", "are we still on for lunch today?",
       "URGENT: your account is suspended, text STOP to 8888", "ok see you at 6", "Free entry in a weekly draw",
       "sorry, I'll call you later", "Congratulations! claim your cash prize", "Did you finish the report?"] * 4
TOKENIZED = [["The", "cat", "sat", "on", "the", "mat", "."], [], ["Birds", "fly", "south", "."],
             ["I", "saw", "Paris", "yesterday", "!"]] * 3
LM_TEXT = "".join(f"the cat {i % 7} sat on the mat number {i % 5}.\n" for i in range(120))


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


# --- the package ---------------------------------------------------------------------------

def test_import_rnntool_is_cheap_and_every_public_name_resolves():
    out = run_python("import sys, rnntool\n"
                     "heavy = [m for m in ('numpy', 'torch', 'typer', 'rich', 'safetensors') if m in sys.modules]\n"
                     "names = [n for n in rnntool.__all__ if getattr(rnntool, n, None) is None]\n"
                     "after = [m for m in ('torch', 'typer', 'rich') if m in sys.modules]\n"
                     "print(heavy, names, after)")
    assert out.split("\n")[0] == "[] [] []"  # nothing heavy at import; every name there; using them: no torch/CLI


def test_using_a_loaded_model_never_imports_torch_or_the_cli():
    out = run_python("import sys, rnntool\n"
                     "rnntool.load('sms-spam').classify('free prize')\n"
                     "rnntool.load('en-ewt-upos').tag('The cat sat.')\n"
                     "''.join(rnntool.load('shakespeare-char').generate('A', max_tokens=5))\n"
                     "print([m for m in ('torch', 'typer', 'rich') if m in sys.modules])")
    assert out.strip() == "[]"


def test_py_typed_ships_and_all_is_sorted_into_documented_groups():
    assert (Path(rnntool.__file__).parent / "py.typed").is_file()
    assert len(set(rnntool.__all__)) == len(rnntool.__all__)
    for name in ("load", "train_lm", "train_tagger", "train_classifier", "prep", "evaluate", "models",
                 "RnntoolError", "TrainingInterrupted"):
        assert name in rnntool.__all__
    with pytest.raises(AttributeError):
        rnntool.no_such_name  # noqa: B018


# --- loading ----------------------------------------------------------------------------------

def test_load_by_name_path_and_bytes_gives_the_kind_of_the_header():
    for kind in KINDS.values():
        for bundled in kind.bundled:
            by_name = rnntool.load(bundled.name)
            assert by_name.kind == kind.name and by_name.name == bundled.name
            assert type(by_name).__name__ == kind.api.rpartition(":")[2]
    path = KINDS["classifier"].bundled[0].path
    by_path, by_bytes = rnntool.load(path), rnntool.load(path.read_bytes())
    assert by_path.path == path and by_bytes.path is None
    assert by_path.classify(SMS[:3]) == by_bytes.classify(SMS[:3])


def test_load_errors_are_typed_and_one_line(tmp_path):
    with pytest.raises(rnntool.WrongKindError, match="is a classifier, but this command needs a language model"):
        rnntool.load("sms-spam", kind="lm")
    assert issubclass(rnntool.WrongKindError, rnntool.RnntoolError) and issubclass(rnntool.WrongKindError, TypeError)
    with pytest.raises(rnntool.ModelFileError, match="no such model file"):
        rnntool.load(tmp_path / "missing.safetensors")
    with pytest.raises(rnntool.ModelFileError, match="not an rnntool model file or are damaged"):
        rnntool.load(b"\x00" * 32)
    cut = KINDS["lm"].bundled[0].path.read_bytes()[:5000]
    with pytest.raises(rnntool.ModelFileError):
        rnntool.load(cut)
    with pytest.raises(TypeError):
        rnntool.load()
    with pytest.raises(rnntool.ModelFileError, match=r"no classifier: .* \(bundled: sms-spam, ko-sentiment\)"):
        rnntool.load(kind="classifier")  # no latest model, no $RNNTOOL_CLASSIFIER, no default


def test_load_by_kind_chooses_as_the_cli_does(monkeypatch):
    tagger = rnntool.load(kind="tagger")
    assert tagger.name == "en-ewt-upos" and tagger.chosen_because == "the bundled model en-ewt-upos"
    monkeypatch.setenv("RNNTOOL_CLASSIFIER", str(KINDS["classifier"].bundled[0].path))
    assert rnntool.load(kind="classifier").chosen_because == "$RNNTOOL_CLASSIFIER"


# --- language models ---------------------------------------------------------------------------

def test_generate_yields_pieces_that_make_the_text_and_repeats_with_a_seed():
    lm = rnntool.load("shakespeare-char")
    pieces = list(lm.generate("ROMEO:", max_tokens=60, seed=3))
    assert len(pieces) > 10 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == lm.generate_text("ROMEO:", max_tokens=60, seed=3)
    assert lm.generate_text("ROMEO:", max_tokens=40, greedy=True) == lm.generate_text("ROMEO:", max_tokens=40,
                                                                                      temperature=0)
    stopped = lm.generate_text("ROMEO:", max_tokens=300, seed=1, stop="\n")
    assert "\n" not in stopped and len(stopped) < 300
    assert lm.generate_text("x", max_tokens=0) == ""
    many = list(lm.generate_many(["A", "B"], num=2, max_tokens=20, seed=1, logprobs=True))
    assert [g.prompt for g in many] == ["A", "A", "B", "B"]
    assert all(g.tokens == 20 and g.mean_logprob < 0 and g.stop_reason == "max_tokens" for g in many)
    assert many[0].to_dict().keys() == {"prompt", "text", "tokens", "mean_logprob", "stop_reason"}


def test_generate_stops_early_when_the_caller_stops():
    lm = rnntool.load("shakespeare-char")
    stream = lm.generate("A", max_tokens=10_000_000, seed=1)
    first = [next(stream) for _ in range(5)]
    stream.close()  # a caller that breaks out: nothing keeps running
    assert len(first) == 5


def test_generation_options_out_of_range_are_typed_errors():
    lm = rnntool.load("shakespeare-char")
    # the message names the argument as the API (and the server's JSON) spells it, with the value
    temperature = "temperature must be a finite number, 0 or more (0 means greedy), not "
    for options, error, message in [
            ({"temperature": -1}, rnntool.OutOfRangeError, temperature + "-1"),
            ({"temperature": float("nan")}, rnntool.OutOfRangeError, temperature + "nan"),
            ({"temperature": float("inf")}, rnntool.OutOfRangeError, temperature + "inf"),
            ({"top_p": 2.0}, rnntool.OutOfRangeError, "top_p must be above 0 and at most 1 (1: no limit), not 2"),
            ({"top_k": -1}, rnntool.OutOfRangeError, "top_k must be 0 or more (0: no limit), not -1"),
            ({"max_tokens": -1}, rnntool.OutOfRangeError, "max_tokens must be 0 or more, not -1"),
            ({"stop": [""]}, rnntool.InputError, "a stop string must not be empty")]:
        with pytest.raises(error) as caught:
            list(lm.generate("A", **options))
        assert str(caught.value) == message
    assert issubclass(rnntool.OutOfRangeError, ValueError)


def test_a_prompt_with_unseen_characters_warns():
    lm = rnntool.load("shakespeare-char")
    with pytest.warns(rnntool.RnntoolWarning, match="never saw"):
        lm.generate_text("한국어", max_tokens=3, seed=1)


def test_score_and_perplexity_agree_with_the_cli(cli, tmp_path):
    lm = rnntool.load("shakespeare-char")
    lines = ["Alice was beginning", "beginning was Alice", ""]
    scored = lm.score(lines)
    assert lm.score(lines[0]).logprob == pytest.approx(scored[0].logprob, rel=1e-5)  # another batch shape
    r = cli("score", "shakespeare-char", "--format", "jsonl", "-", input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [s.to_dict() for s in scored]
    assert scored[0].logprob > scored[1].logprob  # the grammatical order is more likely
    import io

    (tmp_path / "lines.txt").write_text("\n".join(lines) + "\n")
    assert list(rnntool.read_lines(tmp_path / "lines.txt")) == lines
    out = io.StringIO()
    lm.score_file(tmp_path / "lines.txt", out, format="jsonl")
    assert out.getvalue() == r.stdout
    text = "ROMEO:\nWhat light through yonder window breaks?\n"
    (tmp_path / "v.txt").write_text(text)
    r = cli("eval-lm", "shakespeare-char", tmp_path / "v.txt", "--json")
    assert json.loads(r.stdout) == lm.perplexity(text).to_dict() == rnntool.evaluate(lm, str(tmp_path / "v.txt")).to_dict()
    assert lm.perplexity(text.splitlines()).tokens == lm.perplexity(text).tokens == len(text)


def test_score_and_eval_lm_take_the_model_first_or_by_m_as_generate_does(cli, tmp_path):
    """-m MODEL works as it does on generate, tag and classify; the same answers either way, and a
    usage error (exit 2, as for any missing argument) for a missing model, a missing text or a
    second FILE."""
    (tmp_path / "v.txt").write_text("ROMEO:\nWhat light\n")
    first = cli("score", "shakespeare-char", tmp_path / "v.txt")
    for args in (["-m", "shakespeare-char", tmp_path / "v.txt"], ["--model", "shakespeare-char"]):
        r = cli("score", *args, input=(tmp_path / "v.txt").read_text())
        assert r.exit_code == 0 and r.stdout == first.stdout != "", r.stderr
    evaluated = cli("eval-lm", "shakespeare-char", tmp_path / "v.txt", tmp_path / "v.txt", "--json")
    r = cli("eval-lm", "-m", "shakespeare-char", tmp_path / "v.txt", tmp_path / "v.txt", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == json.loads(evaluated.stdout), r.stderr
    assert json.loads(r.stdout)["tokens"] == 2 * len("ROMEO:\nWhat light\n")  # both texts, neither taken as a model
    for args, message in [(["score"], "score needs a language model: rnntool score MODEL FILE"),
                          (["eval-lm"], "eval-lm needs a language model"),
                          (["eval-lm", "shakespeare-char"], "eval-lm needs a text to evaluate"),
                          (["eval-lm", "-m", "shakespeare-char"], "eval-lm needs a text to evaluate"),
                          (["score", "shakespeare-char", "a", "b"], "score reads one FILE (or - for stdin), not 2: a b"),
                          (["score", "-m", "shakespeare-char", "a", "b"], "the model came with -m, so give only the FILE")]:
        r = cli(*args)
        assert r.exit_code == 2 and message in r.stderr and r.stdout == "", (args, r.stderr)


# --- taggers ----------------------------------------------------------------------------------

def test_tag_gives_offsets_into_the_text_given():
    tagger = rnntool.load("en-ewt-upos")
    doc = tagger.tag(TAG_TEXT)
    assert [s.text for s in doc.sentences] == ["The old man sailed to the islands.", 'He said "hello" twice.',
                                              "Dr. Smith can't come  today ( or tomorrow )."]
    for token in doc.tokens:
        assert TAG_TEXT[token.start:token.end] == token.text
        assert 0.0 < token.probability <= 1.0
    assert doc.sentences[2].words[:4] == ["Dr.", "Smith", "ca", "n't"]
    assert doc.tags[:3] == ["DET", "ADJ", "NOUN"]
    assert doc.spans is None  # a POS tagger marks no entities
    quoted = tagger.tag("She wrote ``so'' and ''then''.").tokens
    assert [t.text for t in quoted].count('"') == 4 and all(t.start is not None for t in quoted)


def test_tag_takes_tokens_and_lists_and_matches_the_cli(cli):
    tagger = rnntool.load("en-ewt-upos")
    docs = tagger.tag(TOKENIZED)
    assert [d.tags and len(d.tags) for d in docs] == [len(t) or [] for t in TOKENIZED]
    assert tagger.tag(["already", "tokenized"]).__class__ is list  # a list is many inputs...
    single = tagger.tag([["already", "tokenized"]])[0]  # ...and a list of tokens is one sentence
    assert single.text == "already tokenized" and single.tokens[1].start == 8
    assert list(tagger.tag_many(iter(TOKENIZED), batch_size=3)) == docs
    r = cli("tag", "-m", "en-ewt-upos", "--input", "tokens", "--format", "jsonl", "-",
            input="".join(" ".join(t) + "\n" for t in TOKENIZED))
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [d.sentences[0].to_dict() for d in docs]
    assert tagger.tag("   ").sentences == []
    with pytest.raises(rnntool.InputError):
        tagger.tag([["fine"], [1, 2]])


def test_tag_file_and_classify_file_write_what_the_commands_write(cli, tmp_path):
    import io

    text = tmp_path / "in.txt"
    text.write_text("".join(" ".join(t) + "\n" for t in TOKENIZED))
    out = io.StringIO()
    rnntool.load("en-ewt-upos").tag_file(text, out, input="tokens", format="tsv", jobs=1)
    assert out.getvalue() == cli("tag", "-m", "en-ewt-upos", "--input", "tokens", "--format", "tsv", text).stdout
    texts = tmp_path / "sms.txt"
    texts.write_text("".join(t + "\n" for t in SMS))
    rnntool.load("sms-spam").classify_file(texts, tmp_path / "labels.tsv", top_k=2, keep_input=True)
    assert (tmp_path / "labels.tsv").read_text() == cli("classify", "-m", "sms-spam", "--top-k", "2",
                                                        "--keep-input", texts).stdout
    with pytest.raises(rnntool.InputError, match="unknown format 'xml'"):
        rnntool.load("sms-spam").classify_file(texts, io.StringIO(), format="xml")


def test_evaluate_a_tagger_as_eval_tagger_does(cli, tmp_path):
    gold = tmp_path / "gold.tsv"
    gold.write_text("The\tDET\ncat\tNOUN\nsat\tVERB\n.\tPUNCT\n\nBirds\tNOUN\nfly\tVERB\n.\tPUNCT\n")
    ev = rnntool.evaluate("en-ewt-upos", str(gold), format="conll")
    r = cli("eval-tagger", gold, "-m", "en-ewt-upos", "--format", "conll", "--json", "--matrix")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == ev.to_dict()
    assert ev.tokens == 7 and ev["accuracy"] == ev.accuracy > 0.8
    foreign = tmp_path / "ptb.tsv"
    foreign.write_text("The\tDT\ncat\tNN\nsat\tVBD\n.\t.\n")
    with pytest.raises(rnntool.InputError, match="en-ewt-xpos's"):
        rnntool.evaluate("en-ewt-upos", str(foreign), format="conll")


# --- classifiers --------------------------------------------------------------------------------

def test_classify_matches_the_cli_and_ranks_classes(cli):
    clf = rnntool.load("sms-spam")
    one = clf.classify(SMS[0])
    assert one.label in clf.labels and one.probability == max(one.probabilities.values())
    assert sum(one.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert one.top(2)[0] == (one.label, one.probability)
    results = clf.classify(SMS)
    batched = list(clf.classify_many(iter(SMS), batch_size=5))  # other batch shapes: float rounding differs
    assert [c.labels for c in batched] == [c.labels for c in results]
    assert [p for c in batched for p in c.probabilities.values()] == pytest.approx(
        [p for c in results for p in c.probabilities.values()], rel=1e-4)
    r = cli("classify", "-m", "sms-spam", "--format", "jsonl", "-", input="".join(t + "\n" for t in SMS))
    assert [json.loads(line) for line in r.stdout.splitlines()] == [c.to_dict() for c in results]
    r = cli("classify", "-m", "sms-spam", "--top-k", "2", "-", input="".join(t + "\n" for t in SMS))
    top2 = clf.classify(SMS, top_k=2)
    assert r.stdout.splitlines() == ["\t".join(f"{c}\t{x.probabilities[c]:.4f}" for c in x.labels) for x in top2]
    with pytest.raises(rnntool.OutOfRangeError):
        clf.classify("x", top_k=0)


# --- threads and processes -----------------------------------------------------------------------

def _texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    words = ["free", "prize", "call", "now", "lunch", "see", "you", "later", "urgent", "claim", "cash", "ok"]
    return [" ".join(rng.choice(words, size=rng.integers(1, 12))) + f" w{i}" for i in range(n)]


def test_one_model_serves_eight_threads_as_one_thread_does():
    clf, tagger = rnntool.load("sms-spam"), rnntool.load("en-ewt-upos")
    texts = _texts(400)  # new word types in every text: the type caches grow while threads read them
    alone = (list(clf.classify_many(texts, batch_size=16)), list(tagger.tag_many(texts, batch_size=16)))
    clf, tagger = rnntool.load("sms-spam"), rnntool.load("en-ewt-upos")  # fresh caches
    results, errors = [None] * 8, []

    def work(i: int) -> None:
        try:
            results[i] = (list(clf.classify_many(texts, batch_size=16)), list(tagger.tag_many(texts, batch_size=16)))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == alone for r in results)


def _classify_in_a_worker(model, texts):
    import sys

    return [c.label for c in model.classify(texts)], "torch" in sys.modules


def test_a_model_pickles_as_its_file_and_works_in_another_process():
    clf = rnntool.load("sms-spam")
    data = pickle.dumps(clf)
    size = os.path.getsize(KINDS["classifier"].bundled[0].path)
    assert size <= len(data) <= size * 1.01 + 4096  # the file's bytes, not the runtime's float32 arrays
    again = pickle.loads(data)
    assert again.name == "sms-spam" and again.classify(SMS) == clf.classify(SMS)
    twin = pickle.loads(data)  # the same model arriving again (a task's closure) is not reloaded...
    assert twin is not again and twin._runtime is again._runtime and twin._lock is again._lock
    twin.name = "renamed"  # ...but each unpickling is its own object
    assert pickle.loads(data).name == "sms-spam"
    import multiprocessing

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        labels, torch_there = pool.submit(_classify_in_a_worker, clf, SMS).result(timeout=120)
    assert labels == [c.label for c in clf.classify(SMS)] and not torch_there


# --- training -------------------------------------------------------------------------------------

TINY_LM = ("--layers", "1", "--emb", "8", "--hidden", "16", "--bptt", "8", "--batch-size", "4",
           "--max-steps", "6", "--seed", "3", "--device", "cpu", "--precision", "fp32", "-q")


def test_training_from_python_is_the_cli_run_bit_for_bit(cli, tmp_path):
    from rnntool.modelfile import load_model

    text = tmp_path / "text.txt"
    text.write_text(LM_TEXT)
    r = cli("train-lm", text, "-o", tmp_path / "cli.safetensors", *TINY_LM)
    assert r.exit_code == 0, r.stderr
    events = []
    result = rnntool.train_lm(text, tmp_path / "api.safetensors", layers=1, emb=8, hidden=16, bptt=8, batch_size=4,
                              max_steps=6, seed=3, device="cpu", precision="fp32", on_event=events.append)
    assert result.model_path == tmp_path / "api.safetensors" and result.stop_reason == "finished"
    assert set(result.metrics["valid"]) >= {"loss", "ppl", "bpc"} and "history" not in result.to_dict()
    assert events[0]["event"] == "start" and any(e["event"] == "eval" for e in events)
    cli_file, api_file = load_model(tmp_path / "cli.safetensors"), load_model(result.model_path)
    assert cli_file.tensors.keys() == api_file.tensors.keys()
    for name, tensor in cli_file.tensors.items():
        assert np.array_equal(tensor, api_file.tensors[name]), name
    assert api_file.header["training"]["command"].startswith("rnntool.train_lm(")
    assert api_file.header["config"] == cli_file.header["config"]
    latest = json.loads((Path(os.environ["XDG_STATE_HOME"]) / "rnntool" / "latest.json").read_text())
    assert latest["lm"] == str((tmp_path / "cli.safetensors").resolve())  # a call leaves it; the command set it
    lm = rnntool.load(result.model_path)
    assert lm.perplexity(LM_TEXT[:200]).tokens == 201  # as eval-lm reads a file: its last line ends too


def test_ctrl_c_saves_a_checkpoint_then_raises_with_the_result(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(LM_TEXT * 5)

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what a notebook's stop button sends

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(rnntool.TrainingInterrupted) as stopped:
        rnntool.train_lm(text, tmp_path / "m.safetensors", layers=1, emb=8, hidden=16, bptt=8, batch_size=4,
                         epochs=50, seed=1, device="cpu", on_event=interrupt, remember=False)
    assert isinstance(stopped.value, KeyboardInterrupt)
    result = stopped.value.result
    assert result.stop_reason == "interrupted" and result.checkpoint.exists() and result.model_path.exists()
    assert signal.getsignal(signal.SIGINT) is before  # the handler is given back
    resumed = rnntool.train_lm(text, tmp_path / "m.safetensors", resume=result.checkpoint, max_steps=4,
                               remember=False)
    assert resumed.stop_reason == "finished" and not result.checkpoint.exists()


def test_training_errors_are_typed(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("tiny text\n")
    with pytest.raises(rnntool.RnntoolError, match="needs at least"):
        rnntool.train_lm(short, batch_size=20, bptt=35, remember=False)
    with pytest.raises(rnntool.InputError):
        rnntool.train_lm(short, optimizer="nope", remember=False)
    # numbers and switches of the signature's type, checked before anything is read or written
    for train, options, message in [
            (rnntool.train_lm, {"epochs": 1.5}, "epochs must be a whole number, not 1.5"),
            (rnntool.train_lm, {"hidden": "64"}, "hidden must be a whole number, not '64'"),
            (rnntool.train_lm, {"bptt": True}, "bptt must be a whole number, not True"),
            (rnntool.train_lm, {"lr": "0.1"}, "lr must be a number, not '0.1'"),
            (rnntool.train_lm, {"tie": 1}, "tie must be True or False, not 1"),
            (rnntool.train_tagger, {"hidden": 64.0}, "hidden must be a whole number, not 64.0"),
            (rnntool.train_classifier, {"max_time": "60"}, "max_time must be a number, not '60'")]:
        with pytest.raises(rnntool.InputError, match=re.escape(message)):
            train(tmp_path / "missing", tmp_path / "m.safetensors", **options, remember=False)
    assert not (tmp_path / "m.safetensors").exists()
    # numpy's numbers are numbers: turned into Python's before torch or the JSON header sees them
    result = rnntool.train_lm(short, tmp_path / "np.safetensors", hidden=np.int64(8), emb=np.int32(4),
                              lr=np.float32(0.01), epochs=np.int64(1), bptt=np.int64(4), batch_size=np.int64(1),
                              tie=np.bool_(False), remember=False)
    assert rnntool.info(result.model_path).header["config"]["hidden"] == 8
    for call, message in [(lambda: rnntool.prep(short, tmp_path / "corpus", min_freq=1.5), "min_freq must be a whole"),
                          (lambda: rnntool.prep(short, tmp_path / "corpus", lower="yes"), "lower must be True or False"),
                          (lambda: rnntool.prep(short, tmp_path / "corpus", jobs=0), "jobs must be at least 1, not 0"),
                          (lambda: rnntool.summary(hidden=1.5), "hidden must be a whole number, not 1.5")]:
        with pytest.raises(rnntool.InputError, match=re.escape(message)):
            call()
    assert not (tmp_path / "corpus").exists()


def test_prep_returns_the_statistics_prep_prints(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(LM_TEXT)
    result = rnntool.prep(text, tmp_path / "corpus", level="word")
    assert result.stats["level"] == "word" and result.stats["vocab_size"] > 10
    assert (tmp_path / "corpus" / "corpus.json").exists()
    assert result.to_dict()["output"] == str(tmp_path / "corpus")


def test_info_reads_the_header_as_rnntool_info_does(cli):
    found = rnntool.info("en-ewt-upos")
    assert found.kind == "tagger" and found.display == "tagger" and found.parameters > 100_000
    assert found.file_size == os.path.getsize(KINDS["tagger"].bundled[0].path)
    r = cli("info", "en-ewt-upos", "--json")
    assert json.loads(r.stdout) == found.to_dict()
    with pytest.raises(rnntool.ModelFileError, match="no such model file"):
        rnntool.info("no-such-model.safetensors")


def test_summary_is_what_rnntool_summary_prints(cli):
    spec = "Embedding(5000, 100); SimpleRNN(128); Dense(1)"
    keras = rnntool.summary(spec=spec)
    assert keras.total_params == 5000 * 100 + 128 * (100 + 128) + 128 + 129
    assert cli("summary", "--spec", spec).stdout == str(keras)
    assert json.loads(cli("summary", "--spec", spec, "--json").stdout) == keras.to_dict()
    own = rnntool.summary("sms-spam")
    assert own.title == "sms-spam (classifier)" and cli("summary", "sms-spam").stdout == own.table
    lm = rnntool.summary(vocab=50, emb=8, hidden=16)
    assert lm.to_dict()["textbook_params"] < lm.total_params  # torch's cells: b_ih and b_hh
    with pytest.raises(rnntool.InputError, match="unknown cell"):
        rnntool.summary(cell="transformer")


def test_layer_runs_keras_layers_as_rnntool_layer_does(cli, tmp_path):
    spec = "SimpleRNN(3, return_sequences=True, return_state=True, kernel_initializer=Constant(0.1))"
    data = [[[0.1, 0.2], [0.3, 0.4]]]
    ran = rnntool.layer(spec, data, explain=True)
    assert [name for name, _ in ran.outputs][-1].endswith("state") and ran.outputs[0][1].shape == (1, 2, 3)
    (tmp_path / "x.json").write_text(json.dumps(data))
    r = cli("layer", "--spec", spec, "--input", tmp_path / "x.json", "--explain", "--json")
    assert json.loads(r.stdout) == ran.to_dict()
    assert rnntool.text_size([tmp_path / "x.json"]) == len(json.dumps(data)) and rnntool.text_size("-") is None
    with pytest.raises(rnntool.InputError, match="same length"):
        rnntool.layer(spec, [[[0.1], [0.2, 0.3]]])


def test_models_lists_what_the_cli_lists(cli):
    r = cli("models", "--json")
    assert json.loads(r.stdout) == rnntool.models()
    assert {m["name"] for m in rnntool.models()["bundled"]} == set(rnntool.bundled_names())


# --- edges a reviewer found ----------------------------------------------------------------------

def test_the_models_function_survives_importing_the_bundled_package():
    import importlib

    importlib.import_module("rnntool.bundled")
    assert callable(rnntool.models) and rnntool.models()["bundled"]


def test_many_calls_read_their_input_in_the_callers_thread_and_check_it_first():
    clf = rnntool.load("sms-spam")
    threads = []

    def texts():
        for t in SMS[:5]:
            threads.append(threading.current_thread())
            yield t

    assert len(list(clf.classify_many(texts(), batch_size=2))) == 5
    assert set(threads) == {threading.main_thread()}  # a sqlite cursor or a thread-bound reader works
    with pytest.raises(rnntool.InputError, match="not NoneType"):
        clf.classify(["free prize", None, "see you"])  # never a silently shorter answer
    for call in (lambda: list(clf.classify_many("one text")), lambda: list(rnntool.load("en-ewt-upos").tag_many("x")),
                 lambda: list(rnntool.load("shakespeare-char").generate_many("ROMEO"))):
        with pytest.raises(rnntool.InputError, match="iterable of"):
            call()
    lm = rnntool.load("shakespeare-char")
    prompts = ["A", "B", "C"]
    slow = (p for p in prompts if time_sleep(0.12) is None)
    assert [g.text for g in lm.generate_many(slow, max_tokens=10, seed=7)] == \
        [g.text for g in lm.generate_many(prompts, max_tokens=10, seed=7)]  # a seed does not depend on timing


def test_arguments_of_the_wrong_type_are_input_errors_that_name_them():
    """A 2.5 where a count goes, a string where a number goes: a one-line InputError naming the
    argument (before, numpy's or itertools' own words, or a silently accepted True)."""
    lm, clf, tagger = rnntool.load("shakespeare-char"), rnntool.load("sms-spam"), rnntool.load("en-ewt-upos")
    for call, message in [
            (lambda: list(lm.score_many(["a"], batch_size=2.5)), "batch_size must be a whole number, not 2.5"),
            (lambda: clf.classify("a", top_k=1.5), "top_k must be a whole number, not 1.5"),
            (lambda: clf.classify("a", top_k=True), "top_k must be a whole number, not True"),
            (lambda: clf.classify("a", threshold="0.5"), "threshold must be a number, not '0.5'"),
            (lambda: lm.generate_text("a", temperature="hot"), "temperature must be a number, not 'hot'"),
            (lambda: lm.generate_text("a", top_k=2.5), "top_k must be a whole number, not 2.5"),
            (lambda: lm.generate_text("a", max_tokens=3.5), "max_tokens must be a whole number, not 3.5"),
            (lambda: lm.generate_text("a", seed="x"), "seed must be a whole number, not 'x'"),
            (lambda: list(lm.generate_many(["a"], num=1.5)), "num must be a whole number, not 1.5"),
            (lambda: list(tagger.tag_many(["a"], batch_size=0)), "batch_size must be at least 1, not 0"),
            (lambda: tagger.tag([["It", "", "rains"]]), "token 2 of ['It', '', 'rains'] is empty"),
            (lambda: tagger.tag([["It", " \t"]]), "token 2 of ['It', ' \\t'] is only whitespace")]:
        with pytest.raises(rnntool.InputError) as caught:
            call()
        assert message in str(caught.value) and "\n" not in str(caught.value)
    # numpy's integers are whole numbers, and a token with a space inside is a token
    assert clf.classify("a", top_k=np.int64(2)).labels == ["ham", "spam"]
    assert lm.generate_text("a", max_tokens=np.int32(5), seed=np.int64(3)) == lm.generate_text("a", max_tokens=5, seed=3)
    assert [t.text for t in tagger.tag([["New York", "is", "big"]])[0].tokens] == ["New York", "is", "big"]


def time_sleep(seconds):
    import time

    time.sleep(seconds)


def test_text_in_letters_a_model_never_saw_is_warned_about():
    korean = ["진짜 재밌어요 최고의 영화", "너무 지루하고 별로였어요"]
    with pytest.warns(rnntool.RnntoolWarning, match="never saw most of these letters"):
        rnntool.load("sms-spam").classify(korean)
    with pytest.warns(rnntool.RnntoolWarning, match="never saw most of these letters"):
        rnntool.load("en-ewt-upos").tag(korean[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", rnntool.RnntoolWarning)
        rnntool.load("sms-spam").classify("see you at lunch")  # English letters: no warning


def test_perplexity_reads_a_string_as_a_file_is_read(tmp_path):
    lm = rnntool.load("shakespeare-char")
    assert lm.perplexity("a\r\nb\r\n") == lm.perplexity("a\nb\n")
    (tmp_path / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    assert lm.evaluate(tmp_path / "crlf.txt") == lm.perplexity("a\nb\n")  # a Path is a file too
    with pytest.raises(rnntool.InputError, match="empty"):
        lm.perplexity("")


def test_a_long_text_is_scored_on_numpy_where_onnxruntime_cannot_be_had(monkeypatch, capsys):
    """auto (the default) scores a long stream on onnxruntime only where it imports, is recent
    enough and builds the model's session; else the same call runs on numpy, without a word.
    An explicit RNNTOOL_ENGINE=onnxruntime is not second-guessed."""
    import sys

    import rnntool.runtime.ort as ort_module

    monkeypatch.delenv("RNNTOOL_ENGINE", raising=False)
    monkeypatch.setattr(ort_module, "_installed", lambda: True)
    ort_module._usable.cache_clear()
    try:
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # installed, but its import fails
        assert ort_module.stream_engine(10 ** 9) == "numpy"
        ort_module._usable.cache_clear()

        class Old:
            __version__ = "1.16.3"

        monkeypatch.setitem(sys.modules, "onnxruntime", Old)  # older than the fast extra's
        assert ort_module.stream_engine(10 ** 9) == "numpy"
    finally:
        ort_module._usable.cache_clear()
    monkeypatch.setattr(ort_module, "_usable", lambda: True)

    def cannot_build():
        raise RuntimeError("opset 17 is not supported")

    assert ort_module.stream_engine(10 ** 9, build=cannot_build) == "numpy"
    assert ort_module.stream_engine(10 ** 9, build=lambda: None) == "onnxruntime"
    monkeypatch.setenv("RNNTOOL_ENGINE", "onnxruntime")
    assert ort_module.stream_engine(10 ** 9, build=cannot_build) == "onnxruntime"  # its error comes when it runs
    assert capsys.readouterr() == ("", "")


def test_a_session_that_cannot_be_built_is_tried_once(monkeypatch):
    pytest.importorskip("onnxruntime")
    import rnntool.runtime.ort as ort_module

    monkeypatch.delenv("RNNTOOL_ENGINE", raising=False)
    monkeypatch.setattr(ort_module, "STREAM_AFTER", 8)
    tries = []

    class Broken:
        def __init__(self, runtime):
            tries.append(runtime)
            raise RuntimeError("opset 17 is not supported")

    monkeypatch.setattr(ort_module, "OrtLanguageModel", Broken)
    lm = rnntool.load("shakespeare-char")
    text = "To be, or not to be: that is the question.\n"
    first, second = lm.perplexity(text), lm.perplexity(text)  # numpy both times, quietly
    monkeypatch.setenv("RNNTOOL_ENGINE", "numpy")
    assert first == second == lm.perplexity(text)
    assert len(tries) == 1


def test_file_calls_leave_other_threads_answers_alone(tmp_path):
    clf = rnntool.load("sms-spam")
    texts = _texts(300)
    expected = rnntool.load("sms-spam").classify(texts)
    big = tmp_path / "big.txt"
    big.write_text("".join(t + " z%d\n" % i for i, t in enumerate(_texts(3000))))
    import io

    worker = threading.Thread(target=clf.classify_file, args=(big, io.StringIO()), kwargs={"jobs": 1, "batch_size": 64})
    worker.start()
    got = [clf.classify(t) for t in texts]
    worker.join()
    assert [g.labels for g in got] == [e.labels for e in expected]


def test_the_record_keeps_zeros_and_a_late_signal_is_no_interruption(tmp_path):
    from rnntool.api.training import _record

    command = _record("train_lm", None, None, {"input": "t.txt", "seed": 0, "dropout": 0.0, "tie": False, "x": None})
    assert command["command"] == "rnntool.train_lm(input='t.txt', seed=0, dropout=0.0)"
    text = tmp_path / "text.txt"
    text.write_text(LM_TEXT)

    def late_ctrl_c(event):
        if event["event"] == "eval":
            os.kill(os.getpid(), signal.SIGINT)  # after the last step: nothing left to interrupt

    result = rnntool.train_lm(text, tmp_path / "m.safetensors", layers=1, emb=8, hidden=16, bptt=8, batch_size=4,
                              max_steps=2, eval_every=2, device="cpu", on_event=late_ctrl_c)
    assert result.stop_reason == "finished" and result.checkpoint is None
