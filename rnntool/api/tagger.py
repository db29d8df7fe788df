"""A loaded tagger: part-of-speech tags or entities for texts, with probabilities and offsets."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from rnntool.api.checks import check_counts, check_letters, warn
from rnntool.api.io import output_stream
from rnntool.api.loading import Model
from rnntool.errors import InputError, RnntoolWarning
from rnntool.results import Document, Evaluation, Sentence, Span, Token

TagInput = str | Sequence[str]  # a text, or one sentence's tokens

FOREIGN_TAGS_MAX = 0.5  # more gold tokens than this outside the model's tags: refuse to score


def _split(item: TagInput) -> tuple[str, list[tuple[int, str, list[str]]]]:
    """(the item's text, [(offset of a sentence in it, the sentence, its tokens)])."""
    from rnntool.text.segment import sentence_offsets, tokenize_sentences

    if not isinstance(item, (str, list, tuple)):
        raise InputError(f"a tagger takes a text (str), a list of tokens, or a list of those; not {type(item).__name__}")
    if isinstance(item, str):
        offsets = sentence_offsets(item)
        tokens = tokenize_sentences([item[start:end] for start, end in offsets])
        return item, [(start, item[start:end], words) for (start, end), words in zip(offsets, tokens)]
    if not all(isinstance(t, str) for t in item):
        raise InputError("a tagger takes a text (str), a list of tokens, or a list of those")
    blank = next((i for i, t in enumerate(item) if not t.strip()), None)
    if blank is not None:  # it would get a tag, and an offset no text has
        shown = [t if len(t) <= 20 else t[:20] + "..." for t in list(item)[:8]]  # a line, not a page
        raise InputError(f"token {blank + 1} of {shown!r}{'...' if len(item) > 8 else ''} is "
                         f"{'empty' if not item[blank] else 'only whitespace'}; a token needs a character that is not a space")
    tokens = list(item)
    return " ".join(tokens), [(0, " ".join(tokens), tokens)]


class Tagger(Model):
    """A BiLSTM(-CRF) part-of-speech or entity tagger (``rnntool train-tagger``)."""

    kind = "tagger"

    @property
    def tags(self) -> list[str]:
        """The model's tag set."""
        return list(self._runtime.tags)

    @property
    def scheme(self) -> str | None:
        """"iob2" for entity taggers (their Sentences have ``spans``), None otherwise."""
        return self._runtime.cfg.scheme

    def tag(self, texts: TagInput | Sequence[TagInput], *,
            probabilities: bool = True) -> Document | list[Document]:
        """Tag a text (split into sentences and words) -> a Document, or a list of inputs -> a
        list of Documents, where each input is a text or a tokenized sentence (a list of
        tokens): ``tag([["New", "York", "is", "big"]])``. Note that ``tag(["New", "York"])`` is
        two texts, each tagged on its own. Each token gets its tag, the tag's probability (CRF:
        its marginal) and its character offsets in its input."""
        if isinstance(texts, str):
            return next(self.tag_many([texts], probabilities=probabilities))
        if not isinstance(texts, (list, tuple)):
            raise InputError(f"tag takes a text (str), a list of tokens, or a list of those; not {type(texts).__name__}")
        return list(self.tag_many(texts, probabilities=probabilities))

    def tag_many(self, items: Iterable[TagInput], *, batch_size: int = 1024,
                 probabilities: bool = True) -> Iterator[Document]:
        """``tag`` for any iterable (a file's lines, a generator), ``batch_size`` sentences at
        most per pass, results in input order, each batch as soon as it is there (or the input
        pauses)."""
        from rnntool.api.io import batched, not_one_str

        split = (_split(item) for item in not_one_str(items, "tag_many", "text"))
        return (doc for chunk in batched(split, batch_size) for doc in self._tag_split(chunk, probabilities))

    def _tag_split(self, chunk: list[tuple[str, list]], probabilities: bool) -> list[Document]:
        from rnntool.text.segment import token_offsets
        from rnntool.text.tagged import spans

        token_lists = [tokens for _, sentences in chunk for _, _, tokens in sentences]
        with self._lock:
            tags, conf = self._runtime.tag(token_lists, confidences=probabilities)
        check_letters(self._runtime.cfg, "tagger", "tags", token_lists)
        entities = self.scheme is not None
        docs, k = [], 0
        for text, sentences in chunk:
            out = []
            for offset, sentence, tokens in sentences:
                where = token_offsets(sentence, tokens)
                probs = conf[k] if conf is not None else [None] * len(tokens)
                toks = [Token(w, t, p, None if a is None else offset + a, None if b is None else offset + b)
                        for w, t, p, (a, b) in zip(tokens, tags[k], probs, where)]
                found = None
                if entities:
                    found = [Span(kind, toks[s].start, toks[e - 1].end,
                                  " ".join(tokens[s:e]) if toks[s].start is None or toks[e - 1].end is None
                                  else text[toks[s].start: toks[e - 1].end], s, e)
                             for s, e, kind in sorted(spans(tags[k]))]
                out.append(Sentence(sentence, toks, found, scored=probabilities))
                k += 1
            docs.append(Document(text, out))
        return docs

    def tag_file(self, source: str | os.PathLike = "-", out: TextIO | str | os.PathLike | None = None, *,
                 input: str = "auto", format: str | None = None, batch_size: int = 1024, jobs: int | None = None,
                 errors: str = "strict") -> None:
        """``rnntool tag``: tag a file (``-``: stdin) into ``out`` (a text stream, a path, or
        stdout) in the command's formats, streamed. ``input``: text (split sentences and words),
        tokens (one tokenized sentence per line), conll or conllu (the columns kept); auto: by
        the file's extension, else text. ``format``: wordtag, tsv, conllu or jsonl (default:
        wordtag, or the input's CoNLL format). Past the first batches of a file, ``jobs`` worker
        processes tag (default: the usable CPUs, at most 8); the output is the same for any number.
        Text mostly in letters the model never saw is warned about (RnntoolWarning)."""
        from rnntool.config import TAG_INPUTS, TAG_OUTPUTS, choice
        from rnntool.parallel import default_jobs
        from rnntool.runtime.tag_io import tag_stream

        check_counts(batch_size, jobs)
        source = os.fspath(source)
        kind = choice(input, TAG_INPUTS, "input")
        if kind == "auto":
            lower = source.lower()
            kind = ("conllu" if lower.endswith(".conllu") else "conll" if lower.endswith((".conll", ".iob", ".bio"))
                    else "text")
        if format is None:
            format = "conllu" if kind == "conllu" else "conll" if kind == "conll" else "wordtag"
        elif format != "conll" or kind != "conll":  # conll: the CoNLL input's own columns, written back
            choice(format, TAG_OUTPUTS, "format")
        runtime = type(self._runtime)(self._runtime.model_file)  # its own caches: other threads go on
        with output_stream(out) as stream:
            tag_stream(runtime, source, kind, format, batch_size, errors, stream, warn=warn,
                       jobs=default_jobs() if jobs is None else jobs)

    def evaluate(self, data: str, *, format: str = "auto", column: str | None = None, errors: str = "strict",
                 full_matrix: bool = False) -> Evaluation:
        """``eval-tagger``: accuracy (overall, in- and out-of-vocabulary), per-tag P/R/F1, top
        confusions and, for IOB taggers, entity-span P/R/F1 by type (conlleval's rules) on gold
        data in any ``train-tagger`` format. Gold tags outside the model's tag set are warned
        about (:class:`~rnntool.errors.RnntoolWarning`), or refused when they are most of them."""
        from collections import Counter

        from rnntool.metrics import score_tags
        from rnntool.text.tagged import iob1_to_iob2, read_tagged

        cfg = self._runtime.cfg
        sentences, _ = read_tagged(os.fspath(data), format, column if column is not None else cfg.column, errors)
        gold = [iob1_to_iob2(s.tags) if cfg.scheme else s.tags for s in sentences]
        known = set(cfg.tags)
        foreign = Counter(t for g in gold for t in g if t not in known)
        if foreign:
            total = sum(len(g) for g in gold)
            shown = ", ".join(t for t, _ in foreign.most_common(6))
            model_tags = f"{', '.join(sorted(known)[:8])}{', ...' if len(known) > 8 else ''}"
            share = sum(foreign.values()) / total
            if share > FOREIGN_TAGS_MAX:  # another tag set: the scores would measure nothing
                better = _bundled_tagger_for(set(t for g in gold for t in g))
                hint = f"; these tags are {better}'s: add -m {better}" if better else ""
                raise InputError(f"{share:.0%} of the gold tags ({shown}) are not in this model's tag set "
                                 f"({model_tags}): the tag sets barely overlap{hint} (or choose the gold column "
                                 "with --column)")
            warnings.warn(f"{sum(foreign.values()):,} of {total:,} gold tags ({shown}) are not in this model's "
                          f"tag set ({model_tags}); they all count as errors -- is it the right tag set or "
                          "--column?", RnntoolWarning, stacklevel=2)
        with self._lock:
            pred, _ = self._runtime.tag([s.words for s in sentences])
            in_vocab = [[self._runtime.in_vocabulary(w) for w in s.words] for s in sentences]
        return Evaluation("tagger", score_tags(gold, pred, in_vocab, iob=cfg.scheme is not None,
                                               full_matrix=full_matrix))


def _bundled_tagger_for(gold_tags: set[str]) -> str | None:
    """The bundled tagger whose tag set holds (nearly) all of these gold tags, if one does."""
    from rnntool.kinds import KINDS
    from rnntool.modelfile import read_header

    for bundled in KINDS["tagger"].bundled:
        tags = set(read_header(bundled.path)["config"]["tags"])
        if len(gold_tags & tags) >= 0.9 * len(gold_tags):
            return bundled.name
    return None
