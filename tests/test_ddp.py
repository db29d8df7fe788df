"""torchrun / DDP on CPU with gloo, launched the way a user would launch it.

Marked ``ddp`` (run by .ci/run, not by the default suite): each test starts real
processes through PyTorch's launcher, ``torchrun --standalone`` (which picks a
free port), with a timeout.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import cat_text, cat_text_file, run_rnntool
from rnntool.modelfile import load_model, read_header
from rnntool.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.ddp

TEXT = cat_text()
LM_ARGS = ["--layers", "1", "--emb", "8", "--hidden", "16", "--bptt", "8", "--batch-size", "4", "--precision",
           "fp32", "--seed", "2"]
TIMEOUT = 240


def launch(*target, nproc=2, **kwargs):
    """torchrun --standalone --nproc_per_node=N TARGET ...: a module's command line or a script."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               *map(str, target)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env, **kwargs)


def torchrun(*args, nproc=2, **kwargs):
    """The documented launch line: torchrun --standalone --nproc_per_node=N -m rnntool -- COMMAND ..."""
    return launch("-m", "rnntool", "--", *args, nproc=nproc, **kwargs)


def events(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def assert_close_weights(a, b, rtol=1e-4, atol=1e-5):
    ta, tb = load_model(a).tensors, load_model(b).tensors
    assert ta.keys() == tb.keys()
    for name in ta:
        np.testing.assert_allclose(ta[name], tb[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.fixture
def text(tmp_path):
    return cat_text_file(tmp_path)


def test_two_ranks_train_the_same_lm_as_one_process(text, tmp_path):
    one = run_rnntool("train-lm", text, "-o", tmp_path / "one.safetensors", "--epochs", "2", *LM_ARGS, "-q", text=True)
    assert one.returncode == 0, one.stderr
    log = tmp_path / "two.jsonl"
    two = torchrun("train-lm", text, "-o", tmp_path / "two.safetensors", "--epochs", "2", *LM_ARGS, "--log", log,
                   "--json", "-q")
    assert two.returncode == 0, two.stderr
    summary = json.loads(two.stdout)  # rank 0 alone prints: one JSON document
    assert summary["world_size"] == 2
    assert_close_weights(tmp_path / "one.safetensors", tmp_path / "two.safetensors")
    starts = [e for e in events(log) if e["event"] == "start"]  # rank 0 alone logs
    assert len(starts) == 1 and starts[0]["world_size"] == 2 and starts[0]["backend"] == "gloo"
    training = read_header(tmp_path / "two.safetensors")["training"]
    assert training["world_size"] == 2 and training["backend"] == "gloo"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_tagger_under_two_ranks_writes_one_model_that_tag_loads(tmp_path):
    rng = np.random.default_rng(0)
    nouns = ["cat", "dog", "bird", "fish"]
    lines = [f"the/DET {rng.choice(nouns)}/NOUN sees/VERB a/DET {rng.choice(nouns)}/NOUN" for _ in range(61)]
    lines += ["a/DET cat/NOUN"] * 3  # a bucket of 3 sentences: one rank gets 2, the other 1
    lines += ["dog/NOUN"]  # a bucket of one sentence: one rank steps on it at weight 0
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines) + "\n")
    log = tmp_path / "log.jsonl"
    out = tmp_path / "t.safetensors"
    result = torchrun("train-tagger", train, "-o", out, "--epochs", "12", "--hidden", "8", "--word-emb", "8",
                      "--char-filters", "4", "--lr", "0.01", "--batch-size", "8", "--log", log)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)  # one path printed, by rank 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "t.safetensors", "train.txt"]
    run = events(log)
    assert sum(e["event"] == "start" for e in run) == 1
    steps = [e["step"] for e in run if e["event"] == "step"]
    assert steps == list(range(1, len(steps) + 1))  # one step event per step: one writer
    tagged = run_rnntool("tag", "-m", out, "--input", "tokens", "-", input="the cat sees a dog\n", text=True)
    assert tagged.returncode == 0 and tagged.stdout.split() == ["the/DET", "cat/NOUN", "sees/VERB", "a/DET",
                                                               "dog/NOUN"]


def test_ctrl_c_to_the_launcher_leaves_a_checkpoint_that_one_process_resumes(text, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text(TEXT * 4)
    out, log = tmp_path / "m.safetensors", tmp_path / "log.jsonl"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "rnntool",
               "--", "train-lm", str(big), "-o", str(out), "--epochs", "3", *LM_ARGS, "--log", str(log), "-q"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not (log.exists() and '"event": "eval"' in log.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # to the launcher only: it forwards the signal to its workers
    _, stderr = proc.communicate(timeout=TIMEOUT)
    ckpt = tmp_path / "m.ckpt"
    assert ckpt.exists(), stderr
    state = load_checkpoint(ckpt, "lm")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert state["progress"]["last_eval_step"] >= 0  # interrupted after a validation
    hidden = state["data"]["hidden"]
    assert hidden[0].shape[1] == 4  # both ranks' streams, in one process's layout
    resumed = run_rnntool("train-lm", big, "-o", out, "--resume", ckpt, "-q", "--json", text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["world_size"] == 1
    reference = run_rnntool("train-lm", big, "-o", tmp_path / "ref.safetensors", "--epochs", "3", *LM_ARGS, "-q",
                            text=True)
    assert reference.returncode == 0, reference.stderr
    assert_close_weights(tmp_path / "ref.safetensors", out)  # no dropout: the same run, to float rounding


def test_a_one_process_checkpoint_resumes_under_two_ranks(text, tmp_path):
    from rnntool.train.lm import train_lm

    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] == 150

    options = dict(bptt=8, batch_size=4, epochs=2, precision="fp32", seed=2)
    train_lm(str(text), tmp_path / "m.safetensors", model_options=dict(layers=1, emb=8, hidden=16),
             train_options=options, should_stop=stop)
    result = torchrun("train-lm", text, "-o", tmp_path / "m.safetensors", "--resume", tmp_path / "m.ckpt", "--json",
                      "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["world_size"] == 2 and summary["steps"] == 236
    reference = run_rnntool("train-lm", text, "-o", tmp_path / "ref.safetensors", "--epochs", "2", *LM_ARGS, "-q",
                            text=True)
    assert reference.returncode == 0
    assert_close_weights(tmp_path / "ref.safetensors", tmp_path / "m.safetensors")


def test_every_training_option_passes_through_the_launcher(text, tmp_path):
    """The documented line with options that torchrun's own parser would otherwise claim."""
    log = tmp_path / "log.jsonl"
    result = torchrun("train-lm", text, "-o", tmp_path / "m.safetensors", "--max-steps", "40", "--max-time", "600",
                      *LM_ARGS, "--log", log, "--eval-every", "20", "--lr", "0.01", "--optimizer", "adam",
                      "--clip", "0.5", "--schedule", "constant", "--warmup", "0", "--patience", "5", "--device", "cpu",
                      "--half", "--meta", "note=ddp", "--errors", "replace", "--cell", "gru", "--dropout", "0",
                      "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["steps"] == 40 and len(summary["valid"]) == 3
    header = read_header(tmp_path / "m.safetensors")
    assert header["config"]["cell"] == "gru" and header["training"]["meta"] == {"note": "ddp"}
    assert header["training"]["train_config"]["clip"] == 0.5
    assert [e["step"] for e in events(log) if e["event"] == "eval"] == [20, 40]


def test_a_batch_that_does_not_split_evenly_is_refused(text, tmp_path):
    result = torchrun("train-lm", text, "-o", tmp_path / "m.safetensors", "--epochs", "1", *LM_ARGS[:-6],
                      "--batch-size", "3", "-q")
    assert result.returncode != 0
    assert "rnntool: error: --batch-size 3 (the global batch) must divide evenly among 2 ranks" in result.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_classifier_under_two_ranks_writes_one_calibrated_model(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(341):  # odd: the last batch does not split evenly; a dev tenth of 34 is enough to calibrate on
        label = "spam" if rng.random() < 0.4 else "ham"
        words = ["win", "free", "cash"] if label == "spam" else ["see", "you", "home"]
        rows.append(f"{label}\t" + " ".join(rng.choice(words, int(rng.integers(1, 6)))))
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(rows) + "\n")
    out, log = tmp_path / "c.safetensors", tmp_path / "log.jsonl"
    result = torchrun("train-classifier", data, "-o", out, "--epochs", "4", "--hidden", "8", "--word-emb", "8",
                      "--char-filters", "4", "--lr", "0.01", "--batch-size", "16", "--log", log, "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["world_size"] == 2 and "calibration" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors", "log.jsonl", "train.tsv"]
    assert sum(e["event"] == "start" for e in events(log)) == 1
    classified = run_rnntool("classify", "-m", out, "-", input="win free cash\nsee you home\n", text=True)
    assert [line.split("\t")[0] for line in classified.stdout.splitlines()] == ["spam", "ham"]


def test_a_tiny_text_trains_under_two_ranks_one_line_per_stream(tmp_path):
    """Three lines under two ranks: the batch rounds up to four streams, the fourth padding
    alone (it counts nothing), and the model still brings back each line."""
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("the cat sat on my mat\ndogs ran in parks\nwe are a happy family\n")
    out = tmp_path / "m.safetensors"
    result = torchrun("train-lm", tiny, "--level", "word", "--layers", "1", "--hidden", "64", "--seed", "1",
                      "--precision", "fp32", "-o", out, "--json")
    assert result.returncode == 0, result.stderr
    assert "one stream per line: --batch-size 4" in result.stderr
    assert json.loads(result.stdout)["world_size"] == 2
    for line in tiny.read_text().splitlines():
        generated = run_rnntool("generate", "-m", out, "--prime", line.split()[0], "--greedy", "--stop-at-eos",
                                text=True)
        assert generated.stdout.strip() == line


def test_a_script_calling_rnntool_train_lm_under_torchrun_is_the_command_s_run(text, tmp_path):
    """docs/api.md's torchrun recipe: every rank calls the library; rank 0 writes; the weights are
    the CLI's under the same launcher; when the call returns, the process group is gone with
    its gloo threads (threads left to interpreter exit once aborted a rank in CI)."""
    script = tmp_path / "train.py"
    script.write_text(
        "import json, os, sys\n"
        "import rnntool\n"
        f"result = rnntool.train_lm({str(text)!r}, {str(tmp_path / 'api.safetensors')!r}, epochs=2, layers=1,\n"
        "                          emb=8, hidden=16, bptt=8, batch_size=4, precision='fp32', seed=2,\n"
        f"                          log={str(tmp_path / 'api.jsonl')!r}, remember=False)\n"
        # one write of a whole line: two ranks share the launcher's stdout, and print() writes
        # the newline apart (seen in CI: the two documents on one line)
        "threads = []\n"
        "for task in os.listdir('/proc/self/task'):\n"
        "    try:\n"
        "        threads.append(open(f'/proc/self/task/{task}/comm').read().strip())\n"
        "    except OSError:  # ended meanwhile\n"
        "        pass\n"
        "sys.stdout.write(json.dumps({'rank': os.environ['RANK'], 'world': result.summary.get('world_size'),\n"
        "                             'path': str(result.model_path), 'threads': threads}) + '\\n')\n")
    api = launch(script)
    assert api.returncode == 0, api.stderr
    ranks = sorted((json.loads(line) for line in api.stdout.splitlines() if line.startswith("{")), key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == ["0", "1"] and all(r["world"] == 2 for r in ranks)
    assert all(r["threads"] and not [t for t in r["threads"] if "gloo" in t] for r in ranks), ranks
    starts = [e for e in events(tmp_path / "api.jsonl") if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # rank 0 alone logs
    cli = torchrun("train-lm", text, "-o", tmp_path / "cli.safetensors", "--epochs", "2", *LM_ARGS, "-q")
    assert cli.returncode == 0, cli.stderr
    assert_close_weights(tmp_path / "cli.safetensors", tmp_path / "api.safetensors", rtol=0, atol=0)


@pytest.mark.parametrize("ranks", [2, 1])
def test_a_script_s_own_process_group_is_used_and_left_to_it(text, tmp_path, ranks):
    """A script that made its process group itself trains through it, the group still serves
    the script's own collectives after the call, and the script's destroy_process_group frees
    it: gloo's threads are gone (left running into exit they abort a rank now and then). A
    world of one trains without DDP, but the same imports would pin the group."""
    script = tmp_path / "train.py"
    script.write_text(
        "import os, sys, time\n"
        "import torch, torch.distributed as dist\n"
        "import rnntool\n"
        "threads = lambda: len(os.listdir('/proc/self/task'))\n"
        "before = threads()\n"
        "dist.init_process_group('gloo')\n"
        f"result = rnntool.train_lm({str(text)!r}, {str(tmp_path / 'm.safetensors')!r}, epochs=1, layers=1,\n"
        "                          emb=8, hidden=16, bptt=8, batch_size=4, precision='fp32', seed=2, remember=False)\n"
        "total = torch.tensor([float(os.environ['RANK']) + 1])\n"
        "dist.all_reduce(total)\n"
        "line = f\"{os.environ['RANK']} {result.summary['world_size']} {dist.is_initialized()} {total.item()}\"\n"
        "dist.destroy_process_group()\n"
        "deadline = time.time() + 30\n"  # a joined thread leaves /proc a moment after its join
        "while threads() > before and time.time() < deadline:\n"
        "    time.sleep(0.02)\n"
        "sys.stdout.write(f\"{line} threads {before} -> {threads()}\\n\")\n")
    run = launch(script, nproc=ranks)
    assert run.returncode == 0, run.stderr
    lines = sorted(run.stdout.split("\n")[:ranks])
    total = float(sum(range(1, ranks + 1)))
    assert [line.split(" threads ")[0] for line in lines] == [f"{r} {ranks} True {total}" for r in range(ranks)], \
        run.stdout
    for line in lines:
        before, after = line.split(" threads ")[1].split(" -> ")
        assert after == before, f"the destroyed group's threads outlive it: {run.stdout}"
    assert (tmp_path / "m.safetensors").exists()


def worker_pids(launcher_pid: int) -> dict[int, int]:
    """The launcher's worker processes by RANK (from their environment, as torchrun set it)."""
    workers = {}
    for pid in open(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read().split():
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        ranks = [e[5:] for e in env if e.startswith(b"RANK=")]
        if ranks:
            workers[int(ranks[0])] = int(pid)
    assert len(workers) == 2, f"the launcher's workers: {workers}"
    return workers


@pytest.mark.parametrize("victim", [1, 0])
def test_a_rank_killed_mid_run_ends_the_run_with_a_one_line_error_and_its_checkpoint_resumes(text, tmp_path, victim):
    """SIGKILL to one worker (out of memory, a kill -9): the other rank says which rank it lost
    and stops, the launcher ends within 60 s (no hang in a collective), and the checkpoint of the
    last validation resumes in one process."""
    big = tmp_path / "big.txt"
    big.write_text(TEXT * 8)
    out, ckpt = tmp_path / "m.safetensors", tmp_path / "m.ckpt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "rnntool",
               "--", "train-lm", str(big), "-o", str(out), "--epochs", "30", "--eval-every", "20", *LM_ARGS, "-q"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and not ckpt.exists() and proc.poll() is None:
            time.sleep(0.05)
        assert ckpt.exists(), "no checkpoint was written"
        os.kill(worker_pids(proc.pid)[victim], signal.SIGKILL)
        killed_at = time.time()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a hang: the launcher and its workers do not outlive the test
            subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
            proc.kill()
            proc.communicate()
    assert time.time() - killed_at < 60 and proc.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("rnntool: error:")]
    survivor = 1 - victim
    assert errors == [f"rnntool: error: rank {survivor} lost rank {victim} of 2 (its connection closed: killed, or "
                      f"out of memory?) and stops; the last checkpoint resumes the run: add --resume {ckpt}"], stderr
    assert "unexpected" not in stderr
    step = load_checkpoint(ckpt, "lm")["progress"]["step"]
    assert step > 0 and step % 20 == 0
    resumed = run_rnntool("train-lm", big, "-o", out, "--resume", ckpt, "--max-steps", step + 5, "-q", "--json",
                          text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == step + 5 and not ckpt.exists()


def test_two_ranks_stop_together_at_the_time_budget(text, tmp_path):
    """The budget is measured on each rank's clock but decided from the all-reduced time: a rank
    that stopped a step early would leave the other waiting in a collective (a hang, not exit 0)."""
    big = tmp_path / "big.txt"
    big.write_text(TEXT * 8)
    log = tmp_path / "log.jsonl"
    result = torchrun("train-lm", big, "-o", tmp_path / "m.safetensors", "--epochs", "100", "--max-time", "4",
                      *LM_ARGS, "--log", log, "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "time budget reached" and summary["world_size"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".ckpt"] == []  # a finished run keeps no checkpoint


def test_two_ranks_stop_together_on_early_stopping(text, tmp_path):
    """A learning rate too small to change any fp32 weight: no validation improves on the first,
    so --patience 2 stops both ranks after the third, at the same step."""
    log = tmp_path / "log.jsonl"
    result = torchrun("train-lm", text, "-o", tmp_path / "m.safetensors", "--epochs", "100", "--eval-every", "5",
                      "--patience", "2", "--lr", "1e-20", *LM_ARGS, "--log", log, "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stop_reason"].startswith("early stop") and summary["world_size"] == 2
    assert [e["step"] for e in events(log) if e["event"] == "eval"] == [5, 10, 15]


@pytest.mark.parametrize("command", ["train-lm", "train-tagger", "train-classifier"])
def test_init_from_under_two_ranks_starts_every_rank_from_the_model(text, tmp_path, command):
    """--init-from under the launcher: each rank extends the model's vocabulary the same way and
    starts from its weights, so a language model continued on two ranks is the one a single
    process trains, and a tagger or classifier (at a learning rate that moves nothing) holds
    the model's embeddings."""
    base = tmp_path / "base.safetensors"
    # without dropout (ranks draw their own masks), so one process and two ranks can be compared
    made = run_rnntool("train-lm", text, "--level", "word", "--dropout", "0", "-o", base, "--epochs", "1", *LM_ARGS,
                       "-q", text=True)
    assert made.returncode == 0, made.stderr
    data = tmp_path / "data.txt"
    if command == "train-lm":  # new words join the vocabulary (at the top: the tail is held out)
        data.write_text("a zebra ran past the cat .\n" * 8 + cat_text())
        args = ["--epochs", "1", "--bptt", "8", "--batch-size", "4", "--precision", "fp32", "--seed", "2"]
    elif command == "train-tagger":
        data.write_text("the/DET cat/NOUN sat/VERB on/ADP the/DET mat/NOUN ./PUNCT\n" * 12
                        + "a/DET zebra/NOUN ran/VERB\n" * 4)
        args = ["--max-steps", "2", "--lr", "1e-12", "--batch-size", "4", "--precision", "fp32", "--seed", "1"]
    else:
        data.write_text("yes\tthe cat sat on the mat\nno\ta zebra ran past\n" * 20)
        args = ["--max-steps", "2", "--lr", "1e-12", "--batch-size", "4", "--precision", "fp32", "--seed", "1",
                "--no-pretrain"]
    two = torchrun(command, data, "--init-from", base, "-o", tmp_path / "two.safetensors", *args, "-q")
    assert two.returncode == 0, two.stderr
    model = load_model(tmp_path / "two.safetensors")
    assert model.header["training"]["init_from"] == str(base)
    if command == "train-lm":
        one = run_rnntool(command, data, "--init-from", base, "-o", tmp_path / "one.safetensors", *args, "-q",
                          text=True)
        assert one.returncode == 0, one.stderr
        assert "zebra" in model.header["vocab"]["tokens"]
        # Adam scales each step by the gradient's running size, so a weight whose gradient is near
        # zero moves by the all-reduce's rounding (seen: 1.7e-5 on CI); rows started wrongly would
        # differ by the size of the weights themselves (~0.1)
        assert_close_weights(tmp_path / "one.safetensors", tmp_path / "two.safetensors", atol=1e-4)
        return
    lm = load_model(base)
    tokens, words = lm.header["vocab"]["tokens"], model.config["words"]
    emb = model.tensors[next(n for n in model.tensors if n.endswith("word_embedding.weight"))]
    for word in ("the", "cat", "mat"):
        np.testing.assert_allclose(emb[words.index(word)], lm.tensors["embedding.weight"][tokens.index(word)],
                                   atol=1e-6)
