"""Batching: the Beam stage between validation and training."""

from __future__ import annotations

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from components.batching import executor
from components.common import keys
from components.common.artifacts import Batches, DataGateResult
from components.common.stage_spec import StageComponent, stage_spec

EXAMPLES_KEY = keys.EXAMPLES_KEY
SCHEMA_KEY = keys.SCHEMA_KEY
STATISTICS_KEY = keys.STATISTICS_KEY
GATE_KEY = keys.GATE_KEY
BATCHES_KEY = keys.BATCHES_KEY


class Batching(StageComponent, base_beam_component.BaseBeamComponent):
    """Writes shuffled mini-batches of the train and eval splits.

    Args:
        examples, schema, statistics: ExampleGen's, (Import)SchemaGen's and StatisticsGen's outputs.
        gate: the DataGate's result (the data passed validation); optional: the compiler orders
            Batching after the DataGate instead, so that its cache is not keyed by the verdict.
        config: JSON with "label", "exclude", "task", "batch_size", "eval_batch_size",
            "shuffle_seed" and "drop_remainder".
    """

    SPEC_CLASS = stage_spec(
        "BatchingSpec", __name__,
        inputs={EXAMPLES_KEY: standard_artifacts.Examples, SCHEMA_KEY: standard_artifacts.Schema,
                STATISTICS_KEY: standard_artifacts.ExampleStatistics, GATE_KEY: DataGateResult},
        outputs={BATCHES_KEY: Batches}, optional=(GATE_KEY,))
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
