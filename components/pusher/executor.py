"""The Pusher's work: publish a blessed model as the next TF Serving version, unless the same
model (same fingerprint) is already serving or was withdrawn by a rollback, or the serving
directory changed since the Evaluator compared the candidate with it.

Deciding and publishing happen under the destination's push lock, so two pushers cannot both
decide "push" for one model, nor take the same version number."""

from __future__ import annotations

import time
from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.utils import path_utils

from components.common import io, keys, payloads, serving_dir, serving_layout
from components.common.configs import PusherConfig
from components.common.io import CONFIG_KEY
from components.serving_state import executor as serving_state


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = PusherConfig.model_validate_json(exec_properties[CONFIG_KEY])
        model = input_dict["model"][0]
        blessing = input_dict["model_blessing"][0]
        pushed = output_dict["pushed_model"][0]
        destination = cfg.destination
        verdict = payloads.read_blessing(blessing.uri)
        compared = serving_state.read(input_dict["serving_state"])
        model_path = path_utils.serving_model_path(model.uri)
        with serving_dir.push_lock(destination):
            now = serving_dir.state(destination)
            decision = push_decision(verdict, model_path, destination, compared, now)
            pushed.set_string_custom_property(keys.PUSH_DECISION, decision)
            pushed.set_string_custom_property(keys.SERVING_PATH, now["serving_path"] or "")
            if decision != "push":
                pushed.set_int_custom_property(keys.PUSHED, 0)
                _record_fingerprint(pushed, destination)
                logging.info("Pusher: not pushed: %s", decision)
                return
            metadata = {
                "metrics": verdict["metrics"],
                "baseline_metrics": verdict.get("baseline_metrics"),
                "blessing_reasons": verdict["reasons"],
                "forced": verdict["forced"],
                "source_model": model.uri,
                "source_run": (self._context.pipeline_run_id if self._context else None) or "",
                "data_span": verdict.get("span"),
                "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            version = serving_dir.publish(model_path, destination, metadata, cfg.keep_versions)
            _record_fingerprint(pushed, destination)
        pushed.set_int_custom_property(keys.PUSHED, 1)
        pushed.set_int_custom_property(keys.PUSHED_VERSION, version)
        pushed.set_string_custom_property(keys.PUSHED_DESTINATION,
                                          serving_dir.version_path(destination, version))
        pushed.set_string_custom_property(keys.SERVING_PATH, serving_dir.version_path(destination, version))
        logging.info("Pusher: pushed version %d to %s", version, destination)


def _record_fingerprint(pushed, destination: str) -> None:
    """What a local destination looks like as this Pusher leaves it (under the push lock): the
    runner's fast path may cover the serving directory only if it still looks like this."""
    if not io.is_remote(destination):
        pushed.set_string_custom_property(keys.SERVING_FINGERPRINT,
                                          serving_layout.local_fingerprint(destination))


def push_decision(verdict: dict, model_path: str, destination: str, compared: dict, now: dict) -> str:
    """'push', or why not. `compared` is the serving state the Evaluator compared against, `now`
    the state under the push lock: a blessing against a model that no longer serves is stale."""
    if not verdict["blessed"]:
        return "not blessed: " + "; ".join(r for r in verdict["reasons"].values() if r.startswith("FAILED"))
    if now["digest"] != compared["digest"]:
        return (f"the serving directory {destination} changed after the Evaluator compared against it "
                f"(then: {compared['serving_path'] or 'no model serving'}; now: "
                f"{now['serving_path'] or 'no model serving'}); the blessing is stale. Run again: the next "
                "run compares the candidate with what serves now")
    candidate = serving_dir.read_text(model_path, serving_dir.FINGERPRINT_FILE)
    serving = now["serving_path"]
    if serving and candidate and candidate == serving_dir.read_text(serving, serving_dir.FINGERPRINT_FILE):
        return f"identical to the serving version {serving} (same fingerprint)"
    withdrawn = serving_dir.withdrawn_version(destination, candidate)
    if withdrawn:
        return (f"identical to version {withdrawn['version']}, which was rolled back at {withdrawn['at']} "
                f"(same fingerprint); a withdrawn model is not published again")
    return "push"
