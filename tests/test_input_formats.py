"""Parquet and TFRecord inputs work end to end (small files made from the penguin CSV)."""

from __future__ import annotations

import pytest

from components.common import serving_dir
from tests.conftest import PENGUIN_CSV, run_cli, write_spec


def penguins():
    import pandas as pd

    return pd.read_csv(PENGUIN_CSV)


def spec(tmp_path, data, data_format: str) -> str:
    return str(write_spec(tmp_path, f"name: penguin-{data_format}\ndata:\n  path: {data}\n  format: {data_format}\n"
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
