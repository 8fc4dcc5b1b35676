"""The spec loader: defaults, and errors that name the file, the key, the value and the fix."""

from __future__ import annotations

import json

import pytest

from pipelines.spec import SpecError, load_spec, parse_spec
from pipelines.spec.json_schema import SCHEMA_PATH, render
from tests.conftest import PENGUIN_YAML, write_spec

MINIMAL = """
name: demo
data:
  path: data
  label: y
"""


def test_minimal_spec_gets_defaults():
    spec = parse_spec(MINIMAL)
    assert spec.trainer.optimizer.name == "adam"
    assert spec.trainer.early_stopping.monitor == "val_loss"
    assert spec.batching.batch_size == 32
    assert spec.data.splits.train == 2 and spec.data.splits.eval == 1
    assert spec.runtime.enable_cache is True
    assert spec.evaluator.thresholds == {}


def test_bundled_penguin_spec_loads_and_resolves_paths_against_its_file():
    spec = load_spec(PENGUIN_YAML)
    assert spec.name == "penguin"
    assert spec.data.path == str(PENGUIN_YAML.parent / "data")
    assert spec.schema_.path.endswith("schemas/penguin/schema.pbtxt")


def test_optimizer_typo_names_file_key_line_and_suggests(tmp_path):
    path = write_spec(tmp_path, MINIMAL + "trainer:\n  optimizer:\n    name: adamm\n")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert str(path) in message
    assert "'trainer.optimizer.name' (line 8)" in message
    assert "'adamm' is not allowed" in message
    assert "sgd, momentum, adam, adamw, adagrad, adadelta, rmsprop" in message
    assert "did you mean 'adam'?" in message


def test_unknown_key_is_an_error_with_a_close_match():
    with pytest.raises(SpecError, match=r"key 'trainer.max_epoch' \(line 7\): unknown key; allowed here: .*"
                                         r"did you mean 'max_epochs'\?"):
        parse_spec(MINIMAL + "trainer:\n  max_epoch: 3\n")


def test_unknown_top_level_section():
    with pytest.raises(SpecError, match=r"key 'trainr'.*did you mean 'trainer'\?"):
        parse_spec(MINIMAL + "trainr: {}\n")


def test_missing_required_key():
    with pytest.raises(SpecError, match=r"key 'data.label' .*required, but missing"):
        parse_spec("name: demo\ndata:\n  path: data\n")


def test_every_problem_is_listed_at_once():
    with pytest.raises(SpecError) as error:
        parse_spec(MINIMAL + "batching:\n  batch_size: 0\ntrainer:\n  loss: mse2\n")
    assert len(error.value.problems) == 2
    assert "batching.batch_size" in str(error.value)
    assert "did you mean 'mse'?" in str(error.value)


def test_out_of_range_value_names_the_value():
    with pytest.raises(SpecError, match=r"'trainer.optimizer.learning_rate'.*greater than 0.*got -0.1"):
        parse_spec(MINIMAL + "trainer:\n  optimizer: {learning_rate: -0.1}\n")


@pytest.mark.parametrize(("trainer", "reason"), [
    ("task: regression\n  loss: sparse_categorical_crossentropy",
     "needs class labels, but the task is regression"),
    ("loss: kl_divergence\n  model: {output_activation: sigmoid}", "does not produce one"),
    ("loss: categorical_crossentropy\n  model: {output_activation: relu}", "does not produce one"),
    ("model: {output_activation: softmax, output_units: 1}", "softmax on a single output unit"),
    ("task: regression\n  model: {output_activation: softmax}", "not a regression value"),
    ("optimizer: {name: adam, nesterov: true}",
     r"'trainer.optimizer.nesterov' \(line 7\): applies to the 'momentum' optimizer only"),
    ("reduce_lr_on_plateau: {}\n  plateau_restarts: {}", "keep one of them"),
])
def test_combinations_that_cannot_train_are_refused_at_load(trainer, reason):
    with pytest.raises(SpecError, match=reason):
        parse_spec(MINIMAL + "trainer:\n  " + trainer + "\n")


def test_evaluator_metric_of_the_wrong_task_is_refused():
    with pytest.raises(SpecError,
                       match="key 'evaluator.thresholds'.*metric 'r2' does not apply to classification"):
        parse_spec(MINIMAL
                   + "trainer: {task: classification}\nevaluator:\n  thresholds: {r2: {lower_bound: 0.5}}\n")


def test_invalid_yaml_and_non_mapping():
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("name: [unclosed\n")
    with pytest.raises(SpecError, match="top level must be a mapping"):
        parse_spec("- a\n- b\n")


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        load_spec("/nonexistent/pipeline.yaml")


def test_json_schema_in_schemas_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "schemas/pipeline.schema.json is stale: run `make schema` (python -m pipelines.spec.json_schema "
        "--write)")
    schema = json.loads(render())
    assert "trainer" in schema["properties"] and schema["additionalProperties"] is False


def test_runner_refuses_a_bad_spec_before_writing_anything(tmp_path, capsys):
    from pipelines.local import runner as local_runner

    path = write_spec(tmp_path, MINIMAL + "trainer:\n  optimizer: {name: adamm}\n")
    assert local_runner.run(path, root=str(tmp_path / "root")) == local_runner.EXIT_BAD_INPUT
    assert "did you mean 'adam'?" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


def test_monitor_must_be_a_compiled_metric_or_loss():
    with pytest.raises(SpecError,
                       match=r"trainer.early_stopping.monitor' \(line \d+\): 'val_acc' is not a compiled "
                             r"metric or loss; expected one of: val_loss, loss, val_accuracy.*did you mean "
                             r"'val_accuracy'\?"):
        parse_spec(MINIMAL + "trainer:\n  task: classification\n  early_stopping: {monitor: val_acc}\n")
    spec = parse_spec(MINIMAL + "trainer:\n  metrics: [mse]\n  early_stopping: {monitor: val_mse}\n")
    assert spec.trainer.early_stopping.monitor == "val_mse"


def test_a_learning_rate_schedule_cannot_be_lowered_on_plateaus():
    with pytest.raises(SpecError, match="cannot lower it"):
        parse_spec(MINIMAL + "trainer:\n  optimizer: {schedule: cosine_decay}\n  reduce_lr_on_plateau: {}\n")


def test_field_errors_and_cross_field_problems_are_reported_in_one_pass(tmp_path):
    """Pydantic runs a section's cross-field checks only once its fields are valid; load_spec
    validates again with the invalid values left out, so a wrong loss for the task shows with a
    bad max_epochs in the same section, and a spec-level check with a field error elsewhere."""
    path = write_spec(tmp_path, MINIMAL + "batching: {batch_size: 0}\n"
                      "trainer: {max_epochs: 0, task: regression, loss: sparse_categorical_crossentropy}\n")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    problems = error.value.problems
    assert len(problems) == 3, problems
    assert "'batching.batch_size' (line 6)" in problems[0] and "'trainer.max_epochs' (line 7)" in problems[1]
    assert "'trainer' (line 7): loss 'sparse_categorical_crossentropy' needs class labels" in problems[2]
    # a check across sections (the whole spec's), with a field error elsewhere
    path = write_spec(tmp_path, MINIMAL + "batching: {batch_size: 0}\ntrainer: {task: regression}\n"
                      "evaluator: {thresholds: {accuracy: {lower_bound: 0.9}}}\n")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    problems = error.value.problems
    assert len(problems) == 2 and "'batching.batch_size' (line 6)" in problems[0], problems
    assert "'evaluator.thresholds' (line 8): metric 'accuracy' does not apply to regression" in problems[1]


@pytest.mark.parametrize(("trainer", "field"), [
    ("optimizer: {name: adamm, momentum: 0.5}", "trainer.optimizer.name"),  # no "momentum ... not 'adam'"
    ("metrics: [mse2]\n  early_stopping: {monitor: val_mse}", "trainer.metrics"),  # no "monitor val_mse ..."
])
def test_a_value_left_out_for_the_second_pass_raises_no_false_alarm(trainer, field):
    """A cross-field check that may depend on a left-out value (it names the key or its default)
    is not reported in the same pass: fixing the value may settle it."""
    with pytest.raises(SpecError) as error:
        parse_spec(MINIMAL + "trainer:\n  " + trainer + "\n")
    assert all(f"'{field}" in p for p in error.value.problems), error.value.problems
