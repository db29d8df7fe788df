"""Pictures of training: logs read into curves, terminal charts, image files, confusion
heatmaps and reliability diagrams, the chart at the end of training, shell completion."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, assert_one_line_error
from rnntool.curves import chart_series, read_log

pytest.importorskip("plotext")
matplotlib = pytest.importorskip("matplotlib")


def step(n, loss, **kw):
    return {"event": "step", "step": n, "loss": loss, "tokens_seen": 100 * n, "elapsed": 0.5 * n, **kw}


def evaluation(n, **metrics):
    return {"event": "eval", "step": n, "tokens_seen": 100 * n, "elapsed": 0.5 * n,
            **{f"valid_{k}": v for k, v in metrics.items()}}


def write_log(path, events, torn_tail=""):
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + torn_tail)
    return path


def lm_run(start=1, stop=11, offset=0.0):
    events = [{"event": "start", "resumed_at_step": 0}]
    for n in range(start, stop):
        events.append(step(n, 5.0 - 0.3 * n + offset))
        if n % 5 == 0:
            events.append(evaluation(n, loss=5.1 - 0.3 * n + offset, ppl=float(np.exp(5.1 - 0.3 * n))))
    return events


def test_resumed_run_is_one_continuous_curve(tmp_path):
    # interrupted after step 7 (checkpoint at step 5, the last validation): the resumed
    # process redoes steps 6-7, and the log must not show them twice
    first = lm_run(1, 8)
    resumed = [{"event": "start", "resumed_at_step": 5}] + [step(n, 5.0 - 0.3 * n) for n in range(6, 11)]
    resumed.append(evaluation(10, loss=2.1))
    path = write_log(tmp_path / "run.jsonl", first + resumed)
    runs = read_log(path)
    assert len(runs) == 1
    train, valid = runs[0].series("step", "loss")
    assert train.x == list(range(1, 11))
    assert valid.x == [5, 10] and valid.y == pytest.approx([3.6, 2.1])


def test_a_log_given_twice_holds_two_runs_and_a_torn_last_line_is_ignored(tmp_path):
    path = write_log(tmp_path / "a.jsonl", lm_run() + lm_run(offset=1.0), torn_tail='{"event": "st')
    runs = read_log(path)
    assert [r.name for r in runs] == ["a", "a #2"]
    series, title = chart_series([str(path)], "tokens", "loss")
    assert [s.label for s in series] == ["a train", "a valid", "a #2 train", "a #2 valid"]
    assert series[0].x[:2] == [100, 200] and title == "2 runs"


def test_a_diverged_run_plots_without_its_non_finite_points(cli, tmp_path):
    events = lm_run() + [step(11, float("nan")), evaluation(11, loss=float("inf")), step(12, 1.0)]
    path = write_log(tmp_path / "nan.jsonl", events)
    train, valid = read_log(path)[0].series("step", "loss")
    assert train.x[-2:] == [10, 12] and valid.x == [5, 10]
    result = cli("plot", path, "--width", "60")
    assert result.exit_code == 0 and "train" in result.stdout


@pytest.mark.parametrize("content, message", [
    ('{"event": "start"}\nnot json\n{"event": "start"}\n', "line 2"),
    ('{"event": "start"}\n', "no training steps"),
    ('[1, 2]\n', "not a training event"),
])
def test_bad_logs_are_one_line_errors(cli, tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert_one_line_error(cli("plot", path), message)


def test_plot_cli_errors(cli, tmp_path):
    assert_one_line_error(cli("plot", tmp_path / "missing.jsonl"), "does not exist")
    log = write_log(tmp_path / "lm.jsonl", lm_run())
    assert_one_line_error(cli("plot", log, "--y", "accuracy"), "has: loss, ppl")
    assert_one_line_error(cli("plot", log, "-o", tmp_path / "chart.gif"), "image format")
    assert_one_line_error(cli("plot", log, "-o", tmp_path / "nowhere" / "c.png"), "does not exist")


def test_terminal_chart_shows_both_runs_with_labels(cli, tmp_path):
    a = write_log(tmp_path / "small.jsonl", lm_run())
    b = write_log(tmp_path / "big.jsonl", lm_run(offset=-1.0))
    result = cli("plot", a, b, "--width", "90", env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    chart = result.stdout
    assert "\x1b[" not in chart  # NO_COLOR (and a pipe): no escape sequences
    for label in ("small train", "small valid", "big train", "big valid", "step", "loss"):
        assert label in chart
    assert max(len(line) for line in chart.splitlines()) <= 90
    # the y ticks span both runs: from the big run's last training loss (5.0 - 3.0 - 1.0) to the
    # small run's first (5.0 - 0.3)
    import re

    ticks = [float(m[1]) for m in re.finditer(r"^\s*(-?[\d.]+)┤", chart, re.M)]
    assert min(ticks) == pytest.approx(1.0) and max(ticks) == pytest.approx(4.7), ticks


def test_image_chart_holds_the_data_and_the_png_decodes(cli, tmp_path):
    from matplotlib.image import imread

    from rnntool.charts import line_figure
    from rnntool.curves import X_LABELS

    a = write_log(tmp_path / "a.jsonl", lm_run())
    b = write_log(tmp_path / "b.jsonl", lm_run(offset=0.5))
    series, title = chart_series([str(a), str(b)], "time", "ppl")
    fig = line_figure(series, X_LABELS["time"], "ppl", title)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a valid", "b valid"]  # ppl: validation only here
    assert ax.get_xlabel() == "training time (s)" and ax.get_ylabel() == "ppl"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [2.5, 5.0])
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.exp([5.1 - 1.5, 5.1 - 3.0]))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a valid", "b valid"]

    out = tmp_path / "cmp.png"
    result = cli("plot", a, b, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    pixels = imread(out)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # not a blank canvas
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".") or p.endswith(".tmp")]
    svg = tmp_path / "cmp.svg"
    assert cli("plot", a, "-o", svg, "--x", "tokens").exit_code == 0
    assert "<svg" in svg.read_text()[:500]


def test_series_are_thinned_for_charts_but_keep_their_ends():
    from rnntool.curves import Series

    s = Series("train", list(range(100_001)), [float(i) for i in range(100_001)]).thinned(1000)
    assert len(s.x) <= 1002 and s.x[0] == 0 and s.x[-1] == 100_000
    assert s.y == [float(x) for x in s.x]


def test_confusion_heatmap_and_reliability_diagram():
    from rnntool.charts import confusion_figure
    from rnntool.metrics import reliability_bins

    bins = reliability_bins([0.95, 0.92, 0.55, 0.6, 0.99], [1, 1, 0, 1, 1])
    assert bins["count"] == [1, 1, 1, 2]  # 15 bins: 0.55, 0.6, 0.92, then 0.95 and 0.99 together
    assert sum(bins["count"]) == 5
    fig = confusion_figure(["ham", "spam"], [[90, 10], [5, 45]], "t", bins)
    heat, reliability = fig.axes[0], fig.axes[2]  # axes[1] is the colour bar
    np.testing.assert_allclose(heat.get_images()[0].get_array(), [[0.9, 0.1], [0.1, 0.9]])
    assert sorted(t.get_text() for t in heat.texts) == ["10", "45", "5", "90"]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["ham", "spam"]
    model_line = reliability.get_lines()[1]
    np.testing.assert_allclose(model_line.get_xdata(), bins["confidence"])
    np.testing.assert_allclose(model_line.get_ydata(), bins["accuracy"])
    assert "ECE" in reliability.get_title()


def test_ece_is_the_weighted_gap_over_bins():
    from rnntool.metrics import expected_calibration_error, reliability_bins

    confidence = [0.95, 0.95, 0.55, 0.55]
    correct = [1, 0, 1, 1]
    # two bins: |0.5 - 0.95| and |1.0 - 0.55|, each half the predictions
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert reliability_bins(confidence, correct)["accuracy"] == [1.0, 0.5]


def test_eval_classifier_and_eval_tagger_plot(cli, tmp_path):
    from matplotlib.image import imread

    data = tmp_path / "sms.tsv"
    data.write_text("spam\tWINNER!! claim your free prize now\nham\tsee you at lunch tomorrow\n"
                    "ham\tok i will call you later\nspam\tURGENT you have won a cash award call now\n")
    out = tmp_path / "cm.png"
    result = cli("eval-classifier", data, "-m", "sms-spam", "--plot", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["reliability"]["ece"] == pytest.approx(scores["ece"])
    assert imread(out).shape[1] > 400  # two panels side by side
    tagged = tmp_path / "t.txt"
    tagged.write_text("The/DET dog/NOUN runs/VERB ./PUNCT\nA/DET cat/NOUN sleeps/VERB ./PUNCT\n")
    out2 = tmp_path / "tags.svg"
    result = cli("eval-tagger", tagged, "-m", "en-ewt-upos", "--plot", out2, "-q")
    assert result.exit_code == 0, result.output
    svg = out2.read_text()
    assert "DET" in svg and "PUNCT" in svg


def test_end_of_training_charts_for_each_kind():
    from rnntool.plots import TrainingCurves

    lm = TrainingCurves(limit=8)
    for e in lm_run(1, 31):
        lm(e)
    assert len(lm.run.steps) < 8 and lm.run.steps[-1]["step"] >= 28  # bounded, still reaching the end
    chart = lm.charts(color=False, width=70)
    assert "train" in chart and "valid" in chart and chart.count("loss") >= 2
    tagger = TrainingCurves()
    for n in range(1, 11):
        tagger(step(n, 1.0 / n))
        if n % 3 == 0:
            tagger(evaluation(n, accuracy=0.5 + n / 30))
    chart = tagger.charts(color=False, width=70)
    assert "valid accuracy" in chart  # no validation loss: its score in a second chart


def test_training_on_a_terminal_ends_with_the_curve(tmp_path):
    import pty

    text = tmp_path / "t.txt"
    text.write_text("".join(f"the cat number {i % 7} sat on the mat\n" for i in range(300)))
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnntool", "train-lm", str(text), "--emb", "8", "--hidden", "8",
                             "--batch-size", "4", "--bptt", "8", "--max-steps", "30", "--eval-every", "10",
                             "-o", str(tmp_path / "m.safetensors")],
                            stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    stderr = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, stderr
    table_end = stderr.rindex("parameters")
    chart = stderr[table_end:]
    assert "train" in chart and "valid" in chart and "step" in chart and "┤" in chart


def test_no_chart_when_stderr_is_not_a_terminal(cli, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("".join(f"the cat number {i % 7} sat on the mat\n" for i in range(300)))
    result = cli("train-lm", text, "--emb", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "8",
                 "--max-steps", "20", "--eval-every", "10", "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 0, result.output
    assert "┤" not in result.stderr and "best valid loss" in result.stderr


def test_bash_completion_offers_bundled_models_and_choices(tmp_path):
    (tmp_path / "mine.safetensors").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")

    def complete(words, cword):
        env = {**os.environ, "_RNNTOOL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        # completion is keyed on the program name, so run the installed console script
        script = os.path.join(os.path.dirname(sys.executable), "rnntool")
        out = subprocess.run([script], env=env, capture_output=True, text=True,
                             cwd=tmp_path, check=True)
        return out.stdout.split()

    assert complete("rnntool classify -m ", 3)[:2] == ["sms-spam", "ko-sentiment"]
    assert "mine.safetensors" in complete("rnntool classify -m ", 3)
    assert "notes.txt" not in complete("rnntool classify -m ", 3)
    assert complete("rnntool tag -m en", 3) == ["en-ewt-upos", "en-ewt-upos-accurate", "en-ewt-xpos"]
    assert complete("rnntool info s", 2) == ["shakespeare-char", "sms-spam"]
    assert complete("rnntool train-lm x --cell ", 4) == ["lstm", "gru", "rnn", "rnn-relu"]
    assert complete("rnntool plot a.jsonl --y ", 4)[:3] == ["loss", "ppl", "bpc"]
    # [MODEL] FILE: models first; once the model is known nothing, so the shell completes files
    assert complete("rnntool score s", 2) == ["shakespeare-char"]
    assert "mine.safetensors" in complete("rnntool eval-lm ", 2)
    assert complete("rnntool score shakespeare-char ", 3) == [] == complete("rnntool score -m shakespeare-char ", 4)
    assert complete("rnntool eval-lm shakespeare-char notes.txt ", 4) == []


def test_the_library_draws_what_rnntool_plot_draws(cli, tmp_path):
    import rnntool

    a = write_log(tmp_path / "a.jsonl", lm_run())
    text = rnntool.plots.plot_logs(a, x="step", y="loss", width=70, height=15)
    assert text + "\n" == cli("plot", a, "--width", "70", "--height", "15").stdout
    assert "train" in text and "valid" in text
    out = rnntool.plots.plot_logs([a], tmp_path / "a.svg", y="ppl")
    assert out == tmp_path / "a.svg" and "<svg" in out.read_text()[:500]
    with pytest.raises(rnntool.InputError, match="unknown y"):
        rnntool.plots.plot_logs(a, y="bleu")
    with pytest.raises(rnntool.RnntoolError, match="image format"):
        rnntool.plots.plot_logs(a, tmp_path / "a.gif")
    assert not (tmp_path / "a.gif").exists()


def test_plot_confusion_takes_an_evaluation_and_refuses_one_without_a_matrix(tmp_path):
    import rnntool

    data = tmp_path / "sms.tsv"
    data.write_text("spam\tWINNER!! claim your free prize now\nham\tsee you at lunch tomorrow\n")
    scores = rnntool.evaluate("sms-spam", data)
    out = rnntool.plots.plot_confusion(scores, tmp_path / "cm.svg")
    svg = out.read_text()
    assert "ham" in svg and "spam" in svg and "accuracy" in svg
    tagged = tmp_path / "t.txt"
    tagged.write_text("The/DET dog/NOUN runs/VERB ./PUNCT\n")
    plain = rnntool.evaluate("en-ewt-upos", tagged)
    with pytest.raises(rnntool.InputError, match="full_matrix=True"):
        rnntool.plots.plot_confusion(plain, tmp_path / "t.svg")
    full = rnntool.load("en-ewt-upos").evaluate(tagged, full_matrix=True)
    assert "DET" in rnntool.plots.plot_confusion(full, tmp_path / "t.svg", title="mine").read_text()
