"""The Evaluator's work: score the candidate and the model now serving on the same eval split,
apply the thresholds, and always write a blessing with one reason per metric."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import standard_artifact_utils
from tfx.utils import path_utils

from components.common import forest_ops, io, payloads, serving_dir
from components.common.configs import EvaluatorConfig
from components.common.features import CLASSIFICATION, FeaturePlan, first_values_of
from components.common.keys import (
    BLESSING_KEY,
    CONFIG_KEY,
    EVALUATION_KEY,
    EXAMPLES_KEY,
    MODEL_KEY,
    SERVING_STATE_KEY,
)
from components.evaluator import bootstrap, slices
from components.evaluator import metrics as m
from components.serving_state import executor as serving_state


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = EvaluatorConfig.model_validate_json(exec_properties[CONFIG_KEY])
        model_path = path_utils.serving_model_path(input_dict[MODEL_KEY][0].uri)
        plan = _plan(model_path)
        records = eval_files(input_dict[EXAMPLES_KEY])
        scored = score_saved_model(model_path, records, plan, slice_features(records, cfg.slices))
        candidate = _metrics(plan, scored.labels, scored.predicted)
        state = serving_state.read(input_dict[SERVING_STATE_KEY])
        baseline_path = state["serving_path"]
        baseline, baseline_note, serving = None, f"no model is serving at {state['destination']}", None
        if baseline_path:
            try:  # the newest version that loads (ServingState skipped damaged newer ones)
                if _plan(baseline_path).classes != plan.classes:
                    baseline_note = f"serving model {baseline_path} has other classes; not comparable"
                else:
                    serving = score_saved_model(baseline_path, records, plan, {}).predicted
                    baseline = _metrics(plan, scored.labels, serving)
                    baseline_note = f"serving model {baseline_path}"
            except Exception as error:  # damage the cheap checks missed: say what to do
                raise serving_dir.ServingError(
                    f"the serving model {baseline_path} cannot be loaded to compare with "
                    f"({type(error).__name__}: {str(error)[:300]}); "
                    f"{serving_dir.damage_fix(state['destination'], state['serving_version'])}") from error
        for damaged in state.get("damaged") or []:  # newer versions that cannot be loaded: not used
            baseline_note += (f"; version {damaged['version']} cannot be loaded ({damaged['reason']}) and "
                              f"is not used: {damaged['fix']}")
        noise = judged_noise(plan, cfg, scored, serving)
        verdict = bless(candidate, baseline, cfg, plan.task, **noise)
        verdict["baseline"] = baseline_note
        verdict["baseline_version"] = state["serving_version"] if baseline else None
        verdict["serving_state"] = state["digest"]
        verdict["span"] = _span(input_dict[EXAMPLES_KEY][0])
        blessing = output_dict[BLESSING_KEY][0]
        blessing.set_int_custom_property("blessed", int(verdict["blessed"]))
        blessing.set_int_custom_property("forced", int(verdict["forced"]))
        blessing.set_string_custom_property("current_model", input_dict[MODEL_KEY][0].uri)
        payloads.write_blessing(blessing.uri, verdict)
        io.write_text(io.join(blessing.uri, "BLESSED" if verdict["blessed"] else "NOT_BLESSED"), "")
        payloads.write_metrics(output_dict[EVALUATION_KEY][0].uri,
                               {"candidate": candidate, "baseline": baseline,
                                "trivial": {k: v for k, v in noise["trivial"].items() if k != "predictions"},
                                "intervals": noise["intervals"], "slices": noise["slices"]})
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


@dataclasses.dataclass
class Scored:
    """One model's outputs on the eval rows whose label is usable, with those rows' labels and
    the first value of each slice feature (an Arrow array, null where missing)."""

    labels: np.ndarray
    predicted: np.ndarray
    columns: dict[str, pa.Array] = dataclasses.field(default_factory=dict)


def slice_features(files: list[str], names: list[str], look: int = 1000) -> dict[str, Any]:
    """The parse type of each slice feature, from the first `look` eval records that hold it
    (a feature the model does not use, e.g. one in data.exclude, may be sliced by too)."""
    if not names:
        return {}
    compression = "GZIP" if files and files[0].endswith(".gz") else ""
    kinds: dict[str, Any] = {}
    for record in tf.data.TFRecordDataset(files, compression_type=compression).take(look):
        example = tf.train.Example.FromString(record.numpy())
        for name in names:
            feature = example.features.feature.get(name)
            kind = feature.WhichOneof("kind") if feature is not None else None
            if name not in kinds and kind:
                kinds[name] = {"bytes_list": tf.string, "int64_list": tf.int64,
                               "float_list": tf.float32}[kind]
        if len(kinds) == len(names):
            break
    unknown = [n for n in names if n not in kinds]
    if unknown:
        raise ValueError(f"evaluator.slices: feature(s) {', '.join(map(repr, unknown))} have no value in "
                         f"the first {look:,} eval examples; name columns of the data (those in "
                         "data.exclude work too)")
    return kinds


def first_values(ragged: tf.RaggedTensor) -> pa.Array:
    """Each row's first value of a parsed RaggedFeature, null where it has none. The row lengths
    from its row splits in numpy: `row_lengths()` is a TF op, 0.04 s per column of 1M rows."""
    return first_values_of(np.diff(ragged.row_splits.numpy()), ragged.flat_values.numpy())


def score_saved_model(path: str, files: list[str], plan: FeaturePlan, slice_kinds: dict[str, Any],
                      chunk: int = 8192) -> Scored:
    """The SavedModel at `path` on the serialized raw examples in `files`, through its serving
    signature (the same path TF Serving takes). The files are streamed in chunks: only the labels,
    encoded chunk by chunk (float32 class ids or values, and which are usable), the slice
    features' first values and the model's outputs are kept."""
    forest_ops.register()  # a gradient_boosted_trees version calls TF-DF's ops (candidate and baseline)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    label_spec = {plan.label: tf.io.RaggedFeature(tf.string if plan.label_kind == "string" else
                                                  tf.int64 if plan.label_kind == "int" else tf.float32)}
    label_spec.update({name: tf.io.RaggedFeature(kind) for name, kind in slice_kinds.items()
                       if name != plan.label})
    compression = "GZIP" if files and files[0].endswith(".gz") else ""
    data = tf.data.TFRecordDataset(files, compression_type=compression)
    labels, usable, outputs = [], [], []
    columns: dict[str, list] = {name: [] for name in slice_kinds}
    for batch in data.batch(chunk).prefetch(1):
        parsed = tf.io.parse_example(batch, label_spec)
        encoded, keep = plan.encode_labels(first_values(parsed[plan.label]))
        labels.append(encoded)
        usable.append(keep)
        for name in slice_kinds:
            columns[name].append(first_values(parsed[name]))
        result = serve(examples=batch)
        outputs.append(result["probabilities" if plan.task == CLASSIFICATION else "prediction"].numpy())
    if not outputs:
        labels, keep = plan.encode_labels(pa.nulls(0, pa.binary()))
        width = (len(plan.classes),) if plan.task == CLASSIFICATION else ()
        return Scored(labels[keep], np.zeros((0, *width), dtype=np.float32),
                      {name: pa.nulls(0) for name in slice_kinds})
    keep, labels, predicted = np.concatenate(usable), np.concatenate(labels), np.concatenate(outputs)
    del usable, outputs
    found = {name: pa.concat_arrays(parts) for name, parts in columns.items()}
    if not keep.all():
        labels, predicted = labels[keep], predicted[keep]
        found = {name: values.filter(pa.array(keep)) for name, values in found.items()}
    return Scored(labels, predicted, found)


def evaluate_saved_model(path: str, files: list[str], plan: FeaturePlan, chunk: int = 8192) -> dict:
    """The metrics of the SavedModel at `path` on the eval records in `files` (score_saved_model)."""
    scored = score_saved_model(path, files, plan, {}, chunk)
    return _metrics(plan, scored.labels, scored.predicted)


def judged_noise(plan: FeaturePlan, cfg: EvaluatorConfig, scored: Scored, serving: np.ndarray | None) -> dict:
    """What bless() needs beyond the metrics: the trivial model's values and the candidate's
    interval against them, the bootstrap intervals of candidate - serving on the whole split, and
    per slice value its rows, every metric of both models and the intervals of the compared ones."""
    cfg = cfg.for_task(plan.task)
    classification = plan.task == CLASSIFICATION
    labels, k = scored.labels, len(plan.classes)
    trivial = m.trivial(labels, plan.classes if classification else None,
                        None if classification else plan.label_mean)
    checks = list(m.TRIVIAL_CHECKS[plan.task])
    trivial["intervals"] = bootstrap.intervals(checks, labels, scored.predicted, trivial["predictions"], k,
                                               resamples=cfg.resamples)[0]
    compared = [cfg.compare_metric] if cfg.compare_metric else []
    for thresholds in cfg.slice_thresholds.values():
        compared += [name for name in thresholds if name not in compared]
    slicings = [slices.slicing(name, scored.columns[name], cfg.slice_buckets) for name in cfg.slices]
    found: list[dict] = []
    whole: dict = {}
    if serving is not None:
        metrics = list(dict.fromkeys([*cfg.metrics, *compared]))
        whole = bootstrap.intervals(metrics, labels, scored.predicted, serving, k, resamples=cfg.resamples)[0]
        per_value = bootstrap.intervals(compared, labels, scored.predicted, serving, k,
                                        [(s.ids, len(s.names)) for s in slicings],
                                        resamples=cfg.resamples)[1:]
    else:
        per_value = [dict.fromkeys(compared) for s in slicings for _ in s.names]
    cuts = [(s.ids, len(s.names)) for s in slicings]

    def by_slice(predicted: np.ndarray) -> list[list[dict]]:
        if classification:
            return slices.classification_by_slice(cuts, labels, predicted, plan.classes)
        return [slices.regression_by_slice(ids, size, labels, predicted) for ids, size in cuts]

    candidates = by_slice(scored.predicted)
    servings = by_slice(serving) if serving is not None else [[None] * size for _, size in cuts]
    for s, ours, theirs in zip(slicings, candidates, servings):
        for value, cand, base in zip(s.names, ours, theirs):
            found.append({"feature": s.feature, "value": value, "how": s.how, "rows": cand["examples"],
                          "candidate": cand, "baseline": base, "intervals": per_value[len(found)]})
    return {"trivial": trivial, "intervals": whole, "slices": found}


def _metrics(plan: FeaturePlan, labels: np.ndarray, predicted: np.ndarray) -> dict:
    if plan.task == CLASSIFICATION:
        return m.classification_metrics(labels, predicted, plan.classes)
    return m.regression_metrics(labels, predicted)


def bless(candidate: dict, baseline: dict | None, cfg: EvaluatorConfig | dict, task: str,
          trivial: dict | None = None, intervals: dict | None = None,
          slices: list[dict] | None = None) -> dict:
    """The blessing: every threshold met; on `compare_metric`, not worse than the serving model
    beyond `compare_tolerance` as `noise_rule` reads the bootstrap interval in `intervals` (the
    point value without one); better than the `trivial` model (beat_trivial); and every slice
    of `slices` with at least min_slice_rows rows meeting its thresholds (by default the same
    comparison on compare_metric); or forced. One reason per metric, per trivial check
    ("<metric> vs trivial"), per failed slice ("slice <feature>=<value>") and one for the slices.
    `cfg`: the Evaluator's config (or a dict: the evaluator section's keys, the spec's defaults
    for the rest), with any "auto" the compiler left (it could not read the label) decided for
    `task` here."""
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
    intervals = intervals or {}
    reasons, passed = {}, True
    for name in names:
        tolerance = cfg.compare_tolerance if name == compared else None
        ok, reason = m.judge(name, candidate[name], thresholds.get(name, {}),
                             baseline[name] if baseline else None, tolerance, intervals.get(name),
                             cfg.noise_rule)
        passed &= ok
        reasons[name] = ("OK: " if ok else "FAILED: ") + reason
    if trivial is not None:
        for name in m.TRIVIAL_CHECKS[task]:
            ok, reason = m.beats_trivial(name, candidate[name], trivial[name],
                                         (trivial.get("intervals") or {}).get(name),
                                         trivial["predictor"][name])
            if not cfg.beat_trivial:
                ok = True
                reason = reason.replace(" FAILED", "") + " (not applied: evaluator.beat_trivial is false)"
            passed &= ok
            reasons[f"{name} vs trivial"] = ("OK: " if ok else "FAILED: ") + reason
    judged = judge_slices(slices or [], cfg, compared)
    for entry in judged:
        if entry["judged"] and not entry["ok"]:
            passed = False
            reasons[f"slice {entry['slice']}"] = "FAILED: " + entry["reason"]
    if slices:
        reasons["slices"] = slices_line(judged, cfg, compared)
    forced = cfg.force_bless and not passed
    return {
        "blessed": passed or forced,
        "forced": forced,
        "compare_metric": compared,
        "task": task,
        "noise_rule": cfg.noise_rule,
        "beat_trivial": cfg.beat_trivial,
        "reasons": reasons,
        "metrics": {n: candidate[n] for n in names},
        "baseline_metrics": {n: baseline[n] for n in names} if baseline else None,
        "trivial_metrics": ({**{n: trivial[n] for n in m.TRIVIAL_CHECKS[task]},
                             "predictor": trivial["predictor"]} if trivial is not None else None),
        "intervals": {n: list(v) for n, v in intervals.items() if v is not None},
        "slices": judged,
    }


def judge_slices(slices: list[dict], cfg: EvaluatorConfig, compared: str | None) -> list[dict]:
    """Each slice value judged: too small (not judged), or its thresholds (slice_thresholds by
    "feature=value", else by feature, else the default comparison of compare_metric)."""
    out = []
    for entry in slices:
        key = f"{entry['feature']}={entry['value']}"
        cand, base, rows = entry["candidate"], entry.get("baseline"), entry["rows"]
        found = {"slice": key, "feature": entry["feature"], "value": entry["value"], "rows": rows,
                 "judged": rows >= cfg.min_slice_rows, "ok": True, "reason": "", "difference": None,
                 "interval": None}
        if compared and base and cand.get(compared) is not None and base.get(compared) is not None:
            found["difference"] = cand[compared] - base[compared]
            found["interval"] = (entry.get("intervals") or {}).get(compared)
        if not found["judged"]:
            found["reason"] = (f"{key} ({rows:,} rows): not judged, fewer than evaluator.min_slice_rows "
                               f"{cfg.min_slice_rows}")
            out.append(found)
            continue
        custom = cfg.slice_thresholds.get(key, cfg.slice_thresholds.get(entry["feature"]))
        rules = {n: t.model_dump() for n, t in custom.items()} if custom is not None else (
            {compared: {}} if compared else {})
        said = []
        for name, threshold in rules.items():
            tolerance = cfg.compare_tolerance if name == compared and custom is None else None
            value = cand.get(name)
            ok, reason = m.judge(name, math.nan if value is None else value, threshold,
                                 base.get(name) if base else None, tolerance,
                                 (entry.get("intervals") or {}).get(name), cfg.noise_rule)
            found["ok"] &= ok
            said.append(reason)
        found["reason"] = f"{key} ({rows:,} rows): " + "; ".join(said or ["no threshold"])
        out.append(found)
    return out


def slices_line(judged: list[dict], cfg: EvaluatorConfig, compared: str | None) -> str:
    """One line for all the slices: how many judged and failed, the worst (the largest drop on
    compare_metric against the serving model), and those not judged."""
    done = [j for j in judged if j["judged"]]
    failed = [j for j in done if not j["ok"]]
    drops = [j for j in done if j["difference"] is not None]
    sign = -1 if compared in m.LOWER_IS_BETTER else 1
    line = f"{len(done)} slice(s) judged, {len(failed)} failed"
    if drops:
        worst = min(drops, key=lambda j: sign * j["difference"])
        line += f"; worst: {worst['reason']}"
    elif done:
        line += f"; e.g. {done[0]['reason']}"
    small = [j for j in judged if not j["judged"]]
    if small:
        line += (f"; not judged (fewer than {cfg.min_slice_rows} rows): "
                 + ", ".join(f"{j['slice']} ({j['rows']:,})" for j in small))
    return ("OK: " if not failed else "FAILED: ") + line
