"""The files inside this project's artifacts: each payload's name, its writer and its reader,
stated once and used by producers and readers alike (a renamed file fails loudly in tests, it
never blanks a report section).

Readers take local paths with the standard library (run summaries and the unchanged-run fast
path must not import TensorFlow) and other URIs through the file layer. A reader raises
PayloadMissing when the file is not there, unless `missing_ok` (then None): the report and the
summary pass `missing_ok=lenient()`, which is False under TFX_YAML_STRICT_PAYLOADS=1 (the tests),
so that a renamed or unwritten payload fails a test instead of blanking a section.
"""

from __future__ import annotations

import json
import os

from pipelines.core.uris import is_remote, join

BLESSING_FILE = "blessing.json"  # Evaluator -> ModelBlessing: the verdict, reasons, both models' metrics
METRICS_FILE = "metrics.json"  # Evaluator -> ModelEvaluation: every metric of the candidate and the baseline
SERVING_STATE_FILE = "serving_state.json"  # ServingState -> ServingState: what served at the destination
VERDICT_FILE = "verdict.json"  # DataGate -> DataGateResult: {"passed", "anomalies"}
GATE_REPORT_FILE = "report.txt"  # DataGate -> DataGateResult: the anomalies in words
PLAN_FILE = "plan.json"  # Batching -> Batches: the feature plan (components.common.features.FeaturePlan)
COUNTS_FILE = "counts.json"  # Batching -> Batches: examples and batches per split, rows lost
HISTORY_FILE = "history.json"  # Trainer -> ModelRun: per-epoch metrics and learning rate, why it stopped
TUNER_RESULTS_FILE = "tuner_results.json"  # Tuner -> TunerResults: the trials, best first
BATCHES_SCHEMA_FILE = "schema.pbtxt"  # Batching -> Batches: the pipeline's schema (kept with the model)
BATCHES_STATISTICS_FILE = "train_statistics.pb"  # Batching -> Batches: the train split's statistics (drift)
STRICT_ENV = "TFX_YAML_STRICT_PAYLOADS"


class PayloadMissing(FileNotFoundError):
    """A payload file that its artifact should hold is not there."""

    def __init__(self, uri: str, name: str):
        super().__init__(f"{name} is missing from the artifact at {uri}: the stage that made the artifact "
                         "did not write it (or wrote it under another name; components/common/payloads.py "
                         "names every payload file)")


def lenient() -> bool:
    """Whether readers that show a run (the report, the summary) may treat a missing payload as
    "not there": yes, unless TFX_YAML_STRICT_PAYLOADS=1 (set by the tests)."""
    return os.environ.get(STRICT_ENV, "") in ("", "0")


def _file_layer():
    """components.common.io, imported where a payload is remote or written: it imports TFX (seconds),
    and the readers of local payloads (the run summary, the fast path) stay free of TensorFlow."""
    from components.common import io

    return io


def _read_json(path: str):
    if is_remote(path):
        io = _file_layer()
        return io.read_json(path)
    with open(path, encoding="utf-8") as f:  # local-only
        return json.load(f)


def _exists(path: str) -> bool:
    if is_remote(path):
        io = _file_layer()
        return io.exists(path)
    return os.path.exists(path)  # local-only


def _read_text(path: str) -> str:
    if is_remote(path):
        io = _file_layer()
        return io.read_text(path)
    with open(path, encoding="utf-8") as f:  # local-only
        return f.read()


def _read(uri: str, name: str, missing_ok: bool, text: bool = False):
    path = _join(uri, name)
    if not _exists(path):
        if missing_ok:
            return None
        raise PayloadMissing(uri, name)
    return _read_text(path) if text else _read_json(path)


def _join(uri: str, name: str) -> str:
    return join(uri, name)


def _write_json(uri: str, name: str, value) -> None:
    io = _file_layer()
    io.write_json(io.join(uri, name), value)


def write_blessing(uri: str, verdict: dict) -> None:
    _write_json(uri, BLESSING_FILE, verdict)


def read_blessing(uri: str, missing_ok: bool = True) -> dict | None:
    """The Evaluator's verdict in a ModelBlessing artifact; None when the artifact has none
    (an Evaluator that failed before writing it) and `missing_ok`."""
    return _read(uri, BLESSING_FILE, missing_ok)


def write_metrics(uri: str, metrics: dict) -> None:
    _write_json(uri, METRICS_FILE, metrics)


def read_metrics(uri: str, missing_ok: bool = True) -> dict | None:
    return _read(uri, METRICS_FILE, missing_ok)


def write_serving_state(uri: str, state: dict) -> None:
    _write_json(uri, SERVING_STATE_FILE, state)


def read_serving_state(uri: str) -> dict:
    return _read_json(_join(uri, SERVING_STATE_FILE))


def write_verdict(uri: str, passed: bool, anomalies: list, report: str) -> None:
    """The data gate's verdict and its report in words."""
    io = _file_layer()
    _write_json(uri, VERDICT_FILE, {"passed": passed, "anomalies": anomalies})
    io.write_text(io.join(uri, GATE_REPORT_FILE), report)


def read_verdict(uri: str, missing_ok: bool = False) -> dict | None:
    return _read(uri, VERDICT_FILE, missing_ok)


def read_gate_report(uri: str, missing_ok: bool = False) -> str | None:
    return _read(uri, GATE_REPORT_FILE, missing_ok, text=True)


def write_plan(uri: str, plan_json: str) -> None:
    io = _file_layer()
    io.write_text(io.join(uri, PLAN_FILE), plan_json)


def read_plan_json(uri: str) -> str:
    """The feature plan's JSON (FeaturePlan.from_json makes the plan: that module imports TensorFlow)."""
    return _read(uri, PLAN_FILE, missing_ok=False, text=True)


def write_counts(uri: str, counts: dict) -> None:
    _write_json(uri, COUNTS_FILE, counts)


def read_counts(uri: str, missing_ok: bool = False) -> dict | None:
    return _read(uri, COUNTS_FILE, missing_ok)


def write_history(uri: str, history: dict) -> None:
    _write_json(uri, HISTORY_FILE, history)


def read_history(uri: str, missing_ok: bool = False) -> dict | None:
    return _read(uri, HISTORY_FILE, missing_ok)


def write_tuner_results(uri: str, trials: list) -> None:
    _write_json(uri, TUNER_RESULTS_FILE, trials)


def read_tuner_results(uri: str, missing_ok: bool = False) -> list | None:
    return _read(uri, TUNER_RESULTS_FILE, missing_ok)


# Batching -> Batches: Split-<name>/batches-* are TFRecord files of mini-batches, a record each
def serialize_batch(x, y) -> bytes:
    """A mini-batch as a tf.Example: x [n, columns] and y [n] as raw little-endian float32."""
    import numpy as np
    import tensorflow as tf

    def raw(values) -> tf.train.Feature:
        data = np.ascontiguousarray(values, "<f4").tobytes()
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))

    feature = {"x": raw(x), "y": raw(y), "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(y)]))}
    # deterministic: the features in key order (a map's order otherwise varies from one process to the next)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def parse_batch(record: bytes, columns: int):
    """`serialize_batch`'s inverse, in numpy: (x [n, columns], y [n])."""
    import numpy as np
    import tensorflow as tf

    feature = tf.train.Example.FromString(record).features.feature
    x = np.frombuffer(feature["x"].bytes_list.value[0], "<f4").reshape(-1, columns)
    return x, np.frombuffer(feature["y"].bytes_list.value[0], "<f4")
