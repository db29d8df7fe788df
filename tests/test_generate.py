"""Streaming generation: sampling, stops, prompts, reproducibility, pipes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import run_rnntool
from rnntool.arch import LMConfig
from rnntool.modelfile import save_model
from rnntool.nn.lm import LMModule
from rnntool.runtime.generate import GenerationOptions, Generator
from rnntool.runtime.lm import LMRuntime
from rnntool.runtime.sampling import Sampler, SamplingOptions
from rnntool.text.tokenize import Detokenizer
from rnntool.text.vocab import Vocab

CHARS = list("abcdefgh \n.,")
WORDS = ["the", "cat", "sat", ",", ".", "``", "''", "n't", "(", ")"]


def save_random_lm(path, level="char", cell="lstm", unk_bias=0.0, seed=0):
    torch.manual_seed(seed)
    tokens = ["<pad>", "<unk>", "<eos>"] + (CHARS if level == "char" else WORDS)
    cfg = LMConfig(vocab_size=len(tokens), cell=cell, layers=2, emb=8, hidden=16)
    model = LMModule(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.8, 0.8)
        model.decoder.bias[1] = unk_bias
    save_model(path, "lm", model.file_weights(), {"config": cfg.to_dict(), "vocab": Vocab(tokens).to_dict(),
                                                 "tokenizer": {"level": level, "tokenizer": "whitespace"}})
    return path


@pytest.fixture
def char_lm(tmp_path):
    return save_random_lm(tmp_path / "char.safetensors")


@pytest.fixture
def word_lm(tmp_path):
    return save_random_lm(tmp_path / "word.safetensors", level="word")


def gen(path, prompts, **kw):
    lm = LMRuntime.load(path)
    sampling = SamplingOptions(kw.pop("temperature", 1.0), kw.pop("top_k", 0), kw.pop("top_p", 1.0))
    return Generator(lm, GenerationOptions(sampling=sampling, **kw)).generate(prompts)


def test_same_seed_same_text_and_greedy_ignores_seed(char_lm):
    a = gen(char_lm, ["ab"], max_tokens=40, seed=7)[0].text
    b = gen(char_lm, ["ab"], max_tokens=40, seed=7)[0].text
    c = gen(char_lm, ["ab"], max_tokens=40, seed=8)[0].text
    assert a == b and len(a) == 40
    assert a != c
    g1 = gen(char_lm, ["ab"], max_tokens=30, temperature=0, seed=1)[0].text
    g2 = gen(char_lm, ["ab"], max_tokens=30, temperature=0, seed=2)[0].text
    assert g1 == g2
    assert gen(char_lm, ["ab"], max_tokens=30, top_k=1, seed=3)[0].text == g1  # top-k 1 is greedy
    assert gen(char_lm, ["ab"], max_tokens=30, top_p=1e-6, seed=4)[0].text == g1  # so is a tiny nucleus


def test_batched_generation_equals_one_prompt_at_a_time(char_lm):
    prompts = ["a", "hgfe dcba", ""]
    together = gen(char_lm, prompts, max_tokens=25, temperature=0)
    alone = [gen(char_lm, [p], max_tokens=25, temperature=0)[0] for p in prompts]
    assert [g.text for g in together] == [g.text for g in alone]


def test_sampler_follows_the_distribution_and_its_filters():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    draws = np.concatenate([Sampler(SamplingOptions(), rng)(np.log(np.tile(probs, (500, 1)))) for _ in range(20)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, probs, atol=0.015)
    top2 = Sampler(SamplingOptions(top_k=2), rng)(np.log(np.tile(probs, (2000, 1))))
    assert set(top2) == {0, 1}
    nucleus = Sampler(SamplingOptions(top_p=0.75), rng)(np.log(np.tile(probs, (2000, 1))))
    assert set(nucleus) == {0, 1}  # 0.5 + 0.3 reaches 0.75
    hot = Sampler(SamplingOptions(temperature=1.0), rng)(np.log(np.tile(probs, (4000, 1))) / 0.5)
    assert np.mean(hot == 0) > 0.6  # temperature 0.5 sharpens toward the mode


def test_a_seed_draws_the_noise_of_whole_blocks_however_it_is_drawn():
    """The noise each step gets is what whole blocks of NOISE_BLOCK floats (or one step's need,
    if larger) would give it, a block's rest skipped when a step does not fit -- the rule of
    0.1.0 -- though the sampler draws each block in pieces: the same seed samples the same
    tokens as before, across a piece's end, a block's end and steps larger than a block."""
    from rnntool.runtime.sampling import NOISE_BLOCK

    def whole_blocks(rng, sizes):  # the rule, written plainly
        noise, used = np.empty(0), 0
        for n in sizes:
            if used + n > noise.size:
                noise, used = rng.gumbel(size=max(n, NOISE_BLOCK)).astype(np.float32), 0
            yield noise[used: used + n]
            used += n

    rng = np.random.default_rng(5)
    shapes = [(1, 68)] * 2000 + [(3, 68)] * 400 + [(1, 68)] * 50 + [(8, 10_000)] + [(1, 68)] * 1200 + [(2, 9_000)] * 9
    want = list(whole_blocks(np.random.default_rng(11), [b * v for b, v in shapes]))
    sampler = Sampler(SamplingOptions(temperature=1.0), np.random.default_rng(11))
    for (b, v), expected in zip(shapes, want):
        scores = rng.standard_normal((b, v)).astype(np.float32)
        got = sampler(scores.copy())
        assert np.array_equal(got, (scores + expected.reshape(b, v)).argmax(axis=1))


def test_unk_is_never_sampled_unless_allowed(tmp_path):
    path = save_random_lm(tmp_path / "unky.safetensors", unk_bias=30.0)
    lm = LMRuntime.load(path)
    for allow, expect in ((False, False), (True, True)):
        gens = Generator(lm, GenerationOptions(max_tokens=30, seed=0, allow_unk=allow)).generate(["ab"])
        assert ("<unk>" in gens[0].text) is expect


def test_stop_strings_cut_before_the_stop_and_streaming_agrees(char_lm):
    full = gen(char_lm, ["a"], max_tokens=200, seed=5)[0].text
    stop = full[30:32]
    lm = LMRuntime.load(char_lm)
    pieces = []
    g = Generator(lm, GenerationOptions(max_tokens=200, seed=5, stops=[stop])).generate(
        ["a"], on_text=lambda i, p: pieces.append(p))[0]
    assert g.stop_reason == "stop"
    assert g.text == full[: full.find(stop)]
    assert "".join(pieces) == g.text  # nothing past the stop string ever reached the output


@pytest.mark.parametrize("stops", [[], ["zz"]])
def test_streamed_text_is_not_kept_but_is_the_same_text(char_lm, stops):
    kept = Generator(LMRuntime.load(char_lm), GenerationOptions(max_tokens=300, seed=2, stops=stops)).generate(["a"])[0]
    pieces = []
    streamed = Generator(LMRuntime.load(char_lm), GenerationOptions(max_tokens=300, seed=2, stops=stops)).generate(
        ["a"], on_text=lambda i, p: pieces.append(p), keep_text=False)[0]
    assert streamed.text == ""  # nothing accumulates: generate -n 10000000 stays in constant memory
    assert "".join(pieces) == kept.text and len(kept.text) > 100
    assert streamed.tokens == kept.tokens


def test_word_models_detokenize_and_stop_at_eos(word_lm):
    g = gen(word_lm, ["the cat"], max_tokens=300, seed=1, stop_at_eos=True)[0]
    assert g.stop_reason == "eos"  # 300 words without a line end would mean --stop-at-eos never fired
    assert g.tokens < 300
    assert "\n" not in g.text and "<eos>" not in g.text
    assert " ," not in g.text and " ." not in g.text


def test_detokenizer():
    d = Detokenizer("word")
    out = "".join(d(t) for t in ["the", "cat", ",", "``", "hello", "''", "(", "did", "n't", ")", ".", "<eos>", "a"])
    assert out == 'the cat, "hello" (didn\'t).\na'


def test_cli_stdin_lines_are_prompts_one_record_each(char_lm):
    result = run_rnntool("generate", "-m", char_lm, "-n", "10", "--seed", "1", "--format", "jsonl",
                         input="ab\nba\n\n", text=True)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prompt"] for r in records] == ["ab", "ba", ""]
    assert all(r["tokens"] == 10 and r["stop_reason"] == "max_tokens" and r["mean_logprob"] < 0 for r in records)
    again = run_rnntool("generate", "-m", char_lm, "-n", "10", "--seed", "1", "--format", "jsonl",
                        input="ab\nba\n\n", text=True)
    assert again.stdout == result.stdout


def test_cli_text_output_echoes_prompt_and_is_reproducible(cli, char_lm):
    a = cli("generate", "-m", char_lm, "--prime", "abc", "-n", "20", "--seed", "3")
    b = cli("generate", "-m", char_lm, "--prime", "abc", "-n", "20", "--seed", "3")
    assert a.exit_code == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("abc") and len(a.stdout) == 3 + 20 + 1


def test_unknown_prompt_characters_warn_once(cli, char_lm):
    result = cli("generate", "-m", char_lm, "--prime", "xyz\u00e9", "-n", "5", "--seed", "1")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "never saw" in warnings[0] and "<unk>" in warnings[0]


def test_model_choice_latest_then_env_then_bundled(cli, tmp_path, char_lm, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("RNNTOOL_LM", str(char_lm))
    result = cli("generate", "-n", "3", "--seed", "1")
    assert result.exit_code == 0 and "$RNNTOOL_LM" in result.stderr
    from rnntool.userstate import remember_latest

    other = save_random_lm(tmp_path / "other.safetensors", seed=3)
    remember_latest("lm", other)
    result = cli("generate", "-n", "3", "--seed", "1")
    assert "latest trained model" in result.stderr and str(other) in result.stderr


def test_a_tagger_file_is_refused(cli, tmp_path):
    path = tmp_path / "t.safetensors"
    save_model(path, "tagger", {"w": np.zeros(1, np.float32)}, {"config": {}})
    result = cli("generate", "-m", path)
    assert result.exit_code == 1 and "is a tagger, but this command needs a language model" in result.stderr


def test_generate_into_head_exits_quietly_and_never_imports_torch(char_lm):
    proc = subprocess.run(
        f"{sys.executable} -X importtime -m rnntool generate -m {char_lm} -n 1000000 --seed 1 2>imports.txt | head -c 100",
        shell=True, capture_output=True, text=True, cwd=char_lm.parent, executable="/bin/bash",
    )
    assert len(proc.stdout) == 100
    imports = (char_lm.parent / "imports.txt").read_text()
    assert "Traceback" not in imports and "BrokenPipe" not in imports
    imported = {line.split("|")[-1].strip() for line in imports.splitlines() if "|" in line}
    # (importlib.import_module, which loads a kind's runtime, is not in -X importtime's list)
    assert "torch" not in imported and "rnntool.runtime.generate" in imported


@pytest.mark.parametrize("command", ["generate", "score"])
def test_generate_and_score_answer_each_line_while_stdin_stays_open(char_lm, command):
    """A coprocess or interactive pipe: one line written, one answer read, the pipe still open."""
    args = ["generate", "-m", str(char_lm), "-n", "5", "--seed", "1", "--format", "jsonl", "-", "-q"] \
        if command == "generate" else ["score", str(char_lm), "-"]
    with subprocess.Popen([sys.executable, "-m", "rnntool", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            for prompt in ("ab", "ba"):
                proc.stdin.write(prompt + "\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()  # would block until EOF if output waited for 64 lines
                if command == "generate":
                    assert json.loads(answer)["prompt"] == prompt
                else:
                    assert float(answer.split("\t")[0]) < 0
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("level", ["char", "word"])
def test_eval_reads_a_window_at_a_time_with_the_state_carried(tmp_path, monkeypatch, level):
    import rnntool.runtime.scoring as scoring

    path = save_random_lm(tmp_path / "m.safetensors", level=level)
    lm = LMRuntime.load(path)
    text = [("a b ab ba " * 40, False), ("b a", True), ("", True), ("ab ab", True)]
    whole = scoring.evaluate_pieces(lm, text)
    monkeypatch.setattr(scoring, "EVAL_WINDOW", 7)
    windowed = scoring.evaluate_pieces(lm, text)
    assert windowed["tokens"] == whole["tokens"] > 50
    assert windowed["loss"] == pytest.approx(whole["loss"], rel=1e-6)  # float32 products of other shapes
    # one stream: the same as scoring the text in a single forward pass
    ids = np.asarray([lm.line_end_id, *lm.encode("a b ab ba " * 40 + "b a"), lm.line_end_id, lm.line_end_id,
                      *lm.encode("ab ab"), lm.line_end_id])
    lp, _ = lm.target_log_probs(ids[:-1, None], ids[1:, None], lm.zero_state(1))
    assert whole["tokens"] == len(ids) - 1
    assert whole["loss"] == pytest.approx(float(-lp.mean()), rel=1e-6)
