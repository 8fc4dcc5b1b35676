"""The pipeline schema: the serving model's, else inferred by TFX's own SchemaGen executor."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx.components.schema_gen import executor as tfx_schema_gen

from components.common import io, serving_dir
from components.common.configs import DestinationConfig
from components.common.io import CONFIG_KEY

SCHEMA_FILE = "schema.pbtxt"  # TFX's name, in the Schema artifact and in a pushed model's assets.extra


def serving_schema(destination: str) -> str | None:
    """The schema kept with the serving version (the newest that loads), if there is one."""
    serving = serving_dir.latest_version_path(destination) if destination else None
    path = io.join(serving, serving_dir.SCHEMA_FILE) if serving else None
    return path if path and io.exists(path) else None


class Executor(tfx_schema_gen.Executor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = DestinationConfig.model_validate_json(exec_properties[CONFIG_KEY])
        schema = output_dict["schema"][0]
        # what serves as the run's start keyed this stage's cache: read exactly that (or stop)
        serving, kept, _ = serving_dir.reference(cfg.destination, serving_dir.SCHEMA_FILE,
                                                 exec_properties.get("serving_digest") or "")
        if kept is not None:
            io.write_bytes(io.join(schema.uri, SCHEMA_FILE), kept)
            source = f"kept with the serving model: {io.join(serving, serving_dir.SCHEMA_FILE)}"
        else:
            super().Do(input_dict, output_dict, {"infer_feature_shape": True, "exclude_splits": "[]"})
            source = ("inferred from this run's statistics (" + (
                f"the serving model {serving} keeps no schema)" if serving else "no model serves yet)"))
        schema.set_string_custom_property("schema_source", source)
        logging.info("SchemaGen: schema %s", source)
