"""Trainer: trains the model the spec names on the Batching stage's mini-batches."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.common.artifacts import Batches
from components.common.io import CONFIG_KEY
from components.trainer import executor

BATCHES_KEY = "batches"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
HYPERPARAMETERS_KEY = "hyperparameters"


class TrainerSpec(ComponentSpec):
    PARAMETERS = {CONFIG_KEY: ExecutionParameter(type=str)}  # noqa: RUF012
    INPUTS = {  # noqa: RUF012
        BATCHES_KEY: ChannelParameter(type=Batches),
        HYPERPARAMETERS_KEY: ChannelParameter(type=standard_artifacts.HyperParameters, optional=True),
    }
    OUTPUTS = {  # noqa: RUF012
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }


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
