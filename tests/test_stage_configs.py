"""Every custom stage's config is one typed model (components/common/configs.py): the compiler
builds it, the executor reads it with `model_validate_json`. This compiles the bundled spec and
variants that switch on every optional stage and field (a Tuner, warm_start, an inferred schema,
a regression, the Kubeflow target) and validates each stage's config against its model."""

from __future__ import annotations

import json

import pytest

from components.common import configs
from components.common.io import CONFIG_KEY
from pipelines.spec import load_spec
from tests.conftest import PENGUIN_YAML, REPO, write_spec

DATA = REPO / "pipelines" / "penguin" / "data"
SCHEMA = REPO / "schemas" / "penguin" / "schema.pbtxt"
VARIANTS = {
    "tuner_and_warm_start": f"""
name: penguin_Tuned
data: {{path: {DATA}, label: species, exclude: [year]}}
schema: {{path: {SCHEMA}}}
trainer: {{max_epochs: 3, warm_start: true, model: {{wide: false}}}}
tuner: {{max_trials: 2, search: {{learning_rate: {{min: 0.001, max: 0.03}}, hidden_units: [[8], [16]]}}}}
""",
    "inferred_schema_regression": f"""
name: visits
data: {{path: {REPO / 'tests' / 'data' / 'honest'}, label: visits, drop_unlabeled: true, exclude: [date]}}
trainer: {{max_epochs: 2}}
""",
}


def _compiled_configs(spec, tmp_path, target="local") -> dict[str, str]:
    from pipelines.build.compiler import compile_pipeline
    from pipelines.kubeflow.runner import kubeflow_paths
    from pipelines.runs.paths import RunPaths

    paths = RunPaths.of(spec, str(tmp_path / "root")) if target == "local" else kubeflow_paths(spec,
                                                                                               "gs://b/r")
    pipeline = compile_pipeline(spec, paths, target=target)
    return {c.id: c.exec_properties[CONFIG_KEY] for c in pipeline.components
            if CONFIG_KEY in c.exec_properties}


def _specs(tmp_path):
    yield "penguin", load_spec(PENGUIN_YAML)
    for name, text in VARIANTS.items():
        yield name, load_spec(write_spec(tmp_path, text, f"{name}.yaml"))


@pytest.mark.parametrize("target", ["local", "kubeflow"])
def test_every_stage_config_validates_against_its_model(tmp_path, target):
    seen = set()
    for name, spec in _specs(tmp_path):
        if target == "kubeflow" and name != "penguin":
            continue
        found = _compiled_configs(spec, tmp_path, target)
        assert set(found) <= set(configs.STAGE_CONFIGS), f"a stage without a config model: {set(found)}"
        for stage, text in found.items():
            model = configs.STAGE_CONFIGS[stage]
            parsed = model.model_validate_json(text)  # what the executor does
            # nothing unmodelled: the JSON's keys are the model's fields
            assert set(json.loads(text)) == set(type(parsed).model_fields), (name, stage)
            seen.add(stage)
    expected = set(configs.STAGE_CONFIGS) - ({"Tuner", "SchemaGen"} if target == "kubeflow" else set())
    assert seen >= expected, set(configs.STAGE_CONFIGS) - seen


def test_the_trainer_config_carries_the_specs_values_not_second_defaults(tmp_path):
    spec = load_spec(write_spec(tmp_path, VARIANTS["tuner_and_warm_start"], "t.yaml"))
    found = _compiled_configs(spec, tmp_path)
    trainer = configs.TrainerConfig.model_validate_json(found["Trainer"])
    assert trainer.model.wide is False and trainer.destination == str(tmp_path / "root" / "serving")
    assert configs.TrainerConfig.model_validate_json(_compiled_configs(load_spec(PENGUIN_YAML), tmp_path)[
        "Trainer"]).model.wide is True  # the spec's default, which the executor no longer restates
    tuner = configs.TunerConfig.model_validate_json(found["Tuner"])
    assert tuner.tuner.max_trials == 2 and tuner.trainer.max_epochs == 3


def test_a_renamed_field_fails_when_read_naming_it():
    from pydantic import ValidationError

    good = configs.PusherConfig(destination="/x", keep_versions=3).model_dump_json()
    with pytest.raises(ValidationError, match="keep_version"):
        configs.PusherConfig.model_validate_json(good.replace("keep_versions", "keep_version"))


# --- every spec of the repository, and "auto" decided once (issue 20) ---------------------------

SPECS = sorted((REPO / "tests" / "data").rglob("*.yaml")) + [PENGUIN_YAML]


def _validated(found: dict[str, str]) -> dict:
    """Each stage's config read as its executor reads it (a ValidationError names the field)."""
    return {stage: configs.STAGE_CONFIGS[stage].model_validate_json(text) for stage, text in found.items()}


def test_every_spec_in_tests_data_and_the_bundled_one_compiles_to_valid_stage_configs(tmp_path, monkeypatch):
    """Each spec under tests/data (the bad-spec corpus: most are refused when loaded or checked,
    with a SpecError) and pipelines/penguin either is refused with a SpecError or compiles, and
    then every stage's config validates against its model, with the task decided the same way
    for every stage that needs it."""
    from pipelines.spec import SpecError

    monkeypatch.chdir(tmp_path)
    compiled = []
    for path in SPECS:
        try:
            spec = load_spec(path)
            found = _validated(_compiled_configs(spec, tmp_path / path.stem))
        except SpecError:
            continue
        compiled.append(path.name)
        trainer, batching, evaluator = found["Trainer"], found["Batching"], found["Evaluator"]
        assert batching.task == trainer.task and batching.loss == trainer.loss, path
        assert trainer.task in ("classification", "regression"), path  # local CSV: read, so decided
        decided = [trainer.loss, trainer.metrics, trainer.model.output_activation, evaluator.metrics,
                   evaluator.compare_metric]
        assert "auto" not in decided, (path, decided)
        if "Tuner" in found:
            assert found["Tuner"].trainer == trainer, path
    # the bundled spec, and the corpus specs refused only after compiling (an unwritable root, ...)
    assert "pipeline.yaml" in compiled and len(compiled) > 1, compiled
    print(f"compiled: {len(compiled)} of {len(SPECS)} specs: {', '.join(compiled)}")


def _before_issue_20(task: str, trainer, evaluator) -> dict:
    """The "auto" rules as the Trainer (model.resolve_head) and Evaluator (bless) wrote them before
    they were decided at compile time: the recorded choices must be these."""
    classification = task == "classification"
    loss = trainer.loss if trainer.loss != "auto" else (
        "sparse_categorical_crossentropy" if classification else "mse")
    activation = trainer.model.output_activation
    if activation == "auto":
        activation = "sigmoid" if loss == "binary_crossentropy" else (
            "softmax" if classification else "linear")
    return {"loss": loss, "activation": activation,
            "metrics": (["accuracy"] if classification else ["mae"]) if trainer.metrics == "auto"
            else list(trainer.metrics),
            "compare_metric": ("accuracy" if classification else "r2") if evaluator.compare_metric == "auto"
            else evaluator.compare_metric}


@pytest.mark.parametrize(("name", "task", "loss", "metrics", "activation", "compare", "reason"), [
    ("penguin", "classification", "sparse_categorical_crossentropy", ["accuracy"], "softmax", "accuracy",
     "label 'species' holds text: 3 distinct value(s) in 344 rows of the data"),
    ("inferred_schema_regression", "regression", "mse", ["mae"], "linear", "r2",
     "integer label 'visits' takes values 0..36 (37 possible classes) in 351 rows of the data"),
])
def test_the_task_loss_and_metrics_are_decided_at_compile_time_and_recorded(
        tmp_path, name, task, loss, metrics, activation, compare, reason):
    from pipelines.spec.models import CLASSIFICATION_METRICS, REGRESSION_METRICS

    spec = dict(_specs(tmp_path))[name]
    assert spec.trainer.task == "auto" and spec.evaluator.compare_metric == "auto"  # the spec leaves it
    found = _validated(_compiled_configs(spec, tmp_path))
    trainer, batching, evaluator = found["Trainer"], found["Batching"], found["Evaluator"]
    assert (trainer.task, trainer.loss, trainer.metrics, trainer.model.output_activation) == (
        task, loss, metrics, activation)
    assert (batching.task, batching.loss) == (task, loss)
    assert batching.task_reason.startswith(reason), batching.task_reason  # the plan line's words
    assert evaluator.compare_metric == compare
    every = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    assert evaluator.metrics == list(every)
    before = _before_issue_20(task, spec.trainer, spec.evaluator)  # the same choices as before
    assert (before["loss"], before["metrics"], before["activation"], before["compare_metric"]) == (
        loss, metrics, activation, compare)


def test_a_task_set_in_the_spec_is_not_given_an_inferred_reason(tmp_path):
    spec = load_spec(write_spec(tmp_path, f"name: p\ndata: {{path: {DATA}, label: species}}\n"
                                          "trainer: {task: classification, max_epochs: 2}\n"))
    batching = _validated(_compiled_configs(spec, tmp_path))["Batching"]
    assert batching.task == "classification" and batching.task_reason is None  # Batching says "trainer.task"


def test_data_the_compiler_does_not_read_keeps_auto_for_the_executors_to_decide_the_same_way(tmp_path):
    """Kubeflow with its data on an object store: the compiler does not read the label, so the
    configs keep "auto", and the executors decide with the same functions: Batching infers the
    task (features.infer_task), the Trainer, Tuner and Evaluator apply for_task to it."""
    from components.common.features import infer_task

    remote = load_spec(write_spec(tmp_path, "name: p\ndata: {path: 'gs://bucket/penguins', label: species}\n"
                                            "trainer: {max_epochs: 2}\n", "remote.yaml"))
    local = load_spec(write_spec(tmp_path, f"name: p\ndata: {{path: {DATA}, label: species}}\n"
                                           "trainer: {max_epochs: 2}\n", "local.yaml"))
    found = _validated(_compiled_configs(remote, tmp_path, target="kubeflow"))
    trainer, evaluator = found["Trainer"], found["Evaluator"]
    left = (found["Batching"].task, found["Batching"].task_reason, trainer.task, trainer.loss,
            trainer.metrics, evaluator.compare_metric)
    assert left == ("auto", None, "auto", "auto", "auto", "auto")
    task, _ = infer_task("species", "string", 3, 230, found["Batching"].task, found["Batching"].loss)
    decided = _validated(_compiled_configs(local, tmp_path / "local"))
    assert trainer.for_task(task).model_dump(exclude={"destination"}) == decided["Trainer"].model_dump(
        exclude={"destination"})
    assert evaluator.for_task(task) == decided["Evaluator"]
