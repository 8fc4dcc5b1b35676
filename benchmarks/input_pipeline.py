"""The Trainer's input pipeline against an in-memory tf.data pipeline of the same tensors.

    .venv/bin/python benchmarks/input_pipeline.py [--rows 200000] [--epochs 3]

Writes synthetic rows as mini-batches in the Batching stage's record format (`serialize_batch`),
reads them with the Trainer's `read_batches` (parallel reads, parse, batch-order shuffle,
prefetch), and times full epochs, after a first warm-up epoch, against an in-memory
`tf.data.Dataset.from_tensor_slices(...).shuffle(...).batch(...)` of the same arrays. Prints
batches per second of each and the ratio (DESIGN target: >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.batching.executor import COUNTS_FILE, serialize_batch  # noqa: E402
from components.common.features import FeaturePlan, NumericFeature  # noqa: E402
from components.trainer.executor import read_batches  # noqa: E402
from components.trainer.model import Head  # noqa: E402


def epochs_per_second(data, epochs: int) -> float:
    for _ in data:  # the first epoch fills caches; it is not timed
        pass
    started = time.perf_counter()
    batches = 0
    for _ in range(epochs):
        for _ in data:
            batches += 1
    return batches / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--width", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, args.width)).astype(np.float32)
    y = rng.integers(0, 3, size=args.rows).astype(np.float32)
    root = tempfile.mkdtemp(prefix="bench-input-")
    split = os.path.join(root, "Split-train")
    os.makedirs(split)
    batches = -(-args.rows // args.batch_size)
    with tf.io.TFRecordWriter(os.path.join(split, "batches-00000-of-00001.tfrecord")) as writer:
        for start in range(0, args.rows, args.batch_size):
            writer.write(serialize_batch(x[start:start + args.batch_size], y[start:start + args.batch_size]))
    with open(os.path.join(root, COUNTS_FILE), "w") as f:
        json.dump({"train": {"examples": args.rows, "batches": batches}}, f)
    plan = FeaturePlan([NumericFeature(f"f{i}", 0.0, 1.0) for i in range(args.width)], [], "y",
                       "classification", "int", ["0", "1", "2"])
    head = Head("sparse_categorical_crossentropy", "softmax", 3, "ids", ("accuracy",))
    ours = epochs_per_second(read_batches(root, "train", plan, head, shuffle_seed=0), args.epochs)
    memory = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).shuffle(10_000, seed=0)
    memory = memory.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)
    baseline = epochs_per_second(memory, args.epochs)
    print(f"rows {args.rows}, batch {args.batch_size}, {batches} batches per epoch, {args.epochs} timed epochs")
    print(f"  batching stage + read_batches: {ours:10.0f} batches/s")
    print(f"  in-memory tf.data:             {baseline:10.0f} batches/s")
    print(f"  ratio: {ours / baseline:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
