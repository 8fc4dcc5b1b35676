"""The model card of a version: `assets.extra/model_card.json` in the Model Card Toolkit's schema
(v0.0.2: model_details, model_parameters, quantitative_analysis, considerations; values are
strings where the toolkit says so) and a self-contained `assets.extra/model_card.html` (Jinja2
with autoescape, inline CSS, no scripts, nothing fetched).

Filled by the Pusher from what the run knows: the spec's `model_card:` section (owners, intended
use, limitations), the feature plan (features and their encoding, classes), the training
statistics (label distribution), the Trainer's history (rows per split, epochs, why it stopped),
the Evaluator's metrics (overall, per class, per slice, intervals and the trivial baseline where
it has them) and blessing (the serving model it was judged against), the serving check (latency)
and lineage (run, data span, the version it replaced). The toolkit's package does not install
with this stack (it pins absl-py < 1.1, jsonschema < 4 and TFMA < 0.42), so the card is written
here; tests/test_model_card.py validates it against the toolkit's published JSON schema.

Figures the toolkit has no field for (training, lineage, the serving check) sit in extra keys
inside its sections (`model_parameters.training`, `model_details.lineage`,
`quantitative_analysis.serving_check`), which its schema allows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from components.common import io

SCHEMA_VERSION = "0.0.2"
JSON_FILE = "assets.extra/model_card.json"
HTML_FILE = "assets.extra/model_card.html"
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


@dataclasses.dataclass
class CardInputs:
    name: str
    version: int
    path: str  # where the version is published
    date: str  # YYYY-MM-DD
    section: dict  # the spec's model_card: owners, intended_use, users, limitations
    model: dict  # the spec's trainer summary: model, loss, optimizer, max_epochs
    plan: dict  # the feature plan (assets.extra/plan.json)
    verdict: dict  # the Evaluator's blessing
    metrics: dict | None = None  # the Evaluator's metrics.json
    history: dict | None = None  # the Trainer's history.json
    label_counts: dict | None = None  # the label's value -> count in the train split (statistics)
    check: dict | None = None  # the serving check's result
    run_id: str = ""
    replaced: int | None = None  # the version serving before this one


def build(inputs: CardInputs) -> dict:
    """The card as the toolkit's JSON."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": _details(inputs),
        "model_parameters": _parameters(inputs),
        "quantitative_analysis": _quantitative(inputs),
        "considerations": _considerations(inputs),
    }


def _details(inputs: CardInputs) -> dict:
    plan, verdict = inputs.plan, inputs.verdict
    task = plan.get("task", "?")
    target = (f"{len(plan.get('classes') or [])} classes of '{plan.get('label')}'" if task == "classification"
              else f"the value of '{plan.get('label')}'")
    outputs = "probabilities, class_ids and classes" if task == "classification" else "prediction"
    replaced = (f"replaces version {inputs.replaced}" if inputs.replaced else "the first version at "
                f"{os.path.dirname(inputs.path)}")
    return {
        "name": inputs.name,
        "overview": f"{task} model predicting {target}, version {inputs.version}",
        "documentation": (f"Takes serialized tf.Example records (the string tensor 'examples' of the "
                          f"serving_default signature) with the raw columns of the training data; "
                          f"answers {outputs}. "
                          f"Blessed: {verdict.get('baseline', '')}."),
        "owners": [{k: v for k, v in o.items() if v} for o in inputs.section.get("owners", [])],
        "version": {"name": str(inputs.version), "date": inputs.date, "diff": replaced},
        "path": inputs.path,
        "lineage": {"run": inputs.run_id, "data_span": verdict.get("span"),
                    "replaced_version": inputs.replaced,
                    "judged_against": verdict.get("baseline", ""),
                    "forced": bool(verdict.get("forced"))},
    }


def _parameters(inputs: CardInputs) -> dict:
    plan, history, model = inputs.plan, inputs.history or {}, inputs.model
    splits = history.get("splits") or {}
    span = inputs.verdict.get("span")
    data = [{"name": split, "description": f"{rows} rows" + (f", span {span}" if span is not None else "")
             + (" (early stopping and learning-rate decisions)" if split == "validation" else "")
             + (" (the blessing's metrics; no training decision saw it)" if split == "eval" else "")}
            for split, rows in splits.items()]
    if inputs.label_counts:
        data.append({"name": f"label '{plan.get('label')}' in the train split",
                     "description": ", ".join(f"{k}: {v:g}" for k, v in inputs.label_counts.items())})
    architecture = model.get("architecture") or "?"
    classification = plan.get("task") == "classification"
    return {
        "model_architecture": architecture,
        "data": data,
        "input_format": "serialized tf.Example (string tensor 'examples', serving_default)",
        "input_format_map": [{"key": k, "value": v}
                             for k, v in sorted((plan.get("encodings") or {}).items())],
        "output_format": ("probabilities (one per class), class_ids, classes" if classification
                          else "prediction (float)"),
        "output_format_map": ([{"key": "classes", "value": ", ".join(plan.get("classes") or [])}]
                              if classification else []),
        "training": {
            "model_type": history.get("model_type"), "model_choice": history.get("model_choice"),
            "loss": model.get("loss"), "optimizer": model.get("optimizer"),
            "epochs_run": history.get("epochs_run"), "restored_epoch": history.get("restored_epoch"),
            "stop_reason": history.get("stop_reason"), "hyperparameters": history.get("hyperparameters"),
            "warm_start": history.get("warm_start"), "final_epoch": _last_epoch(history),
        },
    }


def _last_epoch(history: dict) -> dict:
    epochs = history.get("epochs") or []
    restored = history.get("restored_epoch")
    chosen = next((e for e in epochs if e.get("epoch") == restored), epochs[-1] if epochs else {})
    return {k: _round(v) for k, v in chosen.items()}


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _metric(kind: str, value: Any, slice_: str | None = None, interval: Any = None) -> dict:
    entry = {"type": kind, "value": _text(value)}
    if slice_:
        entry["slice"] = slice_
    if isinstance(interval, dict) and "low" in interval and "high" in interval:
        entry["confidence_interval"] = {"lower_bound": _text(interval["low"]),
                                        "upper_bound": _text(interval["high"])}
    elif isinstance(interval, (list, tuple)) and len(interval) == 2:
        entry["confidence_interval"] = {"lower_bound": _text(interval[0]), "upper_bound": _text(interval[1])}
    return entry


def _text(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _quantitative(inputs: CardInputs) -> dict:
    metrics = inputs.metrics or {}
    candidate = metrics.get("candidate") or inputs.verdict.get("metrics") or {}
    intervals = metrics.get("intervals") or {}
    found = []
    for name in inputs.verdict.get("metrics") or {}:
        if isinstance(candidate.get(name), (int, float)):
            found.append(_metric(name, candidate[name], interval=_interval(intervals, name)))
    for cls, values in (candidate.get("per_class") or {}).items():
        for name, value in values.items():
            if isinstance(value, (int, float)):
                found.append(_metric(name, value, f"class={cls}"))
    found += _slices(metrics.get("slices"))
    baseline = inputs.verdict.get("baseline_metrics") or {}
    for name, value in baseline.items():
        if isinstance(value, (int, float)):
            found.append(_metric(f"{name} of the serving model", value))
    trivial = metrics.get("trivial") or {}
    trivial = trivial.get("metrics") if isinstance(trivial.get("metrics"), dict) else trivial
    for name, value in trivial.items():
        if isinstance(value, (int, float)):
            found.append(_metric(f"{name} of the trivial baseline", value))
    if isinstance(candidate.get("majority_baseline_accuracy"), float):
        found.append(_metric("accuracy of the majority class", candidate["majority_baseline_accuracy"]))
    check = inputs.check or {}
    for batch, figures in (check.get("latency_ms") or {}).items():
        for quantile in ("p50", "p99"):
            found.append(_metric(f"latency {quantile} ms", figures[quantile], f"batch size {batch}"))
    return {"performance_metrics": found,
            "serving_check": {k: check.get(k) for k in ("reason", "latency_ms", "examples", "tolerance",
                                                        "tensorflow")} if check else None}


def _interval(intervals: dict, name: str) -> Any:
    found = intervals.get(name) if isinstance(intervals, dict) else None
    if isinstance(found, dict):
        return found.get("candidate", found)
    return found


def _slices(slices: Any) -> list[dict]:
    """The Evaluator's per-slice metrics, whichever of its shapes: {feature: {value: {metric: x}}}
    or a list of {"slice"/"feature", "value", "metrics"}."""
    found = []
    if isinstance(slices, dict):
        for feature, values in slices.items():
            for value, figures in (values.items() if isinstance(values, dict) else []):
                for name, x in (figures.items() if isinstance(figures, dict) else []):
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        found.append(_metric(name, x, f"{feature}={value}"))
    elif isinstance(slices, list):
        for entry in slices:
            if not isinstance(entry, dict):
                continue
            label = entry.get("slice") or f"{entry.get('feature')}={entry.get('value')}"
            for name, x in (entry.get("metrics") or {}).items():
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    found.append(_metric(name, x, str(label), (entry.get("intervals") or {}).get(name)))
    return found


def _considerations(inputs: CardInputs) -> dict:
    section = inputs.section
    limitations = [{"description": text} for text in section.get("limitations", [])]
    candidate = (inputs.metrics or {}).get("candidate") or {}
    if candidate.get("imbalance_warning"):
        limitations.append({"description": str(candidate["imbalance_warning"])})
    if candidate.get("worst_class"):
        recall = candidate.get("worst_class_recall", 0)
        limitations.append({"description": f"weakest class: {candidate['worst_class']} (recall "
                                           f"{recall:.4f} on the eval split)"})
    return {
        "users": [{"description": text} for text in section.get("users", [])],
        "use_cases": [{"description": section["intended_use"]}] if section.get("intended_use") else [],
        "limitations": limitations,
        "tradeoffs": [],
        "ethical_considerations": [],
    }


def render_html(card: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                             autoescape=jinja2.select_autoescape(default=True))
    return env.get_template("model_card.html").render(card=card)


def write(version_dir: str, inputs: CardInputs) -> dict:
    """Write model_card.json and model_card.html into a (staged) version folder; returns the card."""
    card = build(inputs)
    io.makedirs(io.join(version_dir, "assets.extra"))
    io.write_text(io.join(version_dir, JSON_FILE), json.dumps(card, indent=2, sort_keys=False, default=str))
    io.write_text(io.join(version_dir, HTML_FILE), render_html(card))
    return card


def label_counts(statistics_path: str, label: str) -> dict | None:
    """The label's value counts in the train split's statistics (a string label), or its range."""
    if not io.exists(statistics_path):
        return None
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(io.read_bytes(statistics_path))
    for dataset in stats.datasets:
        for feature in dataset.features:
            if list(feature.path.step) != [label]:
                continue
            if feature.HasField("string_stats"):
                return {v.value: v.frequency for v in feature.string_stats.top_values}
            if feature.HasField("num_stats"):
                num = feature.num_stats
                return {"mean": num.mean, "std": num.std_dev, "min": num.min, "max": num.max}
    return None
