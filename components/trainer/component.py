"""Trainer: trains the model the spec names on the Batching stage's mini-batches."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts

from components.common.artifacts import Batches
from components.common.stage_spec import stage_spec
from components.trainer import executor

BATCHES_KEY = "batches"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
HYPERPARAMETERS_KEY = "hyperparameters"


TrainerSpec = stage_spec(
    "TrainerSpec", __name__,
    inputs={BATCHES_KEY: Batches, HYPERPARAMETERS_KEY: standard_artifacts.HyperParameters},
    outputs={MODEL_KEY: standard_artifacts.Model, MODEL_RUN_KEY: standard_artifacts.ModelRun},
    optional=(HYPERPARAMETERS_KEY,))


class Trainer(base_component.BaseComponent):
    """Args:
        batches: the Batching stage's output.
        config: JSON of the spec's `trainer` section.
        hyperparameters: the Tuner's best values (TFX's HyperParameters artifact), which replace
            the config's; optional.
    """

    SPEC_CLASS = TrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, batches, config: str, hyperparameters=None):
        super().__init__(spec=TrainerSpec(
            batches=batches, config=config, hyperparameters=hyperparameters,
            model=Channel(type=standard_artifacts.Model), model_run=Channel(type=standard_artifacts.ModelRun),
        ))
