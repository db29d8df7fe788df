"""docs/serve.md runs: each curl example against a server of the bundled models, its
answer compared with the JSON shown after it (ids and times aside), and the OpenAI
client example through the openai package where it is installed."""

import json
import re
import subprocess
import sys

import pytest

pytest.importorskip("starlette", reason="rnntool serve needs the [serve] extra")

from helpers import ROOT, Serving, alike  # noqa: E402
from rnntool.serve import create_app  # noqa: E402

DOC = ROOT / "docs" / "serve.md"


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w+)\n(.*?)```", text, re.S)]


def curl_examples() -> list[tuple[str, str | None]]:
    found, parts = [], blocks(DOC.read_text())
    for i, (lang, body) in enumerate(parts):
        if lang == "sh" and body.startswith("curl "):
            shown = parts[i + 1][1] if i + 1 < len(parts) and parts[i + 1][0] == "json" else None
            found.append((body.strip(), shown))
    return found


def comparable(value, shown):
    """``value`` cut to what ``shown`` shows: volatile fields out, a listing's first items."""
    if isinstance(value, dict) and isinstance(shown, dict):
        return {k: comparable(v, shown.get(k)) for k, v in value.items() if not volatile(k, v)}
    if isinstance(value, list) and isinstance(shown, list):
        return [comparable(v, s) for v, s in zip(value, shown)] if shown and len(shown) < len(value) \
            else [comparable(v, v) for v in value]
    return value


def volatile(key: str, value) -> bool:
    """What differs on every call: times, and a completion's id."""
    return key == "created" or (key == "id" and str(value).startswith("cmpl-"))


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # a new user's server: no latest trained models
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
        app = create_app()
    with Serving(app) as url:
        yield url


def parse(output: str):
    if output.startswith("event: "):
        return output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else lines


@pytest.mark.parametrize("command, shown", curl_examples(), ids=lambda v: (v or "")[:60])
def test_each_curl_example_answers_as_shown(url, command, shown):
    run = subprocess.run(command.replace("localhost:8000", url.removeprefix("http://")), shell=True,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = parse(run.stdout)
    if shown is None:  # server-sent events: pieces, then the result
        assert answer.startswith("event: piece\ndata: ") and "\nevent: result\n" in answer
        return
    expected = parse(shown)
    assert alike(comparable(answer, expected), comparable(expected, expected)), (answer, expected)


def test_the_openai_client_example(url):
    pytest.importorskip("openai", reason="the OpenAI client example needs the openai package")
    [code] = [body for lang, body in blocks(DOC.read_text()) if lang == "python" and "OpenAI(" in body]
    run = subprocess.run([sys.executable, "-c", code.replace("http://localhost:8000", url)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    first, streamed = run.stdout[:len(run.stdout) // 2], run.stdout
    assert len(streamed) > 60 and first.strip()


def test_the_python_example_builds_an_app():
    [code] = [body for lang, body in blocks(DOC.read_text()) if lang == "python" and "create_app(" in body]
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["app"].state.rnntool.limits.max_batch == 128
    assert sorted(namespace["app"].state.rnntool.served.by_name) == ["en-ewt-upos", "sms-spam"]
