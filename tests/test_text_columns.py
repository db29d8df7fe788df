"""prep and train-lm read one text column of a CSV/TSV table or one field of JSONL records,
with the classifier's readers (quoted fields through the csv module)."""

import json

from helpers import assert_one_line_error


def test_prep_reads_a_quoted_csv_column_one_record_per_line(cli, tmp_path):
    table = tmp_path / "headlines.csv"
    table.write_text('id,headline,year\n1,"Markets rally, then fall",2020\n2,"Rain returns to the city",2021\n'
                     '3,"A quiet\nmorning in the park",2022\n')
    result = cli("prep", table, "--text-col", "headline", "--level", "word", "--valid-frac", "0",
                 "-o", tmp_path / "c", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    # 3 records (the quoted newline stays inside record 3): 5 + 5 + 6 words, a comma, and 3 <eos>
    assert stats["lines"] == 3 and stats["tokens"] == 19
    vocab = json.loads((tmp_path / "c" / "corpus.json").read_text())["vocab"]["tokens"]
    assert "," in vocab and "2020" not in vocab and "headline" not in vocab
    by_number = cli("prep", table, "--text-col", "2", "--level", "word", "--valid-frac", "0", "-o", tmp_path / "d",
                    "--json", "-q")
    assert json.loads(by_number.stdout)["tokens"] == 19


def test_column_errors_name_the_columns(cli, tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text("title\tscore\nhello world\t3\n")
    assert_one_line_error(cli("prep", table, "--text-col", "body", "-o", tmp_path / "c"), "its columns: title, score")
    assert_one_line_error(cli("prep", table, "--text-col", "title", "--text-field", "x", "-o", tmp_path / "c"),
                          "not both")
    records = tmp_path / "r.jsonl"
    records.write_text('{"body": "hi"}\n')
    assert_one_line_error(cli("prep", records, "--text-field", "text", "-o", tmp_path / "c"), "no text in field 'text'")


def test_train_lm_on_a_jsonl_field_generates_its_record(cli, tmp_path):
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in
                               enumerate(["the cat sat on my mat", "dogs ran in parks", "we are a happy family"])))
    model = tmp_path / "m.safetensors"
    result = cli("train-lm", records, "--text-field", "text", "--level", "word", "--seed", "1", "-q", "-o", model)
    assert result.exit_code == 0, result.stderr
    out = cli("generate", "-m", model, "--prime", "we", "--greedy", "--stop-at-eos", "-n", "10")
    assert out.stdout.strip() == "we are a happy family"
