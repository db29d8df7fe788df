import json
import os

import numpy as np
import pytest

from rnntool.errors import RnntoolError
from rnntool.text.corpus import PrepOptions, is_prepared_corpus, load_corpus, prepare_corpus
from rnntool.text.tokenize import TokenizerSettings

WORDS = TokenizerSettings(level="word", tokenizer="whitespace")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_word_stream_has_eos_at_line_ends_and_round_trips(tmp_path):
    src = write(tmp_path, "a.txt", "the cat sat\nthe dog\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0))
    v = corpus.vocab
    assert v.decode(corpus.splits["train"]) == ["the", "cat", "sat", "<eos>", "the", "dog", "<eos>"]
    assert v.itos[:4] == ["<pad>", "<unk>", "<eos>", "the"]  # "the" is the most frequent word
    corpus.save(tmp_path / "c")
    loaded = load_corpus(tmp_path / "c")
    assert isinstance(loaded.splits["train"], np.memmap)
    assert loaded.vocab.itos == v.itos
    assert loaded.settings == WORDS
    np.testing.assert_array_equal(loaded.splits["train"], corpus.splits["train"])


def test_char_level_keeps_newlines_and_counts_code_points(tmp_path):
    src = write(tmp_path, "a.txt", "ab\nba\u00e9\n")
    corpus = prepare_corpus([src], PrepOptions(TokenizerSettings(level="char"), valid_frac=0.0))
    assert "".join(corpus.vocab.decode(corpus.splits["train"])) == "ab\nba\u00e9\n"
    assert corpus.stats["vocab_size"] == 3 + 4


def test_tail_split_is_contiguous_and_starts_at_a_line(tmp_path):
    lines = [f"w{i} x{i} y{i}" for i in range(100)]
    src = write(tmp_path, "a.txt", "\n".join(lines) + "\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.1, test_frac=0.1))
    decode = corpus.vocab.decode
    train, valid, test = (corpus.splits[s] for s in ("train", "valid", "test"))
    assert len(train) == 320 and len(valid) == 40 and len(test) == 40
    # vocabulary comes from training only: every valid/test word is unseen there
    assert set(decode(valid)) == {"<unk>", "<eos>"}
    assert corpus.stats["unk_rate"]["valid"] == pytest.approx(0.75)
    assert decode(train)[:4] == ["w0", "x0", "y0", "<eos>"]


def test_random_split_is_reproducible_with_seed_and_whole_lines(tmp_path):
    src = write(tmp_path, "a.txt", "".join(f"a{i} b\n" for i in range(200)))
    opts = PrepOptions(WORDS, valid_frac=0.2, split="random", seed=3)
    c1, c2 = prepare_corpus([src], opts), prepare_corpus([src], opts)
    for s in ("train", "valid"):
        np.testing.assert_array_equal(c1.splits[s], c2.splits[s])
    c3 = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.2, split="random", seed=4))
    assert len(c3.splits["valid"]) != len(c1.splits["valid"]) or not np.array_equal(c3.splits["valid"], c1.splits["valid"])
    valid = c1.splits["valid"]
    assert len(valid) % 3 == 0 and 0 < len(valid) < 600 * 0.4


def test_explicit_valid_and_test_files(tmp_path):
    train = write(tmp_path, "train.txt", "a b c\n")
    valid = write(tmp_path, "valid.txt", "a z\n")
    corpus = prepare_corpus([train], PrepOptions(WORDS), valid_inputs=[valid])
    assert corpus.vocab.decode(corpus.splits["valid"]) == ["a", "<unk>", "<eos>"]
    assert len(corpus.splits["test"]) == 0


def test_min_freq_and_max_vocab(tmp_path):
    src = write(tmp_path, "a.txt", "a a a b b c\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0, min_freq=2))
    assert corpus.vocab.itos[3:] == ["a", "b"]
    assert corpus.stats["unk_rate"]["train"] == pytest.approx(1 / 7)
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0, max_vocab=4))
    assert corpus.vocab.itos[3:] == ["a"]


@pytest.mark.parametrize(
    "text, opts, message",
    [
        ("!!! ...\n", PrepOptions(TokenizerSettings(level="word", strip_punct=True)), "has no text"),
        ("a b c\n", PrepOptions(WORDS, valid_frac=0.6, test_frac=0.5), "leave no training data"),
        ("a\n", PrepOptions(WORDS, valid_frac=0.3), "too small for a valid split"),
        ("a b\n", PrepOptions(WORDS, valid_frac=1.0), "must be in [0, 1)"),
    ],
)
def test_bad_corpora_are_user_errors(tmp_path, text, opts, message):
    src = write(tmp_path, "a.txt", text)
    with pytest.raises(RnntoolError) as e:
        prepare_corpus([src], opts)
    assert message in str(e.value)


def test_save_replaces_an_old_corpus_but_never_other_directories(tmp_path):
    src = write(tmp_path, "a.txt", "a b\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0))
    out = tmp_path / "out"
    corpus.save(out)
    corpus.save(out)  # replacing an earlier prepared corpus is fine
    assert is_prepared_corpus(out)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("data")
    with pytest.raises(RnntoolError, match="already exists and is not an rnntool prepared corpus"):
        corpus.save(precious)
    assert (precious / "keep.txt").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "out", "precious"]  # no temp leftovers


def test_load_rejects_damaged_or_foreign_corpora(tmp_path):
    src = write(tmp_path, "a.txt", "a b\n")
    prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0)).save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "corpus.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "c" / "corpus.json").write_text(json.dumps(meta))
    with pytest.raises(RnntoolError, match="format version 99"):
        load_corpus(tmp_path / "c")
    with pytest.raises(RnntoolError, match="not a prepared corpus"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("level", ["word", "char"])
def test_one_line_corpus_is_split_by_tokens(tmp_path, level):
    # text8 and enwik8 are shipped as one line: the split must cut between tokens, not wait for a line end
    words = [f"w{i % 37}" for i in range(3000)]
    src = write(tmp_path, "one.txt", " ".join(words))
    settings = WORDS if level == "word" else TokenizerSettings(level="char")
    corpus = prepare_corpus([src], PrepOptions(settings, valid_frac=0.1, test_frac=0.1))
    sizes = {s: len(a) for s, a in corpus.splits.items()}
    total = sum(sizes.values())
    assert sizes["valid"] == pytest.approx(0.1 * total, abs=1) and sizes["test"] == pytest.approx(0.1 * total, abs=1)
    joined = np.concatenate([corpus.splits[s] for s in ("train", "valid", "test")])
    decoded = corpus.vocab.decode(joined)
    if level == "word":
        assert decoded == words + ["<eos>"]
    else:
        # the one line end falls in the test split, so the vocabulary (from train) has no "\n"
        assert "".join(decoded) == " ".join(words) + "<unk>"


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_line_read_in_pieces_gives_the_same_corpus(tmp_path, level, monkeypatch):
    import rnntool.text.sources as sources

    text = " ".join(f"tok{i % 101}" for i in range(5000)) + "\nsecond line here\n"
    src = write(tmp_path, "long.txt", text)
    settings = WORDS if level == "word" else TokenizerSettings(level="char")
    opts = PrepOptions(settings, valid_frac=0.1)
    whole = prepare_corpus([src], opts)
    monkeypatch.setattr(sources, "PIECE_CHARS", 97)  # the long line arrives in ~300 pieces
    monkeypatch.setattr(sources.TextSource.pieces, "__defaults__", ("strict", None, False, 97))
    pieced = prepare_corpus([src], opts)
    assert pieced.vocab.itos == whole.vocab.itos
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(pieced.splits[split], whole.splits[split])


def test_nfd_and_nfc_text_give_the_same_corpus(tmp_path):
    import unicodedata

    text = "한국어 문장 입니다\n두 번째 문장\n" * 5
    nfc = prepare_corpus([write(tmp_path, "nfc.txt", unicodedata.normalize("NFC", text))], PrepOptions(WORDS, valid_frac=0))
    nfd = prepare_corpus([write(tmp_path, "nfd.txt", unicodedata.normalize("NFD", text))], PrepOptions(WORDS, valid_frac=0))
    assert nfd.vocab.itos == nfc.vocab.itos and "한국어" in nfc.vocab.itos
    np.testing.assert_array_equal(nfd.splits["train"], nfc.splits["train"])


def test_corpus_larger_than_one_chunk_streams_the_same(tmp_path, monkeypatch):
    import rnntool.text.corpus as corpus_module

    src = write(tmp_path, "a.txt", "".join(f"a{i % 53} b{i % 7} c\n" for i in range(2000)))
    opts = PrepOptions(WORDS, valid_frac=0.1, test_frac=0.05)
    one_pass = prepare_corpus([src], opts)
    monkeypatch.setattr(corpus_module, "CHUNK", 61)  # every array pass takes many chunks
    monkeypatch.setattr(corpus_module, "CHUNK_CHARS", 50)
    chunked = prepare_corpus([src], opts)
    assert chunked.vocab.itos == one_pass.vocab.itos
    assert chunked.stats == one_pass.stats
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(chunked.splits[split], one_pass.splits[split])


TREEBANK = TokenizerSettings(level="word", tokenizer="treebank")


def treebank_text(lines: int) -> str:
    words = ["Don't", "stop,", "\"she\"", "said.", "It's", "(really)", "over--", "$5", "cat's", "U.S.", "<unk>", "ok?"]
    return "".join(" ".join(words[(i * 7 + k) % len(words)] for k in range(i % 9 + 1)) + "\n" for i in range(lines))


@pytest.mark.parametrize("split", ["tail", "random"])
def test_worker_processes_give_the_same_corpus(tmp_path, monkeypatch, split):
    """Treebank words past the threshold are made by worker processes; the corpus must not
    depend on how many there are (order, ids, vocabulary and the random split's draws)."""
    import rnntool.text.corpus as corpus_module

    src = write(tmp_path, "a.txt", treebank_text(3000))
    monkeypatch.setattr(corpus_module, "_LINES_PER_BATCH", 97)  # many batches ...
    monkeypatch.setattr(corpus_module, "PARALLEL_AFTER_CHARS", 500)  # ... nearly all of them in workers
    opts = PrepOptions(TREEBANK, valid_frac=0.1, test_frac=0.1, split=split, seed=3)
    one = prepare_corpus([src], opts, jobs=1)
    two = prepare_corpus([src], opts, jobs=2)
    assert one.vocab.itos == two.vocab.itos
    assert one.stats == two.stats
    for name in ("train", "valid", "test"):
        assert len(one.splits[name]) > 0
        np.testing.assert_array_equal(one.splits[name], two.splits[name])
    if split == "tail":  # the tokens are the Treebank tokenizer's: the first line is "Don't"
        assert one.vocab.decode(one.splits["train"][:3]) == ["Do", "n't", "<eos>"]


def test_worker_processes_are_used_past_the_threshold(monkeypatch, answered_by_workers):
    """(answered_by_workers: the batches after the threshold wait until a worker is up.)"""
    import rnntool.text.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "PARALLEL_AFTER_CHARS", 10)
    batches = [([(f"It's line {i}.", True)], "train") for i in range(6)]
    out = list(corpus_module._encoded(batches, TREEBANK, jobs=2))
    assert len(answered_by_workers) == 5
    assert [p for p, _, _ in out] == [p for p, _ in batches]  # input order kept
    assert out[0][2] is None  # the first batch, before the threshold, is left to the builder
    for i, (_, _, (types, ids, lines, characters)) in enumerate(out[1:], start=1):  # each batch's own types,
        assert types == ["It", "'s", "line", str(i), ".", "<eos>"]  # then indices into them
        assert ids.tolist() == [0, 1, 2, 3, 4, 5]
        assert (lines, characters) == (1, len(f"It's line {i}.") + 1)  # counted there, for the stats
    # characters and whitespace words never start workers
    chars = list(corpus_module._encoded(batches, TokenizerSettings(level="char"), jobs=2))
    assert all(t is None for _, _, t in chars)


def test_this_process_goes_on_until_a_worker_is_ready(monkeypatch):
    """Workers take a spawn start each: the batches that come meanwhile are not left waiting."""
    import rnntool.text.corpus as corpus_module
    from rnntool.parallel import Workers

    class NeverReady(Workers):
        def ready(self):
            return False

    monkeypatch.setattr(corpus_module, "Workers", NeverReady)
    monkeypatch.setattr(corpus_module, "PARALLEL_AFTER_CHARS", 10)
    batches = [([(f"It's line {i}.", True)], "train") for i in range(4)]
    out = list(corpus_module._encoded(batches, TREEBANK, jobs=2))
    assert [p for p, _, _ in out] == [p for p, _ in batches]
    assert all(encoded is None for _, _, encoded in out)


def test_workers_start_from_the_chunks_learned_here():
    """The encoder sent to each worker carries this process's chunk cache; loading it there
    fills that process's cache (simulated here by emptying this one's first)."""
    import pickle

    import rnntool.text.corpus as corpus_module
    from rnntool.text.tokenize import Tokenizer, treebank_tokenizer

    Tokenizer(TREEBANK).tokenize_flat(["Don't stop, she said.", "It's over--really."] * 300)
    cache = treebank_tokenizer().chunk_tokens[False]
    learned = dict(cache.known)
    assert {"Don't", "stop,", "said.\x03"} <= {k.replace("\x02", "") for k in learned}
    encoder = pickle.loads(pickle.dumps(corpus_module._BatchEncoder(TREEBANK)))
    saved, saved_tokens = cache.known, cache.kept_tokens
    try:
        cache.known, cache.kept_tokens = {}, 0
        encoder.load()
        assert cache.known == learned and cache.kept_tokens == sum(len(v) for v in learned.values() if v)
        assert encoder.chunks == {}  # not kept twice in the worker
        batch = encoder(([("Don't stop, she said.", True)], "train"))
        assert [batch.types[i] for i in batch.ids] == ["Do", "n't", "stop", ",", "she", "said", ".", "<eos>"]
        cache.kept_tokens = 2 * cache.LIMIT + 1  # a cache past its bounds (it starts over at its next call)
        assert corpus_module.known_chunks() == {}  # is not sent, as the worker would not keep it
    finally:
        cache.known, cache.kept_tokens = saved, saved_tokens


def test_kept_chunks_stay_within_the_cache_bounds():
    from rnntool.text.tokenize import _ChunkTokens

    cache = _ChunkTokens()
    cache.keep({"a": ("a",), "b": None})
    cache.keep({"a": ("a",)})  # known already: counted once
    assert cache.known == {"a": ("a",), "b": None} and cache.kept_tokens == 1
    too_many = {str(i): (str(i),) for i in range(_ChunkTokens.LIMIT)}
    cache.keep(too_many)  # past LIMIT chunks: not kept
    assert len(cache.known) == 2
    many_tokens = {"x": ("x",) * (2 * _ChunkTokens.LIMIT)}
    cache.keep(many_tokens)  # past 2 x LIMIT tokens: not kept
    assert "x" not in cache.known and cache.kept_tokens == 1


def test_a_killed_prep_leaves_no_scratch_files(tmp_path):
    """The scratch ids have no names in $TMPDIR, so SIGKILL (which no cleanup survives)
    leaves nothing there. prep is held mid-read on an open pipe, then killed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "rnntool", "prep", "-", "--level", "word", "-o", str(tmp_path / "c"),
                             "-q"], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch)})
    proc.stdin.write(b"the cat sat on the mat\n" * 5000)
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    fd_dir = f"/proc/{proc.pid}/fd"

    def open_in_scratch() -> bool:
        for fd in os.listdir(fd_dir):
            try:
                if str(scratch) in os.readlink(f"{fd_dir}/{fd}"):
                    return True
            except OSError:  # closed between the listing and the look
                pass
        return False

    # wait until prep has its scratch files open (they show in /proc as "(deleted)" or O_TMPFILE paths)
    while time.monotonic() < deadline and not open_in_scratch():
        time.sleep(0.05)
    assert open_in_scratch(), "prep never opened scratch"
    assert list(scratch.iterdir()) == []  # open, and yet nothing there by name
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "c").exists()


def mapped_rss_kb(path) -> int:
    """Resident KB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc/self/smaps")


@linux_only
def test_passes_over_a_mapped_corpus_hand_its_pages_back(tmp_path):
    from rnntool.text.corpus import CHUNK, chunks, copy_chunks

    n = 8 * CHUNK  # 32 MB of int32
    path = tmp_path / "ids.npy"
    np.save(path, np.arange(n, dtype=np.int32))
    ids = np.load(path, mmap_mode="r")
    assert sum(int(c[-1]) for c in chunks(ids)) == sum(range(CHUNK - 1, n, CHUNK))  # every chunk, in order
    assert mapped_rss_kb(path) < 2 * CHUNK * 4 // 1024  # about one chunk resident, not 32 MB
    # a written map: released pages keep what was written (they go back to the file, not away)
    out_path = tmp_path / "out.npy"
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.int64, shape=(n,))
    copy_chunks(ids, out, table=np.arange(n, dtype=np.int64) * 3)
    assert mapped_rss_kb(out_path) < 2 * CHUNK * 8 // 1024
    out.flush()
    del out
    np.testing.assert_array_equal(np.load(out_path), np.arange(n, dtype=np.int64) * 3)
    # the baseline this guards against: a plain pass leaves the whole file resident
    int(np.asarray(ids).sum())
    assert mapped_rss_kb(path) > n * 4 // 1024 * 0.9


@linux_only
def test_an_epoch_of_lm_streams_keeps_little_of_the_corpus_resident(tmp_path):
    """Without the release, an epoch leaves all 64 MB resident. With it, what stays is
    bounded by the streams, not the corpus: the kernel maps a file's page cache in large
    folios (up to 2 MB here), so each stream keeps a folio or two around its window."""
    from rnntool.train.batching import LMStreams
    from rnntool.train.distributed import Distributed

    n, batch = 32 * 1024 * 1024, 4  # 64 MB of uint16
    path = tmp_path / "train.npy"
    np.save(path, (np.arange(n) % 50000).astype(np.uint16))
    ids = np.load(path, mmap_mode="r")
    streams = LMStreams(ids, batch, 256, Distributed())
    for index in range(streams.steps_per_epoch):
        window = streams.batch(0, index)
    start, column = streams.starts[-1], n // batch  # the last window of the last stream is still right
    np.testing.assert_array_equal(window.inputs[:, -1].numpy(),
                                  np.asarray(ids[(batch - 1) * column + start:][: len(window.inputs)]))
    assert mapped_rss_kb(path) < 24 * 1024  # under 24 MB of the 64 MB after a whole epoch


def test_blocks_are_regrouped_into_batches_cut_where_a_limit_is_reached(monkeypatch):
    """Every piece once, in order; a batch ends at the piece that brings it to the character
    size or the line count, whichever comes first, across the blocks a source reads."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import rnntool.text.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "_LINES_PER_BATCH", 5)
    pieces = st.tuples(st.text(alphabet="ab", max_size=7), st.booleans())

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.lists(pieces, min_size=1, max_size=12), max_size=6), st.integers(1, 20))
    def check(blocks, size):
        batches = list(corpus_module._batched(iter(blocks), size))
        assert [p for batch in batches for p in batch] == [p for block in blocks for p in block]
        for batch in batches:
            assert batch and len(batch) <= 5
            chars = sum(len(text) for text, _ in batch)
            if batch is not batches[-1]:
                assert chars >= size or len(batch) == 5  # full ...
            assert chars - len(batch[-1][0]) < size  # ... at its last piece, not before

    check()
