"""A corpus of broken (and of tricky but valid) CSV files (tests/data/bad_data/): each broken one is
refused by `tfx-yaml check` and by `run` before any stage runs, exit 2, with the file, the line
and the fix; the valid ones pass the checks, and a BOM + CRLF file trains end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.common import serving_dir
from pipelines import cli
from tests.conftest import REPO, run_cli, write_spec

CORPUS = REPO / "tests" / "data" / "bad_data"

BROKEN = {
    "not_utf8.csv": r"not_utf8.csv: not utf-8 text: byte 0xe9 at line \d+ \(column \d+\); save the file as "
                    r"UTF-8, or set data.encoding",
    "utf16.csv": r"utf16.csv: not utf-8 text: byte 0xff at line 1",
    "ragged_row.csv": r"ragged_row.csv: line 12 has 5 field\(s\), the header has 8; a truncated or ragged "
                      r"row",
    "truncated_last_row.csv": r"truncated_last_row.csv: line 59 has \d field\(s\), the header has 8",
    "header_repeated.csv": r"header_repeated.csv: the header is repeated at line 32",
    "rows_without_label.csv": r"rows_without_label.csv: 3 row\(s\) have no value in the label column "
                              r"'species' \(line 5, 19, 42\); remove them, or list the label under "
                              r"validation.exempt_features",
    "semicolon_delimited.csv": r"the header is one column 'species;island;.*looks ';'-delimited: set "
                               r"data.delimiter: ';'",
    "tab_delimited.csv": r"looks '\\\\t'-delimited: set data.delimiter: '\\\\t'",
    "empty.csv": r"empty.csv is empty; expected a CSV header line and rows",
    "header_only.csv": r"header_only.csv has a header but no rows",
    "blank_lines_after_header.csv": r"blank_lines_after_header.csv has a header but no rows",
    "label_column_renamed.csv": r"key 'data.label': column 'species' is not in label_column_renamed.csv; its "
                                r"columns are: penguin_species, island",
    "unbalanced_quote.csv": r"unbalanced_quote.csv, line 22: a quote opened on this line is not closed "
                            r"before line \d+",
    "single_class.csv": r"key 'data.label': the label 'species' has 1 distinct value \('Adelie'\) in the "
                        r"data; classification needs at least 2 classes",
    "other_header_in_second_file": r"b.csv: its columns differ from those of .*a.csv; files of one split "
                                   r"need the same",
}
VALID = {
    "ok_bom_crlf.csv": "",
    "ok_semicolon_with_delimiter.csv": "  delimiter: ';'\n",
    "ok_latin1_with_encoding.csv": "  encoding: latin-1\n",
}


def spec_for(tmp_path, data, data_extra: str = "") -> str:
    text = (f"name: penguin-data\ndata:\n  path: {data}\n  label: species\n  exclude: [year]\n{data_extra}"
            "trainer: {max_epochs: 80}\n")  # 40 train rows, 7 of them validation: slow to converge
    if Path(data).name == "rows_without_label.csv":  # a curated schema requires the label
        text += f"schema: {{path: {REPO / 'schemas' / 'penguin' / 'schema.pbtxt'}}}\n"
    return str(write_spec(tmp_path, text))


def test_the_corpus_is_large_enough():
    assert len(BROKEN) + len(VALID) >= 16
    assert {p.name for p in CORPUS.iterdir()} == set(BROKEN) | set(VALID)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_data_file_is_refused_before_any_work(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = spec_for(tmp_path, CORPUS / name)
    code = cli.main(["check", spec])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(BROKEN[name], err), err
    assert f"error: {spec}: " in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.yaml"]  # nothing written


@pytest.mark.parametrize("name", sorted(VALID))
def test_tricky_but_valid_files_pass_the_checks(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", spec_for(tmp_path, CORPUS / name, VALID[name])]) == 0, capsys.readouterr().err


@pytest.mark.slow
def test_run_refuses_a_broken_file_with_the_same_message_and_writes_nothing(tmp_path):
    result = run_cli("--config", spec_for(tmp_path, CORPUS / "ragged_row.csv"), "--root",
                     str(tmp_path / "root"))
    assert result.returncode == 2
    assert re.search(BROKEN["ragged_row.csv"], result.stderr) and "Traceback" not in result.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ok_bom_crlf.csv", "ok_semicolon_with_delimiter.csv"])
def test_a_bom_crlf_file_and_a_semicolon_file_train_and_push(name, tmp_path):
    root = tmp_path / "root"
    result = run_cli("--config", spec_for(tmp_path, CORPUS / name, VALID[name]), "--root", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert serving_dir.versions(str(root / "serving")) == [1]
    assert re.search(r"accuracy=(0\.[89]\d|1\.0)", result.stdout), result.stdout


@pytest.mark.parametrize("name",
                         sorted((set(BROKEN) | set(VALID)) - {"other_header_in_second_file"}) + ["penguins"])
def test_the_fast_check_agrees_with_the_line_by_line_check(name, tmp_path):
    """Arrow's block-wise check (which keeps memory flat on a 4M-row file) either hands the file to
    the line-by-line check, or finds exactly what that check finds: no problem, the same header,
    the same label values."""
    from pipelines.build import checks
    from pipelines.spec import load_spec
    from tests.conftest import PENGUIN_CSV

    data = PENGUIN_CSV if name == "penguins" else CORPUS / name
    spec = load_spec(spec_for(tmp_path, data, VALID.get(name, "")))
    fast, slow = checks._well_formed_csv(spec, str(data)), checks._csv_line_by_line(spec, str(data))
    if name in BROKEN:
        assert fast is None or name == "single_class.csv", fast  # a class count is _label_problems' to judge
    else:
        assert fast is not None, name  # valid files take the fast path
    if fast is not None:
        assert fast[:4] == slow  # and the fast path profiles the columns for the plan
        assert fast[4].columns == [c for c in fast[1] if c not in (spec.data.label, *spec.data.exclude)]
