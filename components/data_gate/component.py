"""DataGate: reads ExampleValidator's anomalies and stops the run, with a readable report, when
the data must not reach training."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.common.artifacts import DataGateResult
from components.common.io import CONFIG_KEY
from components.data_gate import executor

ANOMALIES_KEY = "anomalies"
RESULT_KEY = "result"


class DataGateSpec(ComponentSpec):
    PARAMETERS = {CONFIG_KEY: ExecutionParameter(type=str)}  # noqa: RUF012
    INPUTS = {ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}  # noqa: RUF012
    OUTPUTS = {RESULT_KEY: ChannelParameter(type=DataGateResult)}  # noqa: RUF012


class DataGate(base_component.BaseComponent):
    """Fails the run on anomalies.

    Args:
        anomalies: ExampleValidator's `anomalies` channel.
        config: JSON of `validation` in the spec: {"fail_on": "any" | [kinds],
            "exempt_features": [names]}.
    """

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies, config: str):
        super().__init__(
            spec=DataGateSpec(anomalies=anomalies, config=config, result=Channel(type=DataGateResult))
        )
