"""Evaluator: validation metrics of the candidate and of the model now serving, and a blessing.

Its baseline is the version that serves at the push destination, as the ServingState stage read
it (an input: a changed destination re-runs the Evaluator), so the compiled pipeline needs no TFX
Resolver and runs unchanged on Kubeflow Pipelines.
"""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.artifacts import ServingState
from components.common.stage_spec import StageComponent, stage_spec
from components.evaluator import executor

EXAMPLES_KEY = keys.EXAMPLES_KEY
MODEL_KEY = keys.MODEL_KEY
BLESSING_KEY = keys.BLESSING_KEY
EVALUATION_KEY = keys.EVALUATION_KEY
SERVING_STATE_KEY = keys.SERVING_STATE_KEY


class Evaluator(StageComponent):
    """Args:
        examples: ExampleGen's examples (the eval split is used, raw).
        model: the Trainer's model.
        serving_state: ServingState's output: the model serving now is the baseline.
        config: JSON of the spec's `evaluator` section.
    """

    SPEC_CLASS = stage_spec(
        "EvaluatorSpec", __name__,
        inputs={EXAMPLES_KEY: standard_artifacts.Examples, MODEL_KEY: standard_artifacts.Model,
                SERVING_STATE_KEY: ServingState},
        outputs={BLESSING_KEY: standard_artifacts.ModelBlessing,
                 EVALUATION_KEY: standard_artifacts.ModelEvaluation})
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
