"""Parquet and TFRecord inputs, and UTF-16 (with a BOM) and cp1252 CSV files, work end to end (small
files made from the penguin CSV); a CSV file under data.format: parquet is refused by check."""

from __future__ import annotations

import json

import pytest

from components.common import serving_dir
from tests.conftest import PENGUIN_CSV, REPO, run_cli, write_spec


def penguins():
    import pandas as pd

    return pd.read_csv(PENGUIN_CSV)


def spec(tmp_path, data, data_format: str) -> str:
    return str(write_spec(tmp_path,
                          f"name: penguin-{data_format}\ndata:\n  path: {data}\n  format: {data_format}\n"
                                    "  label: species\n  exclude: [year]\ntrainer: {max_epochs: 30}\n"))


def run_and_check(tmp_path, config: str) -> None:
    root = tmp_path / "root"
    result = run_cli("--config", config, "--root", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert serving_dir.versions(str(root / "serving")) == [1]
    accuracy = float(result.stdout.split("accuracy=")[1].split(",")[0])
    assert accuracy >= 0.9, result.stdout


@pytest.mark.slow
def test_parquet_input_trains_and_pushes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    penguins().to_parquet(data / "penguins.parquet")
    run_and_check(tmp_path, spec(tmp_path, data, "parquet"))


@pytest.mark.slow
def test_tfrecord_input_trains_and_pushes(tmp_path):
    import math

    import tensorflow as tf

    data = tmp_path / "data"
    data.mkdir()
    with tf.io.TFRecordWriter(str(data / "penguins.tfrecord")) as writer:
        for row in penguins().to_dict("records"):
            feature = {}
            for key, value in row.items():
                if isinstance(value, str):
                    feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
                elif isinstance(value, float) and math.isnan(value):
                    continue  # missing: the feature is absent, as ExampleGen writes it
                elif isinstance(value, int):
                    feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
                else:
                    feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    run_and_check(tmp_path, spec(tmp_path, data, "tfrecord"))


def _penguin_text(non_ascii: dict[str, str]) -> str:
    """The penguin CSV with some category values made non-ASCII (e.g. Adelie -> Adélie)."""
    text = PENGUIN_CSV.read_text(encoding="utf-8")
    for plain, accented in non_ascii.items():
        text = text.replace(plain, accented)
    return text


def assert_check_passes(config: str, shown: str) -> None:
    """`tfx-yaml check` (a process of its own, as a user runs it) passes and its plan shows `shown`."""
    import subprocess
    import sys

    check = subprocess.run([sys.executable, "-m", "pipelines.cli", "check", config], cwd=REPO,
                           capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert shown in check.stdout, check.stdout


def encoded_spec(tmp_path, encoding: str, data_bytes: bytes) -> str:
    data = tmp_path / "data"
    data.mkdir()
    (data / "penguins.csv").write_bytes(data_bytes)
    return str(write_spec(tmp_path,
                          f"name: penguin-{encoding}\ndata:\n  path: {data}\n  encoding: {encoding}\n"
                                    "  label: species\n  exclude: [year]\ntrainer: {max_epochs: 30}\n"))


@pytest.mark.slow
def test_utf16_with_bom_trains_and_pushes(tmp_path):
    """UTF-16 little-endian with a byte-order mark (what Excel's "Unicode text" and PowerShell
    write): the header and the rows are read, the accented class is a class of its own."""
    text = _penguin_text({"Adelie": "Adélie"})
    data_bytes = text.encode("utf-16")  # Python writes the BOM, little-endian on this machine
    assert data_bytes[:2] == b"\xff\xfe"
    config = encoded_spec(tmp_path, "utf-16", data_bytes)
    assert_check_passes(config, "Adélie")  # the classes in the plan, decoded
    run_and_check(tmp_path, config)


@pytest.mark.slow
def test_cp1252_trains_and_pushes(tmp_path):
    """cp1252 (Windows Western): a category value with é and one with the euro-era curly quote
    byte 0x92, which latin-1 reads as a control character and UTF-8 refuses."""
    text = _penguin_text({"Adelie": "Adélie", "Torgersen": "Torgersen’s"})
    data_bytes = text.encode("cp1252")
    assert b"\xe9" in data_bytes and b"\x92" in data_bytes
    config = encoded_spec(tmp_path, "cp1252", data_bytes)
    assert_check_passes(config, "Adélie")
    run_and_check(tmp_path, config)
    plan = next((tmp_path / "root" / "pipeline" / "Batching").rglob("plan.json")).read_text(encoding="utf-8")
    assert "Adélie" in json.loads(plan)["classes"], plan
    assert "Torgersen’s" in next(f for f in json.loads(plan)["categorical"]
                                 if f["name"] == "island")["vocabulary"]


def test_parquet_format_on_a_csv_file_is_refused_at_check_with_the_file(tmp_path, capsys, monkeypatch):
    """Every Parquet file's footer is opened before any work: a CSV file named in a parquet
    spec is refused by `check` with the file named and the fix."""
    from pipelines import cli

    data = tmp_path / "data"
    data.mkdir()
    (data / "penguins.parquet").write_text(PENGUIN_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    config = spec(tmp_path, data, "parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", config]) == 2
    err = capsys.readouterr().err
    assert f"data file {data / 'penguins.parquet'}" in err and "not a Parquet file" in err, err
    assert "data.format" in err and "Traceback" not in err, err


def test_a_parquet_file_without_the_label_is_refused_at_check(tmp_path, capsys, monkeypatch):
    from pipelines import cli

    data = tmp_path / "data"
    data.mkdir()
    penguins().rename(columns={"species": "kind"}).to_parquet(data / "penguins.parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", spec(tmp_path, data, "parquet")]) == 2
    err = capsys.readouterr().err
    assert "column 'species' is not in penguins.parquet" in err and "kind" in err, err
