"""Batch predictions (pipelines/predictions.py): the penguin run's pushed version scores files on
Beam through its serving signature. Its answers on the eval split equal the Evaluator's call on
the same serialized examples; the raw CSV is encoded as ExampleGen encodes it; a drifted input is
reported on the console and in the HTML page; a bad row names its file and line, or is skipped
and counted; the output is replaced, never appended."""

from __future__ import annotations

import csv
import glob
import io as pyio

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.pusher import serving_check
from pipelines.predictions import PredictError, predict
from pipelines.spec import load_spec
from tests.conftest import PENGUIN_CSV, PENGUIN_YAML

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spec():
    return load_spec(str(PENGUIN_YAML))


def test_predictions_on_the_eval_split_equal_the_evaluators(penguin_run, spec, tmp_path):
    files = sorted(glob.glob(str(penguin_run.root / "pipeline/ExampleGen/examples/*/Split-eval/*")))
    examples = serving_check.eval_examples(files, limit=10**9)
    expected = serving_check.reference_outputs(str(penguin_run.serving / "1"), examples)["probabilities"]
    out = pyio.StringIO()
    result = predict(spec, files[0], str(tmp_path / "eval.parquet"), root=str(penguin_run.root), out=out)
    table = pq.read_table(tmp_path / "eval.parquet")
    assert result["rows"] == table.num_rows == len(examples)
    assert table.column("row").to_pylist() == list(range(1, len(examples) + 1))
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    got = np.stack([table.column(f"probability_{c}").to_numpy() for c in classes], axis=1)
    np.testing.assert_array_equal(got, expected)
    assert table.column("predicted_class").to_pylist() == [classes[i] for i in expected.argmax(axis=1)]
    assert "drift: none" in out.getvalue()


def test_the_raw_csv_is_scored_with_kept_columns_and_replaced(penguin_run, spec, tmp_path):
    output = tmp_path / "scored.csv"
    output.write_text("stale\n")
    out = pyio.StringIO()
    result = predict(spec, str(PENGUIN_CSV), str(output), root=str(penguin_run.root), keep=["species"],
                     out=out)
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == result["rows"] == 344
    assert rows[0]["row"] == "2" and list(rows[0])[:3] == ["row", "species", "predicted_class"]
    accuracy = np.mean([r["species"] == r["predicted_class"] for r in rows])
    assert accuracy > 0.95
    assert "predicted 344 rows in" in out.getvalue()
    assert not list(tmp_path.glob(".scored.csv*"))  # no temporary left


def test_a_drifted_input_is_reported(penguin_run, spec, tmp_path):
    lines = PENGUIN_CSV.read_text().splitlines()
    header = lines[0].split(",")
    mass = header.index("body_mass_g")
    drifted = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[mass] not in ("", "NA"):
            cells[mass] = str(float(cells[mass]) / 1000)  # kilograms instead of grams
        drifted.append(",".join(cells))
    data = tmp_path / "drifted.csv"
    data.write_text("\n".join(drifted) + "\n")
    out = pyio.StringIO()
    result = predict(spec, str(data), str(tmp_path / "p.csv"), root=str(penguin_run.root), out=out)
    assert [f["feature"] for f in result["drift"]] == ["body_mass_g"]
    assert "drift: body_mass_g:" in out.getvalue()
    page = (tmp_path / "p.csv.drift.html").read_text()
    assert "1 feature(s) drifted" in page and "body_mass_g" in page


def test_a_bad_row_names_its_file_and_line_or_is_skipped(penguin_run, spec, tmp_path):
    lines = PENGUIN_CSV.read_text().splitlines()
    column = lines[0].split(",").index("bill_length_mm")
    cells = lines[4].split(",")
    cells[column] = "forty"
    lines[4] = ",".join(cells)
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(lines) + "\n")
    message = rf"{data}: line 5: column 'bill_length_mm' holds 'forty', not a number"
    with pytest.raises(PredictError, match=message):
        predict(spec, str(data), str(tmp_path / "p.csv"), root=str(penguin_run.root), out=pyio.StringIO())
    assert not (tmp_path / "p.csv").exists()
    result = predict(spec, str(data), str(tmp_path / "p.csv"), root=str(penguin_run.root), skip_bad_rows=True,
                     out=pyio.StringIO())
    assert (result["rows"], result["bad_rows"]) == (343, 1)
    assert "5" not in [r["row"] for r in csv.DictReader((tmp_path / "p.csv").open())]


def test_predict_command_refuses_an_unknown_output_format(penguin_run, tmp_path, capsys):
    from pipelines.cli import main

    code = main(["predict", "--config", str(PENGUIN_YAML), "--root", str(penguin_run.root), "--data",
                 str(PENGUIN_CSV), "--output", str(tmp_path / "scored.txt")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"error: --output {tmp_path / 'scored.txt'}: name a .csv or .parquet file" in err


def test_blocks_encoded_ahead_in_threads_keep_the_order_and_the_first_bad_row(penguin_run, spec, tmp_path,
                                                                               monkeypatch):
    """With 2 KB blocks the penguin CSV is ~9 blocks, encoded 2 ahead of the one scored: the output
    is the same bytes as in one block, and of two bad rows in different blocks the first is named."""
    from pipelines import predictions

    whole = tmp_path / "whole.csv"
    predict(spec, str(PENGUIN_CSV), str(whole), root=str(penguin_run.root), keep=["species"],
            out=pyio.StringIO())
    monkeypatch.setattr(predictions, "BLOCK_BYTES", 2048)
    blocks = tmp_path / "blocks.csv"
    result = predict(spec, str(PENGUIN_CSV), str(blocks), root=str(penguin_run.root), keep=["species"],
                     out=pyio.StringIO())
    assert result["rows"] == 344 and blocks.read_bytes() == whole.read_bytes()
    lines = PENGUIN_CSV.read_text().splitlines()
    column = lines[0].split(",").index("bill_length_mm")
    for at in (299, 4):  # lines 300 and 5: different blocks
        cells = lines[at].split(",")
        cells[column] = "forty"
        lines[at] = ",".join(cells)
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(PredictError, match=rf"{data}: line 5: column 'bill_length_mm'"):
        predict(spec, str(data), str(tmp_path / "p.csv"), root=str(penguin_run.root), out=pyio.StringIO())
    result = predict(spec, str(data), str(tmp_path / "p.csv"), root=str(penguin_run.root), skip_bad_rows=True,
                     out=pyio.StringIO())
    assert (result["rows"], result["bad_rows"]) == (342, 2)
