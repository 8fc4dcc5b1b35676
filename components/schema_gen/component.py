"""SchemaGen for pipelines without a curated schema: the schema of the model now serving, kept with
it when it was pushed, is the pipeline's schema; only the very first run infers one.

Without this, each run would infer its schema from the very data it is about to validate, and a
new category or text in a numeric column would always "match". With it, later runs are validated
against the schema of the data that trained the serving model; `tfx-yaml schema freeze` writes it
to a file for curation (then `schema.path` takes over, through TFX's ImportSchemaGen).
"""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from components.common import keys
from components.common.io import CONFIG_KEY
from components.common.stage_spec import StageComponent, stage_spec
from components.schema_gen import executor

STATISTICS_KEY = keys.STATISTICS_KEY
SCHEMA_KEY = keys.SCHEMA_KEY
# The digest of the serving version's schema when the run started (serving_dir.reference_digest):
# it keys the cache, so a rollback or a removed version runs SchemaGen again; "" reads unchecked.
SERVING_DIGEST_KEY = keys.SERVING_DIGEST_KEY


class PipelineSchemaGen(StageComponent):
    """Args:
        statistics: StatisticsGen's output (used only when no model serves yet).
        config: JSON with "destination", the serving directory.
        serving_digest: the digest of the serving version's schema at the run's start.
    """

    SPEC_CLASS = stage_spec(
        "PipelineSchemaGenSpec", __name__,
        inputs={STATISTICS_KEY: standard_artifacts.ExampleStatistics},
        outputs={SCHEMA_KEY: standard_artifacts.Schema},
        parameters=(CONFIG_KEY, SERVING_DIGEST_KEY))
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
