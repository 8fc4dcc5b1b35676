"""End to end: `python pipelines/local_runner.py` on the bundled penguins, read back from ML
Metadata and the pushed SavedModel."""

from __future__ import annotations

import json

import pytest

from components.common import serving_dir
from pipelines.build.compiler import STAGES
from pipelines.runs.summary import latest_run
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Known penguins from the raw data: (features, species). One has no sex recorded.
KNOWN = [
    ({"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0,
      "body_mass_g": 3750.0, "sex": "male", "year": 2007}, "Adelie"),
    ({"island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2, "flipper_length_mm": 211.0,
      "body_mass_g": 4500.0, "sex": "female", "year": 2007}, "Gentoo"),
    ({"island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192.0,
      "body_mass_g": 3500.0, "sex": "female", "year": 2007}, "Chinstrap"),
    ({"island": "Dream", "bill_length_mm": 50.0, "bill_depth_mm": 19.5, "flipper_length_mm": 196.0,
      "body_mass_g": 3900.0, "year": 2007}, "Chinstrap"),
]


def tf_example(features: dict) -> bytes:
    import tensorflow as tf

    feature = {}
    for name, value in features.items():
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_every_component_executed_and_is_recorded_in_ml_metadata(penguin_run):
    summary = latest_run(str(penguin_run.metadata))
    assert sorted(summary.executions) == sorted(STAGES)
    assert set(summary.executions.values()) == {"COMPLETE"}


def test_a_run_leaves_nothing_in_the_temporary_folder(penguin_run):
    """TFX packages itself into /tmp for every Beam stage (49 MB each, never removed) unless the
    runner is told that a DirectRunner needs no package: a test suite filled a CI disk that way."""
    left = sorted(str(p.relative_to(penguin_run.tmpdir)) for p in penguin_run.tmpdir.rglob("*"))
    assert not [p for p in left if "tfx_ephemeral" in p or p.endswith("setup.py")], left[:20]
    size = sum(p.stat().st_size for p in penguin_run.tmpdir.rglob("*") if p.is_file())
    assert size < 1 << 20, (size, left[:20])


def test_eval_accuracy_is_at_least_090_and_the_model_is_blessed(penguin_run):
    summary = latest_run(str(penguin_run.metadata))
    assert summary.metrics["accuracy"] >= 0.90
    assert summary.blessed is True
    assert summary.reasons["accuracy"].startswith("OK: accuracy")


def test_a_version_was_pushed_in_tf_serving_layout(penguin_run):
    assert serving_dir.versions(str(penguin_run.serving)) == [1]
    version = penguin_run.serving / "1"
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    metadata = json.loads((version / serving_dir.METADATA_FILE).read_text())
    assert metadata["version"] == 1 and metadata["metrics"]["accuracy"] >= 0.9
    assert metadata["source_run"] and metadata["blessing_reasons"]["accuracy"].startswith("OK")


def test_pushed_model_classifies_raw_tf_examples_of_known_penguins(penguin_run):
    import tensorflow as tf

    model = tf.saved_model.load(str(penguin_run.serving / "1"))
    serve = model.signatures["serving_default"]
    outputs = serve(examples=tf.constant([tf_example(f) for f, _ in KNOWN]))
    species = [s.decode() for s in outputs["classes"].numpy()]
    assert species == [s for _, s in KNOWN]
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(KNOWN), 3)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-5


def test_runner_prints_stages_with_durations_and_a_summary(penguin_run):
    out = penguin_run.stdout
    for stage in STAGES:
        assert f"{stage:<17} started" in out and f"{stage:<17} done in" in out
    assert "metrics: accuracy=" in out
    assert "blessed: yes" in out
    assert f"pushed: {penguin_run.serving / '1'}" in out


def test_training_run_artifacts(penguin_run):
    runs = list((penguin_run.root / "pipeline" / "Trainer" / "model_run").glob("*"))
    assert len(runs) == 1
    history = json.loads((runs[0] / "history.json").read_text())
    assert history["stop_reason"] and history["epochs"][0]["learning_rate"] == pytest.approx(0.01)
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history["epochs"][0])
    assert (runs[0] / "learning_curve.png").stat().st_size > 1000
    assert any((runs[0] / "tensorboard").rglob("events.out.tfevents.*"))


def test_unchanged_rerun_pushes_nothing_new(penguin_run):
    result = run_cli("--root", str(penguin_run.root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert serving_dir.versions(str(penguin_run.serving)) == [1]
    assert "nothing changed since run " in result.stdout and "started" not in result.stdout
    assert "metrics: accuracy=" in result.stdout  # the summary of the run that covers this one


@pytest.mark.slow
@pytest.mark.e2e
def test_a_second_fresh_root_trains_the_bit_identical_model(penguin_run, tmp_path):
    """Same spec, same data, fresh root: same batches, same weights, same fingerprint (CPU)."""

    result = run_cli("--root", str(tmp_path / "again"))
    assert result.returncode == 0, result.stdout + result.stderr
    first = (penguin_run.serving / "1" / serving_dir.FINGERPRINT_FILE).read_text()
    second = (tmp_path / "again" / "serving" / "1" / serving_dir.FINGERPRINT_FILE).read_text()
    assert first == second


@pytest.mark.slow
@pytest.mark.e2e
def test_runs_lists_the_history_from_ml_metadata(penguin_run, capsys):
    from pipelines import cli

    assert cli.main(["runs", "--root", str(penguin_run.root), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    first = history[-1]  # newest first: the fixture's run is the oldest
    assert first["status"] == "complete" and first["blessed"] is True and first["pushed_version"] == 1
    assert first["metric"]["name"] == "accuracy" and first["metric"]["value"] >= 0.9 and first["seconds"] > 0
    assert cli.main(["runs", "--root", str(penguin_run.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["started", "status", "seconds"]
    assert "complete" in lines[-1] and lines[-1].rstrip().endswith(" 1")
