"""A custom stage's TFX component, stated as data: its ComponentSpec (the JSON config parameter,
read by the executor as the stage's typed model in components/common/configs.py, and its input and
output channels by key and artifact type) and a component class that builds its output channels.
TFX's own components write both as class bodies; here one function and one base class keep the
eight stages from repeating that shape."""

from __future__ import annotations

from tfx.dsl.components.base import base_component
from tfx.types import Channel
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.common.io import CONFIG_KEY


def stage_spec(name: str, module: str, inputs: dict[str, type], outputs: dict[str, type],
               optional: tuple[str, ...] = (),
               parameters: tuple[str, ...] = (CONFIG_KEY,)) -> type[ComponentSpec]:
    """A ComponentSpec subclass named `name` in `module`: one string ExecutionParameter per name in
    `parameters`, a ChannelParameter per input (optional when its key is in `optional`) and output."""
    return type(name, (ComponentSpec,), {
        "__module__": module,
        "PARAMETERS": {key: ExecutionParameter(type=str) for key in parameters},
        "INPUTS": {key: ChannelParameter(type=kind, optional=key in optional)
                   for key, kind in inputs.items()},
        "OUTPUTS": {key: ChannelParameter(type=kind) for key, kind in outputs.items()},
    })


class StageComponent(base_component.BaseComponent):
    """A custom stage: built from its inputs and parameters by keyword (the keys of its SPEC_CLASS);
    its outputs are new channels of the types the spec names."""

    def __init__(self, **inputs_and_parameters):
        outputs = {key: Channel(type=parameter.type) for key, parameter in self.SPEC_CLASS.OUTPUTS.items()}
        super().__init__(spec=self.SPEC_CLASS(**inputs_and_parameters, **outputs))
