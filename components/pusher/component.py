"""Pusher: publishes only blessed models, versioned, atomically and idempotently."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.artifacts import ServingState
from components.common.stage_spec import StageComponent, stage_spec
from components.pusher import executor

MODEL_KEY = keys.MODEL_KEY
BLESSING_KEY = keys.MODEL_BLESSING_KEY
PUSHED_MODEL_KEY = keys.PUSHED_MODEL_KEY
SERVING_STATE_KEY = keys.SERVING_STATE_KEY
# optional: the eval examples (the serving check's calls and warm-up requests), the Evaluator's
# metrics and the Trainer's run (the model card)
EXAMPLES_KEY = keys.EXAMPLES_KEY
EVALUATION_KEY = keys.EVALUATION_KEY
MODEL_RUN_KEY = keys.MODEL_RUN_KEY


class Pusher(StageComponent):
    """Args:
        model: the Trainer's model.
        model_blessing: the Evaluator's blessing.
        serving_state: ServingState's output (what the Evaluator compared against).
        examples: ExampleGen's examples (optional: without them no serving check runs).
        evaluation: the Evaluator's metrics (optional; the model card's metrics).
        model_run: the Trainer's run (optional; the model card's training section).
        config: JSON with "destination", "keep_versions", "name", "model_card" and "model".
    """

    SPEC_CLASS = stage_spec(
        "PusherSpec", __name__,
        inputs={MODEL_KEY: standard_artifacts.Model, BLESSING_KEY: standard_artifacts.ModelBlessing,
                SERVING_STATE_KEY: ServingState, EXAMPLES_KEY: standard_artifacts.Examples,
                EVALUATION_KEY: standard_artifacts.ModelEvaluation,
                MODEL_RUN_KEY: standard_artifacts.ModelRun},
        optional=(EXAMPLES_KEY, EVALUATION_KEY, MODEL_RUN_KEY),
        outputs={PUSHED_MODEL_KEY: standard_artifacts.PushedModel})
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
