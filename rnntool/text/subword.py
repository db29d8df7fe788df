"""Subword pieces by SentencePiece (the optional ``[subword]`` extra): learning a BPE or
unigram vocabulary from training text, splitting lines into its pieces, and joining
generated pieces back into text.

The learned model travels inside the tokenizer settings (base64 of SentencePiece's own
serialized model, ~130-180 KB for 8,000 pieces), so a prepared corpus and every model
file carry the exact tokenizer their ids mean, as they carry the other settings.

The pieces are trained to give text back exactly: no normalization beyond the NFC that
every rnntool reader applies, white space kept as it is (``remove_extra_whitespaces`` off:
runs of spaces and tabs survive), and byte fallback, so a character the vocabulary lacks
is spelled as its UTF-8 bytes instead of becoming ``<unk>``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from functools import lru_cache

from rnntool.config import SUBWORD_TOKENIZERS, SUBWORD_VOCAB_SIZE
from rnntool.errors import InputError

SUBWORD_SAMPLE_LINES = 1_000_000  # lines SentencePiece learns from at most (a random sample of a larger text)
SUBWORD_SEED = 1  # SentencePiece's sampling and shuffling: the same text learns the same pieces
# Characters covered by pieces of their own; the rarest 0.05% are spelled as bytes (the
# SentencePiece authors' value for scripts with many characters, harmless for the others).
CHARACTER_COVERAGE = 0.9995
WORD_BOUNDARY = "\u2581"  # SentencePiece's visible space, the first character of a word's first piece


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise InputError("--tokenizer bpe/unigram needs the subword extra: pip install \"rnntool[subword]\" "
                         "(SentencePiece)") from None
    return sentencepiece


def learn_subwords(kind: str, texts: Iterable[str], vocab_size: int = 0) -> str:
    """A ``kind`` ('bpe' or 'unigram') SentencePiece model of about ``vocab_size`` pieces
    learned from ``texts`` (clean lines), as base64 for the tokenizer settings."""
    if kind not in SUBWORD_TOKENIZERS:
        raise InputError(f"unknown subword tokenizer {kind!r}; use one of: {', '.join(SUBWORD_TOKENIZERS)}")
    spm = _sentencepiece()
    size = vocab_size or SUBWORD_VOCAB_SIZE
    model = io.BytesIO()
    lines = (text for text in texts if text.strip())
    spm.set_random_generator_seed(SUBWORD_SEED)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines, model_writer=model, model_type=kind, vocab_size=size,
            hard_vocab_limit=False, character_coverage=CHARACTER_COVERAGE, byte_fallback=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            input_sentence_size=SUBWORD_SAMPLE_LINES, shuffle_input_sentence=True,
            num_threads=2, minloglevel=2)
    except RuntimeError as e:
        raise InputError(_training_error(str(e), size)) from None
    return base64.b64encode(model.getvalue()).decode("ascii")


def _training_error(message: str, size: int) -> str:
    if "sentences_.empty()" in message:
        return "the training text has no lines to learn subword pieces from; give more text"
    if "Vocabulary size is smaller than required_chars" in message:
        needed = message.split(f"{size} vs ")[-1].split(".")[0].strip()
        return (f"--vocab-size {size} is too small for this text: its characters and the 256 bytes need "
                f"{needed} pieces or more")
    return f"SentencePiece could not learn subword pieces: {message.splitlines()[0][:200]}"


@lru_cache(maxsize=8)
def subword_processor(model: str):
    """The SentencePiece processor of a base64 model (loaded once per model)."""
    if not model:
        raise InputError("these tokenizer settings have no subword model yet; learn one from the training "
                         "text first (rnntool prep or train-* with --tokenizer bpe/unigram)")
    return _sentencepiece().SentencePieceProcessor(model_proto=base64.b64decode(model))


def subword_pieces(model: str, lines: list[str]) -> list[list[str]]:
    """Each line split into the model's pieces (SentencePiece's batch encoder)."""
    return subword_processor(model).encode(lines, out_type=str)


def describe_subwords(model: str) -> str:
    """What ``rnntool info`` shows instead of the model's bytes (the pieces counted where
    SentencePiece is installed)."""
    size = len(base64.b64decode(model)) if model else 0
    if not size:
        return "none"
    try:
        pieces = f"{subword_processor(model).get_piece_size():,} pieces, "
    except InputError:
        pieces = ""
    return f"SentencePiece, {pieces}{size / 1024:.0f} KB"


def subword_vocabulary(model: str) -> list[str]:
    """Every piece of the model, in its own order."""
    sp = subword_processor(model)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def _is_byte(piece: str) -> bool:
    return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


def _whole_characters(byte_pieces: list[str]) -> bool:
    """Whether byte pieces spell whole UTF-8 characters (a character's last byte has come)."""
    try:
        bytes(int(p[3:5], 16) for p in byte_pieces).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class SubwordDetokenizer:
    """Generated pieces back into text, exactly as SentencePiece joins them. A character
    spelled as several byte pieces is released once its last byte arrives; a word's space
    is its first piece's ``▁``, so a continuation of a prompt gets it too."""

    def __init__(self, model: str, line_end: str, specials: Iterable[str] = ()):
        self.sp = subword_processor(model)
        self.line_end = line_end
        self.specials = set(specials) - {line_end}  # rnntool's own markers, shown as themselves
        self.reset()

    def reset(self, at_line_start: bool = True) -> None:
        self.pending: list[str] = []  # pieces not yet released: a run of bytes that may not end a character yet
        self.at_line_start = at_line_start

    def _release(self) -> str:
        pieces, self.pending = self.pending, []
        if not pieces:
            return ""
        # SentencePiece drops the first piece's ▁ (the space it adds before a line): kept inside a line
        space = " " if not self.at_line_start and pieces[0].startswith(WORD_BOUNDARY) else ""
        self.at_line_start = False
        return space + self.sp.decode_pieces(pieces)

    def __call__(self, token: str) -> str:
        if token == self.line_end:
            out = self._release() + "\n"
            self.reset()
            return out
        if token in self.specials:
            out = self._release()
            self.at_line_start = False
            return out + token
        self.pending.append(token)  # pending holds bytes only: any other piece releases them
        if _is_byte(token) and not _whole_characters(self.pending):
            return ""
        return self._release()

    def flush(self) -> str:
        return self._release()
