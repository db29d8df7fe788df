"""rnntool models / info: which models there are, and what a model file holds.

Torch-free and quick: only model headers are read (safetensors reads the header
without the weights)."""

from __future__ import annotations

import json
import os
import sys

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, model_completion, print_json

LIST_FIELDS = ("words", "chars", "tags", "labels")  # long lists in configurations: sizes and a sample


def _size(path) -> str:
    n = os.path.getsize(path)
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


@app.command("models")
@handle_errors
def models_command(
    json_out: bool = typer.Option(False, "--json", help="Print the lists as JSON."),
) -> None:
    """The bundled models (what -m NAME accepts) and your latest trained model of each kind
    (what a command uses when -m is not given)."""
    import rnntool

    listing = rnntool.models()
    if json_out:
        print_json(listing)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    table = Table("name", "kind", "size", "trained on", "licence", title="bundled models (-m NAME)",
                  title_justify="left")
    for b in listing["bundled"]:
        table.add_row(b["name"], b["kind"], f"{b['size'] / 1e6:.1f} MB", f"{b['trained_on']}\n[dim]{b['description']}[/dim]",
                      b["licence"])
    console.print(table)
    if listing["latest"]:
        table = Table("kind", "model", "created", "best validation", title="your latest models (used without -m)",
                      title_justify="left")
        for m in listing["latest"]:
            if not m["exists"]:
                table.add_row(m["kind"], m["path"], "[red]missing[/red]", "")
            else:
                valid = ", ".join(f"{k} {v:.4f}" for k, v in m.get("metrics", {}).get("valid", {}).items()
                                  if isinstance(v, float))
                table.add_row(m["kind"], m["path"], m.get("created") or "", valid or m.get("problem", ""))
        console.print(table)
    else:
        console.print("no trained models yet (train-lm, train-tagger and train-classifier remember theirs)")
    for name, value in listing["environment"].items():
        console.print(f"${name} = {value}")


def summarise_header(header: dict) -> dict:
    """The header with long vocabularies shown as their size and first entries."""
    out = json.loads(json.dumps(header))
    config = out.get("config", {})
    if config.get("char_lms"):  # a tagger's character LMs: what they are, not their vocabularies
        config["char_lms"] = [f"{lm.get('name')}: {'backward' if lm['config'].get('reverse') else 'forward'} "
                              f"{lm['config']['layers']}x{lm['config']['hidden']} {lm['config']['cell']}, "
                              f"{len(lm['vocab']['tokens'])} characters" for lm in config["char_lms"]]
    for tokenizer in (out.get("tokenizer"), config.get("tokenizer")):
        if isinstance(tokenizer, dict) and tokenizer.get("subword_model"):  # ~180 KB of base64: what it is
            tokenizer["subword_model"] = (f"SentencePiece model, {len(tokenizer['subword_model']) * 3 // 4 / 1024:.0f} "
                                          "KB (info --json prints it, base64)")
    for part in (config, out.get("vocab", {})):
        for key in (*LIST_FIELDS, "tokens", "counts"):
            value = part.get(key)
            if isinstance(value, list) and len(value) > 12:
                part[key] = {"size": len(value), "first": value[:12]}
    return out


@app.command("info")
@handle_errors
def info_command(
    model: str = typer.Argument(..., metavar="MODEL", autocompletion=model_completion(), help="A model file or a bundled model's name."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole header as JSON (vocabularies in full)."),
) -> None:
    """Everything a model file's header records: kind, architecture, vocabulary, tokenizer
    and normalisation, how it was trained (command, data checksum, metrics, precision,
    ranks, versions) and the format version. `summary` shows its layer table."""
    import rnntool

    found = rnntool.info(model)
    if json_out:
        print_json(found.to_dict())
        return
    header, path = found.header, found.path
    shown = summarise_header(header)
    training = shown.pop("training", {})
    lines = [f"{path}: {found.display}, {found.parameters:,} parameters, {_size(path)}, format {header['format']} "
             f"v{header['format_version']}, created {header.get('created', '?')} by rnntool "
             f"{header.get('rnntool_version', '?')}"]

    def block(title: str, data: dict) -> None:
        if data:
            lines.append(f"{title}:")
            lines.extend(f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())

    block("architecture", shown.get("config", {}))
    block("tokenizer", shown.get("tokenizer", {}))
    block("vocabulary", shown.get("vocab", {}))
    metrics = training.pop("metrics", {})
    training.pop("history", None)
    choices = training.pop("choices", [])
    block("training", {k: v for k, v in training.items() if k != "train_config"})
    if choices:
        lines.append("chosen when the run started:")
        lines.extend(f"  {c['flags']} ({c['because']})" for c in choices)
    block("training configuration", training.get("train_config", {}))
    block("metrics", {k: v for k, v in metrics.items() if k not in ("history",)})
    block("quantized weights (rnntool quantize)", header.get("quantized", {}))
    sys.stdout.write("\n".join(lines) + "\n")

