"""Reading tagged data and scoring tags."""

import pytest

from rnntool.errors import RnntoolError
from rnntool.metrics import score_tags
from rnntool.text.tagged import detect_format, iob1_to_iob2, is_iob, read_tagged, spans

CONLLU = """# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

"""

CONLL = """EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

-DOCSTART- -X- O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER


"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    sentences, fmt = read_tagged(write(tmp_path, "a.conllu", CONLLU))
    assert fmt == "conllu"
    [s] = sentences
    assert s.words == ["I", "do", "n't", "."]
    assert s.tags == ["PRON", "AUX", "PART", "PUNCT"]
    [s] = read_tagged(write(tmp_path, "b.conllu", CONLLU), column="xpos")[0]
    assert s.tags == ["PRP", "VBP", "RB", "."]


def test_conllu_cut_short_after_a_comment_reads_the_sentences_before(tmp_path):
    """A file that ends with a comment block and no tokens (head -n of a treebank)."""
    sentences, _ = read_tagged(write(tmp_path, "cut.conllu", CONLLU + "# newdoc id = next\n"))
    assert [s.words for s in sentences] == [["I", "do", "n't", "."]]


def test_conll_columns_docstart_crlf_bom_and_trailing_blank_lines(tmp_path):
    text = "\ufeff" + CONLL.replace("\n", "\r\n")
    sentences, fmt = read_tagged(write(tmp_path, "eng.train", text))
    assert fmt == "conll"
    assert [s.words for s in sentences] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert sentences[0].tags == ["I-ORG", "O", "I-MISC", "O"]  # --column -1 (the last) by default
    sentences, _ = read_tagged(write(tmp_path, "eng2.train", CONLL), column="2")
    assert sentences[0].tags == ["NNP", "VBZ", "JJ", "NN"]
    sentences, _ = read_tagged(write(tmp_path, "eng3.train", CONLL), column="-2")
    assert sentences[0].tags == ["I-NP", "I-VP", "I-NP", "I-NP"]


def test_wordtag_lines(tmp_path):
    sentences, fmt = read_tagged(write(tmp_path, "a.txt", "The/DT cat/NN ./.\n\nA/DT 1/2/CD\n"))
    assert fmt == "wordtag"
    assert sentences[1].words == ["A", "1/2"] and sentences[1].tags == ["DT", "CD"]


@pytest.mark.parametrize(
    "name, text, fmt, message",
    [
        ("a.conll", "EU NNP I-ORG\nrejects VBZ\n", "conll", "line 2: 2 columns where earlier lines have 3"),
        ("b.conll", "EU\nrejects\n", "conll", "line 1: no tag column"),
        ("c.txt", "The/DT cat\n", "wordtag", "line 1: token 'cat' is not word/TAG"),
        ("d.conllu", "1\tI\tI\tPRON\n\n", "conllu", "line 1: expected 10 tab-separated CoNLL-U columns, found 4"),
        ("e.conllu", "\n\n", "auto", "has no tagged sentences"),
    ],
)
def test_malformed_data_names_the_line(tmp_path, name, text, fmt, message):
    with pytest.raises(RnntoolError, match=message):
        read_tagged(write(tmp_path, name, text), fmt)


def test_format_detection():
    assert detect_format(CONLLU.splitlines()) == "conllu"
    assert detect_format(CONLL.splitlines()) == "conll"
    assert detect_format(["The/DT cat/NN sat/VBD"]) == "wordtag"


def test_iob1_to_iob2_and_spans_follow_conlleval():
    iob1 = ["I-ORG", "O", "I-MISC", "I-MISC", "B-MISC", "I-PER", "I-LOC"]
    assert is_iob(iob1) and not is_iob(["NN", "O"])
    iob2 = iob1_to_iob2(iob1)
    assert iob2 == ["B-ORG", "O", "B-MISC", "I-MISC", "B-MISC", "B-PER", "B-LOC"]
    assert spans(iob2) == {(0, 1, "ORG"), (2, 4, "MISC"), (4, 5, "MISC"), (5, 6, "PER"), (6, 7, "LOC")}
    # an I- that does not continue its type starts a new entity
    assert spans(["B-PER", "I-LOC", "O", "I-PER"]) == {(0, 1, "PER"), (1, 2, "LOC"), (3, 4, "PER")}


def test_scores():
    gold = [["DET", "NOUN", "VERB"], ["NOUN", "PUNCT"]]
    pred = [["DET", "VERB", "VERB"], ["NOUN", "PUNCT"]]
    in_vocab = [[True, False, True], [True, True]]
    s = score_tags(gold, pred, in_vocab)
    assert s["accuracy"] == pytest.approx(4 / 5)
    assert s["iv_accuracy"] == 1.0 and s["oov_accuracy"] == 0.0
    assert s["per_tag"]["NOUN"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["per_tag"]["VERB"]["precision"] == 0.5
    assert s["confusions"] == [{"gold": "NOUN", "predicted": "VERB", "count": 1}]
    s = score_tags([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]], iob=True)
    assert s["spans"]["precision"] == 0.5 and s["spans"]["recall"] == 0.5
    assert s["spans"]["by_type"]["PER"]["f1"] == 1.0 and s["spans"]["by_type"]["LOC"]["recall"] == 0.0


def test_nltk_treebank_tagged_sentences(monkeypatch):
    import subprocess
    import sys

    from helpers import shared

    data = shared("ptb-pos", "nltk_data")
    code = ("from rnntool.text.tagged import read_tagged\n"
            "s, fmt = read_tagged('nltk:treebank')\n"
            "print(fmt, len(s), s[0].words[:3], s[0].tags[:3])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"NLTK_DATA": str(data),
                                                                                          "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "nltk 3914 ['Pierre', 'Vinken', ','] ['NNP', 'NNP', ',']", out.stderr
