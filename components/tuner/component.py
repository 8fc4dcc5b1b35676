"""Tuner: searches the spec's `tuner.search` space with KerasTuner on the Batching stage's
mini-batches, training the trainer's own model, and outputs the best values as TFX's
HyperParameters artifact (best_hyperparameters.txt, as TFX's Tuner writes it) and every trial as
a TunerResults artifact (tuner_results.json, best first)."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts

from components.common.artifacts import Batches
from components.common.stage_spec import stage_spec
from components.tuner import executor

BATCHES_KEY = "batches"
BEST_KEY = "best_hyperparameters"
RESULTS_KEY = "tuner_results"


TunerSpec = stage_spec(
    "TunerSpec", __name__,
    inputs={BATCHES_KEY: Batches},
    outputs={BEST_KEY: standard_artifacts.HyperParameters, RESULTS_KEY: standard_artifacts.TunerResults})


class Tuner(base_component.BaseComponent):
    """Args:
        batches: the Batching stage's output.
        config: JSON of {"trainer": the trainer's config, "tuner": the spec's `tuner` section}.
    """

    SPEC_CLASS = TunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, batches, config: str):
        super().__init__(spec=TunerSpec(
            batches=batches, config=config,
            best_hyperparameters=Channel(type=standard_artifacts.HyperParameters),
            tuner_results=Channel(type=standard_artifacts.TunerResults),
        ))
