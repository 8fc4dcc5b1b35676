"""tf.distribute strategies by the spec's name."""

from __future__ import annotations

import tensorflow as tf

# multi_worker and tpu strategies configure the TF runtime and can be made once per process
# (multi_worker: before any other TensorFlow op runs), so they are kept once made.
_MADE: dict[str, tf.distribute.Strategy] = {}


def make_strategy(name: str) -> tf.distribute.Strategy:
    """auto: mirrored over several GPUs, else the default; one_device; mirrored (on CPU, over
    every logical CPU device); multi_worker (from TF_CONFIG); tpu."""
    if name in _MADE:
        return _MADE[name]
    if name == "multi_worker":  # listing devices would start the runtime too early
        _MADE[name] = tf.distribute.MultiWorkerMirroredStrategy()
        return _MADE[name]
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _MADE[name] = tf.distribute.TPUStrategy(resolver)
        return _MADE[name]
    raise ValueError(f"unknown distribution {name!r}; expected auto, one_device, mirrored, multi_worker "
                     "or tpu")
