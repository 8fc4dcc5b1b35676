"""The Trainer's input pipeline against `model.fit` on the same tensors held in memory.

    .venv/bin/python benchmarks/input_pipeline.py [--rows 100000] [--epochs 2] [--batch-sizes 32 256 1024]
                                                  [--repeats 3]

Writes synthetic rows (8 numeric columns, 2 categorical ones of 5 and 20 values, a binary label)
as mini-batches in the Batching stage's record format (`serialize_batch`), at each batch size,
and compares, side by side in one process, alternating which goes first:

- input only: batches per second of the Trainer's `read_batches` as the Trainer calls it (held in
  memory at these sizes), and with `hold=False` (read, parse, per-epoch
  reshuffle, one-hot expansion, prefetch) against an in-memory tf.data pipeline of the same
  arrays (`from_tensor_slices(...).shuffle(...).batch(...)`);
- input + fit: training steps per second of the project's default model (components/trainer/
  model.py with the spec's defaults) fed by `read_batches`, against `model.fit(x, y,
  batch_size=..., shuffle=True)` on the expanded (one-hot) arrays in memory, as a bare script
  trains. The first epoch of each fit is not timed (tracing, caches).

Issue 21's target: the Trainer's steps per second within 1.2x of in-memory `model.fit`
(ratio memory / ours <= 1.2) for batch sizes 32 to 1024.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow as tf

from components.batching.executor import COUNTS_FILE
from components.common.features import CategoricalFeature, FeaturePlan, NumericFeature
from components.common.payloads import serialize_batch
from components.trainer.backend import keras
from components.trainer.executor import read_batches
from components.trainer.model import Head, build_model, compile_model
from components.trainer.registry import get_optimizer

NUMERIC, VOCABULARIES = 8, (5, 20)


def batches_per_second(data, epochs: int) -> float:
    for _ in data:  # the first epoch fills caches; it is not timed
        pass
    started = time.perf_counter()
    batches = 0
    for _ in range(epochs):
        for _ in data:
            batches += 1
    return batches / (time.perf_counter() - started)


class EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.ends = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


def fit_steps_per_second(plan: FeaturePlan, data, epochs: int, steps: int, **fit_args) -> float:
    """Steps per second of the default model's fit, the first epoch not timed."""
    from pipelines.spec.models import TrainerSection

    cfg = TrainerSection().model_dump()
    head = Head("sparse_categorical_crossentropy", "softmax", 2, "ids", ("accuracy",))
    keras.utils.set_random_seed(0)
    model = build_model(plan.width, head, cfg)
    compile_model(model, head, get_optimizer(cfg["optimizer"]))
    clock = EpochClock()
    if isinstance(data, tuple):
        model.fit(*data, epochs=1 + epochs, callbacks=[clock], verbose=0, **fit_args)
    else:
        model.fit(data, epochs=1 + epochs, callbacks=[clock], verbose=0, **fit_args)
    return steps * epochs / (clock.ends[-1] - clock.ends[1])


def write_batches(root: str, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    split = os.path.join(root, "Split-train")
    os.makedirs(split)
    with tf.io.TFRecordWriter(os.path.join(split, "batches-00000-of-00001.tfrecord")) as writer:
        for start in range(0, len(y), batch_size):
            writer.write(serialize_batch(x[start:start + batch_size], y[start:start + batch_size]))
    with open(os.path.join(root, COUNTS_FILE), "w") as f:
        json.dump({"train": {"examples": len(y), "batches": -(-len(y) // batch_size)}}, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256, 1024])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one untimed)")
    parser.add_argument("--no-input-only", action="store_true", help="skip the input-only comparison")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each; medians are printed")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(args.rows, NUMERIC)).astype(np.float32)
    codes = [rng.integers(0, size + 1, size=args.rows).astype(np.float32) for size in VOCABULARIES]
    x = np.column_stack([numeric, *codes]).astype(np.float32)
    y = (numeric[:, 0] + codes[0] / 3 + rng.logistic(size=args.rows) > 1).astype(np.float32)
    plan = FeaturePlan([NumericFeature(f"n{i}", 0.0, 1.0) for i in range(NUMERIC)],
                       [CategoricalFeature(f"c{i}", [f"v{k}" for k in range(size)])
                        for i, size in enumerate(VOCABULARIES)],
                       "y", "classification", "int", ["0", "1"])
    head = Head("sparse_categorical_crossentropy", "softmax", 2, "ids", ("accuracy",))
    expanded = plan.expand(tf.constant(x)).numpy()  # what a bare script holds: the model's input
    labels = y.astype(np.int32)
    print(f"rows {args.rows}, {x.shape[1]} encoded columns ({plan.width} after one-hot), {args.epochs} timed "
          f"epochs after one untimed; side by side in one process, alternating which goes first")
    print(f"{'batch':>6} {'steps':>6} {'in ours':>8} {'in strm':>8} {'in mem':>8} {'fit ours':>9} "
          f"{'fit strm':>9} {'fit mem':>8} {'mem/ours':>9} {'mem/strm':>9}")
    for i, batch_size in enumerate(args.batch_sizes):
        root = tempfile.mkdtemp(prefix="bench-input-")
        write_batches(root, x, y, batch_size)
        steps = -(-args.rows // batch_size)

        def ours_data(root=root, batch_size=batch_size):
            return read_batches(root, "train", plan, head, shuffle_seed=0, batch_size=batch_size)

        # the path of splits over HOLD_BYTES (read each epoch)
        def stream_data(root=root, batch_size=batch_size):
            return read_batches(root, "train", plan, head, shuffle_seed=0, batch_size=batch_size, hold=False)

        def memory_data(batch_size=batch_size):
            data = tf.data.Dataset.from_tensor_slices((expanded, labels)).shuffle(args.rows, seed=0)
            return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

        measured: dict = {}
        for repeat in range(args.repeats):
            order = ("ours", "stream", "memory") if (i + repeat) % 2 == 0 else ("memory", "stream", "ours")
            for who in order:
                if not args.no_input_only:
                    source = {"ours": ours_data, "stream": stream_data, "memory": memory_data}[who]
                    measured.setdefault(("input", who), []).append(batches_per_second(source(), args.epochs))
                if who in ("ours", "stream"):
                    data = ours_data() if who == "ours" else stream_data()
                    value = fit_steps_per_second(plan, data, args.epochs, steps)
                else:
                    value = fit_steps_per_second(plan, (expanded, labels), args.epochs, steps,
                                                 batch_size=batch_size, shuffle=True)
                measured.setdefault(("fit", who), []).append(value)
        result = {key: float(np.median(values)) for key, values in measured.items()}
        shutil.rmtree(root)
        inputs = " ".join(f"{result.get(('input', who), float('nan')):>8.0f}"
                          for who in ("ours", "stream", "memory"))
        fits = " ".join(f"{result['fit', who]:>{w}.0f}"
                        for who, w in (("ours", 9), ("stream", 9), ("memory", 8)))
        print(f"{batch_size:>6} {steps:>6} {inputs} {fits} "
              f"{result['fit', 'memory'] / result['fit', 'ours']:>9.2f} "
              f"{result['fit', 'memory'] / result['fit', 'stream']:>9.2f}", flush=True)
    print(f"(medians of {args.repeats} measurements each; in: batches/s of the input alone; fit: steps/s of "
          "input + fit. ours: read_batches as the Trainer calls it (this size is held in memory, "
          "HOLD_BYTES); strm: read_batches(hold=False), the path of splits over HOLD_BYTES; mem: in-memory "
          "tf.data / model.fit on arrays. Target: mem/ours <= 1.2)")


if __name__ == "__main__":
    main()
