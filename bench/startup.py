#!/usr/bin/env python
"""Start-up cost of two source trees side by side, in the same run: wall time of fresh
`python` processes (median and min of N runs per tree, and the after/before ratio of
the medians), and what `import rnntool` pulls in.

    python bench/startup.py [--runs 15] [--before DIR | --before-commit 53af45a]
                            [--after DIR] [--no-subcommands] [--json]

Each run is a fresh `sys.executable` subprocess with PYTHONPATH set to the tree and the
tree as its working directory, so the tree's `rnntool` is the one imported (checked with
`rnntool.__file__` before anything is timed; the script stops if it is not). The rows:

- `python -c "import rnntool"`;
- `python -m rnntool --help` (stdout to /dev/null);
- with --subcommands (the default): `python -m rnntool` prep/train-lm/generate/tag/
  classify/plot --help, `models` and `info sms-spam`, the commands that must stay light;
- where the tree's rnntool has `load` (the library API): `rnntool.load('sms-spam')`, and
  that plus one `m.classify('free prize, call now')`; "n/a" for a tree without it.

Rounds are interleaved to cancel the machine's drift: every round runs every command
once per tree, the tree order alternating between rounds. Bytecode caches are allowed
(PYTHONDONTWRITEBYTECODE is removed from the children's environment) and warmed by one
untimed run of each command per tree; that run is made with `-X importtime`, which gives
the "torch" column (whether the command imported torch at all). One more run per tree
reports, for `import rnntool`, how many modules it imported and whether numpy, torch,
typer and rich were among them.

--before defaults to a detached git worktree of --before-commit, made in a temporary
directory with `git -C REPO worktree add --detach` and removed at the end with
`git worktree remove --force`; --after defaults to the repository this script sits in.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "torch", "typer", "rich")
SUBCOMMANDS = [["prep", "--help"], ["train-lm", "--help"], ["generate", "--help"], ["tag", "--help"],
               ["classify", "--help"], ["plot", "--help"], ["models"], ["info", "sms-spam"]]

# one row: (label, arguments after `python`, needs rnntool.load)
CORE = [
    ("import rnntool", ["-c", "import rnntool"], False),
    ("rnntool --help", ["-m", "rnntool", "--help"], False),
]
LOAD = [
    ("rnntool.load('sms-spam')", ["-c", "import rnntool; rnntool.load('sms-spam')"], True),
    ("load + classify 1 text",
     ["-c", "import rnntool; m = rnntool.load('sms-spam'); m.classify('free prize, call now')"], True),
]

PROBE = r"""
import json, sys
before = set(sys.modules)
import rnntool
new = set(sys.modules) - before
info = {"file": rnntool.__file__, "modules": len(new), "total_modules": len(sys.modules),
        "heavy": {name: name in sys.modules for name in %r}}
info["has_load"] = callable(getattr(rnntool, "load", None))  # after the snapshot: a lazy load may import
print(json.dumps(info))
""" % (HEAVY,)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def describe(tree: Path) -> str:
    try:
        head = git("-C", str(tree), "rev-parse", "--short", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "not a git checkout"
    dirty = git("-C", str(tree), "status", "--porcelain", "--untracked-files=no")
    return f"{head} + uncommitted changes" if dirty else head


def child_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONHOME", None)
    env["PYTHONPATH"] = str(tree)
    return env


def probe(tree: Path) -> dict:
    """The extra, untimed run: which rnntool is imported, and what importing it pulls in."""
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=child_env(tree), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"startup: `import rnntool` fails in {tree}:\n{proc.stderr}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    imported = Path(info["file"]).resolve()
    if not imported.is_relative_to(tree / "rnntool"):
        sys.exit(f"startup: with PYTHONPATH={tree}, rnntool was imported from {imported}, not from that tree")
    return info


def imported_torch(importtime_stderr: str) -> bool:
    # lines are "import time: self | cumulative | <indent>name"; nested imports are indented
    return any(line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "torch"
               for line in importtime_stderr.splitlines())


def warm(tree: Path, argv: list[str]) -> tuple[bool | None, str | None]:
    """One untimed run (writes the .pyc caches); returns (torch imported, error)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=tree, env=child_env(tree),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")][-1:]
        return None, f"exit {proc.returncode}: {tail[0] if tail else ''}".strip()
    return imported_torch(proc.stderr), None


def timed(tree: Path, argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=tree, env=child_env(tree), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {tree} (exit {proc.returncode}) after its warm-up run passed")
    return wall


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.0f}"


def measure(trees: dict[str, Path], runs: int, subcommands: bool) -> dict:
    info = {name: probe(tree) for name, tree in trees.items()}
    rows = list(CORE)
    if subcommands:
        rows += [(f"rnntool {' '.join(cmd)}", ["-m", "rnntool", *cmd], False) for cmd in SUBCOMMANDS]
    rows += LOAD
    results = []
    for label, argv, needs_load in rows:
        row = {"command": label, "argv": argv}
        for name, tree in trees.items():
            if needs_load and not info[name]["has_load"]:
                row[name] = {"skipped": "no rnntool.load"}
                continue
            torch, error = warm(tree, argv)
            row[name] = {"error": error} if error else {"torch": torch, "times": []}
        results.append(row)
    names = list(trees)
    for round_ in range(runs):
        order = names if round_ % 2 == 0 else names[::-1]
        for row in results:
            for name in order:
                if "times" in row[name]:
                    row[name]["times"].append(timed(trees[name], row["argv"]))
        print(f"round {round_ + 1}/{runs} done", file=sys.stderr)
    for row in results:
        for name in names:
            cell = row[name]
            if cell.get("times"):
                cell["median"] = statistics.median(cell["times"])
                cell["min"] = min(cell["times"])
        before, after = row["before"].get("median"), row["after"].get("median")
        row["ratio"] = after / before if before and after else None
    return {"imports": info, "rows": results}


def cell_text(cell: dict, key: str) -> str:
    if "skipped" in cell:
        return "n/a"
    if "error" in cell:
        return "failed"
    return ms(cell.get(key))


def yes_no(flag: bool | None) -> str:
    return "?" if flag is None else ("yes" if flag else "no")


def report(result: dict) -> None:
    trees = result["trees"]
    print(f"machine: {result['machine']}")
    for name in ("before", "after"):
        print(f"{name}: {trees[name]['path']} ({trees[name]['git']})")
    print(f"{result['runs']} interleaved rounds, wall ms per fresh process\n")
    print("| command | before median | before min | after median | after min | after/before (medians) "
          "| torch imported (before / after) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in result["rows"]:
        b, a = row["before"], row["after"]
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
        torch = " / ".join("n/a" if "torch" not in c else yes_no(c["torch"]) for c in (b, a))
        print(f"| `{row['command']}` | {cell_text(b, 'median')} | {cell_text(b, 'min')} | {cell_text(a, 'median')} "
              f"| {cell_text(a, 'min')} | {ratio} | {torch} |")
    errors = [(row["command"], name, row[name]["error"]) for row in result["rows"] for name in ("before", "after")
              if "error" in row[name]]
    for command, name, error in errors:
        print(f"\n{name}: `{command}` failed: {error}")
    imports = result["imports"]
    print("\n| `import rnntool` | before | after |")
    print("| --- | ---: | ---: |")
    print(f"| modules imported | {imports['before']['modules']} | {imports['after']['modules']} |")
    for name in HEAVY:
        print(f"| {name} imported | {yes_no(imports['before']['heavy'][name])} "
              f"| {yes_no(imports['after']['heavy'][name])} |")
    print(f"| has `rnntool.load` | {yes_no(imports['before']['has_load'])} | {yes_no(imports['after']['has_load'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="the old source tree (default: a worktree of --before-commit)")
    parser.add_argument("--before-commit", default="53af45a",
                        help="commit checked out as the 'before' tree when --before is not given")
    parser.add_argument("--after", type=Path, default=ROOT, help="the new source tree (default: this repository)")
    parser.add_argument("--runs", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--subcommands", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the subcommands' --help, models and info (default: on)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    worktree_parent = None
    try:
        if args.before is None:
            worktree_parent = Path(tempfile.mkdtemp(prefix="rnntool-startup-"))
            before = worktree_parent / "before"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before_commit],
                           check=True, stdout=subprocess.DEVNULL)
        else:
            before = args.before
        trees = {"before": before.resolve(), "after": args.after.resolve()}
        for name, tree in trees.items():
            if not (tree / "rnntool" / "__init__.py").is_file():
                sys.exit(f"startup: {name} tree {tree} has no rnntool/__init__.py")
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}",
            "runs": args.runs,
            "trees": {name: {"path": str(tree), "git": describe(tree)} for name, tree in trees.items()},
        }
        result.update(measure(trees, args.runs, args.subcommands))
    finally:
        if worktree_parent is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree_parent / "before")],
                           stdout=subprocess.DEVNULL)
            shutil.rmtree(worktree_parent, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
