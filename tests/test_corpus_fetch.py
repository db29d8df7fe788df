import functools
import hashlib
import http.server
import threading

import pytest

from helpers import assert_one_line_error, shared
from rnntool import corpora
from rnntool.corpora import CorpusEntry, CorpusFile
from rnntool.errors import RnntoolError

CONTENT = b"a small corpus\nfor testing\n" * 100


@pytest.fixture
def fake_registry(monkeypatch):
    entry = CorpusEntry(
        name="tiny",
        description="test corpus",
        use="tests",
        licence="CC0",
        source="here",
        files=(CorpusFile("tiny.txt", "http://invalid.invalid/tiny.txt", len(CONTENT), hashlib.sha256(CONTENT).hexdigest()),),
    )
    monkeypatch.setattr(corpora, "registry", lambda: {"tiny": entry})
    return entry


@pytest.fixture
def http_mirror(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_registry_lists_the_corpora_the_issues_need():
    names = set(corpora.registry())
    assert {"alice", "tinyshakespeare", "ptb-lm", "ud-en-ewt", "treebank"} <= names
    for entry in corpora.registry().values():
        assert entry.licence and entry.source
        for f in entry.files:
            assert len(f.sha256) == 64 and f.url.startswith("https://")


def test_fetch_over_http_verifies_and_is_idempotent(fake_registry, http_mirror, tmp_path):
    root, url = http_mirror
    (root / "tiny").mkdir()
    (root / "tiny" / "tiny.txt").write_bytes(CONTENT)
    dest = tmp_path / "data"
    dest.mkdir()
    [path] = corpora.fetch("tiny", dest, mirror=url)
    assert path.read_bytes() == CONTENT
    (root / "tiny" / "tiny.txt").unlink()  # second fetch finds the verified file and downloads nothing
    assert corpora.fetch("tiny", dest, mirror=url) == [path]


def test_checksum_mismatch_saves_nothing(fake_registry, http_mirror, tmp_path):
    root, url = http_mirror
    (root / "tiny").mkdir()
    (root / "tiny" / "tiny.txt").write_bytes(CONTENT + b"tampered")
    with pytest.raises(RnntoolError, match="failed its checksum"):
        corpora.fetch("tiny", tmp_path, mirror=url)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_fetch_from_file_url_and_unreachable_mirror(fake_registry, tmp_path):
    (tmp_path / "m" / "tiny").mkdir(parents=True)
    (tmp_path / "m" / "tiny" / "tiny.txt").write_bytes(CONTENT)
    [path] = corpora.fetch("tiny", tmp_path, mirror=(tmp_path / "m").as_uri())
    assert path.read_bytes() == CONTENT
    with pytest.raises(RnntoolError, match="could not download"):
        corpora.fetch("tiny", tmp_path / "m" / "tiny", mirror=(tmp_path / "nowhere").as_uri())


def test_cli_fetch_prints_paths_and_unknown_name_is_an_error(cli, fake_registry, tmp_path):
    (tmp_path / "m" / "tiny").mkdir(parents=True)
    (tmp_path / "m" / "tiny" / "tiny.txt").write_bytes(CONTENT)
    result = cli("corpus", "fetch", "tiny", "--dir", tmp_path, "--mirror", (tmp_path / "m").as_uri())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "tiny" / "tiny.txt")
    assert_one_line_error(cli("corpus", "fetch", "nope", "--dir", tmp_path), "unknown corpus 'nope'")


def test_cli_list_is_tab_separated_when_piped(cli):
    result = cli("corpus", "list")
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {r[0] for r in rows} == set(corpora.registry())
    assert all(len(r) == 5 for r in rows)


def test_real_registry_checksum_matches_shared_copy(http_mirror, tmp_path):
    # The registry's checksum for tinyshakespeare is that of the canonical file.
    source = shared("tinyshakespeare", "input.txt")
    root, url = http_mirror
    (root / "tinyshakespeare").mkdir()
    (root / "tinyshakespeare" / "input.txt").symlink_to(source)
    [path] = corpora.fetch("tinyshakespeare", tmp_path, mirror=url)
    assert path.stat().st_size == source.stat().st_size


def test_fetch_creates_the_directory_as_download_tools_do(fake_registry, http_mirror, tmp_path, cli):
    root, url = http_mirror
    (root / "tiny").mkdir()
    (root / "tiny" / "tiny.txt").write_bytes(CONTENT)
    dest = tmp_path / "new" / "data"  # neither exists yet (README's `--dir data` on a fresh checkout)
    [path] = corpora.fetch("tiny", dest, mirror=url)
    assert path == dest / "tiny" / "tiny.txt" and path.read_bytes() == CONTENT
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(RnntoolError, match="it is a file, not a directory"):
        corpora.fetch("tiny", blocker, mirror=url)
    assert blocker.read_text() == "x"
    result = cli("corpus", "fetch", "tiny", "--dir", tmp_path / "cli" / "data", "--mirror", url, "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "data" / "tiny" / "tiny.txt").read_bytes() == CONTENT
