"""What a run did, read back from ML Metadata and the artifacts: the runner's final report."""

from __future__ import annotations

import dataclasses
import os

from ml_metadata.proto import metadata_store_pb2

from components.common import keys, payloads, serving_layout
from pipelines.core.uris import is_remote
from pipelines.runs.metadata import Store, as_store


@dataclasses.dataclass
class RunSummary:
    run_id: str
    executions: dict[str, str]  # component id -> state (COMPLETE, CACHED, FAILED, ...)
    blessed: bool | None = None
    forced: bool = False
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    baseline_metrics: dict[str, float] | None = None
    trivial_metrics: dict | None = None  # the best constant prediction's values (the Evaluator's bar)
    baseline: str = ""
    push_decision: str = ""
    data: list[str] = dataclasses.field(default_factory=list)  # rows used and lost per split; the weak class
    pushed_to: str = ""
    destination: str = ""  # the push destination (from ServingState)
    serving_fingerprint: str = ""  # a local destination as the Pusher left it (see pipelines/local/rerun.py)

    def lines(self) -> list[str]:
        out = [f"run {self.run_id}: " + ", ".join(f"{k} {v.lower()}" for k, v in self.executions.items())]
        if self.metrics:
            serving = self.baseline_metrics or {}
            out.append("metrics: " + ", ".join(
                f"{k}={v:.4f}" + (f" (serving {serving[k]:.4f})" if serving.get(k) is not None else "")
                for k, v in self.metrics.items()))
            trivial = self.trivial_metrics or {}
            said = [f"{k}={v:.4f} ({trivial['predictor'][k]})" for k, v in trivial.items()
                    if isinstance(v, (int, float)) and isinstance(trivial.get("predictor"), dict)]
            if said:
                out.append("trivial model (the bar a model must beat): " + ", ".join(said))
        out += self.data
        if self.blessed is not None:
            out.append(f"blessed: {'yes' if self.blessed else 'no'}{' (forced)' if self.forced else ''}"
                       f" (baseline: {self.baseline})")
            out += [f"  {name}: {reason}" for name, reason in self.reasons.items()]
        withdrawn = ({w.get("version"): w for w in withdrawn_versions(self.destination)}
                     if self.destination else {})
        last = os.path.basename(self.pushed_to)
        pushed_version = int(last) if last.isdigit() else None
        note = (f" (withdrawn by a rollback at {withdrawn[pushed_version].get('at', '?')})"
                if pushed_version in withdrawn else "")
        if self.pushed_to and self.executions.get("Pusher") == "CACHED":
            out.append(f"nothing new pushed: inputs unchanged since the push of {self.pushed_to}{note}")
        elif self.pushed_to:
            out.append(f"pushed: {self.pushed_to}{note}")
        elif self.push_decision:
            out.append(f"not pushed: {self.push_decision}")
        if self.destination:
            now = serving_now(self.destination)
            out.append(f"serving now: {now or f'nothing at {self.destination}'}")
        return out


def withdrawn_versions(destination: str) -> list[dict]:
    """The destination's rollback record: [{version, fingerprint, at}, ...]."""
    return serving_layout.ServingDirectory(destination).withdrawn()


def serving_now(destination: str) -> str | None:
    """The path of the newest complete version at `destination` now, or None."""
    serving = serving_layout.ServingDirectory(destination)
    newest = serving.newest()
    return serving.version_path(newest) if newest is not None else None


def published_versions(destination: str) -> list[dict]:
    """The complete versions of a local destination with what their push_metadata.json says
    (version, path, source_run, pushed_at), oldest first: what serves, whatever ML Metadata
    recorded (a run killed right after its rename, or whose record failed after it, left its
    version there unrecorded). [] for a remote destination (not read here)."""
    import json

    if is_remote(destination):
        return []
    found = []
    for version in serving_layout.ServingDirectory(destination, serving_layout.LocalFiles()).versions():
        path = os.path.join(destination, str(version))
        try:
            # local-only: a local version's small JSON file, read to at most 1 MB
            with open(os.path.join(path, serving_layout.METADATA_FILE), encoding="utf-8") as f:
                pushed = json.loads(f.read(1 << 20))
        except (OSError, ValueError):
            pushed = {}
        pushed = pushed if isinstance(pushed, dict) else {}
        found.append({"version": version, "path": path, "source_run": str(pushed.get("source_run") or ""),
                      "pushed_at": pushed.get("pushed_at")})
    return found


def published_by(destination: str, run_id: str) -> list[tuple[int, str]]:
    """(version, path) of each version at a local `destination` that run `run_id` published."""
    return [(p["version"], p["path"]) for p in published_versions(destination) if p["source_run"] == run_id]


def latest_run(metadata: Store | str, pipeline: str | None = None) -> RunSummary | None:
    """The summary of the newest run (of `pipeline`, when given) recorded in the store (or SQLite file)."""
    return run_summary(metadata, pipeline=pipeline)


def node_states(store, run_id: int) -> dict[str, metadata_store_pb2.Execution]:
    """Component id -> its execution in the pipeline run context `run_id`, in execution order."""
    executions = {}
    for execution in sorted(store.get_executions_by_context(run_id), key=lambda e: e.id):
        nodes = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        executions[nodes[0].split(".", 1)[-1] if nodes else str(execution.id)] = execution
    return executions


def state_name(execution: metadata_store_pb2.Execution) -> str:
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def pipeline_context(store, pipeline: str):
    """The `pipeline` context TFX records for the pipeline named `pipeline`, or None."""
    try:
        return store.get_context_by_type_and_name("pipeline", pipeline)
    except Exception:  # noqa: BLE001 (ML Metadata: NotFoundError while no pipeline was recorded)
        return None


def pipeline_runs(store, pipeline: str | None = None) -> list:
    """The pipeline_run contexts of the pipeline named `pipeline` (every run when None): a store
    shared by several pipelines (a team's MySQL server) holds the runs of each. TFX makes each
    pipeline_run a child of its pipeline's context; runs recorded without that link are found
    through their executions."""
    runs = store.get_contexts_by_type("pipeline_run")
    if pipeline is None:
        return runs
    context = pipeline_context(store, pipeline)
    if context is None:
        return []
    ids = {c.id for c in store.get_children_contexts_by_context(context.id)}
    if not ids:
        ids = {c.id for e in store.get_executions_by_context(context.id)
               for c in store.get_contexts_by_execution(e.id) if c.type == "pipeline_run"}
    return [r for r in runs if r.id in ids]


def find_run(store, run_id: str | None = None, pipeline: str | None = None):
    """The pipeline_run context `run_id`, or the newest, of the pipeline named `pipeline` (of any
    pipeline when None); None when there is none."""
    runs = [r for r in pipeline_runs(store, pipeline) if run_id is None or r.name == run_id]
    return max(runs, key=lambda c: c.create_time_since_epoch) if runs else None


def run_summary(metadata: Store | str, run_id: str | None = None,
                pipeline: str | None = None) -> RunSummary | None:
    """The summary of pipeline run `run_id` (default: the newest) of `pipeline` in the store."""
    store = as_store(metadata).connect()
    if store is None:
        return None
    run = find_run(store, run_id, pipeline)
    if run is None:
        return None
    states = {name: state_name(e) for name, e in node_states(store, run.id).items()}
    summary = RunSummary(run_id=run.name, executions=states)
    artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    for artifact in store.get_artifacts_by_context(run.id):
        kind = artifact_types[artifact.type_id]
        if kind in ("components.Batches", "ModelEvaluation"):
            summary.data += data_lines(kind, artifact.uri, _missing_ok(artifact))
        if kind == "ModelBlessing":
            _read_blessing(summary, artifact.uri, _missing_ok(artifact))
        elif kind == "PushedModel":
            props = artifact.custom_properties
            decided = keys.PUSH_DECISION in props
            summary.push_decision = props[keys.PUSH_DECISION].string_value if decided else ""
            if keys.PUSHED_DESTINATION in props:
                summary.pushed_to = props[keys.PUSHED_DESTINATION].string_value
            if keys.SERVING_FINGERPRINT in props:
                summary.serving_fingerprint = props[keys.SERVING_FINGERPRINT].string_value
        elif kind == "components.ServingState" and keys.DESTINATION in artifact.custom_properties:
            summary.destination = artifact.custom_properties[keys.DESTINATION].string_value
    return summary


def _read_blessing(summary: RunSummary, uri: str, missing_ok: bool = True) -> None:
    # local runs: no TensorFlow for an unchanged re-run's summary
    verdict = payloads.read_blessing(uri, missing_ok)
    if verdict is None:
        return
    summary.blessed, summary.forced = verdict["blessed"], verdict["forced"]
    summary.reasons, summary.metrics = verdict["reasons"], verdict["metrics"]
    summary.baseline_metrics = verdict.get("baseline_metrics")
    summary.trivial_metrics = verdict.get("trivial_metrics")
    summary.baseline = verdict.get("baseline", "")


def _missing_ok(artifact) -> bool:
    """A payload may be absent from an artifact that was never published (its stage failed), or
    anywhere when the readers are lenient (payloads.lenient(): not in the tests)."""
    return payloads.lenient() or artifact.state != metadata_store_pb2.Artifact.LIVE


def data_lines(kind: str, uri: str, missing_ok: bool = True) -> list[str]:
    """What the rows were (Batching's counts.json: rows used per split and rows dropped) and what
    the averages hide (the Evaluator's metrics.json: the worst class, the majority baseline)."""
    if kind == "components.Batches":
        found = payloads.read_counts(uri, missing_ok)
    else:
        found = payloads.read_metrics(uri, missing_ok)
    if not found:
        return []
    if kind == "components.Batches":
        if "validation" not in found:
            return []
        lost = found.get("lost", {})
        dropped = [f"{s} {n['no_label'] + n['unknown_class']:,}"
                   for s, n in sorted(lost.items(), reverse=True) if n["no_label"] + n["unknown_class"]]
        return [f"rows used: train {found['train']['examples']:,}, validation "
                f"{found['validation']['examples']:,} (training decisions), eval "
                f"{found['eval']['examples']:,} (metrics)"
                + (f"; rows dropped without a usable label (data.drop_unlabeled): {', '.join(dropped)}"
                   if dropped else "")]
    candidate = found.get("candidate") or {}
    if candidate.get("worst_class_recall") is None:
        return []
    lines = [(f"classes: precision, recall and auc are macro averages; worst class recall "
              f"{candidate['worst_class_recall']:.4f} ({candidate.get('worst_class')!r}); always predicting "
              f"{candidate.get('majority_class')!r} would score accuracy "
              f"{candidate['majority_baseline_accuracy']:.4f}")]
    if candidate.get("imbalance_warning"):
        lines.append(f"warning: {candidate['imbalance_warning']}")
    return lines


def run_history(metadata: Store | str, pipeline: str | None = None,
                destination: str | None = None) -> list[dict]:
    """Every run of the pipeline named `pipeline` (of every pipeline when None) recorded in the
    store, newest first: when, status, duration, span, the first evaluated metric, blessed, pushed
    version (one dict each; what `tfx-yaml runs` prints). A version that serves at the destination
    (`destination`, and those the runs' ServingState recorded) and whose push_metadata.json names
    a run that ML Metadata does not record as pushing it is reconciled: that run's entry gets it,
    with "recorded": False."""
    store = as_store(metadata).connect()
    if store is None:
        return []
    types = {t.id: t.name for t in store.get_artifact_types()}
    history = []
    destinations = {destination} if destination else set()
    for run in sorted(pipeline_runs(store, pipeline), key=lambda c: c.create_time_since_epoch,
                      reverse=True):
        nodes = node_states(store, run.id)
        executions = list(nodes.values())
        states = {name: state_name(e) for name, e in nodes.items()}
        entry = {"run_id": run.name, "status": _status(states), "span": None, "metric": None, "blessed": None,
                 "pushed_version": None,
                 "started": run.create_time_since_epoch / 1000,
                 "seconds": (max((e.last_update_time_since_epoch for e in executions), default=0)
                             - min((e.create_time_since_epoch for e in executions), default=0)) / 1000}
        for artifact in store.get_artifacts_by_context(run.id):
            kind, props = types[artifact.type_id], artifact.custom_properties
            if kind == "Examples" and "span" in props:
                entry["span"] = props["span"].int_value
            elif kind == "components.ServingState" and keys.DESTINATION in props:
                destinations.add(props[keys.DESTINATION].string_value)
            elif kind == "ModelBlessing":
                blessing = RunSummary(run_id=run.name, executions={})
                _read_blessing(blessing, artifact.uri)
                entry["blessed"] = blessing.blessed
                if blessing.metrics:
                    name, value = next(iter(blessing.metrics.items()))
                    entry["metric"] = {"name": name, "value": value}
            elif kind == "PushedModel" and props.get(keys.PUSHED) and props[keys.PUSHED].int_value == 1:
                entry["pushed_version"] = props[keys.PUSHED_VERSION].int_value
                destination = os.path.dirname(props[keys.PUSHED_DESTINATION].string_value.rstrip("/"))
                withdrawn = [w for w in withdrawn_versions(destination)
                             if w.get("version") == entry["pushed_version"]]
                entry["withdrawn_at"] = withdrawn[0].get("at") if withdrawn else None
            elif kind == "PushedModel" and keys.PUSH_DECISION in props:  # not pushed: why
                entry["push_decision"] = props[keys.PUSH_DECISION].string_value
        history.append(entry)
    _reconcile(history, destinations)
    return history


def _reconcile(history: list[dict], destinations: set[str]) -> None:
    """Give each run that published a serving version without ML Metadata recording it (killed
    right after the rename, or its record failed: a full disk) that version, from the version's
    push_metadata.json."""
    by_run = {entry["run_id"]: entry for entry in history}
    for destination in sorted(destinations):
        for pushed in published_versions(destination):
            entry = by_run.get(pushed["source_run"])
            if entry is not None and entry["pushed_version"] is None:
                entry["pushed_version"], entry["recorded"] = pushed["version"], False
                entry["withdrawn_at"] = None


def _status(states: dict[str, str]) -> str:
    for node, state in states.items():
        if state == "FAILED":
            return f"failed in {node}"
    for node, state in states.items():
        if state in ("RUNNING", "NEW"):
            return f"did not finish ({node})"
    if states and all(state == "CACHED" for state in states.values()):
        return "cached"
    return "complete" if states else "no stages"


def history_lines(history: list[dict]) -> list[str]:
    import datetime as dt

    lines = [(f"{'started':<20} {'status':<26} {'seconds':>7}  {'span':>4}  {'metric':<18} {'blessed':<7} "
              "pushed")]
    for h in history:
        metric = f"{h['metric']['name']}={h['metric']['value']:.4f}" if h["metric"] else "-"
        blessed = {True: "yes", False: "no", None: "-"}[h["blessed"]]
        why_not = f" ({h['push_decision']})" if not h["pushed_version"] and h.get("push_decision") else ""
        lines.append(f"{dt.datetime.fromtimestamp(h['started']).strftime('%Y-%m-%d %H:%M:%S'):<20} "
                     f"{h['status']:<26} {h['seconds']:>7.1f}  "
                     f"{h['span'] if h['span'] is not None else '-':>4}  {metric:<18} {blessed:<7} "
                     f"{h['pushed_version'] or '-'}{why_not}"
                     + (f" (rolled back {h['withdrawn_at']})" if h.get("withdrawn_at") else "")
                     + (" (published; not recorded in ML Metadata: from its push_metadata.json)"
                        if h.get("recorded") is False else ""))
    return lines
