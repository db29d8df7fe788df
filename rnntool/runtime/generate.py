"""Generating text from a language model, token by token, for many streams at once.

Each new token costs one step of the recurrent cells (the hidden state is
carried; the prompt is never re-run). Text is released as soon as it is final:
at once, or, with stop strings, once it can no longer be the start of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnntool.errors import InputError, OutOfRangeError
from rnntool.results import Generation
from rnntool.runtime.lm import LMRuntime, Stepper
from rnntool.runtime.sampling import Sampler, SamplingOptions
from rnntool.text.tokenize import TokenizerSettings, make_detokenizer

TextFn = Callable[[int, str], None]  # (stream index, text piece)


@dataclass
class GenerationOptions:
    max_tokens: int = 200
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    stops: Sequence[str] = ()
    stop_at_eos: bool = False  # word models: at <eos>; char models: at a newline
    allow_unk: bool = False
    seed: int | None = None

    def validate(self) -> None:
        if self.max_tokens < 0:
            raise OutOfRangeError(f"max_tokens must be 0 or more, not {self.max_tokens}")
        if any(s == "" for s in self.stops):
            raise InputError("a stop string must not be empty")
        self.sampling.validate()


class _Stream:
    """Per-stream text bookkeeping: detokenizing, stop strings, what is released.

    Released text is kept as a list of pieces (joined once at the end) unless ``keep`` is
    off (a caller that streams it needs no copy: ``generate -n 10000000`` runs in constant
    memory), and only the last ``hold`` characters are held back to be searched for a stop
    string that a later token may complete, so each token costs the same however long the
    text gets.
    """

    def __init__(self, gen: Generation, settings: TokenizerSettings, stops: Sequence[str], at_line_start: bool,
                 keep: bool = True):
        self.gen = gen
        self.detok = make_detokenizer(settings)
        self.detok.reset(at_line_start)
        self.stops = list(stops)
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.keep = keep
        self.pieces: list[str] = []  # released text, when kept
        self.pending = ""  # generated, not yet released (it may begin a stop string)
        self.done = False

    def add(self, token: str) -> str:
        """Append a token; return newly final text."""
        return self._add_text(self.detok(token))

    def _add_text(self, piece: str) -> str:
        if not self.stops:
            if self.keep:
                self.pieces.append(piece)
            return piece
        window = self.pending + piece
        hits = [p for p in (window.find(s) for s in self.stops) if p >= 0]
        if hits:
            self.done = True
            self.gen.stop_reason = "stop"
            self.pending = ""
            return self._release(window[: min(hits)])
        cut = max(0, len(window) - self.hold)
        self.pending = window[cut:]
        return self._release(window[:cut])

    def _release(self, text: str) -> str:
        if text and self.keep:
            self.pieces.append(text)
        if self.done:
            self.gen.text = "".join(self.pieces)
        return text

    def finish(self) -> str:
        """End the stream: release what was held back; the generation's text is complete."""
        if self.done:
            return ""
        released = self._add_text(self.detok.flush())  # a morpheme detokenizer holds the last word
        if self.done:  # the held text completed a stop string
            return released
        self.done = True
        out, self.pending = self.pending, ""
        return released + self._release(out)


def check_generates(lm: LMRuntime) -> None:
    """A backward model cannot continue a text: a one-line error."""
    if lm.reads_backward:
        raise InputError("this language model reads text right to left (train-lm --reverse): it scores text "
                         "but cannot continue it; generate with a model trained without --reverse")


class Generator:
    def __init__(self, lm: LMRuntime, opts: GenerationOptions, warn: Callable[[str], None] | None = None):
        check_generates(lm)
        opts.validate()
        self.lm = lm
        self.opts = opts
        self.warn = warn or (lambda message: None)
        self.rng = np.random.default_rng(opts.seed)
        self.sampler = Sampler(opts.sampling, self.rng)
        vocab = lm.vocab
        self.banned = [vocab.pad_id] + ([] if opts.allow_unk else [vocab.unk_id])
        if lm.level == "char":
            self.banned.append(vocab.eos_id)  # char models end lines with "\n", never <eos>
        self.stop_id = lm.line_end_id if opts.stop_at_eos else None
        self._warned = False

    def _encode_prompt(self, prompt: str) -> list[int]:
        ids = self.lm.encode(prompt)
        unk = self.lm.vocab.unk_id
        if unk in ids and not self._warned:
            tokens = self.lm.tokenizer.tokenize(prompt)
            unknown = sorted({t for t, i in zip(tokens, ids) if i == unk})
            what = "characters" if self.lm.level == "char" else "words"
            shown = ", ".join(repr(t) for t in unknown[:5])
            self.warn(f"the prompt has {what} the model never saw ({shown}); they are read as <unk>")
            self._warned = True
        return [self.lm.line_end_id, *ids]

    def generate(self, prompts: Sequence[str], on_text: TextFn | None = None,
                 want_logprob: bool = False, keep_text: bool = True) -> list[Generation]:
        """Generate one continuation per prompt, all streams in one batch. With ``keep_text``
        off, the text goes only to ``on_text`` (each Generation's ``text`` stays empty)."""
        gens = [Generation(p) for p in prompts]
        emit = on_text or (lambda i, text: None)
        for b, piece in self.pieces(gens, want_logprob, keep_text):
            emit(b, piece)
        return gens

    def pieces(self, gens: list[Generation], want_logprob: bool = False,
               keep_text: bool = True) -> Iterator[tuple[int, str]]:
        """Generate a continuation of each Generation's prompt, all in one batch, yielding
        (stream index, text piece) as soon as each piece is final; the Generations are filled
        in as it goes (their ``text`` only with ``keep_text``)."""
        prompts = [g.prompt for g in gens]
        if want_logprob:
            for g in gens:
                g.logprob_sum = 0.0
        B = len(prompts)
        if B == 0:
            return
        encoded = [self._encode_prompt(p) for p in prompts]
        lengths = np.array([len(e) for e in encoded])
        ids = np.full((int(lengths.max()), B), self.lm.vocab.pad_id, dtype=np.int64)
        for b, e in enumerate(encoded):
            ids[: len(e), b] = e
        _, state = self.lm.hidden(ids, self.lm.zero_state(B), lengths if B > 1 else None)
        scale = self.opts.sampling.logit_scale
        stepper = Stepper(self.lm, B, logit_scale=scale, banned_ids=self.banned)
        stepper.set_state(state)
        streams = [_Stream(g, self.lm.tokenizer.settings, self.opts.stops, at_line_start=not p, keep=keep_text)
                   for g, p in zip(gens, prompts)]
        itos = self.lm.vocab.itos
        active = np.ones(B, dtype=bool)
        for _ in range(self.opts.max_tokens):
            scores = stepper.logits()
            raw = scores / scale if want_logprob else None
            chosen = self.sampler(scores)
            if want_logprob:
                m = raw.max(axis=1)
                lse = m + np.log(np.exp(raw - m[:, None]).sum(axis=1))
                lp = raw[np.arange(B), chosen] - lse
            for b in np.flatnonzero(active) if B > 1 else ((0,) if active[0] else ()):
                token_id = int(chosen[b])
                gen, stream = gens[b], streams[b]
                if token_id == self.stop_id:
                    gen.stop_reason = "eos"
                    active[b] = False
                    continue
                gen.tokens += 1
                if want_logprob:
                    gen.logprob_sum += float(lp[b])
                piece = stream.add(itos[token_id])
                if piece:
                    yield b, piece
                if stream.done:
                    active[b] = False
            if not active.any():
                break
            stepper.step(chosen)
        for b, stream in enumerate(streams):
            piece = stream.finish()
            if piece:
                yield b, piece


class _Row:
    """One generation in a ContinuousBatch: its text bookkeeping, its own sampler and seed."""

    __slots__ = ("key", "gen", "stream", "sampler", "scale", "stop_id", "max_tokens", "want_logprob", "next_id")

    def __init__(self, key, gen: Generation, stream: _Stream, generator: Generator, want_logprob: bool):
        self.key = key
        self.gen = gen
        self.stream = stream
        self.sampler = generator.sampler
        self.scale = np.float32(generator.opts.sampling.logit_scale)
        self.stop_id = generator.stop_id
        self.max_tokens = generator.opts.max_tokens
        self.want_logprob = want_logprob
        self.next_id = 0


class ContinuousBatch:
    """Generations that join and leave one batch between steps (continuous batching, as
    LLM servers do it): each step runs every active stream through one matmul per layer,
    so eight concurrent generations cost about what one does, and a new one starts at the
    next step instead of waiting for a thread's turn. Each stream keeps its own options and
    random generator: alone in the batch, a stream samples what ``Generator`` samples for
    the same seed (a batch's logits may differ from a lone stream's in their last bits).
    """

    def __init__(self, lm: LMRuntime, warn: Callable[[str], None] | None = None):
        self.lm = lm
        self.warn = warn
        self.rows: list[_Row] = []
        self._stepper: Stepper | None = None
        self._capacity = 0
        self._steppers: dict[int, Stepper] = {}  # by capacity: built once (~3 ms), their buffers reused
        self._banned: list[int] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def join(self, key, prompt: str, opts: GenerationOptions, want_logprob: bool = False,
             keep_text: bool = True) -> Generation:
        """Start a generation of ``prompt`` (its prompt read now); its pieces come from ``step``."""
        generator = Generator(self.lm, opts, warn=self.warn)
        if self._banned is None:
            self._banned = generator.banned
        elif generator.banned != self._banned:
            raise InputError("streams of one batch must agree on allow_unk")
        gen = Generation(prompt, logprob_sum=0.0 if want_logprob else None)
        ids = np.array(generator._encode_prompt(prompt), dtype=np.int64)[:, None]
        _, state = self.lm.hidden(ids, self.lm.zero_state(1), None)
        row = _Row(key, gen, _Stream(gen, self.lm.tokenizer.settings, opts.stops, at_line_start=not prompt,
                                     keep=keep_text), generator, want_logprob)
        states = self._states()
        self.rows.append(row)
        self._resize(states + [state])
        return gen

    def leave(self, keys) -> None:
        """Drop these streams (their clients went away) before the next step."""
        keys = set(keys)
        keep = [i for i, r in enumerate(self.rows) if r.key not in keys]
        if len(keep) == len(self.rows):
            return
        states = self._states()
        self.rows = [self.rows[i] for i in keep]
        self._resize([states[i] for i in keep])

    def step(self) -> tuple[list[tuple[object, str]], list[_Row]]:
        """One token for every stream: ([(key, newly final text)], [streams that finished])."""
        if not self.rows:
            return [], []
        n = len(self.rows)
        stepper = self._stepper
        scores = stepper.logits()[:n]
        pieces, finished, chosen = [], [], np.zeros(self._capacity, dtype=np.int64)
        itos = self.lm.vocab.itos
        for b, row in enumerate(self.rows):
            if row.max_tokens == 0:  # nothing to sample
                rest = row.stream.finish()
                if rest:
                    pieces.append((row.key, rest))
                finished.append(row)
                continue
            raw = scores[b: b + 1]
            token_id = int(row.sampler(raw * row.scale)[0])
            gen, stream = row.gen, row.stream
            done = False
            if token_id == row.stop_id:
                gen.stop_reason = "eos"
                done = True
            else:
                gen.tokens += 1
                if row.want_logprob:
                    m = raw.max()
                    gen.logprob_sum += float(raw[0, token_id] - m - np.log(np.exp(raw - m).sum()))
                piece = stream.add(itos[token_id])
                if piece:
                    pieces.append((row.key, piece))
                done = stream.done or gen.tokens >= row.max_tokens
            if done:
                rest = stream.finish()
                if rest:
                    pieces.append((row.key, rest))
                finished.append(row)
            chosen[b] = token_id
        if finished:
            gone = {id(r) for r in finished}
            states = self._states(chosen)
            keep = [i for i, r in enumerate(self.rows) if id(r) not in gone]
            self.rows = [self.rows[i] for i in keep]
            self._resize([states[i] for i in keep])
        else:
            stepper.step(chosen)
        return pieces, finished

    # --- the batch's state, one row per stream --------------------------------------------
    def _states(self, then_step: np.ndarray | None = None) -> list:
        """Each stream's recurrent state (after feeding ``then_step``'s tokens, if given)."""
        if self._stepper is None or not self.rows:
            return []
        if then_step is not None:
            self._stepper.step(then_step)
        state = self._stepper.get_state()
        n = len(self.rows)
        if self.lm.cfg.cell == "lstm":
            h, c = state
            return [(h[:, i:i + 1], c[:, i:i + 1]) for i in range(n)]
        return [state[:, i:i + 1] for i in range(n)]

    def _resize(self, states: list) -> None:
        """Rows 0..n-1 hold ``states``; the buffers are rebuilt when n outgrows them or
        falls under a quarter of them (a lone stream gets the one-row fast path)."""
        n = len(states)
        if n == 0:
            self._stepper, self._capacity = None, 0
            return
        if n > self._capacity or (self._capacity > 1 and n <= self._capacity // 4) or self._stepper is None:
            capacity = 1
            while capacity < n:
                capacity *= 2
            if capacity not in self._steppers:
                self._steppers[capacity] = Stepper(self.lm, capacity, logit_scale=1.0, banned_ids=self._banned)
            self._stepper, self._capacity = self._steppers[capacity], capacity
        pad = self._capacity - n
        if self.lm.cfg.cell == "lstm":
            h = np.concatenate([s[0] for s in states], axis=1)
            c = np.concatenate([s[1] for s in states], axis=1)
            if pad:
                h = np.concatenate([h, np.zeros((h.shape[0], pad, h.shape[2]), h.dtype)], axis=1)
                c = np.concatenate([c, np.zeros((c.shape[0], pad, c.shape[2]), c.dtype)], axis=1)
            self._stepper.set_state((h, c))
        else:
            h = np.concatenate(states, axis=1)
            if pad:
                h = np.concatenate([h, np.zeros((h.shape[0], pad, h.shape[2]), h.dtype)], axis=1)
            self._stepper.set_state(h)
