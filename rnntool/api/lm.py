"""A loaded language model: generate text as it is sampled, score lines, measure perplexity."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from rnntool.api.checks import check_counts, check_text, real_number, warn, whole_number
from rnntool.api.loading import Model
from rnntool.errors import InputError
from rnntool.recipes import GENERATION
from rnntool.results import Generation, GenerationEvent, LineScore, Perplexity


class LanguageModel(Model):
    """A word- or character-level RNN language model (``rnntool train-lm``).

    Every call keeps its own state (the runtime holds only weights), so threads need no lock.
    """

    kind = "lm"

    @property
    def level(self) -> str:
        """"char" or "word"."""
        return self._runtime.level

    @property
    def vocab_size(self) -> int:
        return len(self._runtime.vocab)

    def tokenize(self, text: str) -> list[str]:
        """The tokens the model reads ``text`` as: its characters, or its words (or subword
        pieces) as the model's tokenizer splits them (what ``max_tokens`` and a score's
        ``tokens`` count)."""
        return self._runtime.tokenizer.tokenize(check_text(text, "a text"))

    # --- generation ----------------------------------------------------------------------
    @staticmethod
    def _options(max_tokens: int, temperature: float, greedy: bool, top_k: int, top_p: float,
                 seed: int | None, stop: Sequence[str] | str, stop_at_eos: bool, allow_unk: bool):
        """The runtime's GenerationOptions for ``generate``'s arguments, checked."""
        from rnntool.runtime.generate import GenerationOptions
        from rnntool.runtime.sampling import SamplingOptions

        stops = [stop] if isinstance(stop, str) else list(stop)
        max_tokens, top_k = whole_number(max_tokens, "max_tokens"), whole_number(top_k, "top_k")
        temperature, top_p = real_number(temperature, "temperature"), real_number(top_p, "top_p")
        seed = None if seed is None else whole_number(seed, "seed")
        opts = GenerationOptions(max_tokens=max_tokens,
                                 sampling=SamplingOptions(0.0 if greedy else temperature, top_k, top_p),
                                 stops=stops, stop_at_eos=stop_at_eos, allow_unk=allow_unk, seed=seed)
        opts.validate()
        return opts

    def _generator(self, *args):
        from rnntool.runtime.generate import Generator

        return Generator(self._runtime, self._options(*args), warn=warn)

    def generate(self, prompt: str = "", *, max_tokens: int = GENERATION["max_tokens"],
                 temperature: float = GENERATION["temperature"], greedy: bool = False,
                 top_k: int = GENERATION["top_k"], top_p: float = GENERATION["top_p"], seed: int | None = None,
                 stop: Sequence[str] | str = (), stop_at_eos: bool = False,
                 allow_unk: bool = False) -> Iterator[str]:
        """Continue ``prompt``, yielding each piece of text the moment it is sampled (a
        character, or a detokenized word). Each token costs one recurrent step, and the text
        is never held whole, so any length runs in constant memory.

        ``temperature`` 0 (or ``greedy``) always takes the most likely token; ``top_k`` and
        ``top_p`` cut the tail; ``seed`` makes it reproducible; generation stops before the
        first ``stop`` string, at a line end with ``stop_at_eos``, or after ``max_tokens``.
        """
        check_text(prompt, "a prompt")
        generator = self._generator(max_tokens, temperature, greedy, top_k, top_p, seed, stop, stop_at_eos,
                                    allow_unk)  # bad options raise here, not at the first piece
        return (piece for _, piece in generator.pieces([Generation(prompt)], keep_text=False))

    def generate_text(self, prompt: str = "", **options) -> str:
        """The whole continuation of ``prompt`` at once (the options of ``generate``)."""
        return "".join(self.generate(prompt, **options))

    def generate_many(self, prompts: Iterable[str], *, num: int = 1, batch_size: int = 64,
                      logprobs: bool = False, max_tokens: int = GENERATION["max_tokens"],
                      temperature: float = GENERATION["temperature"], greedy: bool = False,
                      top_k: int = GENERATION["top_k"], top_p: float = GENERATION["top_p"],
                      seed: int | None = None, stop: Sequence[str] | str = (), stop_at_eos: bool = False,
                      allow_unk: bool = False, answer_on_pause: bool = False) -> Iterator[Generation]:
        """One :class:`~rnntool.results.Generation` per prompt (``num`` per prompt, one after
        the other), generated ``batch_size`` streams at a time, in input order. With
        ``logprobs``, each carries the mean log-probability of its tokens. One ``seed`` draws
        for the whole batch: a prompt's sample depends on its batch mates."""
        events = self.generate_stream(prompts, num=num, batch_size=batch_size, logprobs=logprobs,
                                      max_tokens=max_tokens, temperature=temperature, greedy=greedy, top_k=top_k,
                                      top_p=top_p, seed=seed, stop=stop, stop_at_eos=stop_at_eos,
                                      allow_unk=allow_unk, answer_on_pause=answer_on_pause)
        return (event.done for event in events if event.done is not None)

    def generate_stream(self, prompts: Iterable[str], *, num: int = 1, batch_size: int = 64,
                        logprobs: bool = False, keep_text: bool = True, max_tokens: int = GENERATION["max_tokens"],
                        temperature: float = GENERATION["temperature"], greedy: bool = False,
                        top_k: int = GENERATION["top_k"], top_p: float = GENERATION["top_p"],
                        seed: int | None = None, stop: Sequence[str] | str = (), stop_at_eos: bool = False,
                        allow_unk: bool = False, answer_on_pause: bool = False) -> Iterator[GenerationEvent]:
        """``generate_many`` as it happens: a :class:`~rnntool.results.GenerationEvent` for every
        piece of text of every sample the moment it is sampled (``batch_size`` samples are
        generated together, so their pieces interleave), and one with the finished
        Generation (``done``) for each sample at the end of its batch, in input order. Without
        ``keep_text`` the finished Generations carry no text (the pieces had it): any length in
        constant memory. With ``answer_on_pause`` (interactive input: a terminal, a chat) the
        prompts are read on a background thread and whatever has arrived is answered when the
        input pauses; one ``seed`` then depends on how the input came."""
        from rnntool.api.io import batched, not_one_str

        not_one_str(prompts, "generate_many/generate_stream", "prompt")
        check_counts(batch_size)
        whole_number(num, "num", 1)
        generator = self._generator(max_tokens, temperature, greedy, top_k, top_p, seed, stop, stop_at_eos,
                                    allow_unk)
        repeated = (check_text(p, "a prompt") for p in prompts for _ in range(num))

        def events() -> Iterator[GenerationEvent]:
            first = 0
            for chunk in batched(repeated, batch_size, answer_on_pause):
                gens = [Generation(p) for p in chunk]
                for b, piece in generator.pieces(gens, want_logprob=logprobs, keep_text=keep_text):
                    yield GenerationEvent(first + b, gens[b].prompt, piece)
                for b, g in enumerate(gens):
                    yield GenerationEvent(first + b, g.prompt, done=g)
                first += len(chunk)

        return events()

    # --- scoring -----------------------------------------------------------------------------
    def score(self, texts: str | Sequence[str]) -> LineScore | list[LineScore]:
        """Score a line (or each of a list of lines) from the start-of-text state, its line end
        included: total log-probability in nats, tokens, perplexity."""
        if isinstance(texts, str):
            return next(self.score_many([texts]))
        if not isinstance(texts, (list, tuple)):
            raise InputError(f"score takes a line (str) or a list of lines, not {type(texts).__name__}")
        return list(self.score_many(texts))

    def score_many(self, lines: Iterable[str], *, batch_size: int = 64,
                   answer_on_pause: bool = False) -> Iterator[LineScore]:
        """``score`` for any iterable of lines, ``batch_size`` at a time, in input order (with
        ``answer_on_pause``, read on a background thread and answered when the input pauses)."""
        from rnntool.api.io import batched, not_one_str
        from rnntool.runtime.scoring import score_batch

        texts = (check_text(line, "a line") for line in not_one_str(lines, "score_many", "line"))
        return (LineScore(line, logprob, tokens) for chunk in batched(texts, batch_size, answer_on_pause)
                for line, logprob, tokens in score_batch(self._runtime, chunk))

    def score_file(self, source: str | os.PathLike = "-", out: TextIO | str | os.PathLike | None = None, *,
                   format: str = "tsv", batch_size: int = 64, errors: str = "strict") -> None:
        """``rnntool score``: one output line per input line (``-``: stdin), into ``out`` (a text
        stream, a path, or stdout): ``logprob<TAB>tokens<TAB>ppl`` (tsv), or
        ``LineScore.to_dict()`` as JSON lines; flushed per batch, and at once when the input pauses."""
        import json

        from rnntool.api.io import output_stream, read_lines
        from rnntool.config import choice

        choice(format, ("tsv", "jsonl"), "format")
        with output_stream(out) as stream:
            for scored in self.score_many(read_lines(source, errors=errors), batch_size=batch_size,
                                          answer_on_pause=True):
                if format == "jsonl":
                    stream.write(json.dumps(scored.to_dict(), ensure_ascii=False) + "\n")
                else:
                    stream.write(f"{scored.logprob:.4f}\t{scored.tokens}\t{scored.ppl:.4f}\n")
                stream.flush()

    def perplexity(self, text: str | Iterable[str]) -> Perplexity:
        """Loss, perplexity (and bits per character) of a text read as one stream with the state
        carried, from the start-of-text state: a string, or an iterable of lines. Every line end
        is predicted, the last line's too, as ``eval-lm`` reads a file."""
        if isinstance(text, str):
            if not text:
                raise InputError("perplexity needs some text: this one is empty")
            text = text.replace("\r\n", "\n").replace("\r", "\n")  # as a file is read
            pieces = ((line, True) for line in text.split("\n"))
            if text.endswith("\n"):  # the last line end is the one after the last line
                pieces = itertools.islice(pieces, text.count("\n"))
        else:
            pieces = ((check_text(line, "a line").rstrip("\r\n"), True) for line in text)
        result = self._perplexity(pieces)
        if not result.tokens:
            raise InputError("perplexity needs some text: this one is empty")
        return result

    def _perplexity(self, pieces: Iterable[tuple[str, bool]]) -> Perplexity:
        from rnntool.runtime.scoring import evaluate_pieces

        r = evaluate_pieces(self._runtime, pieces)
        return Perplexity(loss=r["loss"], ppl=r["ppl"], tokens=r["tokens"], unk=r.get("unk", 0), bpc=r.get("bpc"))

    def evaluate(self, data: str | os.PathLike | Sequence[str | os.PathLike], *, errors: str = "strict") -> Perplexity:
        """``eval-lm``: text files (or ``-``), read as one stream."""
        from rnntool.text.sources import TextSource

        files = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        return self._perplexity(itertools.chain.from_iterable(TextSource(os.fspath(f)).pieces(errors)
                                                              for f in files))
