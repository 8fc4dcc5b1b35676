"""What the report shows, read from ML Metadata and the run's artifacts (their payloads through
components.common.payloads, StatisticsGen's and ExampleValidator's protos) into plain dataclasses.
No HTML here: templates/ lays the page out, charts.py draws the figures.

read_report() is the one entry; each section has its reader below, in the page's order.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from components.common import keys, payloads, serving_layout
from components.common.features import distinct_values
from pipelines.runs.lineage import pushed_versions_in
from pipelines.runs.summary import _status, node_states, state_name, withdrawn_versions

_OUTPUT = metadata_store_pb2.Event.OUTPUT
SPLITS = ("train", "eval")  # the splits StatisticsGen and ExampleValidator write
REPORT_CLASSES = 50  # per-class rows and confusion matrix classes drawn; the rest are one "others" line


# ---------------------------------------------------------------- what the page shows


@dataclass
class Stage:
    name: str
    state: str  # lower case: complete, cached, failed, running, ...
    seconds: float
    artifacts: list[tuple[str, str]]  # (href, the artifact type's short name)


@dataclass
class FeatureRow:
    name: str
    kind: str  # int, float or string
    present: int
    missing: int
    histogram: list[float]  # the bars drawn: numeric buckets, or the 20 most frequent strings
    mean: float | None = None  # numbers only
    std_dev: float | None = None
    min: float | None = None
    median: float | None = None
    max: float | None = None
    unique: int | None = None  # strings, and integers (StatisticsGen's distinct count)
    top: str | None = None


@dataclass
class FeatureTable:
    split: str
    examples: int
    rows: list[FeatureRow]


@dataclass
class Anomaly:
    split: str
    feature: str
    short: str
    detail: str


@dataclass
class Gate:
    ran: bool
    passed: bool = False
    report: str = ""


@dataclass
class Data:
    examples_uri: str | None
    span: int | None
    split_sizes: dict[str, int]  # rows StatisticsGen read, by split
    rows_used: dict[str, int] | None  # Batching's counts (train, validation, eval); None for older runs
    dropped: list[tuple[str, int, int]]  # (split, rows without a label, rows with an unknown class)
    gate: Gate
    anomalies: list[Anomaly]
    tables: list[FeatureTable]


@dataclass
class Tuning:
    objective: str
    hyperparameters: list[str]  # their names, sorted
    trials: list[tuple[object, float, list]]  # (rank, objective value, values in that order), best first


@dataclass
class Chart:
    chart_id: str
    title: str
    series: list[tuple[str, list]]  # (legend, one value an epoch or None)


@dataclass
class Training:
    epochs_run: int
    stop_reason: str
    model: str | None  # trainer.model.type trained, and auto's choice (history.json)
    restored: int | None
    restarts: list[dict]  # {epoch, restored_epoch, learning_rate}
    hyperparameters: dict | None  # the Tuner's best values
    label_units: str | None
    splits: dict | None  # rows each decision saw (train, validation, eval)
    validation_fraction: float | None
    epochs: list  # the x axis
    marks: list[tuple[int, str]]  # (epoch, what happened there)
    charts: list[Chart]


@dataclass
class MetricRow:
    name: str
    candidate: float | None
    baseline: float | None
    reason: str
    interval: list | None = None  # the bootstrap's 95% interval of candidate - baseline

    @property
    def ok(self) -> bool:
        return self.reason.startswith("OK")


@dataclass
class PerClass:
    shown: dict  # class -> {count, predicted, precision, recall, auc}
    rest: dict | None  # the sums of the classes not shown ({classes, count, predicted})
    total: int  # classes in all
    matrix_classes: list[str] = field(default_factory=list)  # confusion matrix: rows and columns
    matrix: list[list[int]] = field(default_factory=list)

    @property
    def matrix_rows(self) -> list[tuple[str, list[int]]]:
        return list(zip(self.matrix_classes, self.matrix))

    @property
    def matrix_top(self) -> int:
        """The largest cell (the darkest shade); 1 when all are 0."""
        return (max(max(row) for row in self.matrix) or 1) if self.matrix else 1


@dataclass
class SliceRow:
    feature: str
    value: str
    rows: int
    candidate: float | None  # compare_metric's value
    baseline: float | None
    difference: float | None  # candidate - baseline
    interval: list | None  # its 95% interval
    judged: bool
    ok: bool
    reason: str


@dataclass
class Evaluation:
    blessed: bool
    forced: bool
    baseline: str | None  # the serving model compared with
    examples: int
    metrics: list[MetricRow]
    per_class: PerClass | None
    residuals: list | None  # [(label, prediction)] of a regression
    task: str | None = None
    majority: str | None = None  # the majority baseline in words (a classifier)
    imbalance_warning: str | None = None
    trivial: list[MetricRow] = field(default_factory=list)  # the candidate against the trivial model
    noise_rule: str | None = None
    compare_metric: str | None = None
    slices: list[SliceRow] = field(default_factory=list)  # sorted by the largest drop first


@dataclass
class Push:
    ran: bool
    decision: str
    where: str  # the destination the Pusher recorded; "" when none
    destination: str
    versions: list[int]  # serving versions there now
    withdrawn: list[dict]  # {version, at}


@dataclass
class Report:
    run: str
    pipeline: str
    started: dt.datetime
    seconds: float
    status: str
    failure: str | None
    stages: list[Stage]
    data: Data
    tuning: Tuning | None
    training: Training | None
    evaluation: Evaluation | None
    push: Push
    lineage: list[dict]  # {version, span, examples}, from lineage.pushed_versions_in
    spec_text: str | None

    @property
    def failed(self) -> bool:
        return bool(self.failure) or self.status.startswith(("failed", "did not"))


# ---------------------------------------------------------------- reading the run


def file_bytes(path: str) -> bytes | None:
    """A file's content; None when there is none (a stage that did not run or write it)."""
    if "://" in path:  # an object store: through the file layer (imports TensorFlow)
        from components.common import io  # deferred: the file layer imports TFX (seconds)

        return io.read_bytes(path) if io.exists(path) else None
    if not os.path.isfile(path):  # local-only
        return None
    with open(path, "rb") as f:  # local-only
        return f.read()


def file_text(path: str) -> str | None:
    data = file_bytes(path)
    return data.decode("utf-8") if data is not None else None


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/"), *parts[1:]])


class RunArtifacts:
    """What the report needs of one run: its executions and their output artifacts by type."""

    def __init__(self, store, run):
        self.store, self.run = store, run
        self.nodes = node_states(store, run.id)
        types = {t.id: t.name for t in store.get_artifact_types()}
        self.outputs: dict[str, dict[str, list]] = {}
        for name, execution in self.nodes.items():
            events = store.get_events_by_execution_ids([execution.id])
            ids = [e.artifact_id for e in events if e.type == _OUTPUT]
            found: dict[str, list] = {}
            for artifact in store.get_artifacts_by_id(ids):
                found.setdefault(types[artifact.type_id], []).append(artifact)
            self.outputs[name] = found

    def missing_ok(self, node: str) -> bool:
        """Whether a payload of `node`'s outputs may be absent: only for a stage that did not
        complete, unless the readers are lenient (payloads.lenient(): not in the tests)."""
        done = node in self.nodes and state_name(self.nodes[node]) in ("COMPLETE", "CACHED")
        return payloads.lenient() or not done

    def artifact(self, node: str, type_name: str):
        found = self.outputs.get(node, {}).get(type_name)
        return found[0] if found else None

    def uri(self, node: str, type_name: str, output_key: str, pipeline_root: str | None) -> str | None:
        """An output's folder; for a failed stage (nothing published) TFX's own layout."""
        artifact = self.artifact(node, type_name)
        if artifact is not None:
            return artifact.uri
        if pipeline_root and node in self.nodes:
            return _join(pipeline_root, node, output_key, str(self.nodes[node].id))
        return None

    def pipeline_root(self) -> str | None:
        for outputs in self.outputs.values():
            for artifacts in outputs.values():
                for artifact in artifacts:
                    parts = artifact.uri.rstrip("/").split("/")
                    if len(parts) > 3:
                        return "/".join(parts[:-3])
        return None


def read_report(store, run, destination: str, failure: str | None, spec_text: str | None) -> Report:
    """Everything the report of `run` shows. `failure` is the stage and message of a failed run;
    `spec_text` the spec as run (YAML) or None."""
    r = RunArtifacts(store, run)
    pipeline = pipeline_name(store, run)
    return Report(
        run=run.name, pipeline=pipeline,
        started=dt.datetime.fromtimestamp(run.create_time_since_epoch / 1000),
        seconds=_seconds(list(r.nodes.values())),
        status=_status({name: state_name(e) for name, e in r.nodes.items()}),
        failure=failure, stages=_stages(r), data=_data(r, r.pipeline_root(), failure), tuning=_tuning(r),
        training=_training(r), evaluation=_evaluation(r), push=_push(r, destination),
        lineage=_lineage(store, pipeline), spec_text=spec_text)


def pipeline_name(store, run) -> str:
    """The pipeline that made `run` (its parent context; a shared store holds several)."""
    for context in store.get_parent_contexts_by_context(run.id):
        if context.type == "pipeline":
            return context.name
    for execution in store.get_executions_by_context(run.id)[:1]:
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == "pipeline":
                return context.name
    return "?"


def _seconds(executions) -> float:
    if not executions:
        return 0.0
    return (max(e.last_update_time_since_epoch for e in executions)
            - min(e.create_time_since_epoch for e in executions)) / 1000


def _stages(r: RunArtifacts) -> list[Stage]:
    stages = []
    for name, execution in r.nodes.items():
        links = [(_href(artifact.uri), type_name.split(".")[-1])
                 for type_name, artifacts in r.outputs.get(name, {}).items() for artifact in artifacts]
        stages.append(Stage(name, state_name(execution).lower(), _seconds([execution]), links))
    return stages


def _href(uri: str) -> str:
    return uri if "://" in uri else "file://" + uri


# ---------------------------------------------------------------- data


def _data(r: RunArtifacts, pipeline_root: str | None, failure: str | None) -> Data:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    examples = r.artifact("ExampleGen", "Examples")
    span = examples.custom_properties.get("span") if examples is not None else None
    statistics = r.artifact("StatisticsGen", "ExampleStatistics")
    splits: dict[str, statistics_pb2.DatasetFeatureStatistics] = {}
    for split in SPLITS:
        data = file_bytes(_join(statistics.uri, f"Split-{split}", "FeatureStats.pb")) if statistics else None
        if data:
            stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
            if stats.datasets:
                splits[split] = stats.datasets[0]
    counts = r.artifact("Batching", "components.Batches")
    counts = payloads.read_counts(counts.uri, r.missing_ok("Batching")) if counts is not None else None
    rows_used, dropped = None, []
    if counts and "validation" in counts:  # issue 18: the rows actually used, and those dropped
        rows_used = {s: counts[s]["examples"] for s in ("train", "validation", "eval")}
        dropped = [(s, n["no_label"], n["unknown_class"]) for s, n in counts.get("lost", {}).items()
                   if n["no_label"] + n["unknown_class"]]
    return Data(examples_uri=examples.uri if examples is not None else None,
                span=span.int_value if span is not None else None,
                split_sizes={s: d.num_examples for s, d in splits.items()},
                rows_used=rows_used, dropped=dropped, gate=_gate(r, pipeline_root, failure),
                anomalies=_anomalies(r), tables=[_feature_table(s, d) for s, d in splits.items()])


def _anomalies(r: RunArtifacts) -> list[Anomaly]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = []
    anomalies = r.artifact("ExampleValidator", "ExampleAnomalies")
    for split in SPLITS:
        data = file_bytes(_join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb")) if anomalies else None
        if data:
            for feature, info in sorted(anomalies_pb2.Anomalies.FromString(data).anomaly_info.items()):
                found.append(Anomaly(split, feature, info.short_description, info.description))
    return found


def _gate(r: RunArtifacts, pipeline_root: str | None, failure: str | None) -> Gate:
    verdict_dir = r.uri("DataGate", "components.DataGateResult", "result", pipeline_root)
    verdict = payloads.read_verdict(verdict_dir, r.missing_ok("DataGate")) if verdict_dir else None
    report = payloads.read_gate_report(verdict_dir, r.missing_ok("DataGate")) if verdict_dir else None
    if verdict is None and "DataGate" in r.nodes and state_name(r.nodes["DataGate"]) == "FAILED":
        # TFX removes a failed stage's outputs: the gate's report is the run's failure message
        verdict, report = {"passed": False}, (failure or "").removeprefix("DataGate: ")
    if verdict is None:
        return Gate(ran=False)
    return Gate(ran=True, passed=bool(verdict["passed"]), report=report or "")


def _feature_table(split: str, stats) -> FeatureTable:
    rows = []
    for feature in stats.features:
        name = feature.path.step[-1] if feature.path.step else feature.name
        if feature.HasField("num_stats"):
            s = feature.num_stats
            histogram = next((h for h in s.histograms if h.type == h.STANDARD), None)
            rows.append(FeatureRow(
                name, "int" if feature.type == feature.INT else "float", s.common_stats.num_non_missing,
                s.common_stats.num_missing, [b.sample_count for b in histogram.buckets] if histogram else [],
                mean=s.mean, std_dev=s.std_dev, min=s.min, median=s.median, max=s.max,
                unique=distinct_values(feature)))  # integers: StatisticsGen's distinct count
        else:
            s = feature.string_stats
            rows.append(FeatureRow(
                name, "string", s.common_stats.num_non_missing, s.common_stats.num_missing,
                [b.sample_count for b in s.rank_histogram.buckets[:20]],
                unique=s.unique, top=s.top_values[0].value if s.top_values else "-"))
    return FeatureTable(split, stats.num_examples, rows)


# ---------------------------------------------------------------- tuning and training


def _tuning(r: RunArtifacts) -> Tuning | None:
    results = r.artifact("Tuner", "TunerResults")
    trials = payloads.read_tuner_results(results.uri, r.missing_ok("Tuner")) if results else None
    if not trials:
        return None
    objective = next(k for k in trials[0] if k not in ("rank", "trial", "values"))
    keys = sorted({k for t in trials for k in t["values"]})
    return Tuning(objective, keys,
                  [(t["rank"], t[objective], [t["values"].get(k) for k in keys]) for t in trials])


def _training(r: RunArtifacts) -> Training | None:
    run_dir = r.artifact("Trainer", "ModelRun")
    history = payloads.read_history(run_dir.uri, r.missing_ok("Trainer")) if run_dir else None
    if not history:
        return None
    epochs = history.get("epochs", [])
    restored = history.get("restored_epoch")
    restarts = history.get("restarts") or []
    marks = ([(restored, f"restored epoch {restored}")] if restored is not None else []) + [
        (x["epoch"], f"restart: lr {x['learning_rate']:.3g}") for x in restarts]
    charts = [Chart("learning-curve-loss", "loss",
                    [("train loss", [h.get("loss") for h in epochs]),
                     ("validation loss", [h.get("val_loss") for h in epochs])])]
    metrics = sorted({k.removeprefix("val_") for h in epochs for k in h} - {"epoch", "learning_rate", "loss"})
    for metric in metrics:
        charts.append(Chart(f"learning-curve-{metric}", metric,
                            [(f"train {metric}", [h.get(metric) for h in epochs]),
                             (f"validation {metric}", [h.get(f"val_{metric}") for h in epochs])]))
    if any("learning_rate" in h for h in epochs):
        charts.append(Chart("learning-rate", "learning rate",
                            [("learning rate", [h.get("learning_rate") for h in epochs])]))
    hyperparameters = history.get("hyperparameters")
    model, choice = history.get("model_type"), history.get("model_choice")
    if model and choice:
        model = f"{model}, chosen by type auto: {choice['why']}; {choice['method']}"
    return Training(
        epochs_run=history.get("epochs_run", len(epochs)), stop_reason=history.get("stop_reason", "-"),
        model=model, restored=restored, restarts=restarts,
        hyperparameters=hyperparameters["values"] if isinstance(hyperparameters, dict) else None,
        label_units=history.get("label_units"), splits=history.get("splits"),
        validation_fraction=history.get("validation_fraction"), epochs=[h["epoch"] for h in epochs],
        marks=marks, charts=charts)


# ---------------------------------------------------------------- evaluation


def _evaluation(r: RunArtifacts) -> Evaluation | None:
    blessing_artifact = r.artifact("Evaluator", "ModelBlessing")
    evaluation = r.artifact("Evaluator", "ModelEvaluation")
    missing_ok = r.missing_ok("Evaluator")
    verdict = payloads.read_blessing(blessing_artifact.uri, missing_ok) if blessing_artifact else None
    scores = payloads.read_metrics(evaluation.uri, missing_ok) if evaluation else None
    if not verdict or not scores:
        return None
    candidate, baseline = scores["candidate"], scores.get("baseline") or {}
    intervals, trivial = verdict.get("intervals") or {}, verdict.get("trivial_metrics") or {}
    reasons = verdict["reasons"]
    trivial_intervals = (scores.get("trivial") or {}).get("intervals") or {}
    majority = None
    if candidate.get("majority_class") is not None:
        majority = (f"always predicting {candidate['majority_class']!r} would score accuracy "
                    f"{candidate['majority_baseline_accuracy']:.4f}")
    return Evaluation(
        blessed=bool(verdict["blessed"]), forced=bool(verdict["forced"]), baseline=verdict.get("baseline"),
        examples=candidate.get("examples", 0),
        metrics=[MetricRow(name, candidate[name], baseline.get(name), reason, intervals.get(name))
                 for name, reason in reasons.items() if name in candidate],
        per_class=per_class(candidate) if "per_class" in candidate else None,
        residuals=candidate.get("residuals") or None,
        task=verdict.get("task"), majority=majority, imbalance_warning=candidate.get("imbalance_warning"),
        trivial=[MetricRow(name, candidate.get(name), trivial.get(name), reasons[f"{name} vs trivial"],
                           trivial_intervals.get(name))
                 for name in (n[: -len(" vs trivial")] for n in reasons if n.endswith(" vs trivial"))],
        noise_rule=verdict.get("noise_rule"), compare_metric=verdict.get("compare_metric"),
        slices=_slices(verdict, scores))


def _slices(verdict: dict, scores: dict) -> list[SliceRow]:
    """The judged slices (the verdict's) with compare_metric's values (metrics.json's), the
    largest drop against the serving model first, then the lowest value; not judged ones last."""
    metric = verdict.get("compare_metric")
    values = {f"{s['feature']}={s['value']}": s for s in scores.get("slices") or []}
    rows = []
    for j in verdict.get("slices") or []:
        found = values.get(j["slice"], {})
        cand, base = found.get("candidate") or {}, found.get("baseline") or {}
        rows.append(SliceRow(j["feature"], j["value"], j["rows"], cand.get(metric), base.get(metric),
                             j.get("difference"), j.get("interval"), j["judged"], j["ok"], j["reason"]))
    sign = -1 if metric in ("log_loss", "mse", "rmse", "mae") else 1
    return sorted(rows, key=lambda r: (not r.judged, sign * r.difference if r.difference is not None else 0.0,
                                       sign * (r.candidate if r.candidate is not None else 0.0)))


def per_class(candidate: dict) -> PerClass:
    """The per-class table and confusion matrix of a classifier's metrics, capped to REPORT_CLASSES."""
    shown, rest = top_classes(candidate["per_class"])
    found = PerClass(shown, rest, len(candidate["per_class"]))
    if candidate.get("confusion_matrix"):
        found.matrix_classes, found.matrix = capped_matrix(
            candidate.get("confusion_classes") or list(candidate["per_class"]), candidate["confusion_matrix"])
    return found


def top_classes(per_class: dict, top: int = REPORT_CLASSES) -> tuple[dict, dict | None]:
    """The `top` classes with the most eval examples (ties: the most predicted, then the first), in
    their order, and the sums of the rest ({"classes", "count", "predicted"}; None when none is left)."""
    if len(per_class) <= top:
        return per_class, None
    items = list(per_class.items())
    order = sorted(range(len(items)), key=lambda i: (-items[i][1]["count"], -items[i][1]["predicted"], i))
    kept = set(order[:top])
    rest = [v for i, (_, v) in enumerate(items) if i not in kept]
    return ({c: v for i, (c, v) in enumerate(items) if i in kept},
            {"classes": len(rest), "count": sum(v["count"] for v in rest),
             "predicted": sum(v["predicted"] for v in rest)})


def capped_matrix(names: list[str], matrix: list[list[int]],
                  top: int = REPORT_CLASSES) -> tuple[list[str], list]:
    """A confusion matrix of more than `top` classes (the metrics of runs before the Evaluator
    capped it) as its `top` most frequent actual classes and one "others" row and column."""
    if len(matrix) <= top + 1:
        return names, matrix
    totals = [sum(row) for row in matrix]
    kept = sorted(sorted(range(len(matrix)), key=lambda i: (-totals[i], i))[:top])
    slot = {k: n for n, k in enumerate(kept)}
    out = [[0] * (top + 1) for _ in range(top + 1)]
    for i, row in enumerate(matrix):
        target = out[slot.get(i, top)]
        for j, v in enumerate(row):
            if v:
                target[slot.get(j, top)] += v
    return [names[i] for i in kept] + [f"others ({len(matrix) - top:,} classes)"], out


# ---------------------------------------------------------------- push and lineage


def _push(r: RunArtifacts, destination: str) -> Push:
    pushed = r.artifact("Pusher", "PushedModel")
    decision, where = "-", ""
    if pushed is not None:
        props = pushed.custom_properties
        decision = props[keys.PUSH_DECISION].string_value if keys.PUSH_DECISION in props else "-"
        where = props[keys.PUSHED_DESTINATION].string_value if keys.PUSHED_DESTINATION in props else ""
    return Push(pushed is not None, decision, where, destination,
                serving_layout.ServingDirectory(destination).versions(), withdrawn_versions(destination))


def _lineage(store, pipeline: str) -> list[dict]:
    return pushed_versions_in(store, pipeline if pipeline != "?" else None)
