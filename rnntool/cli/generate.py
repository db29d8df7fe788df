"""rnntool generate: streaming text generation on the numpy runtime (no torch)."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, model_completion, open_model
from rnntool.cli.options import NON_NEGATIVE, TOP_P, DecodeErrors
from rnntool.defaults import GENERATION


class GenFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


@app.command("generate")
@handle_errors
def generate_command(
    prompts_file: str = typer.Argument(None, metavar="[PROMPTS]", help="- (or a file): one prompt per line. Piped stdin is read the same way."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("lm"),
                              help="Language model: a file or a bundled name [default: your latest trained, else $RNNTOOL_LM, else the bundled shakespeare-char]."),
    prime: str = typer.Option(None, "--prime", metavar="TEXT", help="Prompt text to continue."),
    prime_file: str = typer.Option(None, "--prime-file", metavar="FILE", help="Read the prompt (whole file) from FILE."),
    max_tokens: int = typer.Option(GENERATION["max_tokens"], "-n", "--max-tokens", min=0, metavar="N", help="Tokens to generate per sample."),
    temperature: float = typer.Option(GENERATION["temperature"], "--temperature", "-t", metavar="T", callback=NON_NEGATIVE, help="Sampling temperature; 0 is greedy."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the most likely token (same as --temperature 0)."),
    top_k: int = typer.Option(GENERATION["top_k"], "--top-k", min=0, metavar="K", help="Sample from the K most likely tokens only (0: all)."),
    top_p: float = typer.Option(GENERATION["top_p"], "--top-p", metavar="P", callback=TOP_P, help="Sample from the smallest set of tokens with probability >= P."),
    seed: int = typer.Option(None, "--seed", metavar="S", help="Random seed: the same seed and model give the same text."),
    stop: list[str] = typer.Option([], "--stop", metavar="STRING", help="Stop before the first occurrence of STRING (repeatable)."),
    stop_at_eos: bool = typer.Option(False, "--stop-at-eos", help="Stop at the end of a line (<eos> for word models, newline for char models)."),
    num: int = typer.Option(1, "--num", min=1, metavar="N", help="Samples per prompt (generated together)."),
    allow_unk: bool = typer.Option(False, "--allow-unk", help="Let <unk> be sampled."),
    fmt: GenFormat = typer.Option(GenFormat.text, "--format", help="text, or jsonl: prompt, text, tokens, mean_logprob, stop_reason."),
    echo: bool = typer.Option(True, "--echo/--no-echo", help="text format: print the prompt before its continuation."),
    batch: int = typer.Option(64, "--batch", min=1, metavar="N", help="Streams generated together at most; prompts are answered at once when the input pauses."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8 in prompts: error or replace."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Generate text token by token, printing each token the moment it is sampled.

    Prompts come from --prime, --prime-file, or standard input (one prompt per
    line, one output record each); with none, generation starts from the
    start-of-text state. Runs on numpy; each token costs one recurrent step.
    """
    import json

    import rnntool
    from rnntool.errors import RnntoolError

    lm = open_model("lm", model, quiet)
    if prime is not None and prime_file is not None:
        raise RnntoolError("give --prime or --prime-file, not both")
    if prime is not None:
        prompts = iter([prime])
    elif prime_file is not None:
        prompts = iter([rnntool.read_text(prime_file, errors=errors.value)])
    elif prompts_file is not None or not sys.stdin.isatty():
        prompts = _or_empty(rnntool.read_lines(prompts_file or "-", errors=errors.value, allow_empty=True))
    else:
        prompts = iter([""])
    jsonl = fmt == GenFormat.jsonl
    events = lm.generate_stream(prompts, num=num, batch_size=batch, logprobs=jsonl, keep_text=jsonl,
                                max_tokens=max_tokens, temperature=temperature, greedy=greedy, top_k=top_k,
                                top_p=top_p, seed=seed, stop=stop, stop_at_eos=stop_at_eos, allow_unk=allow_unk,
                                answer_on_pause=True)  # a prompt typed or piped in is answered at once
    out = sys.stdout
    if jsonl:
        for event in events:
            if event.done is not None:
                out.write(json.dumps(event.done.to_dict(), ensure_ascii=False) + "\n")
                out.flush()
        return
    # One record per sample, in input order. The oldest unfinished sample is written as it is
    # sampled (a lone prompt streams token by token); its batch mates' pieces wait their turn.
    written, live = 0, False  # records finished; whether record `written` has begun
    waiting: dict[int, list[str]] = {}

    def begin(prompt: str) -> None:
        if written:
            out.write("\n")
        if echo:
            out.write(prompt)
        out.write("".join(waiting.pop(written, [])))

    for event in events:
        if event.piece is not None:
            if event.index != written:
                waiting.setdefault(event.index, []).append(event.piece)
                continue
            if not live:
                begin(event.prompt)
                live = True
            out.write(event.piece)
            out.flush()
        else:  # done: batches finish in input order
            if not live:
                begin(event.prompt)
            out.write("\n")
            out.flush()
            written, live = written + 1, False


def _or_empty(lines):
    """Prompts from a stream; an empty stream still gives one unprimed sample."""
    any_line = False
    for line in lines:
        any_line = True
        yield line
    if not any_line:
        yield ""
