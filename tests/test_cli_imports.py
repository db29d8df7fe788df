"""The CLI is a renderer on the public API: what rnntool/cli imports from the rest of rnntool.

The public API is ``rnntool`` itself (its ``__all__``) and the public modules
``rnntool.errors``, ``rnntool.results``, ``rnntool.defaults``, ``rnntool.plots``,
``rnntool.corpora`` and ``rnntool.serve``; the CLI imports nothing else of rnntool but its own package.
"""

import ast
from pathlib import Path

import rnntool

CLI = Path(rnntool.__file__).parent / "cli"
# the public modules (docs/stability.md)
PUBLIC = {"rnntool", "rnntool.errors", "rnntool.results", "rnntool.defaults", "rnntool.plots", "rnntool.corpora",
          "rnntool.serve"}


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


def test_the_cli_imports_only_the_public_api():
    found = sorted(cli_imports())
    assert not found, f"rnntool/cli imports internals (use the public API, or make a public counterpart): {found}"


def test_the_checker_sees_an_internal_import(tmp_path, monkeypatch):
    (tmp_path / "x.py").write_text("from rnntool.recipes import GENERATION\nimport rnntool.plots\n")
    monkeypatch.setattr(__import__(__name__), "CLI", tmp_path)
    assert cli_imports() == {("x.py", "rnntool.recipes")}


def test_every_public_module_has_what_its_all_names():
    import importlib

    for module in sorted(PUBLIC):
        names = importlib.import_module(module).__all__
        assert names, module
        for name in names:
            assert getattr(importlib.import_module(module), name) is not None, (module, name)
