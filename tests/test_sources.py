import io
from itertools import chain

import pytest

from rnntool.errors import RnntoolError
from rnntool.text import sources
from rnntool.text.sources import TextSource, _decode_blocks


def _decode_pieces(*args):
    return chain.from_iterable(_decode_blocks(*args))


def lines_of(data: bytes, errors="strict", block=None, monkeypatch=None):
    if block is not None:
        monkeypatch.setattr(sources, "BLOCK_SIZE", block)
    return [line for line, _ in _decode_pieces(io.BytesIO(data), "f.txt", errors, None)]


def test_bom_crlf_and_cr_become_plain_lf_lines():
    assert lines_of(b"\xef\xbb\xbfone\r\ntwo\rthree\nfour") == ["one", "two", "three", "four"]


@pytest.mark.parametrize("block", [1, 2, 3, 5])
def test_line_ends_and_multibyte_characters_split_across_blocks(block, monkeypatch):
    data = "\ufeffa\r\nb\u00e9\r\n\u4e2d\u6587\rz\n".encode("utf-8")
    assert lines_of(data, block=block, monkeypatch=monkeypatch) == ["a", "b\u00e9", "\u4e2d\u6587", "z"]


@pytest.mark.parametrize("block", [1, 2, 3, 4, 1 << 20])
def test_lines_are_read_in_nfc_whatever_block_a_combining_mark_falls_in(block, monkeypatch):
    # e + COMBINING ACUTE, and Hangul jamo (NFD), on lines that end or do not end the text
    data = "cafe\u0301\nx\n\u1112\u1161\u11ab\ncafe\u0301".encode("utf-8")
    assert lines_of(data, block=block, monkeypatch=monkeypatch) == ["caf\u00e9", "x", "\ud55c", "caf\u00e9"]


def test_blank_lines_are_kept():
    assert lines_of(b"a\n\n\nb\n") == ["a", "", "", "b"]


@pytest.mark.parametrize("block", [4, 1 << 20])
def test_invalid_utf8_names_the_file_and_byte_offset(block, monkeypatch):
    data = b"hello\nw\xc3orld\n"  # \xc3 starts a 2-byte sequence that 'o' does not continue
    with pytest.raises(RnntoolError, match=r"f\.txt is not valid UTF-8 \(byte offset 7\).*--errors replace"):
        lines_of(data, block=block, monkeypatch=monkeypatch)


@pytest.mark.parametrize("block", [1, 3, 4, 7, 1 << 20])
def test_the_lines_before_a_bad_byte_are_read_then_the_error(block, monkeypatch):
    """A stream's answers up to the bad line are written before the run fails: the lines before
    it come out whatever block it falls in (a character split across blocks too); the line
    that holds it does not."""
    data = "one\ntwo \u00e9\r\nthree\nfo\xffur\nfive\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff")
    got = []
    with pytest.raises(RnntoolError, match=r"byte offset 20"):
        for line, _ in _decode_pieces(io.BytesIO(data), "f.txt", "strict", None):
            got.append(line)
    assert got == ["one", "two \u00e9", "three"]


def test_a_pipe_or_terminal_named_by_path_streams(tmp_path):
    import os

    regular = tmp_path / "f.txt"
    regular.write_text("x\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert TextSource("-").streams and TextSource(str(fifo)).streams
    assert not TextSource(str(regular)).streams and not TextSource("nltk:treebank").streams


def test_truncated_sequence_at_end_of_file_is_an_error_with_offset():
    with pytest.raises(RnntoolError, match=r"byte offset 3"):
        lines_of(b"abc\xe4\xb8")


def test_errors_replace_substitutes_replacement_character():
    assert lines_of(b"a\xffb\n", errors="replace") == ["a\ufffdb"]


def test_binary_file_is_refused_with_offset():
    with pytest.raises(RnntoolError, match=r"binary file \(NUL byte at offset 3\)"):
        lines_of(b"abc\x00def")


def test_empty_file_is_refused():
    with pytest.raises(RnntoolError, match="is empty"):
        lines_of(b"")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(RnntoolError, match="no such file"):
        TextSource(str(tmp_path / "nope.txt")).check()
    with pytest.raises(RnntoolError, match="is a directory"):
        TextSource(str(tmp_path)).check()


def test_unknown_nltk_corpus_name():
    with pytest.raises(RnntoolError, match="unknown nltk corpus 'no_such_corpus'"):
        list(TextSource("nltk:no_such_corpus").lines())
