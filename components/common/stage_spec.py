"""The ComponentSpec of a custom stage, stated as data: its JSON config parameter (read by the
executor as the stage's typed model in components/common/configs.py), its input and output
channels by key and artifact type. TFX's own components write these as class bodies; one function
keeps the eight stages' specs from repeating that shape."""

from __future__ import annotations

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
