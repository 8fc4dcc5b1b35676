"""The Pusher's work: publish a blessed model as the next TF Serving version, unless the same
model (same fingerprint) is already serving."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.utils import path_utils

from components.common import serving_dir
from components.common.io import CONFIG_KEY, read_json
from components.evaluator.executor import BLESSING_FILE


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        cfg = json.loads(exec_properties[CONFIG_KEY])
        model = input_dict["model"][0]
        blessing = input_dict["model_blessing"][0]
        pushed = output_dict["pushed_model"][0]
        destination = cfg["destination"]
        verdict = read_json(os.path.join(blessing.uri, BLESSING_FILE))
        model_path = path_utils.serving_model_path(model.uri)
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
        version = serving_dir.publish(model_path, destination, metadata, cfg.get("keep_versions", 5))
        pushed.set_int_custom_property("pushed", 1)
        pushed.set_int_custom_property("pushed_version", version)
        pushed.set_string_custom_property("pushed_destination", os.path.join(destination, str(version)))
        logging.info("Pusher: pushed version %d to %s", version, destination)


def push_decision(verdict: dict, model_path: str, destination: str) -> str:
    """'push', or why not."""
    if not verdict["blessed"]:
        return "not blessed: " + "; ".join(r for r in verdict["reasons"].values() if r.startswith("FAILED"))
    serving = serving_dir.latest_version_path(destination)
    if serving:
        same = serving_dir.read_text(serving, serving_dir.FINGERPRINT_FILE)
        if same and same == serving_dir.read_text(model_path, serving_dir.FINGERPRINT_FILE):
            return f"identical to the serving version {serving} (same fingerprint)"
    return "push"
