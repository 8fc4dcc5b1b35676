"""A regressed model is evaluated against the model now serving, not blessed, not pushed; and
force_bless pushes it while recording that the blessing was forced."""

from __future__ import annotations

import json
import random
import re
import shutil

import pytest

from components.common import serving_dir
from pipelines.runs.summary import latest_run
from tests.conftest import REPO, run_cli, write_spec
from tests.test_data_gate import write_rows

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def shuffled_labels(rows):
    species = [r["species"] for r in rows]
    random.Random(0).shuffle(species)
    return [{**r, "species": s} for r, s in zip(rows, species)]


def train_rows(rows):
    return shuffled_labels([r for i, r in enumerate(rows) if i % 3])


def eval_rows(rows):
    return [r for i, r in enumerate(rows) if i % 3 == 0]  # clean labels: the truth both models face


def test_regressed_model_is_not_blessed_and_serving_version_stays(penguin_run, tmp_path):
    serving = tmp_path / "serving"
    shutil.copytree(penguin_run.serving, serving)
    write_rows(tmp_path / "data" / "train" / "penguins.csv", train_rows)
    write_rows(tmp_path / "data" / "eval" / "penguins.csv", eval_rows)
    spec = write_spec(tmp_path, f"""
name: penguin-regressed
data:
  path: {tmp_path / 'data'}
  label: species
  exclude: [year]
  split_patterns: {{train: "train/*.csv", eval: "eval/*.csv"}}
schema: {{path: {REPO / 'schemas' / 'penguin' / 'schema.pbtxt'}}}
trainer: {{max_epochs: 10}}
evaluator:
  thresholds:
    accuracy: {{min_improvement: -0.01}}
pusher: {{destination: {serving}}}
runtime: {{root: {tmp_path / 'root'}}}
""")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed: no" in result.stdout
    assert f"baseline: serving model {serving / '1'}" in result.stdout
    summary = latest_run(str(tmp_path / "root" / "metadata.sqlite"))
    assert summary.blessed is False
    # The serving model (trained on clean penguins) scores about 0.99 on the clean eval data.
    # min_improvement compares the point values; the bootstrap's interval is shown beside them
    assert re.search(r"^FAILED: accuracy 0\.\d+ vs serving (0\.9\d*|1) \(-0\.\d+, "
                     r"95% CI [-+.\de]+\.\.[-+.\de]+, allowed >= -0.01 FAILED\)",
                     summary.reasons["accuracy"]), summary.reasons["accuracy"]
    assert summary.push_decision.startswith("not blessed")
    assert serving_dir.versions(str(serving)) == [1]

    # The same run with force_bless: only the Evaluator and Pusher run again (the rest is cached).
    spec.write_text(spec.read_text().replace("evaluator:\n", "evaluator:\n  force_bless: true\n"))
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = latest_run(str(tmp_path / "root" / "metadata.sqlite"))
    assert summary.executions["Trainer"] == "CACHED" and summary.executions["Evaluator"] == "COMPLETE"
    assert summary.blessed is True and summary.forced is True
    assert "blessed: yes (forced)" in result.stdout
    assert serving_dir.versions(str(serving)) == [1, 2]
    pushed = json.loads((serving / "2" / serving_dir.METADATA_FILE).read_text())
    assert pushed["forced"] is True and pushed["blessing_reasons"]["accuracy"].startswith("FAILED")
