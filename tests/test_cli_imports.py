"""The CLI is a renderer on the public API: what rnntool/cli imports from the rest of rnntool.

The public API is ``rnntool`` itself (its ``__all__``), ``rnntool.errors`` and
``rnntool.results``. What the CLI still takes from inside the package is listed below,
module by module, with the reason; the list may only shrink (a test fails when an entry
is no longer needed, and when a new one appears).
"""

import ast
from pathlib import Path

import rnntool

CLI = Path(rnntool.__file__).parent / "cli"
PUBLIC = {"rnntool", "rnntool.errors", "rnntool.results"}

# Internal modules the CLI still imports: (cli module, rnntool module) -> why.
REMAINING = {
    # option definitions: choice sets and defaults for help texts (torch-free, read at --help)
    ("classifier.py", "rnntool.config"): "choice sets for option enums",
    ("classifier.py", "rnntool.recipes"): "defaults shown in --help",
    ("tagger.py", "rnntool.recipes"): "defaults shown in --help",
    ("lm.py", "rnntool.recipes"): "defaults shown in --help",
    ("generate.py", "rnntool.recipes"): "generation defaults",
    ("options.py", "rnntool.recipes"): "defaults shown in --help",
    ("options.py", "rnntool.classification"): "the pooling choices",
    # model files and the kind registry: summary, the man page
    ("manpage.py", "rnntool.kinds"): "the man page lists the bundled models",
    # commands with no library counterpart yet: Keras specs, corpora, pictures
    ("corpus.py", "rnntool.corpora"): "rnntool corpus",
    ("plot.py", "rnntool.charts"): "rnntool plot",
    ("plot.py", "rnntool.curves"): "rnntool plot",
    ("classifier.py", "rnntool.charts"): "eval-classifier --plot",
    ("tagger.py", "rnntool.charts"): "eval-tagger --plot",
    ("training.py", "rnntool.charts"): "the loss curve after train-*",
    ("training.py", "rnntool.curves"): "the loss curve after train-*",
    ("training.py", "rnntool.api.training"): "main_process: only rank 0 shows progress",
}


def cli_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("rnntool") and not name.startswith("rnntool.cli") and name not in PUBLIC:
                    found.add((path.name, name))
    return found


def test_the_cli_imports_only_the_public_api_and_the_listed_remainder():
    found = cli_imports()
    new = sorted(found - set(REMAINING))
    assert not new, f"rnntool/cli imports internals not on the list (use the public API): {new}"
    gone = sorted(set(REMAINING) - found)
    assert not gone, f"no longer imported: take them off REMAINING: {gone}"


def test_no_cli_module_imports_the_inner_packages():
    for _, module in cli_imports():
        assert not module.startswith(("rnntool.train", "rnntool.nn", "rnntool.runtime", "rnntool.text",
                                      "rnntool.keras")), module
