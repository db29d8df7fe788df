"""Fixtures the tests share; plain helpers are in helpers.py."""

import pytest
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def private_user_state(tmp_path_factory, monkeypatch):
    """Models trained by tests must never become the user's "latest model" (what a
    bare `rnntool generate` or `tag` would then use): each test gets its own state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def fixed_training_threads(monkeypatch):
    """Tests compare training runs bit for bit (a resumed run against one never interrupted),
    which holds at a fixed thread count; the thread governor (rnntool/parallel.py) would
    change the count when the CI machine gets busy, and a tagger's or classifier's weights
    then differ in the last bits. Subprocesses inherit it; the governor's own test unsets it."""
    monkeypatch.setenv("RNNTOOL_ADAPT_THREADS", "0")


@pytest.fixture(autouse=True)
def local_servers_bypass_proxies(monkeypatch):
    """The servers tests start listen on 127.0.0.1: a proxy from the environment (a CI
    machine's, for the package registries) must not be asked for them (httpx, urllib, curl
    and openai's client all honour HTTP(S)_PROXY)."""
    import os

    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        monkeypatch.setenv(name, ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"])))


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke the CLI in-process: cli("prep", "a.txt", input="...")."""
    from rnntool.cli import app

    def invoke(*args, input=None, env=None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env)

    return invoke


@pytest.fixture
def answered_by_workers(monkeypatch):
    """The batches worker processes answer (rnntool/parallel.py), in a list; the workers
    take over as soon as the first one is ready, from the second full batch on."""
    from rnntool.parallel import Workers

    answered = []
    ordered = Workers.ordered

    def counted(self, items):
        for done in ordered(self, items):
            answered.append(done)
            yield done

    def first_started(self):  # waits for the first worker (they start from a thread of their own)
        self._starter.join(timeout=60)
        return self._started[0].result(timeout=60) and True

    monkeypatch.setattr(Workers, "ready", first_started)
    monkeypatch.setattr(Workers, "ordered", counted)
    return answered
