"""Trainer: trains the model the spec names on the Batching stage's mini-batches."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.artifacts import Batches
from components.common.io import CONFIG_KEY
from components.common.stage_spec import StageComponent, stage_spec
from components.trainer import executor

BATCHES_KEY = keys.BATCHES_KEY
MODEL_KEY = keys.MODEL_KEY
MODEL_RUN_KEY = keys.MODEL_RUN_KEY
HYPERPARAMETERS_KEY = keys.HYPERPARAMETERS_KEY
# With warm_start: the digest of the serving version's weights when the run started
# (serving_dir.reference_digest), which keys the cache ("" without warm_start, or unchecked).
SERVING_DIGEST_KEY = keys.SERVING_DIGEST_KEY


class Trainer(StageComponent):
    """Args:
        batches: the Batching stage's output.
        config: JSON of the spec's `trainer` section.
        hyperparameters: the Tuner's best values (TFX's HyperParameters artifact), which replace
            the config's; optional.
        serving_digest: the serving weights' digest at the run's start (warm_start), else "".
    """

    SPEC_CLASS = stage_spec(
        "TrainerSpec", __name__,
        inputs={BATCHES_KEY: Batches, HYPERPARAMETERS_KEY: standard_artifacts.HyperParameters},
        outputs={MODEL_KEY: standard_artifacts.Model, MODEL_RUN_KEY: standard_artifacts.ModelRun},
        optional=(HYPERPARAMETERS_KEY,), parameters=(CONFIG_KEY, SERVING_DIGEST_KEY))
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
