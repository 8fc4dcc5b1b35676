"""DataGate: reads ExampleValidator's anomalies and stops the run, with a readable report, when
the data must not reach training."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.artifacts import DataGateResult
from components.common.io import CONFIG_KEY
from components.common.stage_spec import StageComponent, stage_spec
from components.data_gate import executor

ANOMALIES_KEY = keys.ANOMALIES_KEY
STATISTICS_KEY = keys.STATISTICS_KEY
SCHEMA_KEY = keys.SCHEMA_KEY
RESULT_KEY = keys.RESULT_KEY
# The digest of the serving version's train statistics when the run started
# (serving_dir.reference_digest): it keys the cache, so a rollback or a removed version runs the
# drift check again; "" reads unchecked (and drift: null reads nothing).
SERVING_DIGEST_KEY = keys.SERVING_DIGEST_KEY


class DataGate(StageComponent):
    """Fails the run on anomalies, and on drift from the data that trained the serving model.

    Args:
        anomalies: ExampleValidator's `anomalies` channel.
        statistics, schema: StatisticsGen's and SchemaGen's outputs (for the drift checks).
        config: JSON of `validation` in the spec ({"fail_on": "any" | [kinds], "exempt_features":
            [names], "drift": {...} | null}) plus "destination" (the serving directory) and
            "exclude" (columns that are not features: no drift check).
        serving_digest: the digest of the serving version's statistics at the run's start.
    """

    SPEC_CLASS = stage_spec(
        "DataGateSpec", __name__,
        inputs={ANOMALIES_KEY: standard_artifacts.ExampleAnomalies,
                STATISTICS_KEY: standard_artifacts.ExampleStatistics, SCHEMA_KEY: standard_artifacts.Schema},
        outputs={RESULT_KEY: DataGateResult},
        parameters=(CONFIG_KEY, SERVING_DIGEST_KEY))
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
