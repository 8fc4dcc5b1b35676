"""The Pusher's work: publish a blessed model as the next TF Serving version, unless the same
model (same fingerprint) is already serving or was withdrawn by a rollback.

Deciding and publishing happen under the destination's push lock, so two pushers cannot both
decide "push" for one model, nor take the same version number."""

from __future__ import annotations

import json
import time
from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.utils import path_utils

from components.common import io, serving_dir
from components.common.io import CONFIG_KEY
from components.evaluator.executor import BLESSING_FILE


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        cfg = json.loads(exec_properties[CONFIG_KEY])
        model = input_dict["model"][0]
        blessing = input_dict["model_blessing"][0]
        pushed = output_dict["pushed_model"][0]
        destination = cfg["destination"]
        verdict = io.read_json(io.join(blessing.uri, BLESSING_FILE))
        model_path = path_utils.serving_model_path(model.uri)
        with serving_dir.push_lock(destination):
            decision = push_decision(verdict, model_path, destination)
            pushed.set_string_custom_property("push_decision", decision)
            if decision != "push":
                pushed.set_int_custom_property("pushed", 0)
                logging.info("Pusher: not pushed: %s", decision)
                return
            metadata = {
                "metrics": verdict["metrics"],
                "blessing_reasons": verdict["reasons"],
                "forced": verdict["forced"],
                "source_model": model.uri,
                "source_run": (self._context.pipeline_run_id if self._context else None) or "",
                "data_span": verdict.get("span"),
                "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            version = serving_dir.publish(model_path, destination, metadata, cfg["keep_versions"])
        pushed.set_int_custom_property("pushed", 1)
        pushed.set_int_custom_property("pushed_version", version)
        pushed.set_string_custom_property("pushed_destination", serving_dir.version_path(destination, version))
        logging.info("Pusher: pushed version %d to %s", version, destination)


def push_decision(verdict: dict, model_path: str, destination: str) -> str:
    """'push', or why not."""
    if not verdict["blessed"]:
        return "not blessed: " + "; ".join(r for r in verdict["reasons"].values() if r.startswith("FAILED"))
    candidate = serving_dir.read_text(model_path, serving_dir.FINGERPRINT_FILE)
    serving = serving_dir.latest_version_path(destination)
    if serving and candidate and candidate == serving_dir.read_text(serving, serving_dir.FINGERPRINT_FILE):
        return f"identical to the serving version {serving} (same fingerprint)"
    withdrawn = serving_dir.withdrawn_version(destination, candidate)
    if withdrawn:
        return (f"identical to version {withdrawn['version']}, which was rolled back at {withdrawn['at']} "
                f"(same fingerprint); a withdrawn model is not published again")
    return "push"
