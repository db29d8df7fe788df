"""Getting training data for a language model: a prepared corpus, or text prepared on the fly."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rnntool.text.corpus import PrepOptions, ids_sha256, is_prepared_corpus, load_corpus, prepare_corpus
from rnntool.text.sources import ProgressFn
from rnntool.text.subword import describe_subwords
from rnntool.text.tokenize import Tokenizer, TokenizerSettings
from rnntool.text.vocab import Vocab


MIN_VALID_TOKENS = 64  # a held-out tail shorter than this is not worth the text it takes from training


@dataclass
class LMData:
    train: np.ndarray  # memory-mapped
    valid: np.ndarray
    test: np.ndarray | None
    vocab: Vocab
    settings: TokenizerSettings
    data_sha256: str
    sources: list[str]
    corpus: object = None  # keeps a freshly prepared corpus's backing files alive
    notes: list[str] = field(default_factory=list)  # what was adapted to a tiny text, for the user


def encode_text_files(specs: list[str], settings: TokenizerSettings, vocab: Vocab, errors: str = "strict") -> np.ndarray:
    """Tokenize and encode with a fixed vocabulary (for --valid files with a prepared corpus, and eval)."""
    from rnntool.text.sources import TextSource

    tok = Tokenizer(settings)
    ids: list[int] = []
    for spec in specs:
        for line in TextSource(spec).lines(errors):
            ids.extend(vocab.encode(tok.tokenize(line)))
            ids.append(vocab.stoi.get(tok.line_end, vocab.unk_id))
    return np.asarray(ids, dtype=np.int64)


def load_lm_data(
    input_spec: str,
    opts: PrepOptions,
    valid_specs: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> LMData:
    """A prepared corpus directory is used as it is; text is prepared with ``opts``
    (vocabulary from the training part, validation from --valid files or the tail)."""
    valid_specs = valid_specs or []
    if is_prepared_corpus(input_spec):
        corpus = load_corpus(input_spec)
        valid = corpus.splits["valid"]
        if valid_specs:
            valid = encode_text_files(valid_specs, corpus.settings, corpus.vocab, opts.errors)
        test = corpus.splits.get("test")
        return LMData(corpus.splits["train"], valid, test if test is not None and len(test) else None,
                      corpus.vocab, corpus.settings, ids_sha256(corpus.splits["train"]), corpus.sources)
    corpus = prepare_corpus([input_spec], opts, valid_specs, progress=progress, small_ok=True)
    train, valid, notes = corpus.splits["train"], corpus.splits["valid"], []
    if corpus.settings.subword_model != opts.settings.subword_model:
        notes.append(f"learned {corpus.settings.tokenizer} subword pieces from {input_spec}: "
                     f"{describe_subwords(corpus.settings.subword_model)}")
    if not valid_specs and opts.valid_frac > 0 and len(valid) < MIN_VALID_TOKENS:
        # the tutorials' few sentences: a held-out tail of a handful of tokens measures nothing
        # and takes words away from the model and its vocabulary; train on all of it
        notes.append(f"the text ({len(train) + len(valid):,} tokens) is too small for a validation split of "
                     f"{opts.valid_frac} ({len(valid)} tokens); training on all of it and validating on the "
                     "training text (give more text or a --valid file to measure generalisation)")
        corpus = prepare_corpus([input_spec], replace(opts, valid_frac=0.0, settings=corpus.settings),
                                progress=progress, small_ok=True)  # the settings: a subword model learned once
        train = valid = corpus.splits["train"]
    elif len(valid) < 2:
        notes.append(f"the validation text has {len(valid)} tokens; validating on the training text")
        valid = train
    return LMData(train, valid, None, corpus.vocab, corpus.settings, ids_sha256(train), corpus.sources, corpus, notes)
