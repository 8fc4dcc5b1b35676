"""StatisticsGen: TFX's component (same spec, outputs and id) with this project's executor,
which reads the examples a block of records at a time."""

from __future__ import annotations

from tfx.components.statistics_gen import component
from tfx.dsl.components.base import executor_spec

from components.statistics_gen import executor


class StatisticsGen(component.StatisticsGen):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
