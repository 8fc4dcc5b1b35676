"""Trains the penguin model from a Batches folder with one distribution strategy and writes the
final validation metrics as JSON. Run as a separate process by test_trainer_training.py, since
logical devices and TF_CONFIG must be set before TensorFlow starts.

    python tests/distributed_train.py BATCHES_URI DISTRIBUTION OUT.json [--cpus N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("batches")
    parser.add_argument("distribution")
    parser.add_argument("out")
    parser.add_argument("--cpus", type=int, default=1)
    args = parser.parse_args()
    if args.distribution == "multi_worker":  # Keras 3 cannot; the legacy Keras can (see backend.py)
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    if args.distribution == "multi_worker":  # collective ops: before anything else touches TF
        from components.trainer.distribution import make_strategy

        make_strategy("multi_worker")
    if args.cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus)
    from components.batching.executor import PLAN_FILE
    from components.common.configs import TrainerConfig
    from components.common.features import FeaturePlan
    from components.trainer.executor import train
    from components.trainer.model import resolve_head

    cfg = TrainerConfig(max_epochs=15, early_stopping=None, distribution=args.distribution,
                        optimizer={"name": "adam", "learning_rate": 0.01},
                        batch_size=16, drop_remainder=False, destination=None)  # the penguin spec's batches
    plan = FeaturePlan.from_json(Path(args.batches, PLAN_FILE).read_text())
    head = resolve_head(plan, cfg)
    _, history, stop = train(cfg, plan, head, args.batches, tempfile.mkdtemp())
    last = history[-1]
    Path(args.out).write_text(json.dumps({
        "val_loss": last["val_loss"], "val_accuracy": last["val_accuracy"], "epochs": len(history),
        "replicas": stop["replicas"],
    }))


if __name__ == "__main__":
    main()
