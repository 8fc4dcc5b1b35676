"""The serving check's probe: run as a script in a fresh interpreter that imports TensorFlow and
nothing of this project (no `components`, no `pipelines`, no custom objects; TensorFlow
2.16's own __init__ imports keras, and what loading the model adds beyond that is reported),
as TF Serving would load a version (with TF-DF's inference ops, which TF Serving has built
in). It must stay free of project imports: components/pusher/serving_check.py runs it with
`python -I` (the checkout is not on sys.path) and reads its answer.

    python -I serving_probe.py MODEL_DIR EXAMPLES.tfrecord OUT_DIR

Loads MODEL_DIR, takes its `serving_default` signature, calls it with the serialized
tf.Examples of EXAMPLES.tfrecord (uncompressed) at batch size 64, then one at a time (batch size
1), and writes OUT_DIR/probe.json (what happened, latency per batch size, the modules it had to
import) and OUT_DIR/outputs-<batch>.npz (every output of the signature, per batch size). A failure
is reported in probe.json with the stage it happened at ("load", "signature", "call"); the exit
status is 0 whenever probe.json was written.
"""

import json
import sys
import time
import traceback

SIGNATURE = "serving_default"
INPUT = "examples"
BATCH_SIZES = (64, 1)
# latency is measured over this many calls per batch size (cycling over the examples)
CALLS = {64: 30, 1: 200}


def _register_op_libraries(tf):
    """TensorFlow Decision Forests' inference ops, which TF Serving (2.11 and later) has built in:
    its op library only (tf.load_op_library), not its Python package."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("tensorflow_decision_forests")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = os.path.join(next(iter(spec.submodule_search_locations)), "tensorflow", "ops", "inference",
                        "inference.so")
    tf.load_op_library(path)
    return [path]


def main(model_dir, records_path, out_dir):
    report = {"ok": False, "stage": "import", "error": None}
    imported_by_tensorflow = set()
    try:
        started = time.perf_counter()
        import numpy as np
        import tensorflow as tf

        report["import_seconds"] = round(time.perf_counter() - started, 3)
        report["tensorflow"] = tf.__version__
        report["op_libraries"] = _register_op_libraries(tf)  # its module is named by a hash
        # TensorFlow 2.16's own __init__ imports keras: what loading the model adds is reported
        imported_by_tensorflow = {name.split(".")[0] for name in sys.modules}
        examples = [r.numpy() for r in tf.data.TFRecordDataset(records_path)]
        report["examples"] = len(examples)
        report["stage"] = "load"
        started = time.perf_counter()
        loaded = tf.saved_model.load(model_dir)
        report["load_seconds"] = round(time.perf_counter() - started, 3)
        report["signatures"] = sorted(loaded.signatures.keys())
        report["stage"] = "signature"
        if SIGNATURE not in loaded.signatures:
            report["error"] = (f"no '{SIGNATURE}' signature; the model has "
                               f"{report['signatures'] or 'no signatures'}")
            return report
        serve = loaded.signatures[SIGNATURE]
        inputs = serve.structured_input_signature[1]
        report["inputs"] = {k: f"{v.dtype.name}{v.shape}" for k, v in inputs.items()}
        if list(inputs) != [INPUT] or inputs[INPUT].dtype != tf.string:
            report["error"] = (f"'{SIGNATURE}' takes {report['inputs']}; TF Serving's callers send one "
                               f"string tensor '{INPUT}' of serialized tf.Examples")
            return report
        report["stage"] = "call"
        report["latency_ms"] = {}
        for batch in BATCH_SIZES:
            outputs = {}
            for start in range(0, len(examples), batch):  # every example once, outputs kept
                answer = serve(**{INPUT: tf.constant(examples[start:start + batch])})
                for key, value in answer.items():
                    value = value.numpy()  # strings as fixed-width bytes: no pickled objects
                    value = value.astype(bytes) if value.dtype == object else value
                    outputs.setdefault(key, []).append(value)
            np.savez(f"{out_dir}/outputs-{batch}.npz", **{k: np.concatenate(v) for k, v in outputs.items()})
            times = []
            for call in range(CALLS[batch]):
                start = (call * batch) % max(len(examples), 1)
                chunk = tf.constant((examples[start:] + examples)[:batch])
                began = time.perf_counter()
                serve(**{INPUT: chunk})
                times.append((time.perf_counter() - began) * 1000)
            report["latency_ms"][str(batch)] = {
                "p50": round(float(np.percentile(times, 50)), 3),
                "p99": round(float(np.percentile(times, 99)), 3), "calls": len(times)}
        report["stage"] = "done"
        report["ok"] = True
    except Exception as error:  # noqa: BLE001 (every failure is the answer, reported to the Pusher)
        report["error"] = f"{type(error).__name__}: {error}"
        report["traceback"] = traceback.format_exc()[-4000:]
    finally:
        top = {name.split(".")[0] for name in sys.modules}
        report["project_modules"] = sorted(top & {"components", "pipelines"})
        added = top - imported_by_tensorflow if imported_by_tensorflow else set()
        report["modules_added_by_the_model"] = sorted(added)
    return report


if __name__ == "__main__":
    model, records, out = sys.argv[1:4]
    result = main(model, records, out)
    # local-only: the probe writes its answer into the local folder the Pusher gave it
    with open(f"{out}/probe.json", "w", encoding="utf-8") as f:
        json.dump(result, f)
