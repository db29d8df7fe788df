"""Option values are checked at parse time, by one shared set of validators: a bad
number is a usage error (exit 2) before any command runs."""

import pytest
import typer

from rnntool.cli import app


def leaves(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


def float_options():
    for path, command in leaves(typer.main.get_command(app)):
        arguments = ["x" for p in command.params if p.param_type_name == "argument" and p.required]
        for p in command.params:
            if p.param_type_name == "option" and p.type.name in ("float", "float range"):
                yield " ".join(path), arguments, p.opts[0]


FLOAT_OPTIONS = list(float_options())


def test_there_are_float_options_in_every_kind_of_command():
    commands = {c for c, _, _ in FLOAT_OPTIONS}
    assert {"prep", "generate", "train-lm", "train-tagger", "train-classifier", "classify"} <= commands


@pytest.mark.parametrize("command, arguments, option", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_option_refuses_non_finite_values(cli, command, arguments, option, value):
    result = cli(*command.split(), *arguments, option, value)
    assert result.exit_code == 2, (command, option, result.stderr)
    assert "not a finite number" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train-tagger", "x", "--dropout", "-1"], "-1 is too small: it must be >= 0"),
    (["train-lm", "x", "--dropout", "1"], "1 is too large: it must be < 1"),
    (["generate", "--top-p", "0"], "0 is too small: it must be > 0"),
    (["generate", "--temperature", "-0.5"], "-0.5 is too small"),
    (["prep", "x", "-o", "y", "--valid-frac", "1.5"], "1.5 is too large"),
    (["classify", "--threshold", "1"], "1 is too large: it must be < 1"),
    (["train-lm", "x", "--lr", "0"], "0 is too small: it must be > 0"),
    (["train-lm", "x", "--batch-size", "0"], "0 is not in the range x>=1"),
    (["train-classifier", "x", "--max-length", "-3"], "-3 is not in the range x>=1"),
])
def test_out_of_range_values_are_usage_errors(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


# --- every option is in its command's own source, and every shown default is the recipes' ----

import ast
import inspect
import math
import re
from dataclasses import MISSING, asdict, fields
from pathlib import Path

from rnntool import recipes
from rnntool.cli.options import SHARED

TRAIN_KINDS = {"train-lm": "lm", "train-tagger": "tagger", "train-classifier": "classifier"}
LEVELS = {"lm": ("char", "word"), "tagger": (None,), "classifier": ("word", "char")}
# Brackets that say how the input is read or where the output goes, not a training default.
NOT_RECIPES = {
    ("train-lm", "--output"), ("train-tagger", "--output"), ("train-classifier", "--output"),
    ("train-tagger", "--column"),  # the tagged-data reader's: upos for CoNLL-U, the last column otherwise
    ("train-classifier", "--format"), ("train-classifier", "--text-col"), ("train-classifier", "--label-col"),
    ("train-lm", "--level"), ("train-lm", "--tokenizer"),  # how text is read: test_train_lm_reading_defaults
    ("train-lm", "--vocab-size"), ("train-classifier", "--vocab-size"),  # SentencePiece's: tests/test_subword.py
}


def test_train_lm_reading_defaults_are_the_tokenizer_settings_defaults():
    from rnntool.text.tokenize import TokenizerSettings

    params = {p.name: p for p in typer.main.get_command(app).commands["train-lm"].params}
    for name in ("level", "tokenizer"):
        shown = re.search(r"\[default: (\w+); with --init-from, the model's\]", params[name].help)[1]
        assert shown == getattr(TokenizerSettings(), name)


def field_defaults(cls) -> dict:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def effective(kind: str, level: str | None) -> dict:
    """Every setting as the recipes resolve it when no option is given (the dataclass fills the rest)."""
    if kind == "lm":
        model, train = recipes.lm_configs(level, 100, None, None)
        return {**asdict(model), **asdict(train)}
    if kind == "tagger":
        from rnntool.tagging import TaggerConfig

        return {**field_defaults(TaggerConfig), **recipes.tagger_model_options(None),
                **asdict(recipes.tagger_train_config(None))}
    from rnntool.classification import ClassifierConfig

    return {**field_defaults(ClassifierConfig), **recipes.classifier_model_options(None, level),
            **asdict(recipes.classifier_train_config(None))}


def same(shown: str, actual) -> bool:
    if isinstance(actual, bool):
        return shown == ("yes" if actual else "no")
    if isinstance(actual, (int, float)):
        return math.isclose(float(shown.replace(",", "")), actual)
    return shown == actual


def per_level(kind: str, text: str) -> dict:
    """A bracket's value for each level: "V", "char V, word W" or "V; W at char level"."""
    if m := re.fullmatch(r"char (\S+), word (\S+)", text):
        return {"char": m[1], "word": m[2]}
    if m := re.fullmatch(r"(\S+); (\S+) at char level", text):
        return {"word": m[1], "char": m[2]}
    return dict.fromkeys(LEVELS[kind], text)


def check_run_time(kind: str, option: str, text: str) -> None:
    """A default chosen when the run starts: the rule the bracket states is the recipes' rule."""
    assert all(effective(kind, level)[option] is None for level in LEVELS[kind] if option == "eval_every")
    if option == "eval_every":
        limit = int(re.fullmatch(r"auto: min\(steps per epoch, ([\d,]+)\)", text)[1].replace(",", ""))
        assert limit == recipes.EVAL_EVERY_MAX
        loop = (Path(recipes.__file__).parent / "train" / "loop.py").read_text()
        fallback = re.search(r"cfg\.eval_every or min\(self\.steps_per_epoch, ([\w.]+)\)", loop)
        assert fallback and fallback[1] in (str(limit), "EVAL_EVERY_MAX", "recipes.EVAL_EVERY_MAX"), \
            "train/loop.py no longer validates as --eval-every's help says"
    elif (kind, option) == ("lm", "softmax"):
        size = int(re.fullmatch(r"auto: adaptive for word vocabularies of (\d+)\+, else full", text)[1])
        softmax = lambda level, vocab: recipes.lm_configs(level, vocab, None, None)[0].softmax  # noqa: E731
        assert (softmax("word", size - 1), softmax("word", size), softmax("char", size * 4)) == \
            ("full", "adaptive", "full")
    elif (kind, option) == ("lm", "tie"):
        assert text == "auto: at word level, when sizes allow"
        tie = lambda level, vocab, model=None: recipes.lm_configs(level, vocab, model, None)[0].tie  # noqa: E731
        word = recipes.LM_MODEL["word"]
        assert word["emb"] == word["hidden"] and tie("word", 100)
        assert not tie("word", recipes.ADAPTIVE_MIN_VOCAB) and not tie("word", 100, {"emb": word["hidden"] // 2})
        assert not tie("char", 100, {"emb": recipes.LM_MODEL["char"]["hidden"]})
    elif kind == "classifier" and option in ("min_word_freq", "word_emb"):
        m = re.fullmatch(r"auto: (\S+) below ([\d,]+) training tokens(?: of (\d+)\+ a text)?, else (\S+); "
                         r"word level", text)
        tokens = int(m[2].replace(",", ""))

        def chosen(n: int, texts: int = 100, words: bool = True):
            model, train, _ = recipes.classifier_choices(texts, n, None, None, words)
            return {**model, **train}.get(option)

        if m[3] is None:  # by the corpus size alone
            assert same(m[1], chosen(tokens - 1)) and same(m[4], chosen(tokens))
        else:  # and by the mean length of a text
            per_text = int(m[3])
            texts = (tokens - 1) // per_text
            assert same(m[1], chosen(texts * per_text, texts)) and same(m[4], chosen(texts * per_text - 1, texts))
            assert same(m[4], chosen(tokens, 1))  # long texts, but not a small corpus
        assert chosen(tokens - 1, words=False) is None  # characters or an LM's words: the recipe's own
    elif (kind, option) == ("classifier", "batch_size"):
        m = re.fullmatch(r"auto: (\d+) from ([\d,]+) training texts, else (\d+)", text)
        texts = int(m[2].replace(",", ""))
        chosen = lambda n: recipes.classifier_choices(n, 10**7, None, None)[1]["batch_size"]  # noqa: E731
        assert (chosen(texts), chosen(texts - 1)) == (int(m[1]), int(m[3]))
    elif (kind, option) == ("classifier", "lr"):
        m = re.fullmatch(r"auto: (\S+) from ([\d,]+) training texts, (\S+) under (\d+), else (\S+)", text)
        large, tiny = int(m[2].replace(",", "")), int(m[4])
        chosen = lambda n: recipes.classifier_choices(n, 10**7, None, None)[1]["lr"]  # noqa: E731
        assert same(m[1], chosen(large)) and same(m[5], chosen(large - 1)) and same(m[5], chosen(tiny))
        assert same(m[3], chosen(tiny - 1))
    elif (kind, option) == ("tagger", "patience"):
        m = re.fullmatch(r"auto: off with --max-time or --max-steps, else (\d+)", text)
        chosen = lambda train: recipes.tagger_train_config(  # noqa: E731
            recipes.tagger_choices(None, train, False)[1]).patience
        assert chosen(None) == int(m[1]) and chosen({"max_time": 60.0}) >= 10**6 and chosen({"max_steps": 9}) >= 10**6
        assert chosen({"max_time": 60.0, "patience": 3}) == 3  # what is given wins
    elif (kind, option) == ("classifier", "patience"):
        m = re.fullmatch(r"auto: (\d+) under ([\d,]+) dev texts, else (\d+); off under (\d+) training texts", text)
        small_dev, tiny = int(m[2].replace(",", "")), int(m[4])
        chosen = lambda n, dev=None: recipes.classifier_train_config(  # noqa: E731
            recipes.classifier_choices(n, 10**7, None, None, dev_texts=dev)[1]).patience
        assert chosen(tiny) == int(m[3]) and chosen(tiny - 1) >= 10**6 and chosen(tiny - 1, 5) >= 10**6
        assert chosen(10 * small_dev, small_dev - 1) == int(m[1]) and chosen(10 * small_dev, small_dev) == int(m[3])
    elif (kind, option) == ("classifier", "epochs"):
        m = re.fullmatch(r"auto: (\d+) below ([\d,]+) training texts, (\d+) updates' worth under (\d+), else "
                         r"(\d+); unbounded with --max-time/--max-steps", text)
        small, tiny = int(m[2].replace(",", "")), int(m[4])
        chosen = lambda n, train=None: recipes.classifier_choices(n, 10**7, None, train)[1].get("epochs")  # noqa: E731
        assert (chosen(small - 1), chosen(small), chosen(tiny)) == (int(m[1]), int(m[5]), int(m[1]))
        batch = recipes.CLASSIFIER_TRAIN["batch_size"]
        assert chosen(tiny - 1) * -(-(tiny - 1) // batch) >= int(m[3]) > (chosen(tiny - 1) - 1) * -(-(tiny - 1) // batch)
        assert chosen(10, {"max_time": 60.0}) is None and chosen(10, {"epochs": 3}) == 3
    elif (kind, option) == ("classifier", "tokenizer"):
        assert text == "auto: kiwi when most letters are Hangul and Kiwi is installed, unigram when only " \
                       "SentencePiece is, else treebank"
        pick = lambda share, kiwi, sp=True: recipes.choose_tokenizer(share, kiwi, sp)[0]  # noqa: E731
        assert (pick(0.51, True), pick(0.49, True), pick(0.49, False), pick(0.99, False), pick(0.99, False, False)) \
            == ("kiwi", "treebank", "treebank", "unigram", "treebank")
    elif (kind, option) == ("classifier", "pretrain"):
        m = re.fullmatch(r"auto: from ([\d,]+) training texts at word level, with --max-time (\d+) or more, "
                         r"of which the LM gets (\d+)%, where the ([\d,]+) most frequent words \(or --max-vocab\) are "
                         r"(\d+)% of the tokens", text)
        texts, seconds = int(m[1].replace(",", "")), int(m[2])
        assert int(m[3]) / 100 == recipes.PRETRAIN_SHARE and int(m[4].replace(",", "")) == recipes.PRETRAIN_MAX_VOCAB
        covered = int(m[5]) / 100

        def pick(n, level="word", t=seconds, coverage=covered):
            return recipes.choose_pretraining(None, n, level, t, None, None, 1, coverage=coverage)[0]

        assert pick(texts) and not pick(texts - 1) and not pick(texts, "char") and not pick(texts, t=seconds - 1)
        assert not pick(texts, coverage=covered - 0.01)
    else:
        raise AssertionError(f"train-{kind} --{option}: no check for the run-time default [{text}]")


def check_bracket(command: str, param, text: str) -> None:
    kind, option = TRAIN_KINDS[command], param.name
    if (command, param.opts[-1]) in NOT_RECIPES:
        return
    if option == "dev":  # "[default: (a stratified) 10% of TRAIN, see --dev-frac]"
        share = int(re.search(r"(\d+)% of TRAIN, see --dev-frac", text)[1]) / 100
        dev_frac = next(p for p in typer.main.get_command(app).commands[command].params if p.name == "dev_frac")
        assert math.isclose(share, dev_frac.default) and math.isclose(share, recipes.DEV_FRAC)
        return
    if text.startswith("auto:"):
        check_run_time(kind, option, text)
        return
    if option == "epochs":  # "[10, or unbounded with --max-time/--max-steps]"
        epochs, rest = text.split(", ", 1)
        assert rest == "or unbounded with --max-time/--max-steps"
        text = epochs
        for level in LEVELS[kind]:
            budget = {"max_time": 60.0}
            train = (recipes.lm_configs(level, 100, None, budget)[1] if kind == "lm" else
                     recipes.tagger_train_config(budget) if kind == "tagger" else recipes.classifier_train_config(budget))
            assert train.epochs is None
    if (kind, option) == ("lm", "lr"):  # "[char: adam/adamw 0.005, sgd 1; word: sgd 20, adam/adamw 0.002]"
        from rnntool.config import OPTIMIZERS

        for part in text.split("; "):
            level, rates = part.split(": ")
            shown = {name: rate for group in rates.split(", ") for names, rate in [group.split(" ")]
                     for name in names.split("/")}
            assert set(shown) == set(OPTIMIZERS), text
            assert next(iter(shown)) == effective("lm", level)["optimizer"]  # the level's own optimizer first
            for optimizer, rate in shown.items():
                assert same(rate, recipes.lm_configs(level, 100, None, {"optimizer": optimizer})[1].lr), (level, optimizer)
        return
    values = per_level(kind, text)
    assert set(values) == set(LEVELS[kind]), (command, option, text)
    for level, shown in values.items():
        actual = effective(kind, level)[option]
        assert same(shown, actual), f"{command} {param.opts[-1]} shows [{text}]; the recipes give {actual!r} ({level})"


def shown_defaults():
    root = typer.main.get_command(app)
    for command in TRAIN_KINDS:
        for param in root.commands[command].params:
            for text in re.findall(r"\[([^\[\]]*)\]", getattr(param, "help", None) or ""):
                yield command, param, text


SHOWN = list(shown_defaults())


def test_the_defaults_shown_cover_every_kind_specific_option():
    options = {(c, p.name) for c, p, _ in SHOWN}
    assert {("train-lm", o) for o in ("emb", "bptt", "tie", "softmax", "valid_tokens", "hidden", "lr")} <= options
    assert {("train-tagger", o) for o in ("char_filters", "word_emb", "min_word_freq", "lm_loss", "crf")} <= options
    assert {("train-classifier", o) for o in ("pool", "bidirectional", "word_emb", "char_filters", "case_emb",
                                               "min_word_freq", "max_length", "class_weight", "calibrate",
                                               "threshold", "dropout", "patience")} <= options


@pytest.mark.parametrize("command, param, text", SHOWN, ids=[f"{c} {p.opts[-1]} [{t}]" for c, p, t in SHOWN])
def test_every_default_a_train_help_shows_is_what_the_recipes_resolve_to(command, param, text):
    check_bracket(command, param, text)


def test_a_help_text_that_disagrees_with_the_recipes_is_caught():
    hidden = next(p for c, p, _ in SHOWN if c == "train-tagger" and p.name == "hidden")
    with pytest.raises(AssertionError):
        check_bracket("train-tagger", hidden, str(recipes.TAGGER_MODEL["hidden"] + 1))
    emb = next(p for c, p, _ in SHOWN if c == "train-lm" and p.name == "emb")
    with pytest.raises(AssertionError):
        check_bracket("train-lm", emb, "char 64, word 64")


def test_train_lm_holds_out_the_recipes_share():
    valid_frac = next(p for p in typer.main.get_command(app).commands["train-lm"].params if p.name == "valid_frac")
    assert valid_frac.default == recipes.VALID_FRAC


def test_model_configuration_defaults_are_the_recipes():
    from rnntool.arch import LMConfig
    from rnntool.classification import ClassifierConfig
    from rnntool.tagging import TaggerConfig

    for cls, recipe in ((LMConfig, recipes.LM_MODEL["char"]), (TaggerConfig, recipes.TAGGER_MODEL),
                        (ClassifierConfig, recipes.CLASSIFIER_MODEL)):
        defaults = field_defaults(cls)
        assert {k: defaults.get(k) for k in recipe} == recipe, cls.__name__


CLI_FILES = {name: Path(__file__).resolve().parent.parent / "rnntool" / "cli" / f"{name}.py"
             for name in ("lm", "tagger", "classifier")}


def test_every_option_is_a_parameter_of_its_command_function_in_its_own_source():
    """No signature rewriting: what `rnntool CMD --help` lists is what the function in
    cli/lm.py, cli/tagger.py or cli/classifier.py declares, in the same order."""
    root = typer.main.get_command(app)
    seen = set()
    for name, path in CLI_FILES.items():
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for path_, command in leaves(root):
            command_name = " ".join(path_)
            chain = [command.callback]
            while hasattr(chain[-1], "__wrapped__"):
                chain.append(chain[-1].__wrapped__)
            func = chain[-1]
            if Path(inspect.getsourcefile(func)).resolve() != path.resolve():
                continue
            seen.add(command_name)
            assert not any("__signature__" in vars(f) for f in chain), command_name
            source_args = [a.arg for a in (*functions[func.__name__].args.args, *functions[func.__name__].args.kwonlyargs)]
            assert [p.name for p in command.params] == source_args == list(inspect.signature(func).parameters), \
                command_name
    assert set(TRAIN_KINDS) | {"classify", "eval-classifier", "tag", "eval-tagger", "eval-lm", "score"} <= seen


def test_shared_training_options_read_alike_in_every_train_command():
    root = typer.main.get_command(app)
    names = [s.name for s in SHARED]
    declared = {}
    for command in TRAIN_KINDS:
        params = {p.name: p for p in root.commands[command].params}
        assert set(names) <= set(params), command
        declared[command] = [(n, params[n].opts, params[n].secondary_opts, params[n].type.name, params[n].default,
                              params[n].metavar, re.sub(r" ?\[[^\[\]]*\]", "", params[n].help)) for n in names]
    assert declared["train-lm"] == declared["train-tagger"] == declared["train-classifier"]


def test_the_public_defaults_are_what_the_commands_use():
    import rnntool
    from rnntool import defaults, recipes

    assert rnntool.defaults is defaults
    assert dict(defaults.GENERATION) == recipes.GENERATION
    with pytest.raises(TypeError):
        defaults.GENERATION["temperature"] = 2.0  # read-only: nobody changes a default for everyone by accident
    assert defaults.resolved("classifier", "word") == recipes.resolved_defaults("classifier", "word")
    assert defaults.resolved("lm", "char")["hidden"] == recipes.LM_MODEL["char"]["hidden"]
    assert {v for v, _ in defaults.model_variables()} == {"RNNTOOL_LM", "RNNTOOL_TAGGER", "RNNTOOL_CLASSIFIER"}
    assert "max" in defaults.POOLS and "lstm" in defaults.CELLS
