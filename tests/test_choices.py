"""Defaults chosen from the data: a plain train-classifier looks at its training texts and
settles the tokenizer, the embedding size and cut-off, the batch size, learning rate and
epochs; it says so in one note line each, records it in the model header, and keeps every
option the user gives."""

import json

import pytest

import rnntool
from rnntool import recipes

KOREAN = ["1\t이 영화 정말 재미있어요 최고입니다", "0\t시간 낭비였어요 너무 지루했습니다",
          "1\t배우들의 연기가 훌륭했어요", "0\t다시는 보고 싶지 않은 영화"]
ENGLISH = ["pos\ta wonderful film", "neg\ta terrible film", "pos\tloved every minute", "neg\thated every minute"]


def write(path, lines, times=10):
    path.write_text("\n".join(lines * times) + "\n", encoding="utf-8")
    return path


def train(path, tmp_path, **options):
    events = []
    options = {"max_steps": 2, "hidden": 16, "device": "cpu", **options}
    result = rnntool.train_classifier(path, tmp_path / "m.safetensors", on_event=events.append, **options)
    notes = [e["message"] for e in events if e["event"] == "note"]
    return result, notes


def chosen(result) -> dict:
    return {k: v for c in result.summary["choices"] for k, v in c["options"].items()}


def test_hangul_text_picks_kiwi_morphemes_and_the_header_records_why(tmp_path):
    pytest.importorskip("kiwipiepy")
    result, notes = train(write(tmp_path / "ko.tsv", KOREAN), tmp_path)
    assert chosen(result)["tokenizer"] == "kiwi"
    model = rnntool.load(result.model_path)
    assert model.header["config"]["tokenizer"]["tokenizer"] == "kiwi"
    assert model.header["training"]["choices"] == result.summary["choices"]
    assert any(n.startswith("chose --tokenizer kiwi from the data (100% of the letters are Hangul") for n in notes)


def test_hangul_without_kiwi_learns_subword_pieces_and_says_how_to_get_kiwi(tmp_path, monkeypatch):
    pytest.importorskip("sentencepiece")
    monkeypatch.setattr("rnntool.train.classifier.find_spec", lambda name: None if name == "kiwipiepy" else object())
    result, notes = train(write(tmp_path / "ko.tsv", KOREAN), tmp_path)
    assert chosen(result)["tokenizer"] == "unigram"
    model = rnntool.load(result.model_path)
    assert model.header["config"]["tokenizer"]["subword_model"]  # the pieces ride in the model file
    assert any("subword pieces" in n and 'pip install "rnntool[ko]"' in n for n in notes)
    assert model.classify("이 영화 정말 재미있어요").label in {"0", "1"}


def test_hangul_without_kiwi_or_sentencepiece_splits_eojeol_and_says_how_to_do_better(tmp_path, monkeypatch):
    monkeypatch.setattr("rnntool.train.classifier.find_spec", lambda name: None)
    result, notes = train(write(tmp_path / "ko.tsv", KOREAN), tmp_path)
    assert chosen(result)["tokenizer"] == "treebank"
    assert any('neither Kiwi nor SentencePiece' in n and 'pip install "rnntool[ko]"' in n for n in notes)


def test_english_text_keeps_treebank_words(tmp_path):
    result, _ = train(write(tmp_path / "en.tsv", ENGLISH), tmp_path)
    assert chosen(result)["tokenizer"] == "treebank"


def test_a_small_set_gets_every_word_embedded_and_the_small_set_training(tmp_path):
    result, notes = train(write(tmp_path / "en.tsv", ENGLISH, times=30), tmp_path, max_steps=None, epochs=None,
                          max_time=None)
    config = rnntool.load(result.model_path).header["config"]
    assert config["word_emb"] == chosen(result)["word_emb"] == recipes.CLASSIFIER_MODEL["word_emb"]  # short texts
    assert "wonderful" in rnntool.info(result.model_path).header["config"]["words"]  # seen 10 times, kept either way
    train_config = rnntool.load(result.model_path).header["training"]["train_config"]
    assert train_config["min_word_freq"] == 1 and train_config["batch_size"] == recipes.CLASSIFIER_TRAIN["batch_size"]
    assert train_config["epochs"] == recipes.SMALL_SET_EPOCHS  # no budget given: up to 40, early stopping decides
    assert train_config["patience"] == recipes.SMALL_DEV_PATIENCE  # a dev split of 12 texts
    assert sum(n.startswith("chose ") for n in notes) == 5  # tokenizer, embeddings, batch and rate, patience, epochs


def test_explicit_options_always_win_and_are_not_called_choices(tmp_path):
    result, notes = train(write(tmp_path / "en.tsv", ENGLISH), tmp_path, tokenizer="whitespace", word_emb=24,
                          min_word_freq=3, batch_size=8, lr=0.01, patience=3)
    config = rnntool.load(result.model_path).header
    assert config["config"]["word_emb"] == 24 and config["config"]["tokenizer"]["tokenizer"] == "whitespace"
    assert config["training"]["train_config"]["min_word_freq"] == 3
    assert config["training"]["train_config"]["batch_size"] == 8 and config["training"]["train_config"]["lr"] == 0.01
    assert "choices" not in result.summary or not result.summary["choices"]
    assert not [n for n in notes if n.startswith("chose ")]


def test_a_tiny_set_trains_as_a_tiny_text_does(tmp_path):
    model, train_opts, made = recipes.classifier_choices(14, 150, None, None)
    assert train_opts["lr"] == recipes.TINY_SET["lr"] and train_opts["patience"] >= 10**6
    assert train_opts["epochs"] == recipes.TINY_UPDATES  # 14 texts: one batch, one update an epoch
    assert recipes.classifier_choices(14, 150, None, {"batch_size": 4})[1]["epochs"] == 75  # 4 batches an epoch
    assert recipes.classifier_choices(14, 150, None, {"lr": 0.5})[1]["patience"] >= 10**6  # the rest still chosen


def test_a_small_dev_set_waits_longer_for_a_new_best_unless_patience_is_given():
    small = recipes.SMALL_DEV_TEXTS - 1
    assert recipes.classifier_choices(5_000, 500_000, None, {"max_time": 600}, dev_texts=small)[1]["patience"] \
        == recipes.SMALL_DEV_PATIENCE
    assert "patience" not in recipes.classifier_choices(50_000, 5_000_000, None, None, dev_texts=small + 1)[1]
    assert recipes.classifier_choices(5_000, 500_000, None, {"patience": 2}, dev_texts=small)[1]["patience"] == 2
    _, _, made = recipes.classifier_choices(5_000, 500_000, None, None, dev_texts=549)
    assert any(c.options == {"patience": 10} and "549 dev texts" in c.because for c in made)


def test_a_small_corpus_of_long_texts_gets_larger_embeddings_short_texts_the_usual():
    at = recipes.LONG_TEXT_TOKENS
    long_model, long_train, made = recipes.classifier_choices(1_000, 1_000 * at, None, None)
    assert long_model["word_emb"] == recipes.LONG_TEXT_WORD_EMB and long_train["min_word_freq"] == 1
    assert f"{at:.1f} tokens a text, {at} or more, so larger embeddings" in made[0].because
    short_model, short_train, made = recipes.classifier_choices(1_000, 1_000 * at - 1, None, None)
    assert short_model["word_emb"] == recipes.CLASSIFIER_MODEL["word_emb"] < recipes.LONG_TEXT_WORD_EMB
    assert short_train["min_word_freq"] == 1
    assert f"{at - 0.1:.1f} tokens a text, under {at}, so the usual embeddings" in made[0].because  # floored
    # a large corpus keeps the usual size and cut-off however long its texts
    big_model, big_train, _ = recipes.classifier_choices(1_000, recipes.SMALL_CORPUS_TOKENS * 2, None, None)
    assert big_model["word_emb"] == recipes.CLASSIFIER_MODEL["word_emb"]
    assert big_train["min_word_freq"] == recipes.CLASSIFIER_TRAIN["min_word_freq"] > 1
    given, _, made = recipes.classifier_choices(1_000, 1_000 * at, {"word_emb": 64}, None)
    assert given["word_emb"] == 64 and made[0].options == {"min_word_freq": 1}
    assert "tokens a text" not in made[0].because  # the size was not chosen, so no reason for it


def test_a_half_given_rule_chooses_only_the_rest():
    model, train_opts, made = recipes.classifier_choices(100_000, 50, {"word_emb": 32}, {"lr": 0.01})
    assert model["word_emb"] == 32 and train_opts["min_word_freq"] == 1
    assert train_opts["lr"] == 0.01 and train_opts["batch_size"] == recipes.LARGE_SET["batch_size"]
    assert [c.options for c in made] == [{"min_word_freq": 1}, {"batch_size": 64}, {"epochs": 10}]


def test_large_sets_get_larger_batches(tmp_path):
    _, train_opts, made = recipes.classifier_choices(recipes.LARGE_SET_TEXTS, 5_000_000, None, {"max_time": 600})
    assert (train_opts["batch_size"], train_opts["lr"]) == (64, 3e-3)
    assert train_opts["min_word_freq"] == recipes.CLASSIFIER_TRAIN["min_word_freq"]
    assert "epochs" not in train_opts  # a budget was given


def test_char_level_and_init_from_choose_no_word_sizes():
    model, train_opts, made = recipes.classifier_choices(100, 50, None, None, words=False)
    assert "word_emb" not in model and "min_word_freq" not in train_opts


def test_the_choices_survive_a_resume(tmp_path):
    import os
    import signal

    data = write(tmp_path / "en.tsv", ENGLISH, times=40)

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(rnntool.TrainingInterrupted) as stopped:
        rnntool.train_classifier(data, tmp_path / "m.safetensors", hidden=16, device="cpu", max_steps=50,
                                 on_event=interrupt)
    first = stopped.value.result
    assert first.summary["choices"]
    resumed, notes = train(data, tmp_path, max_steps=4, resume=first.checkpoint)
    assert resumed.summary["choices"] == first.summary["choices"]
    assert json.dumps(rnntool.info(resumed.model_path).header["training"]["choices"]) == \
        json.dumps(first.summary["choices"])
    assert not [n for n in notes if n.startswith("chose ")]  # said once, when chosen


def test_hangul_share_counts_letters_only():
    assert recipes.hangul_share(["안녕 hi 123 !!"]) == pytest.approx(0.5)
    assert recipes.hangul_share(["", "   "]) == 0.0


def test_info_shows_the_choices(cli, tmp_path):
    result, _ = train(write(tmp_path / "en.tsv", ENGLISH), tmp_path)
    shown = cli("info", result.model_path).stdout
    assert "chosen when the run started:" in shown and "--min-word-freq 1 --word-emb 100 (" in shown


def test_pretrain_trains_a_language_model_first_and_starts_the_classifier_from_it(tmp_path):
    data = write(tmp_path / "en.tsv", ENGLISH, times=30)
    result, notes = train(data, tmp_path, max_steps=None, max_time=6, pretrain=True, seed=1)
    lm_path = tmp_path / "m.lm.safetensors"
    pre = result.summary["pretraining"]
    assert pre["model"] == str(lm_path) and lm_path.exists() and pre["steps"] >= 1
    lm = rnntool.load(lm_path)
    assert lm.level == "word"
    header = rnntool.info(result.model_path).header
    assert header["training"]["pretraining"]["model"] == str(lm_path)
    assert header["config"]["bidirectional"] is False  # the LM's shape: forward only
    assert header["config"]["hidden"] == 16 and lm.header["config"]["hidden"] == 16  # the shape given goes to the LM
    assert header["config"]["words"] == list(lm.header["vocab"]["tokens"])
    # the classifier got the rest of the budget, not all of it
    assert header["training"]["train_config"]["max_time"] == pytest.approx(6 - pre["seconds"])
    assert any(n.startswith("pretraining a word language model on the") for n in notes)


def test_pretraining_is_chosen_for_large_sets_with_time_to_share():
    choose = recipes.choose_pretraining
    big = recipes.PRETRAIN_MIN_TEXTS
    assert choose(None, big, "word", 600, None, None, 1)[0]
    assert choose(None, big, "word", 600, None, None, 1)[1].options == {"pretrain": True}
    assert choose(None, big - 1, "word", 600, None, None, 1) == (False, None)  # small: nothing to say
    off, why = choose(None, big, "word", None, None, None, 1)
    assert not off and "needs --max-time" in why.because and why.flags() == "--no-pretrain"
    assert not choose(None, big, "word", 600, None, "lm.safetensors", 1)[0]
    assert not choose(None, big, "word", 600, None, None, 2)[0]
    assert choose(False, big, "word", 600, None, None, 1) == (False, None)  # --no-pretrain: no note either
    with pytest.raises(rnntool.InputError, match="--pretrain: .*--max-time"):
        choose(True, 10, "word", None, None, None, 1)
    with pytest.raises(rnntool.InputError, match="--pretrain: a character-level"):
        choose(True, 10, "char", 60, None, None, 1)
    # options an LM start cannot honour: auto stays off and says why; --pretrain refuses them
    off, why = choose(None, big, "word", 600, None, None, 1, recipes.lm_start_conflicts({"bidirectional": True}))
    assert not off and "--bidirectional cannot start from a language model" in why.because
    assert recipes.lm_start_conflicts({"bidirectional": False, "char_filters": 0, "hidden": 64, "pool": "mean"}) == []
    with pytest.raises(rnntool.InputError, match="--char-filters 32 cannot start"):
        choose(True, big, "word", 600, None, None, 1, recipes.lm_start_conflicts({"char_filters": 32}))


def test_pretraining_is_left_out_where_the_language_model_would_not_know_most_words(tmp_path, monkeypatch):
    """A word LM's start drops the character CNN: where its vocabulary covers under
    PRETRAIN_MIN_COVERAGE of the training tokens (eojeol words of Korean: 70% for NSMC), the
    plain command does not pretrain, and says why; --pretrain still does."""
    choose = recipes.choose_pretraining
    big, least = recipes.PRETRAIN_MIN_TEXTS, recipes.PRETRAIN_MIN_COVERAGE
    off, why = choose(None, big, "word", 600, None, None, 1, coverage=0.698)
    assert not off and why.flags() == "--no-pretrain" and "cover only 70% of their tokens (under 90%)" in why.because
    assert choose(None, big, "word", 600, None, None, 1, coverage=least)[0]  # at the bound: pretrained
    assert choose(True, big, "word", 600, None, None, 1, coverage=0.5) == (True, None)  # asked for: done
    from rnntool.train.classifier import vocabulary_coverage

    counts = {"a": 6, "b": 3, "c": 1}  # a vocabulary of 5 is the 3 reserved symbols and 2 words
    assert vocabulary_coverage(counts, 1, 5) == pytest.approx(0.9) == vocabulary_coverage(counts, 2, 100)
    assert vocabulary_coverage(counts, 1, 6) == 1.0 and vocabulary_coverage({}, 1, 5) == 1.0
    # through train_classifier (--max-vocab sets the LM's vocabulary too): every text's words
    # distinct but one, a two-word vocabulary -> no LM trained
    monkeypatch.setattr(recipes, "PRETRAIN_MIN_TEXTS", 10)
    data = write(tmp_path / "rare.tsv", [f"{'pos' if i % 2 else 'neg'}\tword{i} other{i} film" for i in range(40)], 1)
    result, notes = train(data, tmp_path, max_steps=None, max_time=300, epochs=1, max_vocab=5)
    assert chosen(result)["pretrain"] is False and not (tmp_path / "m.lm.safetensors").exists()
    assert any("the language model's vocabulary would cover only" in n for n in notes), notes


def test_pretrain_without_a_time_budget_is_a_one_line_error(cli, tmp_path):
    data = write(tmp_path / "en.tsv", ENGLISH)
    result = cli("train-classifier", data, "--pretrain", "--epochs", "1", "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 1
    assert "--pretrain: pretraining shares --max-time" in result.stderr
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "m.lm.safetensors").exists()


def test_char_lm_taggers_get_the_smaller_shape_unless_told_otherwise():
    model, train, made = recipes.tagger_choices({"hidden": None, "crf": True}, {"lm_loss": None, "seed": 1}, True)
    assert {**model, **train} == {"crf": True, "seed": 1, **recipes.CHAR_LM_TAGGER}
    assert len(made) == 1 and made[0].flags() == "--hidden 128 --char-filters 64 --dropout 0.33 --lm-loss 0"
    assert made[0].note().startswith("chose --hidden 128 --char-filters 64 --dropout 0.33 --lm-loss 0 for --char-lm (")
    model, train, made = recipes.tagger_choices({"hidden": 300}, {"lm_loss": 0.5}, True)  # what is given wins
    assert model["hidden"] == 300 and train["lm_loss"] == 0.5 and "hidden" not in made[0].options
    assert made[0].options == {"char_filters": 64, "dropout": 0.33}
    given = {k: v for k, v in recipes.CHAR_LM_TAGGER.items() if k != "lm_loss"}
    assert recipes.tagger_choices(given, {"lm_loss": 0.1}, True)[2] == []  # nothing left to choose, nothing said
    assert recipes.tagger_choices({"hidden": None}, None, False) == ({}, {}, [])  # no --char-lm: the defaults


def test_a_tagger_with_a_budget_does_not_stop_early_unless_patience_is_given(tmp_path):
    """Under --max-time or --max-steps the schedule runs to the budget's end: no early stopping
    is chosen (said, recorded); without a budget, or with --patience given, patience stops it."""
    sentence = "Alice\tB-PER\nsaw\tO\nBob\tB-PER\n.\tO\n\n"
    data = tmp_path / "ner.txt"
    data.write_text(sentence * 12)

    def run(**options):
        events = []
        result = rnntool.train_tagger(data, tmp_path / "t.safetensors", dev=data, hidden=8, char_filters=4,
                                      word_emb=8, eval_every=1, device="cpu", precision="fp32", seed=1,
                                      on_event=events.append, **options)
        return result, [e["message"] for e in events if e["event"] == "note"]

    result, notes = run(max_steps=40)
    assert result.summary["steps"] == 40  # every validation after the first perfect one was "no better"
    assert chosen(result) == {"patience": recipes.BUDGET_PATIENCE}
    assert [n for n in notes if n.startswith(f"chose --patience {recipes.BUDGET_PATIENCE} for the budget (--max-steps:")]
    assert rnntool.load(result.model_path).header["training"]["train_config"]["patience"] == recipes.BUDGET_PATIENCE
    result, notes = run(max_steps=40, patience=2)
    assert result.summary["steps"] < 40 and not result.summary.get("choices")
    result, notes = run(epochs=40)  # no budget: the recipe's patience ends it
    assert result.summary["steps"] < 40 and not [n for n in notes if "--patience" in n]
