"""The HTML report of one run: one self-contained file (inline CSS and SVG, no scripts, nothing
fetched) written into the run's root, from ML Metadata and the run's artifacts.

    tfx-yaml report [--config X.yaml] [--root DIR] [--run ID] [--open]

Sections, in order: the failure (if any), the stages, the data (splits, span, per-feature
statistics from StatisticsGen's proto, anomalies and the gate's verdict), training (learning
curves of the loss and every metric, learning rate, restarts, stop reason), evaluation (candidate
vs serving model with the blessing reasons, per-class table and confusion matrix, or a residual
plot), the push and the serving versions, lineage, and the spec as run.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os

from ml_metadata.proto import metadata_store_pb2

from pipelines.runs.metadata import Store, as_store
from components.common import payloads, serving_layout
from pipelines.runs.summary import _status, find_run, node_states, state_name, withdrawn_versions

REPORTS_DIR = "reports"
_OUTPUT = metadata_store_pb2.Event.OUTPUT
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def report_path(root: str, run_id: str) -> str:
    return os.path.join(root, REPORTS_DIR, run_id.replace(":", "") + ".html")


def save_run_inputs(root: str, run_id: str, spec) -> None:
    """The spec as run (defaults filled in), kept beside the report so a later `tfx-yaml report`
    shows what this run was asked to do, even after the YAML changed."""
    import yaml

    from pipelines.local.redaction import open_private, private_dir

    path = report_path(root, run_id)[: -len(".html")] + ".spec.yaml"
    private_dir(os.path.dirname(path))  # 0700 and files 0600: the local run's root
    with open_private(path) as f:
        yaml.safe_dump(spec.model_dump(mode="json"), f, sort_keys=False)


def write_report(root: str, metadata: Store | str, destination: str, run_id: str | None = None,
                 failure: str | None = None, pipeline: str | None = None) -> str | None:
    """Write the report of run `run_id` (default: the newest) of the pipeline named `pipeline`
    (of any when None) and return its path; None when the store has no such run of it. `failure`
    (the stage and the message) is kept for later rewrites."""
    store = as_store(metadata).connect()
    run = find_run(store, run_id, pipeline) if store else None
    if run is None:
        return None
    path = report_path(root, run.name)
    base = path[: -len(".html")]
    from pipelines.local.redaction import open_private, private_dir

    private_dir(os.path.dirname(path))  # 0700 and files 0600: the local run's root
    if failure:
        with open_private(base + ".failure.txt") as f:
            f.write(failure)
    failure = failure or _read_text(base + ".failure.txt")
    page = build_html(store, run, destination, failure, _read_text(base + ".spec.yaml"))
    with open_private(path + ".tmp") as f:  # written whole, then renamed
        f.write(page)
    os.replace(path + ".tmp", path)  # local-only
    return path


# ---------------------------------------------------------------- reading the run


def _read_bytes(path: str) -> bytes | None:
    if "://" in path:  # an object store: through the file layer (imports TensorFlow)
        from components.common import io

        return io.read_bytes(path) if io.exists(path) else None
    if not os.path.isfile(path):  # local-only
        return None
    with open(path, "rb") as f:  # local-only
        return f.read()


def _read_text(path: str) -> str | None:
    data = _read_bytes(path)
    return data.decode("utf-8") if data is not None else None


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/"), *parts[1:]])


class _Run:
    """What the report needs of one run: its executions and their output artifacts by type."""

    def __init__(self, store, run):
        self.store, self.run = store, run
        self.nodes = node_states(store, run.id)
        types = {t.id: t.name for t in store.get_artifact_types()}
        self.outputs: dict[str, dict[str, list]] = {}
        for name, execution in self.nodes.items():
            ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution.id]) if e.type == _OUTPUT]
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


# ---------------------------------------------------------------- the page


def build_html(store, run, destination: str, failure: str | None, spec_text: str | None) -> str:
    r = _Run(store, run)
    states = {name: state_name(e) for name, e in r.nodes.items()}
    pipeline_root = _pipeline_root(r)
    started = dt.datetime.fromtimestamp(run.create_time_since_epoch / 1000)
    seconds = _seconds(list(r.nodes.values()))
    status = _status(states)
    parts = [f"<h1>Run {_e(run.name)}</h1>",
             f"<p class='meta'>pipeline <b>{_e(_pipeline_name(store, run))}</b> · started "
             f"{started:%Y-%m-%d %H:%M:%S} · {seconds:.1f} s · status <b id='run-status'>{_e(status)}</b></p>"]
    if failure or status.startswith(("failed", "did not")):
        parts.append(f"<section class='failure' id='failure'><h2>Failure</h2><p>{_e(failure or status)}</p></section>")
    parts.append(_stages(r))
    parts.append(_data(r, pipeline_root, failure))
    parts.append(_tuning(r))
    parts.append(_training(r))
    parts.append(_evaluation(r))
    parts.append(_push(r, destination))
    parts.append(_lineage(store, _pipeline_name(store, run)))
    if spec_text:
        parts.append(f"<section id='spec'><h2>Spec as run</h2><pre>{_e(spec_text)}</pre></section>")
    return _PAGE.format(title=_e(f"Run {run.name}"), css=_CSS, body="\n".join(parts))


def _pipeline_name(store, run) -> str:
    """The pipeline that made `run` (its parent context; a shared store holds several)."""
    for context in store.get_parent_contexts_by_context(run.id):
        if context.type == "pipeline":
            return context.name
    for execution in store.get_executions_by_context(run.id)[:1]:
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == "pipeline":
                return context.name
    return "?"


def _pipeline_root(r: _Run) -> str | None:
    for outputs in r.outputs.values():
        for artifacts in outputs.values():
            for artifact in artifacts:
                parts = artifact.uri.rstrip("/").split("/")
                if len(parts) > 3:
                    return "/".join(parts[:-3])
    return None


def _seconds(executions) -> float:
    if not executions:
        return 0.0
    return (max(e.last_update_time_since_epoch for e in executions)
            - min(e.create_time_since_epoch for e in executions)) / 1000


def _stages(r: _Run) -> str:
    rows = []
    for name, execution in r.nodes.items():
        state = state_name(execution)
        links = []
        for type_name, artifacts in r.outputs.get(name, {}).items():
            for artifact in artifacts:
                links.append(f"<a href='{_e(_href(artifact.uri))}'>{_e(type_name.split('.')[-1])}</a>")
        rows.append(f"<tr class='state-{state.lower()}'><td>{_e(name)}</td><td>{_e(state.lower())}</td>"
                    f"<td class='num'>{_seconds([execution]):.1f}</td><td>{' '.join(links) or '-'}</td></tr>")
    return ("<section id='stages'><h2>Stages</h2><table><tr><th>stage</th><th>status</th><th>seconds</th>"
            f"<th>artifacts</th></tr>{''.join(rows)}</table></section>")


def _href(uri: str) -> str:
    return uri if "://" in uri else "file://" + uri


# ---------------------------------------------------------------- data


def _data(r: _Run, pipeline_root: str | None, failure: str | None) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

    parts = ["<section id='data'><h2>Data</h2>"]
    examples = r.artifact("ExampleGen", "Examples")
    if examples is not None:
        span = examples.custom_properties.get("span")
        parts.append(f"<p>examples: <code>{_e(examples.uri)}</code>"
                     f"{f' · span {span.int_value}' if span is not None else ''}</p>")
    statistics = r.artifact("StatisticsGen", "ExampleStatistics")
    splits: dict[str, statistics_pb2.DatasetFeatureStatistics] = {}
    for split in ("train", "eval"):
        data = _read_bytes(_join(statistics.uri, f"Split-{split}", "FeatureStats.pb")) if statistics else None
        if data:
            stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
            if stats.datasets:
                splits[split] = stats.datasets[0]
    if splits:
        parts.append("<p>split sizes (rows read): " + ", ".join(f"<b>{s}</b> {d.num_examples:,} examples"
                                                    for s, d in splits.items()) + "</p>")
    counts = r.artifact("Batching", "components.Batches")
    counts = payloads.read_counts(counts.uri, r.missing_ok("Batching")) if counts is not None else None
    if counts and "validation" in counts:  # issue 18: the rows actually used, and those dropped
        lost = counts.get("lost", {})
        parts.append("<p id='rows-used'>rows used: " + ", ".join(
            f"<b>{s}</b> {counts[s]['examples']:,}" for s in ("train", "validation", "eval")) + "".join(
            f" · {s}: {n['no_label']:,} row(s) without a label and {n['unknown_class']:,} with an unknown class "
            "dropped (data.drop_unlabeled)" for s, n in lost.items() if n["no_label"] + n["unknown_class"]) + "</p>")
    parts.append(_gate(r, pipeline_root, anomalies_pb2, failure))
    for split, stats in splits.items():
        parts.append(_feature_table(split, stats))
    parts.append("</section>")
    return "".join(parts)


def _gate(r: _Run, pipeline_root: str | None, anomalies_pb2, failure: str | None) -> str:
    rows = []
    anomalies = r.artifact("ExampleValidator", "ExampleAnomalies")
    for split in ("train", "eval"):
        data = _read_bytes(_join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb")) if anomalies else None
        if not data:
            continue
        for feature, info in sorted(anomalies_pb2.Anomalies.FromString(data).anomaly_info.items()):
            rows.append(f"<tr><td>{split}</td><td>{_e(feature)}</td><td>{_e(info.short_description)}</td>"
                        f"<td>{_e(info.description)}</td></tr>")
    verdict_dir = r.uri("DataGate", "components.DataGateResult", "result", pipeline_root)
    verdict = payloads.read_verdict(verdict_dir, r.missing_ok("DataGate")) if verdict_dir else None
    report = payloads.read_gate_report(verdict_dir, r.missing_ok("DataGate")) if verdict_dir else None
    if verdict is None and "DataGate" in r.nodes and state_name(r.nodes["DataGate"]) == "FAILED":
        # TFX removes a failed stage's outputs: the gate's report is the run's failure message
        verdict, report = {"passed": False}, (failure or "").removeprefix("DataGate: ")
    if verdict is None:
        gate = "<p>the data gate did not run.</p>"
    else:
        word = "passed" if verdict["passed"] else "STOPPED the run"
        gate = (f"<p id='gate-verdict' class='{'ok' if verdict['passed'] else 'bad'}'>data gate: <b>{word}</b></p>"
                f"<pre>{_e(report or '')}</pre>")
    table = ("<table id='anomalies'><tr><th>split</th><th>feature</th><th>anomaly</th><th>detail</th></tr>"
             f"{''.join(rows)}</table>" if rows else "<p>TFDV found no anomalies against the schema.</p>")
    return f"<h3>Validation</h3>{gate}{table}"


def _feature_table(split: str, stats) -> str:
    rows = []
    for feature in stats.features:
        name = feature.path.step[-1] if feature.path.step else feature.name
        if feature.HasField("num_stats"):
            s = feature.num_stats
            common = s.common_stats
            histogram = next((h for h in s.histograms if h.type == h.STANDARD), None)
            bars = _bars([b.sample_count for b in histogram.buckets]) if histogram else ""
            cells = [f"{common.num_non_missing:,}", _pct(common.num_missing, stats.num_examples), _fmt(s.mean),
                     _fmt(s.std_dev), _fmt(s.min), _fmt(s.median), _fmt(s.max), "-", bars]
            kind = "int" if feature.type == feature.INT else "float"
        else:
            s = feature.string_stats
            common = s.common_stats
            top = s.top_values[0].value if s.top_values else "-"
            bars = _bars([b.sample_count for b in s.rank_histogram.buckets[:20]])
            cells = [f"{common.num_non_missing:,}", _pct(common.num_missing, stats.num_examples), "-", "-", "-",
                     "-", "-", f"{s.unique:,} (top: {_e(top)})", bars]
            kind = "string"
        rows.append(f"<tr><td>{_e(name)}</td><td>{kind}</td>" + "".join(f"<td class='num'>{c}</td>" for c in cells)
                    + "</tr>")
    return (f"<h3>Feature statistics: {split} split ({stats.num_examples:,} examples)</h3>"
            f"<table class='stats' id='stats-{split}'><tr><th>feature</th><th>type</th><th>present</th>"
            "<th>missing</th><th>mean</th><th>std dev</th><th>min</th><th>median</th><th>max</th>"
            f"<th>unique</th><th>distribution</th></tr>{''.join(rows)}</table>")


# ---------------------------------------------------------------- tuning and training


def _tuning(r: _Run) -> str:
    results = r.artifact("Tuner", "TunerResults")
    trials = payloads.read_tuner_results(results.uri, r.missing_ok("Tuner")) if results else None
    if not trials:
        return ""
    objective = next(k for k in trials[0] if k not in ("rank", "trial", "values"))
    keys = sorted({k for t in trials for k in t["values"]})
    head = "".join(f"<th>{_e(k)}</th>" for k in ["rank", objective, *keys])
    rows = "".join("<tr>" + "".join(f"<td class='num'>{_e(v)}</td>" for v in
                                    [t["rank"], _fmt(t[objective]), *(_show(t["values"].get(k)) for k in keys)])
                   + "</tr>" for t in trials)
    return (f"<section id='tuning'><h2>Tuning</h2><p>{len(trials)} trials, best first; the Trainer used rank 1."
            f"</p><table id='trials'><tr>{head}</tr>{rows}</table></section>")


def _show(value) -> str:
    return _fmt(value) if isinstance(value, float) else str(value)



def _training(r: _Run) -> str:
    run_dir = r.artifact("Trainer", "ModelRun")
    history = payloads.read_history(run_dir.uri, r.missing_ok("Trainer")) if run_dir else None
    if not history:
        return "<section id='training'><h2>Training</h2><p>the Trainer did not run.</p></section>"
    epochs = history.get("epochs", [])
    restored = history.get("restored_epoch")
    restarts = history.get("restarts") or []
    marks = ([(restored, f"restored epoch {restored}")] if restored is not None else []) + [
        (x["epoch"], f"restart: lr {x['learning_rate']:.3g}") for x in restarts]
    facts = [f"epochs run: <b>{history.get('epochs_run', len(epochs))}</b>",
             f"stopped: <b id='stop-reason'>{_e(history.get('stop_reason', '-'))}</b>"]
    if restored is not None:
        facts.append(f"weights restored from epoch <b>{restored}</b>")
    if restarts:
        facts.append("restarts: " + "; ".join(f"epoch {x['epoch']} back to epoch {x['restored_epoch']}, "
                                              f"learning rate {x['learning_rate']:.4g}" for x in restarts))
    if isinstance(history.get("hyperparameters"), dict):
        facts.append("hyper-parameters from the Tuner: " + ", ".join(
            f"{k} {_show(v)}" for k, v in history["hyperparameters"]["values"].items()))
    if history.get("label_units"):
        facts.append(f"regression losses are in {_e(history['label_units'])}")
    if history.get("splits"):  # issue 18: which rows each decision saw
        sizes = history["splits"]
        facts.append(f"<span id='split-decisions'>rows: train <b>{sizes.get('train') or 0:,}</b>, validation "
                     f"<b>{sizes.get('validation') or 0:,}</b> ({history.get('validation_fraction')} of the train "
                     f"rows; every 'val_' curve, early stopping, the restored epoch, learning-rate changes and the "
                     f"Tuner's objective), eval <b>{sizes.get('eval') or 0:,}</b> (the Evaluator only)</span>")
    xs = [h["epoch"] for h in epochs]
    charts = [_line_chart("learning-curve-loss", "loss", xs,
                          [("train loss", [h.get("loss") for h in epochs]),
                           ("validation loss", [h.get("val_loss") for h in epochs])], marks)]
    metrics = sorted({k.removeprefix("val_") for h in epochs for k in h} - {"epoch", "learning_rate", "loss"})
    for metric in metrics:
        charts.append(_line_chart(f"learning-curve-{metric}", metric, xs,
                                  [(f"train {metric}", [h.get(metric) for h in epochs]),
                                   (f"validation {metric}", [h.get(f"val_{metric}") for h in epochs])], marks))
    if any("learning_rate" in h for h in epochs):
        charts.append(_line_chart("learning-rate", "learning rate", xs,
                                  [("learning rate", [h.get("learning_rate") for h in epochs])], marks))
    return (f"<section id='training'><h2>Training</h2><p>{' · '.join(facts)}</p>"
            f"<div class='charts'>{''.join(charts)}</div></section>")


# ---------------------------------------------------------------- evaluation


def _evaluation(r: _Run) -> str:
    blessing_artifact = r.artifact("Evaluator", "ModelBlessing")
    evaluation = r.artifact("Evaluator", "ModelEvaluation")
    missing_ok = r.missing_ok("Evaluator")
    verdict = payloads.read_blessing(blessing_artifact.uri, missing_ok) if blessing_artifact else None
    scores = payloads.read_metrics(evaluation.uri, missing_ok) if evaluation else None
    if not verdict or not scores:
        return "<section id='evaluation'><h2>Evaluation</h2><p>the Evaluator did not run.</p></section>"
    candidate, baseline = scores["candidate"], scores.get("baseline")
    word = "BLESSED" + (" (forced)" if verdict["forced"] else "") if verdict["blessed"] else "NOT blessed"
    rows = []
    for name, reason in verdict["reasons"].items():
        base = _fmt(baseline[name]) if baseline and name in baseline else "-"
        rows.append(f"<tr><td>{_e(name)}</td><td class='num'>{_fmt(candidate[name])}</td><td class='num'>{base}</td>"
                    f"<td class='{'ok' if reason.startswith('OK') else 'bad'} reason'>{_e(reason)}</td></tr>")
    parts = [f"<section id='evaluation'><h2>Evaluation</h2>"
             f"<p id='blessing' class='{'ok' if verdict['blessed'] else 'bad'}'>candidate model: <b>{word}</b> "
             f"(compared with: {_e(verdict.get('baseline') or '-')}) on {candidate.get('examples', 0):,} eval "
             "examples</p>",
             "<table id='metrics'><tr><th>metric</th><th>candidate</th><th>serving model</th><th>reason</th></tr>"
             f"{''.join(rows)}</table>"]
    if "per_class" in candidate:
        parts.append(_per_class(candidate))
    if candidate.get("residuals"):
        parts.append(_residual_plot(candidate["residuals"]))
    parts.append("</section>")
    return "".join(parts)


REPORT_CLASSES = 50  # per-class rows and confusion matrix classes drawn; the rest are one "others" line


def top_classes(per_class: dict, top: int = REPORT_CLASSES) -> tuple[dict, dict | None]:
    """The `top` classes with the most eval examples (ties: the most predicted, then the first), in
    their order, and the sums of the rest ({"classes", "count", "predicted"}; None when none is left)."""
    if len(per_class) <= top:
        return per_class, None
    items = list(per_class.items())
    kept = set(sorted(range(len(items)), key=lambda i: (-items[i][1]["count"], -items[i][1]["predicted"], i))[:top])
    rest = [v for i, (_, v) in enumerate(items) if i not in kept]
    return ({c: v for i, (c, v) in enumerate(items) if i in kept},
            {"classes": len(rest), "count": sum(v["count"] for v in rest), "predicted": sum(v["predicted"] for v in rest)})


def capped_matrix(names: list[str], matrix: list[list[int]], top: int = REPORT_CLASSES) -> tuple[list[str], list]:
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


def _per_class(candidate: dict) -> str:
    shown, rest = top_classes(candidate["per_class"])
    rows = "".join(f"<tr><td>{_e(c)}</td><td class='num'>{v['count']}</td><td class='num'>{v['predicted']}</td>"
                   f"<td class='num'>{_fmt(v['precision'])}</td><td class='num'>{_fmt(v['recall'])}</td>"
                   f"<td class='num'>{_fmt(v['auc'])}</td></tr>" for c, v in shown.items())
    if rest:
        rows += (f"<tr class='others'><td>others ({rest['classes']:,} classes)</td><td class='num'>{rest['count']}</td>"
                 f"<td class='num'>{rest['predicted']}</td><td class='num'>-</td><td class='num'>-</td>"
                 "<td class='num'>-</td></tr>")
    table = ("<h3>Per class</h3>"
             + (f"<p>the {len(shown)} classes with the most eval examples of {len(candidate['per_class']):,}; the "
                "rest in one line (metrics.json has every class)</p>" if rest else "")
             + "<table id='per-class'><tr><th>class</th><th>examples</th><th>predicted</th>"
             f"<th>precision</th><th>recall</th><th>AUC</th></tr>{rows}</table>")
    matrix = candidate.get("confusion_matrix")
    if not matrix:
        return table
    classes, matrix = capped_matrix(candidate.get("confusion_classes") or list(candidate["per_class"]), matrix)
    top = max(max(row) for row in matrix) or 1
    head = "".join(f"<th>{_e(c)}</th>" for c in classes)
    body = ""
    for c, row in zip(classes, matrix):
        cells = "".join(f"<td class='num' style='background:rgba(31,119,180,{0.08 + 0.8 * v / top:.2f})'>{v}</td>"
                        for v in row)
        body += f"<tr><th>{_e(c)}</th>{cells}</tr>"
    return (table + "<h3>Confusion matrix (rows: actual class, columns: predicted)</h3>"
            f"<table id='confusion-matrix' class='matrix'><tr><th></th>{head}</tr>{body}</table>")


def _residual_plot(pairs: list, width: int = 520, height: int = 260) -> str:
    labels = [p[0] for p in pairs]
    residuals = [p[1] - p[0] for p in pairs]
    x0, x1 = _range(labels)
    y0, y1 = _range(residuals + [0.0])
    sx, sy = _scale(x0, x1, 50, width - 10), _scale(y1, y0, 10, height - 30)
    dots = "".join(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2' fill='{COLORS[0]}' fill-opacity='0.6'/>"
                   for x, y in zip(labels, residuals))
    axes = _axes(x0, x1, y0, y1, sx, sy, width, height, "label", "prediction - label")
    zero = f"<line x1='50' x2='{width - 10}' y1='{sy(0):.1f}' y2='{sy(0):.1f}' stroke='#888' stroke-dasharray='4'/>"
    return ("<h3>Residuals (eval split, in label units)</h3>"
            f"<svg id='residual-plot' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"xmlns='http://www.w3.org/2000/svg'>{axes}{zero}{dots}</svg>")


# ---------------------------------------------------------------- push and lineage


def _push(r: _Run, destination: str) -> str:
    pushed = r.artifact("Pusher", "PushedModel")
    parts = ["<section id='push'><h2>Push</h2>"]
    if pushed is None:
        parts.append("<p>the Pusher did not run.</p>")
    else:
        props = pushed.custom_properties
        decision = props["push_decision"].string_value if "push_decision" in props else "-"
        where = props["pushed_destination"].string_value if "pushed_destination" in props else ""
        parts.append(f"<p id='push-decision'>{'pushed to <code>' + _e(where) + '</code>: ' if where else ''}"
                     f"{_e(decision)}</p>")
    versions = _serving_versions(destination)
    parts.append(f"<p>serving versions now at <code>{_e(destination)}</code>: "
                 f"<b id='serving-versions'>{', '.join(map(str, versions)) or 'none'}</b></p>")
    withdrawn = withdrawn_versions(destination)
    if withdrawn:
        rows = "".join(f"<li>version {_e(str(w.get('version')))} withdrawn at {_e(str(w.get('at')))}</li>"
                       for w in withdrawn)
        parts.append(f"<p>withdrawn by a rollback (never published again):</p><ul id='withdrawn-versions'>{rows}</ul>")
    parts.append("</section>")
    return "".join(parts)


def _serving_versions(destination: str) -> list[int]:
    if "://" in destination:
        from components.common import serving_dir

        return serving_dir.versions(destination)
    return serving_layout.local_versions(destination)


def _lineage(store, pipeline: str) -> str:
    from pipelines.runs.lineage import pushed_versions_in

    pushes = pushed_versions_in(store, pipeline if pipeline != "?" else None)
    rows = "".join(f"<tr><td class='num'>{p['version']}</td><td class='num'>{p['span'] if p['span'] is not None else '-'}"
                   f"</td><td><code>{_e(p['examples'] or '-')}</code></td></tr>" for p in pushes)
    return ("<section id='lineage'><h2>Lineage</h2><table><tr><th>pushed version</th><th>data span</th>"
            f"<th>training examples</th></tr>{rows or '<tr><td colspan=3>no pushes recorded</td></tr>'}"
            "</table></section>")


# ---------------------------------------------------------------- drawing


def _line_chart(chart_id: str, title: str, xs: list, series: list, marks: list,
                width: int = 420, height: int = 240) -> str:
    values = [v for _, ys in series for v in ys if _finite(v)]
    if not xs or not values:
        return ""
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = _range(values)
    sx, sy = _scale(x0, x1, 50, width - 10), _scale(y1, y0, 28, height - 30)
    lines, legend = [], []
    for i, (label, ys) in enumerate(series):
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if _finite(y))
        if not points:
            continue
        color = COLORS[i % len(COLORS)]
        lines.append(f"<polyline points='{points}' fill='none' stroke='{color}' stroke-width='2'/>")
        legend.append(f"<text x='{60 + 130 * len(legend)}' y='14' fill='{color}' font-size='12'>{_e(label)}</text>")
    for x, label in marks:
        if x is not None and x0 <= x <= x1:
            lines.append(f"<line x1='{sx(x):.1f}' x2='{sx(x):.1f}' y1='28' y2='{height - 30}' stroke='#555' "
                         f"stroke-dasharray='3'><title>{_e(label)}</title></line>")
    axes = _axes(x0, x1, y0, y1, sx, sy, width, height, "epoch", title)
    return (f"<figure><svg id='{chart_id}' class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>{axes}{''.join(lines)}"
            f"{''.join(legend)}</svg><figcaption>{_e(title)}</figcaption></figure>")


def _axes(x0, x1, y0, y1, sx, sy, width, height, xlabel, ylabel) -> str:
    out = [f"<rect x='50' y='{sy(y1):.1f}' width='{width - 60}' height='{sy(y0) - sy(y1):.1f}' fill='#fafafa' "
           "stroke='#ccc'/>"]
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        out.append(f"<text x='46' y='{sy(y) + 4:.1f}' text-anchor='end' font-size='10'>{_fmt(y)}</text>")
    for i in range(5):
        x = x0 + (x1 - x0) * i / 4
        out.append(f"<text x='{sx(x):.1f}' y='{height - 16}' text-anchor='middle' font-size='10'>{_fmt(x)}</text>")
    out.append(f"<text x='{(50 + width) / 2:.0f}' y='{height - 2}' text-anchor='middle' font-size='11'>"
               f"{_e(xlabel)}</text>")
    return "".join(out)


def _bars(counts: list[float], width: int = 120, height: int = 28) -> str:
    if not counts or max(counts) <= 0:
        return ""
    step, top = width / len(counts), max(counts)
    rects = "".join(f"<rect x='{i * step:.1f}' y='{height - height * c / top:.1f}' width='{max(step - 1, 1):.1f}' "
                    f"height='{height * c / top:.1f}' fill='{COLORS[0]}'/>" for i, c in enumerate(counts))
    return f"<svg class='bars' width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>{rects}</svg>"


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:  # a flat line (a constant learning rate): 10 % either side
        lo, hi = lo - (abs(lo) * 0.1 or 1), hi + (abs(hi) * 0.1 or 1)
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _scale(a: float, b: float, lo: float, hi: float):
    return lambda v: lo + (v - a) / (b - a) * (hi - lo)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    if isinstance(v, int) or (math.isfinite(v) and v == int(v) and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.4g}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>
{body}
</body></html>
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 15px; } .meta { color: #555; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; } .bad { color: #c62828; } .reason { max-width: 560px; }
.failure { background: #fdecea; border: 1px solid #c62828; padding: 4px 12px; }
.state-failed td { background: #fdecea; } .state-cached td { color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; }
figcaption { text-align: center; font-size: 12px; color: #555; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.matrix td { min-width: 48px; text-align: center; }
"""
