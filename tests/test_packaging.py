"""The wheel carries what rnntool needs at run time: every module, the corpus registry and
samples from the top-level corpora/ (installed as rnntool.corpora), and the bundled models."""

import os
import subprocess
import sys
import zipfile

import pytest

from helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(build.stderr)
    [path] = out.glob("rnntool-*.whl")
    return path


def test_wheel_holds_every_module_the_registry_the_samples_and_the_models(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "rnntool").rglob("*.py")}
    expected |= {f"rnntool/corpora/{p.relative_to(ROOT / 'corpora')}" for p in (ROOT / "corpora").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    expected |= {str(p.relative_to(ROOT)) for p in (ROOT / "rnntool" / "bundled").glob("*.safetensors")}
    assert "rnntool/corpora/registry.json" in expected and "rnntool/corpora/samples/ko-tiny.txt" in expected
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"


def test_installed_wheel_finds_its_samples_registry_and_models(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "rnntool", *args], capture_output=True, text=True,  # noqa: E731
                                       env=env, cwd=tmp_path)
    sample = run("corpus", "samples", "ko-tiny")
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.strip().startswith(str(target)) and "우리는" in open(sample.stdout.strip()).read()
    assert "tinyshakespeare" in run("corpus", "list").stdout
    models = run("models")
    assert models.returncode == 0 and "ko-novel" in models.stdout + models.stderr
