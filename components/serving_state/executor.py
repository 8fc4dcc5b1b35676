"""ServingState's work: read the push destination (its versions, each version's fingerprint and
files, the rollback record) and write it as `serving_state.json`."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor

from components.common import keys, payloads, serving_dir
from components.common.configs import DestinationConfig
from components.common.keys import CONFIG_KEY, SERVING_STATE_KEY


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        destination = DestinationConfig.model_validate_json(exec_properties[CONFIG_KEY]).destination
        state = serving_dir.state(destination)
        artifact = output_dict[SERVING_STATE_KEY][0]
        payloads.write_serving_state(artifact.uri, state)
        artifact.set_string_custom_property(keys.DESTINATION, destination)
        artifact.set_string_custom_property(keys.DIGEST, state["digest"])
        artifact.set_string_custom_property(keys.SERVING_PATH, state["serving_path"] or "")
        logging.info("ServingState: %s serves at %s (%d version(s), %d withdrawn)",
                     state["serving_path"] or "nothing", destination, len(state["versions"]),
                     len(state["withdrawn"]))


def read(artifacts: list) -> dict:
    """The state an upstream ServingState wrote (its artifact list, as executors receive it)."""
    return payloads.read_serving_state(artifacts[0].uri)

