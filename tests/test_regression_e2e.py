"""A regression pipeline with an inferred schema: predict body mass from the other measurements."""

from __future__ import annotations

import pytest

from components.common import serving_dir
from pipelines.runs.summary import latest_run
from tests.conftest import PENGUIN_CSV, run_cli, write_spec
from tests.test_e2e_penguin import tf_example

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_regression_with_inferred_schema_trains_blesses_and_serves_a_value(tmp_path):
    spec = write_spec(tmp_path, f"""
name: penguin-mass
data: {{path: {PENGUIN_CSV}, label: body_mass_g, exclude: [year, species], drop_unlabeled: true}}
trainer:
  loss: huber
  optimizer: {{name: rmsprop, learning_rate: 0.01}}
  model: {{hidden_units: [32], activation: gelu}}
  max_epochs: 80
evaluator:
  thresholds:
    r2: {{lower_bound: 0.6}}
runtime: {{root: {tmp_path / 'root'}}}
""")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    # the task decided when compiling, from the CSV file's label values, and what "auto" gave for it
    assert "plan: task: regression (label 'body_mass_g' holds fractional numbers)" in result.stdout
    assert "plan: model: loss huber, output layer 1 unit(s) linear, metrics mae" in result.stdout
    summary = latest_run(str(tmp_path / "root" / "metadata.sqlite"))
    assert summary.executions["SchemaGen"] == "COMPLETE"
    assert set(summary.metrics) == {"mse", "rmse", "mae", "r2"}
    assert summary.metrics["r2"] >= 0.6 and summary.blessed
    import tensorflow as tf

    version = serving_dir.latest_version_path(str(tmp_path / "root" / "serving"))
    serve = tf.saved_model.load(version).signatures["serving_default"]
    heavy = {"island": "Biscoe", "bill_length_mm": 49.0, "bill_depth_mm": 15.5, "flipper_length_mm": 225.0,
             "sex": "male"}
    light = {"island": "Dream", "bill_length_mm": 36.0, "bill_depth_mm": 17.0, "flipper_length_mm": 185.0,
             "sex": "female"}
    grams = serve(examples=tf.constant([tf_example(heavy), tf_example(light)]))["prediction"].numpy()
    assert 5000 < grams[0] < 6500 and 2800 < grams[1] < 4000, grams
    # the report: a residual plot with one point per eval example, losses labelled in their units
    from tests.test_report import report_of

    page = report_of(result.stdout).read_text(encoding="utf-8")
    plot = page.split("<svg id='residual-plot'", 1)[1].split("</svg>", 1)[0]
    assert plot.count("<circle") == summary_examples(tmp_path)
    assert "regression losses are in standardized label units: (label - " in page
    # the epoch lines say their units: mae in grams as well as standardized (issue 18)
    import re

    log = (tmp_path / "root" / "run.log").read_text(encoding="utf-8")  # every epoch (the console: after 2 s)
    line = next(x for x in log.splitlines() if "Trainer: epoch 1/80" in x)
    assert "(standardized label)" in line
    assert re.search(r"val_mae [\d.e-]+ \(x [\d.]+ = [\d.]+ in label units\)", line), line


def summary_examples(tmp_path) -> int:
    import json

    metrics = next((tmp_path / "root" / "pipeline" / "Evaluator" / "evaluation").glob("*/metrics.json"))
    return json.loads(metrics.read_text())["candidate"]["examples"]
