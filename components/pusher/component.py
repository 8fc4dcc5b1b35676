"""Pusher: publishes only blessed models, versioned, atomically and idempotently."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.common.artifacts import ServingState
from components.common.io import CONFIG_KEY
from components.pusher import executor

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
PUSHED_MODEL_KEY = "pushed_model"
SERVING_STATE_KEY = "serving_state"


class PusherSpec(ComponentSpec):
    PARAMETERS = {CONFIG_KEY: ExecutionParameter(type=str)}  # noqa: RUF012
    INPUTS = {  # noqa: RUF012
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        SERVING_STATE_KEY: ChannelParameter(type=ServingState),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel)}  # noqa: RUF012


class Pusher(base_component.BaseComponent):
    """Args:
        model: the Trainer's model.
        model_blessing: the Evaluator's blessing.
        serving_state: ServingState's output (what the Evaluator compared against).
        config: JSON with "destination" and "keep_versions".
    """

    SPEC_CLASS = PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model, model_blessing, serving_state, config: str):
        super().__init__(spec=PusherSpec(
            model=model, model_blessing=model_blessing, serving_state=serving_state, config=config,
            pushed_model=Channel(type=standard_artifacts.PushedModel),
        ))
