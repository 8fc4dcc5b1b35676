"""The Evaluator's work: score the candidate and the model now serving on the same eval split,
apply the thresholds, and always write a blessing with one reason per metric."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import standard_artifact_utils
from tfx.utils import path_utils

from components.common import io, payloads, serving_dir
from components.common.configs import EvaluatorConfig
from components.common.features import CLASSIFICATION, FeaturePlan, first_values_of
from components.common.io import CONFIG_KEY
from components.evaluator import metrics as m
from components.serving_state import executor as serving_state


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = EvaluatorConfig.model_validate_json(exec_properties[CONFIG_KEY])
        model_path = path_utils.serving_model_path(input_dict["model"][0].uri)
        plan = _plan(model_path)
        records = eval_files(input_dict["examples"])
        candidate = evaluate_saved_model(model_path, records, plan)
        state = serving_state.read(input_dict["serving_state"])
        baseline_path = state["serving_path"]
        baseline, baseline_note = None, f"no model is serving at {state['destination']}"
        if baseline_path:
            if _plan(baseline_path).classes != plan.classes:
                baseline_note = f"serving model {baseline_path} has other classes; not comparable"
            else:
                baseline = evaluate_saved_model(baseline_path, records, plan)
                baseline_note = f"serving model {baseline_path}"
        verdict = bless(candidate, baseline, cfg, plan.task)
        verdict["baseline"] = baseline_note
        verdict["baseline_version"] = state["serving_version"] if baseline else None
        verdict["serving_state"] = state["digest"]
        verdict["span"] = _span(input_dict["examples"][0])
        blessing = output_dict["blessing"][0]
        blessing.set_int_custom_property("blessed", int(verdict["blessed"]))
        blessing.set_int_custom_property("forced", int(verdict["forced"]))
        blessing.set_string_custom_property("current_model", input_dict["model"][0].uri)
        payloads.write_blessing(blessing.uri, verdict)
        io.write_text(io.join(blessing.uri, "BLESSED" if verdict["blessed"] else "NOT_BLESSED"), "")
        payloads.write_metrics(output_dict["evaluation"][0].uri,
                               {"candidate": candidate, "baseline": baseline})
        logging.info("Evaluator: %s", json.dumps(verdict))


def _span(examples) -> int | None:
    """The data span the eval examples came from (ExampleGen's span property), if any."""
    return examples.get_int_custom_property("span") if examples.has_custom_property("span") else None


def _plan(model_path: str) -> FeaturePlan:
    return FeaturePlan.from_json(io.read_text(io.join(model_path, serving_dir.PLAN_FILE)))


def eval_files(examples: list) -> list[str]:
    """The eval split's files (ExampleGen's output)."""
    uri = standard_artifact_utils.get_split_uri(examples, "eval")
    return io.glob(io.join(uri, "*"))


def evaluate_saved_model(path: str, files: list[str], plan: FeaturePlan, chunk: int = 8192) -> dict:
    """Metrics of the SavedModel at `path` on the serialized raw examples in `files`, through its
    serving signature (the same path TF Serving takes). The files are streamed in chunks: only the
    labels, encoded chunk by chunk (float32 class ids or values, and which are usable), and the
    model's outputs are kept, as numpy arrays."""
    serve = tf.saved_model.load(path).signatures["serving_default"]
    label_spec = {plan.label: tf.io.RaggedFeature(tf.string if plan.label_kind == "string" else
                                                  tf.int64 if plan.label_kind == "int" else tf.float32)}
    compression = "GZIP" if files and files[0].endswith(".gz") else ""
    data = tf.data.TFRecordDataset(files, compression_type=compression)
    labels, usable, outputs = [], [], []
    for batch in data.batch(chunk).prefetch(1):
        parsed = tf.io.parse_example(batch, label_spec)[plan.label]
        encoded, keep = plan.encode_labels(first_values_of(parsed.row_lengths().numpy(),
                                                           parsed.flat_values.numpy()))
        labels.append(encoded)
        usable.append(keep)
        result = serve(examples=batch)
        outputs.append(result["probabilities" if plan.task == CLASSIFICATION else "prediction"].numpy())
    if not outputs:
        labels, keep = plan.encode_labels(pa.nulls(0, pa.binary()))
        return _metrics(plan, labels[keep], np.zeros((0,)))
    keep, labels, predicted = np.concatenate(usable), np.concatenate(labels), np.concatenate(outputs)
    del usable, outputs
    if not keep.all():
        labels, predicted = labels[keep], predicted[keep]
    return _metrics(plan, labels, predicted)


def _metrics(plan: FeaturePlan, labels: np.ndarray, predicted: np.ndarray) -> dict:
    if plan.task == CLASSIFICATION:
        return m.classification_metrics(labels, predicted, plan.classes)
    return m.regression_metrics(labels, predicted)


def bless(candidate: dict, baseline: dict | None, cfg: EvaluatorConfig | dict, task: str) -> dict:
    """The blessing: every threshold met and, on `compare_metric`, not worse than the serving
    model beyond `compare_tolerance` (or forced), with one reason per metric. `cfg`: the
    Evaluator's config (or a dict: the evaluator section's keys, the spec's defaults for the rest),
    with any "auto" the compiler left (it could not read the label) decided for `task` here."""
    if isinstance(cfg, dict):
        cfg = EvaluatorConfig.model_validate_json(json.dumps(cfg))
    cfg = cfg.for_task(task)
    thresholds = {name: t.model_dump() for name, t in cfg.thresholds.items()}
    compared = cfg.compare_metric
    names = list(dict.fromkeys(list(cfg.metrics) + list(thresholds) + ([compared] if compared else [])))
    unknown = [n for n in names if n not in candidate]
    if unknown:
        allowed = m.CLASSIFICATION_METRICS if task == CLASSIFICATION else m.REGRESSION_METRICS
        raise ValueError(f"evaluator metric(s) {', '.join(unknown)} do not apply to {task}; use "
                         f"{', '.join(allowed)} in evaluator.metrics, evaluator.thresholds and "
                         "evaluator.compare_metric")
    reasons, passed = {}, True
    for name in names:
        tolerance = cfg.compare_tolerance if name == compared else None
        ok, reason = m.judge(name, candidate[name], thresholds.get(name, {}),
                             baseline[name] if baseline else None, tolerance)
        passed &= ok
        reasons[name] = ("OK: " if ok else "FAILED: ") + reason
    forced = cfg.force_bless and not passed
    return {
        "blessed": passed or forced,
        "forced": forced,
        "compare_metric": compared,
        "reasons": reasons,
        "metrics": {n: candidate[n] for n in names},
        "baseline_metrics": {n: baseline[n] for n in names} if baseline else None,
    }
