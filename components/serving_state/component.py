"""ServingState: what serves at the push destination now, as an artifact that the Evaluator and
the Pusher take as an input.

TFX reuses a cached execution when its inputs and parameters are unchanged. The destination is
not an artifact of the pipeline, so without this stage a cached Evaluator would keep a verdict
against a serving model that was since deleted, rolled back or replaced by another root, and a
cached Pusher would never restore a deleted version. This stage's parameter `state_digest` is the
digest of the destination as the runner read it when the run started (`serving_dir.state_digest`,
ServingDirectory.digest): an unchanged destination keeps this stage, the Evaluator and the Pusher
cached; any change runs all three. (SchemaGen, the DataGate and warm start are keyed apart, by the
one file each reads from the serving version: see pipelines/build/compiler.py SERVING_REFERENCES.)
On Kubeflow (compiled long before it runs) the digest is empty and the compiled pipeline turns
the cache off for this stage, the Evaluator and the Pusher.
"""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec

from components.common import keys
from components.common.artifacts import ServingState as ServingStateArtifact
from components.common.io import CONFIG_KEY
from components.common.stage_spec import StageComponent, stage_spec
from components.serving_state import executor

STATE_KEY = keys.SERVING_STATE_KEY
DIGEST_KEY = keys.STATE_DIGEST_KEY


class ServingState(StageComponent):
    """Args:
        config: JSON with "destination", the push directory.
        state_digest: the destination's digest when the pipeline was compiled ("" on Kubeflow).
    """

    SPEC_CLASS = stage_spec(
        "ServingStateSpec", __name__,
        inputs={}, outputs={STATE_KEY: ServingStateArtifact},
        parameters=(CONFIG_KEY, DIGEST_KEY))
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
