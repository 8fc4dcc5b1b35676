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
