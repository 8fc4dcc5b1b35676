"""DataGate: reads ExampleValidator's anomalies and stops the run, with a readable report, when
the data must not reach training."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common.artifacts import DataGateResult
from components.common.stage_spec import StageComponent, stage_spec
from components.data_gate import executor

ANOMALIES_KEY = "anomalies"
STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
RESULT_KEY = "result"


class DataGate(StageComponent):
    """Fails the run on anomalies, and on drift from the data that trained the serving model.

    Args:
        anomalies: ExampleValidator's `anomalies` channel.
        statistics, schema: StatisticsGen's and SchemaGen's outputs (for the drift checks).
        config: JSON of `validation` in the spec ({"fail_on": "any" | [kinds], "exempt_features":
            [names], "drift": {...} | null}) plus "destination" (the serving directory) and
            "exclude" (columns that are not features: no drift check).
    """

    SPEC_CLASS = stage_spec(
        "DataGateSpec", __name__,
        inputs={ANOMALIES_KEY: standard_artifacts.ExampleAnomalies,
                STATISTICS_KEY: standard_artifacts.ExampleStatistics, SCHEMA_KEY: standard_artifacts.Schema},
        outputs={RESULT_KEY: DataGateResult})
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
