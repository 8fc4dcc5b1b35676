"""The serving check before a version is visible (components/pusher/serving_check.py): the
candidate is loaded in a fresh TensorFlow-only process and must answer the eval examples as the
Evaluator did. A real pushed version passes and carries TF Serving's warm-up file; real broken
SavedModels (a renamed signature, NaN outputs, one that needs the exporting process's Python
code) are refused with their reason, and through the Pusher's executor they are not pushed."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.common import payloads, serving_dir
from components.pusher import serving_check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eval_records(penguin_run) -> list[bytes]:
    files = sorted(glob.glob(str(penguin_run.root / "pipeline/ExampleGen/examples/*/Split-eval/*")))
    return serving_check.eval_examples(files)


def _module(outputs, name="serving_default") -> tf.Module:
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return outputs(examples)

    module.serve = serve
    module.name_ = name
    return module


def save(module: tf.Module, path: Path, name: str = "serving_default") -> str:
    tf.saved_model.save(module, str(path), signatures={name: module.serve.get_concrete_function()})
    return str(path)


def nan_outputs(examples):
    n = tf.shape(examples)[0]
    return {"probabilities": tf.fill([n, 3], float("nan")), "class_ids": tf.zeros([n], tf.int64)}


def zero_outputs(examples):
    n = tf.shape(examples)[0]
    return {"probabilities": tf.zeros([n, 3]), "class_ids": tf.zeros([n], tf.int64)}


def python_outputs(examples):
    """Calls back into this process's Python: works here, cannot in any other process."""
    value = tf.py_function(lambda x: np.zeros((len(x.numpy()), 3), np.float32), [examples], tf.float32)
    return {"probabilities": tf.reshape(value, [-1, 3])}


def test_a_pushed_version_passed_the_check_and_has_the_warmup_file(penguin_run, eval_records):
    version = penguin_run.serving / "1"
    pushed = json.loads((version / serving_dir.METADATA_FILE).read_text())
    check = pushed["serving_check"]
    assert check["ok"], check
    assert check["examples"] == len(eval_records) > 0
    assert set(check["latency_ms"]) == {"1", "64"}
    for figures in check["latency_ms"].values():
        assert 0 < figures["p50"] <= figures["p99"]
    assert check["tolerance"] == {"atol": serving_check.ATOL, "rtol": serving_check.RTOL}
    assert check["modules_added_by_the_model"] == []

    from tensorflow_serving.apis import prediction_log_pb2

    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in
               tf.data.TFRecordDataset(str(version / serving_check.WARMUP_FILE))]
    assert 0 < len(records) <= serving_check.MAX_WARMUP_RECORDS
    sizes = set()
    for log in records:
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        sent = tf.make_ndarray(request.inputs["examples"])
        sizes.add(len(sent))
        assert set(sent.tolist()) <= set(eval_records)
    assert sizes == {1, 64}


def test_the_probe_answers_as_the_evaluator(penguin_run, eval_records):
    """The pushed version, checked again: passes; the reference is the Evaluator's own call."""
    result = serving_check.check(str(penguin_run.serving / "1"), eval_records)
    assert result.ok, result.reason
    assert "as the Evaluator did" in result.reason
    assert result.probe["project_modules"] == []


def test_a_renamed_signature_is_refused(tmp_path, eval_records):
    path = save(_module(zero_outputs), tmp_path / "renamed", name="predict")
    result = serving_check.check(path, eval_records)
    assert not result.ok
    assert "no 'serving_default' signature; the model has ['predict']" in result.reason


def test_nan_outputs_are_refused(tmp_path, eval_records):
    path = save(_module(nan_outputs), tmp_path / "nan")
    result = serving_check.check(path, eval_records)
    assert not result.ok
    assert f"answers NaN or infinity in output 'probabilities' for {len(eval_records)} of" in result.reason


def test_a_model_that_needs_this_process_code_is_refused(tmp_path, eval_records):
    path = save(_module(python_outputs), tmp_path / "pyfunc")
    # it answers here, where its Python function lives ...
    here = tf.saved_model.load(path).signatures["serving_default"](examples=tf.constant(eval_records[:2]))
    assert here["probabilities"].shape == (2, 3)
    # ... but not in a TensorFlow-only process, as TF Serving would run it
    result = serving_check.check(path, eval_records)
    assert not result.ok
    assert "'serving_default' fails on raw eval examples in a TensorFlow-only process" in result.reason
    assert "Could not find callback with key=pyfunc_" in result.reason, result.reason
    assert "calls back into Python" in result.reason


def test_answers_other_than_the_evaluators_are_refused(penguin_run, eval_records):
    """The judgement of the probe's answers against the Evaluator's (the tolerance stated)."""
    reference = serving_check.reference_outputs(str(penguin_run.serving / "1"), eval_records)
    answers = {64: dict(reference), 1: dict(reference)}
    assert serving_check._difference(answers, reference) is None
    nudged = reference["probabilities"].copy()
    nudged[3, 0] += 1e-3
    answers[1] = {**reference, "probabilities": nudged}
    problem = serving_check._difference(answers, reference)
    assert problem.startswith("output 'probabilities' differs from the Evaluator's for 1 of")
    assert "batch size 1 (first: example 3" in problem


def test_the_pusher_does_not_push_a_candidate_that_fails_the_check(penguin_run, tmp_path):
    """The Pusher's executor, with real artifacts: a blessed NaN model is not published."""
    from tfx.types import standard_artifacts

    from components.common.artifacts import ServingState
    from components.pusher.executor import Executor

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    save(_module(nan_outputs), tmp_path / "model" / "Format-Serving")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    payloads.write_blessing(blessing.uri, {"blessed": True, "forced": False, "reasons": {"accuracy": "OK: x"},
                                           "metrics": {"accuracy": 1.0}, "baseline_metrics": None})
    destination = str(tmp_path / "serving")
    state = ServingState()
    state.uri = str(tmp_path / "state")
    payloads.write_serving_state(state.uri, serving_dir.state(destination))
    examples = standard_artifacts.Examples()
    examples.uri = glob.glob(str(penguin_run.root / "pipeline/ExampleGen/examples/*"))[0]
    examples.split_names = '["train", "eval"]'
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    config = json.dumps({"destination": destination, "keep_versions": 3, "name": "broken"})
    Executor().Do({"model": [model], "model_blessing": [blessing], "serving_state": [state],
                   "examples": [examples]}, {"pushed_model": [pushed]}, {"config": config})
    decision = pushed.get_string_custom_property("push_decision")
    assert decision.startswith("serving check failed: 'serving_default' answers NaN"), decision
    assert pushed.get_int_custom_property("pushed") == 0
    assert serving_dir.versions(destination) == []
    assert json.loads(pushed.get_string_custom_property("serving_check"))["ok"] is False
