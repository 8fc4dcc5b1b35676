"""The serving check (InfraValidator's role, without Docker): before a blessed candidate becomes
a visible version, it is loaded in a fresh interpreter that imports only TensorFlow
(components/pusher/serving_probe.py, run with `python -I`: not this project, not its custom
objects), and its `serving_default` is called on raw eval examples at batch sizes 1 and 64.

It passes only when the model loads there, has `serving_default` taking one string tensor
`examples`, answers every example with finite numbers, and answers as the Evaluator did: the
Evaluator's call (the same signature on the same serialized examples, in this process, in chunks
of 8,192) is repeated here as the reference, and every float output must satisfy
|probe - reference| <= ATOL + RTOL * |reference| (1e-5 + 1e-4 relative) at both batch sizes, every
other output (class ids, class names) exactly. p50/p99 latency per batch size is recorded.

It also writes TF Serving's warm-up file (`assets.extra/tf_serving_warmup_requests`, PredictionLog
records of PredictRequests built with tensorflow-serving-api's protos, at most MAX_WARMUP_RECORDS)
from the same examples.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from components.common import io

SIGNATURE = "serving_default"
INPUT = "examples"
ATOL, RTOL = 1e-5, 1e-4
MAX_EXAMPLES = 256  # eval examples the probe is given (the first ones of the eval split)
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most 1,000 warm-up records
WARMUP_RECORDS = {1: 32, 64: 8}  # requests per batch size in the warm-up file (40 records)
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_probe.py")
PROBE_TIMEOUT_SECONDS = 600


@dataclasses.dataclass
class CheckResult:
    ok: bool
    reason: str  # why not, or a one-line summary when ok
    latency_ms: dict = dataclasses.field(default_factory=dict)  # {"1": {"p50", "p99", "calls"}, ...}
    examples: int = 0
    seconds: float = 0.0
    probe: dict = dataclasses.field(default_factory=dict)  # the probe's own report

    def to_json(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "latency_ms": self.latency_ms,
                "examples": self.examples,
                "seconds": round(self.seconds, 2), "tolerance": {"atol": ATOL, "rtol": RTOL},
                "tensorflow": self.probe.get("tensorflow"),
                "load_seconds": self.probe.get("load_seconds"),
                "modules_added_by_the_model": self.probe.get("modules_added_by_the_model", [])}


def load_saved_model(path: str):
    """The one place this project loads a SavedModel in-process (the serving check's reference,
    batch predictions). A model that needs an op library before loading (TensorFlow Decision
    Forests: `import tensorflow_decision_forests`) gets it here."""
    import tensorflow as tf

    from components.common import forest_ops

    forest_ops.register()
    return tf.saved_model.load(path)


def eval_examples(files: list[str], limit: int = MAX_EXAMPLES) -> list[bytes]:
    """The first `limit` serialized examples of the eval split's files (GZIP TFRecords or not)."""
    import tensorflow as tf

    if not files:
        return []
    compression = "GZIP" if files[0].endswith(".gz") else ""
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type=compression).take(limit)]


def reference_outputs(model_path: str, examples: list[bytes], chunk: int = 8192) -> dict[str, np.ndarray]:
    """The Evaluator's answers for `examples`: its call (components/evaluator/executor.py,
    evaluate_saved_model) of `serving_default` on the serialized examples in chunks, here."""
    import tensorflow as tf

    serve = load_saved_model(model_path).signatures[SIGNATURE]
    found: dict[str, list] = {}
    for start in range(0, len(examples), chunk):
        for key, value in serve(**{INPUT: tf.constant(examples[start:start + chunk])}).items():
            value = value.numpy()
            found.setdefault(key, []).append(value.astype(bytes) if value.dtype == object else value)
    return {k: np.concatenate(v) for k, v in found.items()}


def check(model_path: str, examples: list[bytes]) -> CheckResult:
    """Run the probe on the candidate at `model_path` with `examples` and judge its answers."""
    started = time.perf_counter()
    if not examples:
        return CheckResult(False, "no eval examples to call the model with", seconds=0.0)
    with tempfile.TemporaryDirectory(prefix="serving-check-") as work:
        local_model = _local_copy(model_path, work)
        records = os.path.join(work, "examples.tfrecord")
        _write_records(records, examples)
        probe = _run_probe(local_model, records, work)
        if not probe.get("ok"):
            return CheckResult(False, _failure(probe), seconds=time.perf_counter() - started, probe=probe)
        answers = {batch: dict(np.load(os.path.join(work, f"outputs-{batch}.npz"), allow_pickle=False))
                   for batch in (64, 1)}
    problem = _nan_problem(answers)
    if problem is None:
        try:
            reference = reference_outputs(model_path, examples)
        except Exception as error:  # noqa: BLE001 (reported: the candidate is not pushed)
            problem = f"the Evaluator's call of the model failed here: {type(error).__name__}: {error}"
        else:
            problem = _difference(answers, reference)
    latency = probe.get("latency_ms", {})
    seconds = time.perf_counter() - started
    if problem:
        return CheckResult(False, problem, latency, len(examples), seconds, probe)
    summary = (f"loaded in a TensorFlow-only process and answered {len(examples)} eval examples as the "
               f"Evaluator did at batch sizes 1 and 64; latency p50/p99 "
               + ", ".join(f"batch {b}: {v['p50']:.2f}/{v['p99']:.2f} ms" for b, v in latency.items()))
    return CheckResult(True, summary, latency, len(examples), seconds, probe)


def _local_copy(model_path: str, work: str) -> str:
    """The probe's TensorFlow has no object-store file systems: a remote model is copied here."""
    if not io.is_remote(model_path):
        return model_path
    target = os.path.join(work, "model")
    io.copytree(model_path, target)
    return target


def _write_records(path: str, examples: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as writer:
        for record in examples:
            writer.write(record)


def _run_probe(model_dir: str, records: str, work: str) -> dict:
    """The probe in a fresh interpreter: -I keeps the checkout and PYTHON* variables out of it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        done = subprocess.run([sys.executable, "-I", PROBE, model_dir, records, work], env=env, cwd=work,
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "call", "error": f"no answer within {PROBE_TIMEOUT_SECONDS} s"}
    answer = os.path.join(work, "probe.json")
    if not io.exists(answer):
        tail = (done.stderr or "").strip().splitlines()[-3:]
        return {"ok": False, "stage": "process",
                "error": f"the probe process exited with status {done.returncode}: {' | '.join(tail)}"}
    return json.loads(io.read_text(answer))


def _failure(probe: dict) -> str:
    stage = probe.get("stage")
    error = probe.get("error") or "unknown error"
    if stage == "load":
        return f"the model does not load in a TensorFlow-only process (as TF Serving loads it): {error}"
    if stage == "signature":
        return error
    if stage == "call":
        return f"'{SIGNATURE}' fails on raw eval examples in a TensorFlow-only process: {_first_line(error)}"
    return f"the serving check could not run ({stage}): {error}"


def _first_line(text: str) -> str:
    """The gist of a TensorFlow error: its first line, the Python error inside it, the node."""
    import re

    lines = [line.strip() for line in text.splitlines() if line.strip()]
    inner = [line for line in lines[1:] if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line)]
    node = re.search(r"\{\{node ([^}]+)\}\}", text)
    gist = " ".join([lines[0] if lines else "", *(inner[-1:]), f"(node {node.group(1)})" if node else ""])
    if node and "PyFunc" in node.group(1):
        gist += ("; the graph calls back into Python (tf.py_function or tf.numpy_function), which only the "
                 "process that exported the model has: export the computation as TensorFlow ops")
    return gist.strip()[:800]


def _nan_problem(answers: dict[int, dict[str, np.ndarray]]) -> str | None:
    for batch, outputs in answers.items():
        for key, value in outputs.items():
            if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                bad = np.flatnonzero(~np.isfinite(value).reshape(len(value), -1).all(axis=1))
                return (f"'{SIGNATURE}' answers NaN or infinity in output '{key}' for {len(bad)} of "
                        f"{len(value)} eval examples at batch size {batch} (first: example {bad[0]})")
    return None


def _difference(answers: dict[int, dict[str, np.ndarray]], reference: dict[str, np.ndarray]) -> str | None:
    for batch, outputs in answers.items():
        if set(outputs) != set(reference):
            return (f"at batch size {batch} the outputs are {sorted(outputs)}, the Evaluator's "
                    f"{sorted(reference)}")
        for key, value in outputs.items():
            expected = reference[key]
            if value.shape != expected.shape:
                return (f"output '{key}' has shape {value.shape} at batch size {batch}, the Evaluator's "
                        f"{expected.shape}")
            if np.issubdtype(value.dtype, np.floating):
                close = np.isclose(value, expected, rtol=RTOL, atol=ATOL)
            else:
                close = value == expected
            if not close.all():
                rows = np.flatnonzero(~close.reshape(len(value), -1).all(axis=1))
                gap = (float(np.max(np.abs(value - expected))) if np.issubdtype(value.dtype, np.floating)
                       else None)
                return (f"output '{key}' differs from the Evaluator's for {len(rows)} of {len(value)} eval "
                        f"examples at batch size {batch} (first: example {rows[0]}"
                        + (f"; largest difference {gap:.3g}, allowed {ATOL} + {RTOL} x |value|)" if gap
                           is not None else ")"))
    return None


def warmup_records(examples: list[bytes]) -> list[bytes]:
    """TF Serving's warm-up requests: PredictionLogs of PredictRequests to `serving_default` with
    the eval examples, WARMUP_RECORDS per batch size (at most MAX_WARMUP_RECORDS in all)."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for batch, count in WARMUP_RECORDS.items():
        for i in range(count):
            start = (i * batch) % len(examples)
            chunk = (examples[start:] + examples * (batch // len(examples) + 1))[:batch]
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=SIGNATURE))
            request.inputs[INPUT].CopyFrom(tf.make_tensor_proto(chunk, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            records.append(log.SerializeToString())
    return records[:MAX_WARMUP_RECORDS]


def write_warmup(version_dir: str, examples: list[bytes]) -> str:
    """Write the warm-up file into a (staged) version folder; returns its path."""
    import tensorflow as tf

    path = io.join(version_dir, WARMUP_FILE)
    io.makedirs(io.join(version_dir, "assets.extra"))
    with tf.io.TFRecordWriter(path) as writer:
        for record in warmup_records(examples):
            writer.write(record)
    return path
