"""Trainer: trains the model the spec names on the Batching stage's mini-batches."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common.artifacts import Batches
from components.common.stage_spec import StageComponent, stage_spec
from components.trainer import executor

BATCHES_KEY = "batches"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
HYPERPARAMETERS_KEY = "hyperparameters"


class Trainer(StageComponent):
    """Args:
        batches: the Batching stage's output.
        config: JSON of the spec's `trainer` section.
        hyperparameters: the Tuner's best values (TFX's HyperParameters artifact), which replace
            the config's; optional.
    """

    SPEC_CLASS = stage_spec(
        "TrainerSpec", __name__,
        inputs={BATCHES_KEY: Batches, HYPERPARAMETERS_KEY: standard_artifacts.HyperParameters},
        outputs={MODEL_KEY: standard_artifacts.Model, MODEL_RUN_KEY: standard_artifacts.ModelRun},
        optional=(HYPERPARAMETERS_KEY,))
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
