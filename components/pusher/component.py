"""Pusher: publishes only blessed models, versioned, atomically and idempotently."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common.artifacts import ServingState
from components.common.stage_spec import StageComponent, stage_spec
from components.pusher import executor

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
PUSHED_MODEL_KEY = "pushed_model"
SERVING_STATE_KEY = "serving_state"


class Pusher(StageComponent):
    """Args:
        model: the Trainer's model.
        model_blessing: the Evaluator's blessing.
        serving_state: ServingState's output (what the Evaluator compared against).
        config: JSON with "destination" and "keep_versions".
    """

    SPEC_CLASS = stage_spec(
        "PusherSpec", __name__,
        inputs={MODEL_KEY: standard_artifacts.Model, BLESSING_KEY: standard_artifacts.ModelBlessing,
                SERVING_STATE_KEY: ServingState},
        outputs={PUSHED_MODEL_KEY: standard_artifacts.PushedModel})
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
