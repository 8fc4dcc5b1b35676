"""The Pusher's work: publish a blessed model as the next TF Serving version, unless the same
model (same fingerprint) is already serving or was withdrawn by a rollback, or the serving
directory changed since the Evaluator compared the candidate with it.

Deciding and publishing happen under the destination's push lock, so two pushers cannot both
decide "push" for one model, nor take the same version number.

Publishing stages the candidate in a local folder, runs the serving check on it (a fresh
TensorFlow-only process; components/pusher/serving_check.py), adds TF Serving's warm-up file and
the model card (components/pusher/model_card.py) to it, and only then publishes it: a candidate
that fails the check is not pushed and the reason is the push decision (summary and report)."""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.utils import path_utils

from components.common import io, keys, payloads, serving_dir, serving_layout
from components.common.configs import PusherConfig
from components.common.keys import (
    CONFIG_KEY,
    EVALUATION_KEY,
    EXAMPLES_KEY,
    MODEL_BLESSING_KEY,
    MODEL_KEY,
    MODEL_RUN_KEY,
    PUSHED_MODEL_KEY,
    SERVING_STATE_KEY,
)
from components.pusher import model_card, serving_check
from components.serving_state import executor as serving_state


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = PusherConfig.model_validate_json(exec_properties[CONFIG_KEY])
        model = input_dict[MODEL_KEY][0]
        blessing = input_dict[MODEL_BLESSING_KEY][0]
        pushed = output_dict[PUSHED_MODEL_KEY][0]
        destination = cfg.destination
        verdict = payloads.read_blessing(blessing.uri)
        compared = serving_state.read(input_dict[SERVING_STATE_KEY])
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
            with tempfile.TemporaryDirectory(prefix="push-staging-") as staging:
                staged = io.join(staging, "candidate")
                io.copytree(model_path, staged)
                failure = _check_and_complete(staged, input_dict, cfg, verdict, metadata, now, pushed)
                if failure:
                    pushed.set_string_custom_property(keys.PUSH_DECISION, failure)
                    pushed.set_int_custom_property(keys.PUSHED, 0)
                    _record_fingerprint(pushed, destination)
                    logging.warning("Pusher: not pushed: %s", failure)
                    return
                version = serving_dir.publish(staged, destination, metadata, cfg.keep_versions)
            _record_fingerprint(pushed, destination)
        pushed.set_int_custom_property(keys.PUSHED, 1)
        pushed.set_int_custom_property(keys.PUSHED_VERSION, version)
        pushed.set_string_custom_property(keys.PUSHED_DESTINATION,
                                          serving_dir.version_path(destination, version))
        pushed.set_string_custom_property(keys.SERVING_PATH, serving_dir.version_path(destination, version))
        logging.info("Pusher: pushed version %d to %s", version, destination)


def _check_and_complete(staged: str, input_dict: dict, cfg: PusherConfig, verdict: dict, metadata: dict,
                        now: dict, pushed) -> str | None:
    """The serving check on the staged candidate, then its warm-up file and model card (written
    into the staged folder, so they are published with it). Returns why it must not be pushed, or
    None. Without eval examples (a Pusher built without them) the check is skipped, and said."""
    from components.evaluator.executor import eval_files

    examples = (serving_check.eval_examples(eval_files(input_dict[EXAMPLES_KEY]))
                if input_dict.get(EXAMPLES_KEY) else [])
    check = None
    if examples:
        result = serving_check.check(staged, examples)
        check = result.to_json()
        pushed.set_string_custom_property("serving_check", json.dumps(check, sort_keys=True))
        if not result.ok:
            return f"serving check failed: {result.reason}"
        serving_check.write_warmup(staged, examples)
        metadata["serving_check"] = check
    else:
        pushed.set_string_custom_property("serving_check", "skipped: the Pusher was given no eval examples")
    version = next_version(cfg.destination)
    model_card.write(staged, card_inputs(staged, input_dict, cfg, verdict, check, now, version,
                                         metadata["source_run"]))
    return None


def next_version(destination: str) -> int:
    """The number serving_dir.publish gives the next version (call under the push lock)."""
    return max([serving_dir.read_record(destination)["last_version"], *serving_dir.versions(destination)]) + 1


def card_inputs(staged: str, input_dict: dict, cfg: PusherConfig, verdict: dict, check: dict | None,
                now: dict, version: int, run_id: str) -> model_card.CardInputs:
    plan = json.loads(io.read_text(io.join(staged, serving_dir.PLAN_FILE)))
    metrics = history = None
    if input_dict.get(EVALUATION_KEY):
        metrics = payloads.read_metrics(input_dict[EVALUATION_KEY][0].uri)
    if input_dict.get(MODEL_RUN_KEY):
        history = payloads.read_history(input_dict[MODEL_RUN_KEY][0].uri, missing_ok=True)
    return model_card.CardInputs(
        name=cfg.name or "model", version=version,
        path=serving_dir.version_path(cfg.destination, version), date=time.strftime("%Y-%m-%d"),
        section=cfg.model_card, model=cfg.model, plan=plan, verdict=verdict, metrics=metrics,
        history=history, check=check, run_id=run_id, replaced=now.get("serving_version"),
        label_counts=model_card.label_counts(io.join(staged, serving_dir.STATISTICS_FILE),
                                             plan.get("label", "")))


def _record_fingerprint(pushed, destination: str) -> None:
    """What a local destination looks like as this Pusher leaves it (under the push lock): the
    runner's fast path may cover the serving directory only if it still looks like this."""
    if not io.is_remote(destination):
        pushed.set_string_custom_property(keys.SERVING_FINGERPRINT,
                                          serving_layout.ServingDirectory(destination).digest())


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
