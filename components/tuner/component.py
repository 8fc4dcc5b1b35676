"""Tuner: searches the spec's `tuner.search` space with KerasTuner on the Batching stage's
mini-batches, training the trainer's own model, and outputs the best values as TFX's
HyperParameters artifact (best_hyperparameters.txt, as TFX's Tuner writes it) and every trial as
a TunerResults artifact (tuner_results.json, best first)."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.artifacts import Batches
from components.common.stage_spec import StageComponent, stage_spec
from components.tuner import executor

BATCHES_KEY = keys.BATCHES_KEY
BEST_KEY = keys.BEST_HYPERPARAMETERS_KEY
RESULTS_KEY = keys.TUNER_RESULTS_KEY


class Tuner(StageComponent):
    """Args:
        batches: the Batching stage's output.
        config: JSON of {"trainer": the trainer's config, "tuner": the spec's `tuner` section}.
    """

    SPEC_CLASS = stage_spec(
        "TunerSpec", __name__,
        inputs={BATCHES_KEY: Batches},
        outputs={BEST_KEY: standard_artifacts.HyperParameters, RESULTS_KEY: standard_artifacts.TunerResults})
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
