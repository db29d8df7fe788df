"""Starting a model from what another already knows (``--init-from``).

A language model continued on new text keeps its architecture, tokenizer and every
vocabulary entry (so its ids, embedding rows and output rows stay where they were); the
new text's types it lacks are appended after them, their rows started from the mean of
the old ones (an unseen token starts as the average known one, not as noise the rest of
the network has never seen). Classifiers start their encoder from a language model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from rnntool.arch import LMConfig
from rnntool.errors import InputError, RnntoolError
from rnntool.text.tokenize import SPECIALS, TokenizerSettings
from rnntool.text.vocab import Vocab

# what a continued model takes from the model it starts from, by model option
ARCHITECTURE = ("cell", "layers", "hidden", "emb", "tie", "softmax", "reverse")


@dataclass
class LMStart:
    """A language model to start from: its file's name, architecture, vocabulary, tokenizer
    and weights (float32 numpy arrays, by the model file's names)."""

    name: str
    cfg: LMConfig
    vocab: Vocab
    settings: TokenizerSettings
    tensors: dict[str, np.ndarray]

    @classmethod
    def load(cls, spec: str | os.PathLike) -> "LMStart":
        """A language model file or bundled name; another kind of model is a one-line error."""
        from rnntool.modelfile import load_model
        from rnntool.userstate import locate

        spec = os.fspath(spec)
        lm = load_model(locate(spec), kind="lm")
        return cls(spec, LMConfig.from_dict(lm.config), Vocab.from_dict(lm.header["vocab"]),
                   TokenizerSettings.from_dict(lm.header["tokenizer"]), lm.tensors)

    def tokenizer_settings(self, given: dict) -> TokenizerSettings:
        """The model's tokenizer; a setting given that differs from it is an error (the
        model's ids mean its own tokens)."""
        own = self.settings.to_dict()
        for key, value in given.items():
            if value is not None and own.get(key) != value:
                flag = "--lower" if key == "lower" else f"--{key.replace('_', '-')} {value}"
                raise InputError(f"{self.name} reads text with {key} {own.get(key)!r}; a model started from it "
                                 f"keeps its tokenizer: drop {flag}")
        return self.settings

    def model_config(self, vocab_size: int, given: dict) -> LMConfig:
        """The model's architecture for ``vocab_size`` types; an architecture option given that
        differs from the model's is an error, dropout may change."""
        own = self.cfg.to_dict()
        for key in ARCHITECTURE:
            value = given.get(key)
            if value is not None and own.get(key) != value:
                flag = f"--{'no-' if value is False else ''}{key}" + ("" if isinstance(value, bool) else f" {value}")
                raise InputError(f"{self.name} has {key} {own.get(key)!r}; a model started from it keeps its "
                                 f"architecture: drop {flag}")
        dropout = given.get("dropout")
        return LMConfig.from_dict({**own, "vocab_size": vocab_size,
                                   **({"dropout": dropout} if dropout is not None else {})})

    def extended_vocab(self, new: Vocab, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """The model's vocabulary, then the types of ``new`` (a text's own vocabulary, every
        type in it, by frequency) that it lacks and that occur at least ``min_freq`` times,
        up to ``max_size`` entries in all; counts are the new text's."""
        tokens = list(self.vocab.itos)
        counts = [new.counts[new.stoi[t]] if t in new.stoi else 0 for t in tokens]
        room = None if max_size is None else max(0, max_size - len(tokens))
        for token, count in zip(new.itos, new.counts):
            if room is not None and room <= 0:
                break
            if token not in self.vocab.stoi and count >= min_freq:
                tokens.append(token)
                counts.append(count)
                if room is not None:
                    room -= 1
        return Vocab(tokens, counts)

    def weights_for(self, cfg: LMConfig) -> dict[str, np.ndarray]:
        """The model's tensors for a model of ``cfg`` (the same architecture, its vocabulary
        ``extended_vocab``): rows of the appended types are the mean of the old rows."""
        old, new = self.cfg.vocab_size, cfg.vocab_size
        out = {}
        for name, tensor in self.tensors.items():
            if not _has_vocab_rows(name, self.cfg) or new == old:
                out[name] = tensor
                continue
            mean = tensor.mean(axis=0, keepdims=True)
            out[name] = np.concatenate([tensor, np.repeat(mean, new - old, axis=0)]).astype(np.float32)
        return out


    # what an encoder started from it takes (LMPair answers the same for two models)
    bidirectional = False

    @property
    def emb(self) -> int:
        return self.cfg.emb

    def vocabulary(self) -> list[str]:
        return list(self.vocab.itos)

    def word_embedding_size(self, given: int | None) -> int:
        """An encoder's word embedding size when its words start from this model's: the
        model's (a word model; a different size given is an error)."""
        if self.settings.level != "word":
            raise InputError(f"{self.name} is a character model; a tagger starts its word embeddings from a "
                             "word-level language model (rnntool train-lm TEXT --level word)")
        if given is not None and given != self.cfg.emb:
            raise InputError(f"{self.name} has word embeddings of {self.cfg.emb}; a model started from it keeps "
                             f"them: drop --word-emb {given}")
        return self.cfg.emb

    def encoder_words(self, words: list[str], normalize) -> list[str]:
        """An encoder's vocabulary ``words`` followed by this model's most frequent words it
        lacks (``extend_words``)."""
        return extend_words(words, self.vocab.itos, normalize)

    def encoder_weights(self, words: list[str], normalize, state: dict[str, np.ndarray],
                        layers: list[tuple[str, str | None]], cell: str | None = None,
                        columns: "InputColumns | None" = None) -> tuple[dict[str, np.ndarray], list[str]]:
        """``state`` (an encoder's tensors; its recurrent ``cell``) with what this model can
        give: its word embedding rows (``set_word_rows``), and for each of ``layers`` (the
        encoder's recurrent layers, bottom up, as the names of their forward and backward
        directions' tensors, ``"rnn.0.{}_l0"`` for rnn.0.weight_ih_l0 ..., the backward one None
        in a one-directional encoder) this model's layer of the same depth, into the direction
        that reads as it does, where cell and size agree -- of its input weights the columns of
        the word embedding, the first inputs of the encoder's first layer, unless ``columns``
        (an LMPair's) places it elsewhere. And what was taken, in words."""
        columns = columns or InputColumns()
        out = dict(state)
        found = len(set_word_rows(out, words, self.vocab.itos, self.tensors["embedding.weight"], normalize,
                                  first_column=columns.embedding))
        taken = [f"the embeddings of {found:,} of {len(words):,} words"]
        direction = "backward" if self.cfg.reverse else "forward"
        names = [pair[1 if self.cfg.reverse else 0] for pair in layers]
        done = 0
        cell = cell or self.cfg.cell
        for depth, name in enumerate(names[: self.cfg.layers] if cell == self.cfg.cell else []):
            if name is None or not _take_layer(out, name, self.tensors, depth,
                                               columns.embedding if depth == 0 else columns.below, columns.only_own):
                break  # another cell or size: nothing of this layer (nor of those above) fits
            done += 1
        if done:
            taken.append(f"{'its first' if done == 1 else f'{done}'} recurrent layer{'s' if done > 1 else ''} "
                         f"({direction})")
        elif names and names[0] is None:
            taken.append("no recurrent layer (it reads right to left, and this encoder only left to right)")
        else:
            taken.append(f"no recurrent layer (its {self.cfg.cell} of {self.cfg.hidden} does not fit a {cell} "
                         f"of {state[names[0].format('weight_hh')].shape[1]})" if names else "no recurrent layer")
        return out, taken


@dataclass(frozen=True)
class InputColumns:
    """Where a language model's inputs enter an encoder's layers: its word embedding at
    column ``embedding`` of the encoder's embedding and of its first layer's input weights,
    the layer below's states at column ``below`` of the others'; ``only_own``: the other
    columns of the layers it fills start at zero (each direction of an LMPair's encoder
    starts as exactly its own model)."""

    embedding: int = 0
    below: int = 0
    only_own: bool = False


def _take_layer(out: dict[str, np.ndarray], name: str, theirs: dict[str, np.ndarray], depth: int, column: int,
                only_own: bool) -> bool:
    """Set the encoder's direction ``name`` (``"rnn.0.forward_rnn.{}_l0"``) from a language
    model's layer ``depth`` (``theirs``: its tensors), its input weights at ``column``; False
    (nothing set) where the cell or size differ or the inputs do not fit."""
    ih = out[name.format("weight_ih")]
    theirs_ih = theirs[f"rnn.weight_ih_l{depth}"]
    if ih.shape[0] != theirs_ih.shape[0] or out[name.format("weight_hh")].shape != \
            theirs[f"rnn.weight_hh_l{depth}"].shape or ih.shape[1] < column + theirs_ih.shape[1]:
        return False
    ih = np.zeros_like(ih) if only_own else ih.copy()
    ih[:, column: column + theirs_ih.shape[1]] = theirs_ih
    out[name.format("weight_ih")] = ih
    for part in ("weight_hh", "bias_ih", "bias_hh"):
        out[name.format(part)] = theirs[f"rnn.{part}_l{depth}"]
    return True


@dataclass
class LMPair:
    """A forward and a backward language model (train-lm --reverse) of one tokenizer and one
    recurrent shape as a bidirectional encoder's start, as ULMFiT pairs them: the encoder's
    word embedding is the two models' side by side, its forward direction the forward
    model's layers and its backward direction the backward model's, each reading only its
    own model's inputs at first (the other columns of the layers they fill -- the other
    model's, and a tagger's character, casing and --char-lm features -- start at zero and
    learn), so each direction starts as its model: every layer of a classifier's, a tagger's
    first. A word only one of them knows keeps the encoder's own random start in the other's
    columns."""

    forward: LMStart
    backward: LMStart
    bidirectional = True

    @classmethod
    def load(cls, specs: list[str]) -> "LMPair":
        """Two language models, in either order: one forward, one backward; the same tokenizer,
        cell, hidden size and depth (a one-line error otherwise)."""
        first, second = (LMStart.load(spec) for spec in specs)
        if first.cfg.reverse == second.cfg.reverse:
            way = "right to left" if first.cfg.reverse else "left to right"
            raise InputError(f"{first.name} and {second.name} both read {way}; give a forward and a backward "
                             "language model (train-lm --reverse trains the backward one)")
        forward, backward = (second, first) if first.cfg.reverse else (first, second)
        if forward.settings != backward.settings:
            texts = [_settings_text(lm.settings) for lm in (forward, backward)]
            if texts[0] == texts[1]:  # the same kind of tokenizer, pieces learned apart
                texts = [f"{text} of its own pieces" for text in texts]
            raise InputError(f"{forward.name} reads {texts[0]} and {backward.name} {texts[1]}; train both with "
                             "the same tokenizer")
        shapes = [f"{lm.cfg.layers} x {lm.cfg.cell} of {lm.cfg.hidden}" for lm in (forward, backward)]
        if shapes[0] != shapes[1]:
            raise InputError(f"{forward.name} is {shapes[0]} and {backward.name} {shapes[1]}; the two directions "
                             "of one encoder need one shape: train both with the same --cell, --layers, --hidden")
        return cls(forward, backward)

    @property
    def name(self) -> str:
        return f"{self.forward.name},{self.backward.name}"

    @property
    def settings(self) -> TokenizerSettings:
        return self.forward.settings

    @property
    def cfg(self) -> LMConfig:
        """The shape the two share (the forward model's configuration)."""
        return self.forward.cfg

    @property
    def emb(self) -> int:
        return self.forward.cfg.emb + self.backward.cfg.emb

    def tokenizer_settings(self, given: dict) -> TokenizerSettings:
        return self.forward.tokenizer_settings(given)  # the two read alike (load)

    def word_embedding_size(self, given: int | None) -> int:
        """The two models' word embeddings side by side (word models; another size given is an
        error)."""
        size = self.forward.word_embedding_size(None) + self.backward.word_embedding_size(None)
        if given is not None and given != size:
            raise InputError(f"{self.name} have word embeddings of {self.forward.cfg.emb} and "
                             f"{self.backward.cfg.emb}, side by side {size}; a model started from them keeps "
                             f"them: drop --word-emb {given}")
        return size

    def encoder_words(self, words: list[str], normalize) -> list[str]:
        return extend_words(words, self.vocabulary(), normalize)

    def vocabulary(self) -> list[str]:
        """The forward model's types, then the backward model's it lacks (none when both
        learned from one text)."""
        have = set(self.forward.vocab.itos)
        return list(self.forward.vocab.itos) + [t for t in self.backward.vocab.itos if t not in have]

    def encoder_weights(self, words: list[str], normalize, state: dict[str, np.ndarray],
                        layers: list[tuple[str, str | None]], cell: str | None = None
                        ) -> tuple[dict[str, np.ndarray], list[str]]:
        """``state`` with the forward model in the encoder's forward direction and the backward
        one in its backward direction (LMStart.encoder_weights); what was taken, in words."""
        ahead = self.forward.cfg.emb
        out, taken = self.forward.encoder_weights(words, normalize, state, layers, cell,
                                                  InputColumns(0, 0, only_own=True))
        out, back = self.backward.encoder_weights(words, normalize, out, layers, cell,
                                                  InputColumns(ahead, self.forward.cfg.hidden, only_own=True))
        return out, [f"from {self.forward.name}: {', '.join(taken)}", f"from {self.backward.name}: {', '.join(back)}"]


def load_language_models(spec: str) -> "LMStart | LMPair":
    """--init-from's language model: one (a file or bundled name), or a forward and a backward
    one joined by a comma (an LMPair); a file whose own name holds a comma is one model."""
    spec = os.fspath(spec)
    specs = [spec] if os.path.exists(spec) else [part.strip() for part in spec.split(",")]
    if len(specs) > 2 or not all(specs):
        raise InputError(f"--init-from {spec}: give one language model, or a forward and a backward one "
                         "joined by a comma (FORWARD,BACKWARD)")
    return LMPair.load(specs) if len(specs) == 2 else LMStart.load(specs[0])


@dataclass
class WordVectors:
    """Pretrained word vectors (word2vec/GloVe/fastText text format) as an encoder's start."""

    name: str
    words: list[str]
    vectors: np.ndarray
    rows: list[int] = field(default_factory=list)  # the encoder's rows set from the vectors (encoder_weights)

    @classmethod
    def load(cls, spec: str | os.PathLike, training_words, normalize, errors: str = "strict") -> "WordVectors":
        """The vectors of every word whose form (``normalize``d) the training data has, and the
        file's first ``MAX_VECTORS`` other words (rnntool.text.vectors)."""
        from rnntool.text.vectors import read_word_vectors

        known = set(training_words)
        words, vectors = read_word_vectors(spec, lambda w: normalize(w) in known, errors=errors)
        return cls(os.fspath(spec), words, vectors)

    @staticmethod
    def check(spec: str | os.PathLike, given_word_emb: int | None, errors: str = "strict") -> None:
        """Before anything is read or trained: the file opens as vectors, of the size given if any."""
        from rnntool.text.vectors import vectors_dimension

        _check_size(os.fspath(spec), vectors_dimension(spec, errors), given_word_emb)

    def word_embedding_size(self, given: int | None) -> int:
        return _check_size(self.name, self.vectors.shape[1], given)

    def encoder_words(self, words: list[str], normalize) -> list[str]:
        return extend_words(words, self.words, normalize)

    def encoder_weights(self, words: list[str], normalize, state: dict[str, np.ndarray],
                        layers: list[tuple[str, str | None]], cell: str | None = None
                        ) -> tuple[dict[str, np.ndarray], list[str]]:
        out = dict(state)
        self.rows = set_word_rows(out, words, self.words, self.vectors, normalize)
        return out, [f"the vectors of {len(self.rows):,} of {len(words):,} words"]


def _check_size(name: str, size: int, given: int | None) -> int:
    if given is not None and given != size:
        raise InputError(f"{name} has vectors of {size}; the word embedding takes their size: drop --word-emb {given}")
    return size


def extend_words(words: list[str], tokens: list[str], normalize, limit: int | None = None) -> list[str]:
    """An encoder's vocabulary ``words`` (training words, specials first) followed by the first
    ``limit`` (default: MAX_VECTORS) of the ``tokens`` (a model's or a vectors file's words,
    frequent first) it lacks, each through ``normalize`` as the encoder reads words: words seen
    only there keep their embedding, and a huge vocabulary does not make a huge model."""
    from rnntool.text.vectors import MAX_VECTORS

    limit = MAX_VECTORS if limit is None else limit
    known = set(words)
    extra = []
    for token in tokens:
        if len(extra) >= limit:
            break
        word = normalize(token)
        if token not in SPECIALS and word not in known:
            known.add(word)
            extra.append(word)
    return words + extra


def set_word_rows(state: dict[str, np.ndarray], words: list[str], tokens: list[str], matrix: np.ndarray,
                  normalize, first_column: int = 0) -> list[int]:
    """Set ``state``'s word embedding row of every word whose form some token has (the first,
    most frequent, such token's row of ``matrix``, from ``first_column`` on); the rows set."""
    rows: dict[str, int] = {}
    for i, token in enumerate(tokens):
        rows.setdefault(normalize(token), i)
    embedding = state["features.word_embedding.weight"].copy()
    found = [(k, rows[w]) for k, w in enumerate(words) if w in rows]
    if found:
        at, theirs = map(list, zip(*found))
        embedding[at, first_column: first_column + matrix.shape[1]] = matrix[theirs]
    state["features.word_embedding.weight"] = embedding
    return [k for k, _ in found]


def check_freezable(weight_decay: float | None) -> None:
    """Frozen rows and weight decay, which shrinks every row, are refused together."""
    if weight_decay:
        raise RnntoolError(f"--freeze-vectors keeps the vectors' rows as they are and --weight-decay {weight_decay:g} "
                           "would shrink them: drop one of the two")


def vector_rows_kept(module, cfg, vectors: "WordVectors | None", inputs: dict) -> list[int]:
    """The encoder's rows --word-vectors set -- this run's (``vectors``), or on a resumed run
    the checkpoint's ``inputs`` -- frozen in ``module`` unless ``cfg.tune_vectors``; returned
    for the checkpoint to keep. One rule for taggers and classifiers."""
    rows = vectors.rows if vectors is not None else inputs.get("vector_rows", [])
    if not cfg.tune_vectors:
        freeze_word_rows(module, rows, cfg.weight_decay)
    return rows


def freeze_word_rows(module, rows: list[int], weight_decay: float = 0.0) -> None:
    """Keep ``module``'s word embedding rows ``rows`` (a tagger's or classifier's, torch) as
    they are, the other rows learning: their gradient is zeroed as it is computed, so no
    optimiser moves them (``check_freezable``)."""
    import torch

    check_freezable(weight_decay)
    if not rows:
        return
    index = torch.as_tensor(rows, dtype=torch.long)
    on_device: dict = {}  # the index where the gradient is: the module moves to its device after this

    def zero_frozen(grad):
        at = on_device.get(grad.device)
        if at is None:
            at = on_device[grad.device] = index.to(grad.device)
        return grad.index_fill(0, at, 0)  # not a product with a mask: an inf there would become NaN

    module.features.word_embedding.weight.register_hook(zero_frozen)


def _has_vocab_rows(name: str, cfg: LMConfig) -> bool:
    """Whether a tensor has one row per vocabulary type up to the last (the types appended
    to a vocabulary are rows appended to it)."""
    if name in ("embedding.weight", "decoder.weight", "decoder.bias"):
        return True
    # adaptive softmax: the last (rarest) cluster's output rows, where appended types fall
    return cfg.softmax == "adaptive" and name == f"decoder.tail.{len(cfg.cutoffs) - 1}.1.weight"


def remap_ids(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[ids]`` into a scratch memory map, a chunk at a time (a corpus of any size)."""
    from rnntool.text.corpus import copy_chunks, scratch_array

    out = scratch_array(len(ids), np.int32)
    copy_chunks(ids, out, table)
    return out


def continue_on(data, start: LMStart, min_freq: int, max_size: int | None):
    """``data`` (an LMData read with every type kept) in ``start``'s vocabulary, extended by
    the text's new types: its splits remapped, its vocabulary and checksum replaced."""
    from rnntool.text.corpus import ids_sha256

    if data.settings != start.settings:  # a prepared corpus, made with other settings
        raise InputError(f"the corpus was prepared with {_settings_text(data.settings)} and {start.name} reads "
                         f"{_settings_text(start.settings)}; prepare it again with those, or give the text file")
    vocab = start.extended_vocab(data.vocab, min_freq, max_size)
    table = vocab.lookup_table(data.vocab.itos).astype(np.int32)
    added = len(vocab) - len(start.vocab)
    unseen = sum(1 for t in data.vocab.itos if t not in start.vocab.stoi)
    valid_is_train = data.valid is data.train
    data.train = remap_ids(data.train, table)
    data.valid = data.train if valid_is_train else remap_ids(data.valid, table)
    if data.test is not None:
        data.test = remap_ids(data.test, table)
    data.vocab = vocab
    data.data_sha256 = ids_sha256(data.train)
    data.notes.append(f"starting from {start.name}: its vocabulary of {len(start.vocab):,}"
                      + (f" plus {added:,} new type{'s' if added != 1 else ''} of this text" if added else
                         " (nothing new in this text)")
                      + (f"; {unseen - added:,} rarer new type{'s' if unseen - added != 1 else ''} become <unk>"
                         if unseen > added else ""))
    return data


def _settings_text(settings: TokenizerSettings) -> str:
    words = f"{settings.tokenizer} words" if settings.level == "word" else "characters"
    flags = [name for name in ("lower", "strip_punct", "ascii") if getattr(settings, name)]
    return words + (f" ({', '.join(flags)})" if flags else "")


def start_encoder(module, start: "LMStart | WordVectors", layers: list[tuple[str, str | None]]) -> list[str]:
    """Load into ``module`` (a tagger or classifier, torch) what ``start`` gives its encoder
    (``encoder_weights``, by the module's own parameter names); what was taken."""
    import torch

    from rnntool.features import normalize_word

    cfg = module.cfg
    state = {name: tensor.detach().cpu().numpy() for name, tensor in module.state_dict().items()}
    state, taken = start.encoder_weights(cfg.words, normalize_word if cfg.normalize_words else str, state, layers,
                                         cfg.cell)
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for name, v in state.items()})
    return taken

