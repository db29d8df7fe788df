"""The one engine: typed configuration, the kind registry, the shared training
options, the launch line, precision choices, and compatibility with model files
written before the engine (the bundled models)."""

import json

import numpy as np
import pytest
import torch

from helpers import run_rnntool
from rnntool.config import ConfigError, LMTrainConfig, TaggerTrainConfig, check_keys
from rnntool.errors import OptionError, RnntoolError
from rnntool.kinds import KINDS, bundled_model
from rnntool.modelfile import load_model

FRESH_USER = {"XDG_STATE_HOME": "/nonexistent/rnntool-test", "RNNTOOL_LM": "", "RNNTOOL_TAGGER": ""}


def test_check_keys_refuses_unknown_and_misrouted_keys():
    given = check_keys(LMTrainConfig, {"lr": 0.1, "seed": None}, "training")
    assert given == {"lr": 0.1}  # None means "not given"
    cfg = LMTrainConfig(**{"epochs": 2, "bptt": 8, **given})
    assert (cfg.lr, cfg.seed, cfg.bptt) == (0.1, 0, 8)
    with pytest.raises(ConfigError, match="unknown training option bptt_len"):
        check_keys(LMTrainConfig, {"bptt_len": 8}, "training")
    with pytest.raises(ConfigError, match="unknown training option bptt"):  # an LM option, misrouted
        check_keys(TaggerTrainConfig, {"bptt": 8}, "training")
    with pytest.raises(OptionError, match="^lr must be a positive number, not nan$"):
        LMTrainConfig(epochs=1, **check_keys(LMTrainConfig, {"lr": float("nan")}, "training"))


@pytest.mark.parametrize("option, value, message", [
    ("max_time", -1.5, "max_time must be a positive number, not -1.5"),
    ("hidden", 0, "hidden must be at least 1, not 0"),
    ("dropout", 1.5, r"dropout must be in \[0, 1\), not 1.5"),
    ("valid_frac", 1.0, r"valid_frac must be in \[0, 1\), not 1.0"),
    ("max_vocab", 2, r"max_vocab must be more than 3 \(the reserved symbols\), not 2"),
])
def test_an_option_out_of_range_is_named_as_the_library_and_the_cli_spell_it(tmp_path, option, value, message):
    """rnntool.train_lm(max_time=-1) names ``max_time``; ``rnntool train-lm --max-time -1``
    names ``--max-time``: the same check, each front end's spelling."""
    import rnntool

    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat.\n" * 50)
    kwargs = {"max_steps": 1, option: value}
    with pytest.raises(OptionError, match=f"^{message}$") as caught:
        rnntool.train_lm(text, tmp_path / "m.safetensors", level="word", **kwargs)
    assert caught.value.option == option and isinstance(caught.value, ValueError)
    flag = "--" + option.replace("_", "-")
    result = run_rnntool("train-lm", str(text), "-o", str(tmp_path / "m.safetensors"), "--level", "word",
                         "--max-steps", "1", flag, str(value))
    assert result.returncode == 2 and flag in result.stderr.decode().strip().splitlines()[-1]  # a usage error
    assert not (tmp_path / "m.safetensors").exists()


def test_an_option_error_pickles_whole_and_names_a_function_s_own_argument():
    """A worker process's error reaches the main process as it was raised; summary's
    ``vocab`` is called so, not by the config's ``vocab_size`` (another CLI flag)."""
    import pickle

    import rnntool

    error = pickle.loads(pickle.dumps(OptionError("max_time", "must be a positive number", -1.5)))
    assert (str(error), error.option, error.flag) == ("max_time must be a positive number, not -1.5", "max_time",
                                                      "--max-time")
    with pytest.raises(OptionError, match="^vocab must be at least 1, not 0$"):
        rnntool.summary(vocab=0)


def test_the_cli_names_an_option_error_from_the_library_by_its_flag(capsys):
    """What the command line's own checks let through (a resumed run's options, say) still
    reads in the command line's words."""
    import typer

    from rnntool.cli.common import handle_errors

    @handle_errors
    def command():
        raise OptionError("max_time", "must be a positive number", -1)

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err.strip().endswith("--max-time must be a positive number, not -1")


def test_recipes_refuse_unknown_keys(tmp_path):
    from rnntool.train.lm import train_lm
    from rnntool.train.tagger import train_tagger

    text, tagged = tmp_path / "t.txt", tmp_path / "tagged.txt"
    text.write_text("abc\n" * 300)
    tagged.write_text("a/DET b/NOUN\n" * 20)
    with pytest.raises(ConfigError, match="unknown language-model option hiden"):
        train_lm(str(text), tmp_path / "m.safetensors", model_options={"hiden": 8}, train_options={"epochs": 1})
    with pytest.raises(ConfigError, match="unknown training option crf"):  # a model option given as training
        train_tagger(str(tagged), tmp_path / "m.safetensors", train_options={"crf": True})
    assert not (tmp_path / "m.safetensors").exists()


def test_every_kind_row_names_classes_that_exist():
    for kind in KINDS.values():
        for attribute in ("runtime", "summary"):
            assert callable(kind.load(attribute)), (kind.name, attribute)
        assert kind.bundled and (kind.default is None or kind.default_bundled is not None)
        for bundled in kind.bundled:
            header = load_model(bundled.path).header
            assert header["kind"] == kind.name and bundled_model(bundled.name)[0] is kind
            rows = kind.load("summary")(header["config"])
            assert sum(r.params for r in rows) == sum(v.size for v in load_model(bundled.path).tensors.values())
    assert bundled_model("en-ewt-upos")[0].name == "tagger" and bundled_model("nope") is None


def test_train_commands_share_one_set_of_training_options():
    import typer

    from rnntool.cli import app
    from rnntool.cli.options import SHARED

    root = typer.main.get_command(app)
    shared_flags = {decl for s in SHARED for decl in s.decls}
    helps = {}
    for name in ("train-lm", "train-tagger"):
        cmd = root.commands[name]
        flags = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        assert shared_flags <= flags, (name, shared_flags - flags)
        helps[name] = {p.opts[-1]: p.help.split(" [")[0] for p in cmd.params if set(p.opts) & shared_flags}
    assert helps["train-lm"] == helps["train-tagger"]  # same names, same help (defaults differ per kind)
    for flag in ("--max-steps", "--optimizer", "--clip", "--schedule", "--warmup", "--eval-every", "--cell"):
        assert flag in helps["train-tagger"]


def test_documented_launch_line_hands_every_option_to_rnntool_unchanged():
    """torchrun's own parser matches prefixes of its options anywhere on the line unless
    they follow `--`: `--log` alone is "ambiguous" to it. After `--` every option arrives."""
    import typer
    from torch.distributed.run import get_args_parser

    from rnntool.cli import app

    root = typer.main.get_command(app)
    ours = sorted({opt for name in ("train-lm", "train-tagger") for p in root.commands[name].params
                   for opt in getattr(p, "opts", []) if opt.startswith("-")})
    line = ["train-lm", "data.txt", *[x for opt in ours for x in (opt, "1")]]
    args = get_args_parser().parse_args(["--standalone", "--nproc_per_node=2", "-m", "rnntool", "--", *line])
    assert args.module and args.training_script == "rnntool"
    assert args.training_script_args == line
    with pytest.raises(SystemExit):  # without `--`, torchrun itself stops at our --log
        get_args_parser().parse_args(["--standalone", "-m", "rnntool", "train-lm", "x", "--log", "run.jsonl"])


def test_a_lost_peer_is_named_and_other_errors_pass_through(tmp_path):
    """gloo words a dead peer as a socket error; the surviving rank turns it into one line that
    names the lost rank and how to resume (tests/test_ddp.py kills a real worker)."""
    from rnntool.train.distributed import Distributed

    gone = RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:16584: Connection reset by peer")
    ckpt = tmp_path / "m.ckpt"
    two = Distributed(rank=1, world_size=2, backend="gloo")
    assert str(two.lost_peer(gone, ckpt)).startswith("rank 1 lost rank 0 of 2 ")
    assert str(two.lost_peer(gone, ckpt)).endswith("no checkpoint was written yet")
    ckpt.write_bytes(b"x")
    assert str(two.lost_peer(gone, ckpt)).endswith(f"add --resume {ckpt}")
    four = Distributed(rank=0, world_size=4, backend="gloo")
    assert "rank 0 lost another of the 4 ranks" in str(four.lost_peer(gone, ckpt))
    assert two.lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), ckpt) is None
    assert two.lost_peer(ValueError("Connection reset by peer"), ckpt) is None
    assert Distributed().lost_peer(gone, ckpt) is None  # one process has no peers to lose


def test_precision_choices_are_checked_before_training():
    from rnntool.train.precision import _cpu_bf16_rnn_runs, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu, cpu_bf16=False) == "fp32"
    if _cpu_bf16_rnn_runs():
        assert resolve_precision("bf16", cpu) == "bf16"
    else:  # no native bf16 and no AVX-512 to emulate it: refused before any data is read
        with pytest.raises(RnntoolError, match="cannot run LSTM/GRU layers in bf16"):
            resolve_precision("bf16", cpu)
    with pytest.raises(RnntoolError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)


def test_precision_on_a_gpu_whose_cudnn_lacks_recurrent_bf16(monkeypatch):
    import rnntool.train.precision as precision

    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    assert precision.resolve_precision("auto", cuda) == "fp16"
    with pytest.raises(RnntoolError, match="no bf16 LSTM/GRU kernels .*use --precision fp16 or fp32"):
        precision.resolve_precision("bf16", cuda)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91300)
    assert precision.resolve_precision("auto", cuda) == "bf16"


# --- model files written before the engine load and give the same outputs ------------------

def test_bundled_lm_loads_into_the_torch_module_with_the_runtime_numbers():
    from rnntool.arch import LMConfig
    from rnntool.nn.lm import LMModule
    from rnntool.runtime.lm import LMRuntime

    path = KINDS["lm"].default_bundled.path
    lm = LMRuntime.load(path)
    model = LMModule(LMConfig.from_dict(lm.cfg.to_dict()))
    model.load_file_weights(load_model(path).tensors)
    model.eval()
    ids = np.array([lm.encode("ROMEO:\nWhat light through yonder window breaks?")]).T
    with torch.no_grad():
        features, _ = model.features(torch.from_numpy(ids))
        expected = model.log_probs(features).numpy()
    h, _ = lm.hidden(ids)
    got = lm.log_probs(h.reshape(len(ids), -1)).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert model.n_params() == sum(v.size for v in load_model(path).tensors.values())


def test_bundled_models_give_the_outputs_they_gave_before_the_engine():
    """Recorded with the code before the engine (commit f0cc59a)."""
    out = run_rnntool("generate", "--prime", "ROMEO:", "-n", "80", "--greedy", "-q", env=FRESH_USER, text=True)
    assert out.stdout == "ROMEO:\nI think the senate that we shall be so that the sea\nThe state of the seat of th\n"
    out = run_rnntool("tag", "--input", "tokens", "--format", "jsonl", "-q", "-", env=FRESH_USER, text=True,
                      input="The quick brown fox jumps over the lazy dog .\n")
    record = json.loads(out.stdout)
    assert record["tags"] == ["DET", "ADJ", "ADJ", "NOUN", "VERB", "ADP", "DET", "ADJ", "NOUN", "PUNCT"]
    assert record["confidence"] == [1.0, 0.9986, 0.9733, 0.8605, 0.951, 0.9971, 1.0, 0.9936, 0.9998, 1.0]
    out = run_rnntool("score", "shakespeare-char", "-", env=FRESH_USER, text=True, input="the quick brown fox\n")
    assert out.stdout == "-43.8799\t20\t8.9710\n"  # a bundled model by name, as -m takes it


def test_bundled_tagger_loads_into_the_torch_module():
    from rnntool.nn.tagger import TaggerModule
    from rnntool.runtime.tagger import TaggerRuntime
    from rnntool.text.tagged import TaggedSentence
    from rnntool.train.batching import make_batches

    path = KINDS["tagger"].default_bundled.path
    tagger = TaggerRuntime.load(path)
    model = TaggerModule(tagger.cfg)
    model.load_file_weights(load_model(path).tensors)
    model.eval()
    words = ["The", "zorbles", "were", "glimfing", "quickly", "."]
    [batch] = make_batches([TaggedSentence(words, ["X"] * len(words))], tagger.cfg, 1)
    with torch.no_grad():
        expected = model.emissions(batch.words, batch.cases, batch.type_chars, batch.type_index).numpy()[0]
    got, _ = tagger.emissions([words])
    np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [
    dict(cell="lstm", layers=2, emb=16, hidden=32), dict(cell="gru", layers=1, emb=8, hidden=24),
    dict(cell="rnn", layers=3, emb=8, hidden=8, tie=True), dict(cell="rnn-relu", layers=1, emb=12, hidden=12),
    dict(cell="lstm", layers=1, emb=16, hidden=64, softmax="adaptive", cutoffs=[100, 400]),
])
def test_summary_counts_are_torchs_own_parameter_counts(options):
    """arch.lm_summary and the tagger/classifier summaries against the torch modules' parameters."""
    from rnntool.arch import LMConfig, lm_summary
    from rnntool.classification import ClassifierConfig
    from rnntool.nn.classifier import ClassifierModule
    from rnntool.nn.lm import LMModule
    from rnntool.nn.tagger import TaggerModule
    from rnntool.tagging import TaggerConfig

    cfg = LMConfig(vocab_size=1000, **options)
    module = LMModule(cfg)
    torch_count = sum(p.numel() for p in module.parameters())  # a tied weight is one parameter
    assert sum(r.params for r in lm_summary(cfg)) == torch_count
    for kind, config_cls, module_cls in (("tagger", TaggerConfig, TaggerModule),
                                         ("classifier", ClassifierConfig, ClassifierModule)):
        row = KINDS[kind]
        header = load_model(row.default_bundled.path if row.default_bundled else row.bundled[0].path).header
        net = module_cls(config_cls.from_dict(header["config"]))
        assert sum(r.params for r in row.load("summary")(header["config"])) == sum(p.numel() for p in net.parameters())
