"""The Tuner stage: a KerasTuner search over the trainer's fields on the penguin data, its best
values as TFX's HyperParameters artifact, used (and recorded) by the Trainer; cached like any
stage; absent when the spec has no `tuner:` section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.runs.summary import latest_run
from tests.conftest import PENGUIN_CSV, REPO, run_cli, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SEARCH = """
tuner:
  max_trials: 3
  search:
    learning_rate: {min: 0.001, max: 0.03, log: true}
    hidden_units: [[8], [32, 16]]
    batch_size: [16, 64]
"""


def spec(tmp_path: Path, extra: str = "", name: str = "pipeline.yaml") -> Path:
    return write_spec(tmp_path, f"""
name: penguin-tuned
data: {{path: {PENGUIN_CSV}, label: species, exclude: [year]}}
schema: {{path: {REPO / "schemas" / "penguin" / "schema.pbtxt"}}}
trainer: {{max_epochs: 25}}
runtime: {{root: {tmp_path / 'root'}}}
{SEARCH}
{extra}
""", name)


def only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, (folder, pattern, found)
    return found[0]


def test_tuner_finds_values_the_trainer_uses(tmp_path):
    import keras_tuner as kt
    import tensorflow as tf

    first = run_cli("--config", str(spec(tmp_path)))
    assert first.returncode == 0, first.stdout + first.stderr
    pipeline = tmp_path / "root" / "pipeline"
    assert latest_run(tmp_path / "root" / "metadata.sqlite").executions["Tuner"] == "COMPLETE"

    # TFX's HyperParameters artifact: KerasTuner's config JSON in best_hyperparameters.txt
    best_file = only(pipeline / "Tuner" / "best_hyperparameters", "*/best_hyperparameters.txt")
    best = kt.HyperParameters.from_config(json.loads(best_file.read_text())).values
    assert 0.001 <= best["learning_rate"] <= 0.03 and best["batch_size"] in (16, 64)
    assert best["hidden_units"] in ("8", "32,16")

    # every trial, best first (val_loss: lower is better), in the run's outputs
    trials = json.loads(only(pipeline / "Tuner" / "tuner_results", "*/tuner_results.json").read_text())
    assert [t["rank"] for t in trials] == [1, 2, 3]
    scores = [t["val_loss"] for t in trials]
    assert scores == sorted(scores)
    assert trials[0]["values"]["learning_rate"] == best["learning_rate"]
    table = only(pipeline / "Tuner" / "tuner_results", "*/trials.txt").read_text().splitlines()
    assert table[0].split() == ["rank", "val_loss", "batch_size", "hidden_units", "learning_rate"]
    assert len(table) == 4

    # the Trainer trained with them and says so; the exported model has the best layers
    history = json.loads(only(pipeline / "Trainer" / "model_run", "*/history.json").read_text())
    used = history["hyperparameters"]["values"]
    assert used == {**best, "hidden_units": [int(u) for u in best["hidden_units"].split(",")]}
    checkpoint = str(only(pipeline / "Trainer" / "model", "*/Format-Serving") / "variables" / "variables")
    # the model's variables in the model's order (components/trainer/export.py); the kernels are 2-D
    kernels = sorted((int(name.split("/")[1]), shape) for name, shape in tf.train.list_variables(checkpoint)
                     if name.startswith("model_variables/") and len(shape) == 2)
    width = kernels[0][1][0]
    assert [shape[1] for _, shape in kernels[:-1]] == used["hidden_units"]
    assert kernels[-1][1][0] == used["hidden_units"][-1] + width  # Wide & Deep: the features reach the output
    # the Trainer's loss is the best trial's (same seed, same values, same batches)
    assert min(e["val_loss"] for e in history["epochs"]) == pytest.approx(scores[0], rel=1e-5)
    page = Path(first.stdout.split("report: ")[-1].strip()).read_text(encoding="utf-8")
    assert "<table id='trials'>" in page and "hyper-parameters from the Tuner" in page

    # a change downstream only: the Tuner (and Trainer) come from the cache (the curated schema: an
    # inferred one is read from the version that serves once one does, which re-runs SchemaGen)
    second = run_cli("--config", str(spec(tmp_path, "evaluator: {thresholds: {accuracy: {lower_bound: 0.5}}}",
                                          name="b.yaml")))
    assert second.returncode == 0, second.stdout + second.stderr
    states = latest_run(tmp_path / "root" / "metadata.sqlite").executions
    assert states["Tuner"] == "CACHED" and states["Trainer"] == "CACHED" and states["Evaluator"] == "COMPLETE"


@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_searches_run(tmp_path, algorithm):
    extra = SEARCH.replace("max_trials: 3", f"max_trials: 2\n  algorithm: {algorithm}\n  epochs: 3"
                           "\n  objective: val_accuracy")
    text = spec(tmp_path).read_text().replace(SEARCH, extra)
    result = run_cli("--config", str(write_spec(tmp_path, text, "algo.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = json.loads(only(tmp_path / "root" / "pipeline" / "Tuner" / "tuner_results",
                             "*/tuner_results.json").read_text())
    scores = [t["val_accuracy"] for t in trials]
    assert trials and scores == sorted(scores, reverse=True)  # accuracy: higher is better
    if algorithm == "bayesian":
        assert len(trials) == 2


def test_no_tuner_section_no_tuner_stage(penguin_run):
    assert "Tuner" not in latest_run(penguin_run.metadata).executions
    model_run = penguin_run.root / "pipeline" / "Trainer" / "model_run"
    history = json.loads(next(model_run.glob("*/history.json")).read_text())
    assert history["hyperparameters"] == "the spec's (no Tuner stage)"
