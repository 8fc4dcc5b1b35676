"""The Trainer's work: read the batches, train the spec's model, export it with its history."""

from __future__ import annotations

import io as pyio
import json
import math
import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.utils import path_utils

from components.common import io, payloads, progress, serving_dir
from components.common.configs import TrainerConfig
from components.common.features import FeaturePlan
from components.common.keys import (
    BATCHES_KEY,
    CONFIG_KEY,
    HYPERPARAMETERS_KEY,
    MODEL_KEY,
    MODEL_RUN_KEY,
    SERVING_DIGEST_KEY,
)
from components.common.payloads import BATCHES_SCHEMA_FILE, BATCHES_STATISTICS_FILE, COUNTS_FILE
from components.common.serving_dir import FINGERPRINT_FILE, WEIGHTS_FILE
from components.common.serving_dir import PLAN_FILE as PLAN_FILE_IN_MODEL
from components.trainer import backend, families, hyperparameters
from components.trainer import callbacks as cb
from components.trainer.backend import keras
from components.trainer.distribution import make_strategy
from components.trainer.export import export_serving_model, fingerprint
from components.trainer.model import Head, build_model, compile_model, resolve_head
from components.trainer.registry import get_optimizer
from pipelines.spec.models import EarlyStoppingSection, TrainerSection

CURVE_FILE = "learning_curve.png"


class TrainingError(RuntimeError):
    """Training could not produce a usable model (for example a non-finite loss)."""


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        # typed and complete (components/common/configs.py): every field is there, with the spec's value
        cfg = TrainerConfig.model_validate_json(exec_properties[CONFIG_KEY])
        tuned = None
        if input_dict.get(HYPERPARAMETERS_KEY):  # the Tuner's best values replace the spec's
            uri = input_dict[HYPERPARAMETERS_KEY][0].uri
            tuned = {"values": hyperparameters.read_best(uri), "from": uri}
            cfg = hyperparameters.apply(cfg, tuned["values"])
            logging.info("Trainer: hyper-parameters from the Tuner: %s", json.dumps(tuned["values"]))
        batches_uri = input_dict[BATCHES_KEY][0].uri
        plan = FeaturePlan.from_json(payloads.read_plan_json(batches_uri))
        head = resolve_head(plan, cfg)  # and any "auto" the compiler left (it could not read the label)
        progress.tell("plan: model: loss %s, output layer %d unit(s) %s, metrics %s", head.loss, head.units,
                      head.activation, ", ".join(head.metrics))
        run_dir = output_dict[MODEL_RUN_KEY][0].uri
        cfg, choice = families.resolve(cfg, plan, head, batches_uri)  # type auto chooses here
        if choice:
            progress.tell("plan: model type auto: %s (%s; %s; %.1f s)", choice["chosen"], choice["why"],
                          choice["method"], choice["seconds"])
        if cfg.model.type == families.TREES:
            model, head, history, stop = families.train_trees(cfg, plan, head, batches_uri)
        elif cfg.model.type == families.LINEAR and families.linear_applies(head):
            model, history, stop = families.train_linear(cfg, plan, head, batches_uri)
        else:
            model, history, stop = train(cfg, plan, head, batches_uri, run_dir,
                                         serving_digest=exec_properties.get(SERVING_DIGEST_KEY) or "")
        stop = {"model_type": cfg.model.type, **({"model_choice": choice} if choice else {}), **stop}
        model_dir = path_utils.serving_model_dir(output_dict[MODEL_KEY][0].uri)
        export_serving_model(model, plan, head, model_dir)
        for name, text in ((FINGERPRINT_FILE, fingerprint(model, plan)),
                           (PLAN_FILE_IN_MODEL, plan.to_json())):
            io.write_text(io.join(model_dir, name), text)
        if cfg.model.type != families.TREES:
            save_weights(model, io.join(model_dir, WEIGHTS_FILE))  # for warm starts of later runs
        for source, target in ((BATCHES_SCHEMA_FILE, serving_dir.SCHEMA_FILE),
                               (BATCHES_STATISTICS_FILE, serving_dir.STATISTICS_FILE)):
            io.copy_file(io.join(batches_uri, source), io.join(model_dir, target))
        if plan.task != "classification":  # losses and mae/mse are of the standardized label
            stop["label_units"] = (f"standardized label units: (label - {plan.label_mean:.6g}) / "
                                   f"{plan.label_std:.6g}")
        stop["hyperparameters"] = tuned or "the spec's (no Tuner stage)"
        stop |= split_decisions(batches_uri, cfg, tuned is not None)
        payloads.write_history(run_dir, {"epochs": history, **stop})
        plot_learning_curve(history, io.join(run_dir, CURVE_FILE), stop.get("restored_epoch"),
                            standardized=plan.task != "classification")
        logging.info("Trainer: %s", stop["stop_reason"])


def train(cfg: TrainerConfig, plan: FeaturePlan, head: Head, batches_uri: str, run_dir: str,
          serving_digest: str = ""):
    """Train the model; returns it, the per-epoch history and why training stopped."""
    if cfg.distribution == "multi_worker" and not backend.LEGACY:
        raise TrainingError(
            "distribution multi_worker needs TF_USE_LEGACY_KERAS=1 in the Trainer's environment: Keras 3 "
            "cannot train under MultiWorkerMirroredStrategy (keras-team/keras#20585). The Kubeflow compiler "
            "sets it on the Trainer's container; for a local run, export it before starting.")
    strategy = make_strategy(cfg.distribution)  # multi_worker: before any other TF op
    keras.utils.set_random_seed(cfg.seed)
    train_data = read_batches(batches_uri, "train", plan, head, shuffle_seed=cfg.seed,
                              batch_size=cfg.batch_size, drop_remainder=cfg.drop_remainder,
                              hold=cfg.distribution != "multi_worker")
    # Every decision during training watches the validation split (carved from the train rows by
    # Batching); the eval split is the Evaluator's alone.
    validation_data = read_batches(batches_uri, "validation", plan, head)
    with strategy.scope():
        model = build_model(plan.width, head, cfg)
        compile_model(model, head, get_optimizer(cfg.optimizer))
        warm = warm_start(model, cfg, serving_digest) if cfg.warm_start else "no (trainer.warm_start is off)"
    callbacks, stoppers = make_callbacks(cfg, run_dir,
                                         plan.label_std if plan.task != "classification" else None)
    fit = model.fit(train_data, validation_data=validation_data, epochs=cfg.max_epochs,
                    callbacks=callbacks, verbose=0)
    history = history_rows(fit.history)
    stop = stop_reason(cfg, stoppers, len(history)) | {"replicas": strategy.num_replicas_in_sync,
                                                        "warm_start": warm}
    if stoppers["non_finite"].epoch is not None:
        bad = stoppers["non_finite"]
        raise TrainingError(
            f"training stopped at epoch {bad.epoch}: the loss became {bad.value} (not finite). "
            f"Lower trainer.optimizer.learning_rate (now {cfg.optimizer.learning_rate}), check "
            "the data for extreme values, or choose a loss that fits the label.")
    return model, history, stop


def split_decisions(batches_uri: str, cfg: TrainerConfig, tuned: bool) -> dict:
    """history.json's account of the splits: their sizes (rows actually used, and rows dropped)
    and which split each training decision watched (the "val_" metrics are the validation
    split's)."""
    counts = payloads.read_counts(batches_uri)
    early = cfg.early_stopping
    decisions = {"val_ metrics": "validation",
                 "early_stopping": f"validation ({early.monitor})" if early else "off",
                 "restored_epoch": "validation" if early and early.restore_best_weights else "none",
                 "reduce_lr_on_plateau": "validation" if cfg.reduce_lr_on_plateau else "off",
                 "plateau_restarts": "validation" if cfg.plateau_restarts else "off",
                 "tuner_objective": "validation" if tuned else "no Tuner stage",
                 "evaluator": "eval (never seen by a training decision)"}
    return {"splits": {split: counts.get(split, {}).get("examples")
                       for split in ("train", "validation", "eval")},
            "validation_fraction": counts.get("validation_fraction"),
            "rows_dropped": counts.get("lost"), "decisions": decisions}


def warm_start(model: keras.Model, cfg: TrainerConfig, expected: str = "") -> str:
    """Start from the weights of the model now serving, when it has the same architecture.
    `expected`: the weights' digest when the run started, which keys this stage's cache
    (serving_dir.reference: raises ServingChanged when what serves changed since)."""
    serving, weights, _ = serving_dir.reference(cfg.destination or "", WEIGHTS_FILE, expected)
    if weights is None:
        return f"skipped: no serving model with weights at {cfg.destination}"
    with tempfile.TemporaryDirectory() as local:  # Keras reads weights files from a local path
        local_path = os.path.join(local, os.path.basename(WEIGHTS_FILE))
        io.write_bytes(local_path, weights)
        try:
            model.load_weights(local_path)
        except ValueError as error:  # another architecture or feature width
            return f"skipped: the serving model's weights do not fit this model ({error})"
    return f"from {serving}"


def save_weights(model: keras.Model, path: str) -> None:
    """Keras writes weights files to a local path: write there, then copy to `path`."""
    with tempfile.TemporaryDirectory() as local:
        local_path = os.path.join(local, os.path.basename(path))
        model.save_weights(local_path)
        io.copy_file(local_path, path)


RESHUFFLE_BUFFER = 20_000  # examples: the whole train split up to this size, a window beyond
# A train split whose encoded rows (float32, before one-hot) take at most this many bytes is read
# once and held in memory (1M rows of 11 columns: 44 MB; 2M rows and more stream, so memory stays
# flat in the data's size): each epoch is then a permutation of row indices and one gather per
# mini-batch, as Keras' own fit on arrays, instead of parsing every record again.
HOLD_BYTES = 64 << 20


def read_batches(uri: str, split: str, plan: FeaturePlan, head: Head, shuffle_seed: int | None = None,
                 batch_size: int | None = None, drop_remainder: bool = False, hold: bool = True):
    """The mini-batches of one split as a tf.data pipeline. For training (a `shuffle_seed`), the
    examples are reshuffled into new mini-batches of `batch_size` every epoch (seeded: the same
    run gives the same batches), as Keras' own fit does; Batching's global shuffle is the order
    they start from. Categories stay one column until `plan.expand` makes them one-hot, per batch.

    A train split of at most HOLD_BYTES (and `hold`) is read once into memory (`_held`). Others
    are read again each epoch (memory stays flat whatever the data's size: each record is a
    whole mini-batch of raw float32, so a read costs little), parsed, reshuffled in a window of
    RESHUFFLE_BUFFER examples, prefetched."""
    files = io.glob(io.join(uri, f"Split-{split}", "batches-*"))
    if not files:
        raise TrainingError(f"no {split} batches under {uri}: the {split} split has no labelled examples")
    spec = {"x": tf.io.FixedLenFeature([], tf.string), "y": tf.io.FixedLenFeature([], tf.string)}
    columns, classes = plan.columns, len(plan.classes)

    def code(y):  # the label as the head wants it
        if head.label_coding == "ids":
            return tf.cast(y, tf.int32)
        if head.label_coding == "one_hot":
            return tf.one_hot(tf.cast(y, tf.int32), classes)
        return y[:, None]

    def parse_raw(record):  # Batching's serialize_batch: raw little-endian float32
        parsed = tf.io.parse_single_example(record, spec)
        return (tf.reshape(tf.io.decode_raw(parsed["x"], tf.float32), [-1, columns]),
                tf.io.decode_raw(parsed["y"], tf.float32))

    counts = io.read_json(io.join(uri, COUNTS_FILE))[split]
    batches, examples = counts["batches"], counts.get("examples")
    options = tf.data.Options()
    # Each record is a whole mini-batch: workers of a multi-worker strategy take every n-th one.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    if shuffle_seed is not None and hold and examples and examples * (columns + 1) * 4 <= HOLD_BYTES:
        data = _held(files, columns, examples, shuffle_seed, batch_size or math.ceil(examples / batches),
                     drop_remainder, lambda x, y: (plan.expand(x), code(y)))
        return data.with_options(options).prefetch(tf.data.AUTOTUNE)
    data = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
    data = data.apply(tf.data.experimental.assert_cardinality(batches))  # Keras knows the epoch's end
    if shuffle_seed is not None:
        batch_size = batch_size or math.ceil(examples / batches)
        data = _window_shuffled(data, parse_raw, math.ceil(examples / batches), shuffle_seed, batch_size,
                                drop_remainder)
        steps = examples // batch_size if drop_remainder else math.ceil(examples / batch_size)
        data = data.apply(tf.data.experimental.assert_cardinality(steps))
    else:
        data = data.map(parse_raw, num_parallel_calls=tf.data.AUTOTUNE)
    data = data.map(lambda x, y: (plan.expand(x), code(y)), num_parallel_calls=tf.data.AUTOTUNE)  # one-hot
    if shuffle_seed is None and examples and examples * (plan.width + 1) * 4 <= HOLD_BYTES:
        # the same batches every epoch (validation, evaluation): kept after the first, one-hot as
        # they are (hence plan.width), so that a new epoch's iterator is not a new file reader,
        # parser and thread pools (penguin: 14 ms an epoch)
        data = data.cache()
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def _window_shuffled(records, parse_raw, record_rows: int, seed: int, batch_size: int, drop_remainder: bool):
    """Records (mini-batches) -> new mini-batches of `batch_size`, reshuffled every epoch without
    one tf.data element per example: the records' order is shuffled (a buffer of
    RESHUFFLE_BUFFER examples' worth of records), they are cut into windows of RESHUFFLE_BUFFER
    rows (`rebatch` slices tensors), each window's rows are permuted at once (a seeded draw per
    window and epoch) and cut into mini-batches. Example by example (unbatch, shuffle, batch) it
    read 205 batches/s of 1024 rows; this way 2,250 (benchmarks/input_pipeline.py's "strm")."""
    records = records.shuffle(max(1, RESHUFFLE_BUFFER // max(1, record_rows)), seed=seed,
                              reshuffle_each_iteration=True)
    windows = records.map(parse_raw, num_parallel_calls=tf.data.AUTOTUNE).rebatch(RESHUFFLE_BUFFER)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def permute(window, draw):
        x, y = window
        order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(y, out_type=tf.int64)[0]),
                                                         seed=tf.stack([draw, tf.constant(seed, tf.int64)]))
        return tf.gather(x, order), tf.gather(y, order)

    windows = tf.data.Dataset.zip((windows, draws)).map(permute, num_parallel_calls=tf.data.AUTOTUNE)
    return windows.rebatch(batch_size, drop_remainder=drop_remainder)


def _held(files: list[str], columns: int, examples: int, seed: int, batch_size: int, drop_remainder: bool,
          finish):
    """The split's rows read once into two tensors; each epoch (each new iterator) a new seeded
    permutation of the row indices, cut into mini-batches, each gathered and `finish`ed (one-hot,
    the label's coding) at once. The records are parsed in numpy as they are read (no tf.data
    function to trace for a read that happens once)."""
    rows, labels, n = None, np.empty(examples, np.float32), 0
    for record in tf.data.TFRecordDataset(sorted(files)):
        part_x, part_y = payloads.parse_batch(record.numpy(), columns)
        if rows is None:  # filled in place: the rows once in numpy, once in TensorFlow
            rows = np.empty((examples, columns), np.float32)
        rows[n:n + len(part_y)], labels[n:n + len(part_y)] = part_x, part_y
        n += len(part_y)
    x, y = tf.constant(rows[:n]), tf.constant(labels[:n])
    del rows, labels
    full = n // batch_size * batch_size
    steps = n // batch_size if drop_remainder else math.ceil(n / batch_size)

    def epoch(draw):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.stack([draw, tf.constant(seed, tf.int64)]))
        cut = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], [-1, batch_size]))
        if full < n and not drop_remainder:
            cut = cut.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return cut

    # one draw per iteration: a new permutation every epoch, the same ones on every run
    data = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1).flat_map(epoch)
    data = data.map(lambda picked: finish(tf.gather(x, picked), tf.gather(y, picked)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return data.apply(tf.data.experimental.assert_cardinality(steps))


def make_callbacks(cfg: TrainerSection, run_dir: str, label_std: float | None = None):
    stoppers: dict[str, Any] = {"non_finite": cb.NonFiniteLoss()}
    callbacks = [stoppers["non_finite"], cb.LearningRateLog(), cb.EpochProgress(cfg.max_epochs, label_std)]
    early = cfg.early_stopping
    if early:
        stoppers["early"] = cb.early_stopping(early)
        callbacks.append(stoppers["early"])
    watched = early or EarlyStoppingSection()  # the plateau rules watch its monitor (without it, the default)
    monitor, mode = watched.monitor, cb.monitor_mode(watched.monitor, watched.mode)
    if cfg.reduce_lr_on_plateau:
        plateau = cfg.reduce_lr_on_plateau
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=plateau.factor, patience=plateau.patience,
            cooldown=plateau.cooldown, min_lr=plateau.min_lr))
    if cfg.plateau_restarts:
        restarts = cfg.plateau_restarts
        stoppers["restarts"] = cb.PlateauRestarts(monitor, mode, restarts.patience, restarts.factor,
                                                  restarts.max_restarts)
        callbacks.append(stoppers["restarts"])
    callbacks.append(cb.EpochTensorBoard(io.join(run_dir, "tensorboard")))
    return callbacks, stoppers


def history_rows(keras_history: dict) -> list[dict]:
    """history.json's rows, one per epoch, numbered from 1 as the console says them ("epoch 3/10"),
    and as the stop reason, the learning curve and the report do."""
    return [{k: float(v[i]) for k, v in keras_history.items()} | {"epoch": i + 1}
            for i in range(len(keras_history.get("loss", [])))]


def stop_reason(cfg: TrainerSection, stoppers: dict, epochs: int) -> dict:
    early, restarts = stoppers.get("early"), stoppers.get("restarts")
    if stoppers["non_finite"].epoch is not None:
        return {"stop_reason": "non-finite loss", "restored_epoch": None, "epochs_run": epochs}
    if restarts is not None and restarts.exhausted:
        return {"stop_reason": f"plateau restarts: {len(restarts.restarts)} restarts used, "
                               f"best {restarts.monitor} {restarts.best:.4g} at epoch {restarts.best_epoch}",
                "restored_epoch": restarts.best_epoch, "restarts": restarts.restarts, "epochs_run": epochs}
    restored = None
    if early is not None and early.restore_best_weights and early.best_weights is not None:
        restored = early.best_epoch + 1  # Keras's EarlyStopping counts from 0
    if early is not None and early.stopped_epoch > 0:
        reason = (f"early stopping: {early.monitor} did not improve by more than {abs(early.min_delta):g} "
                  f"for {early.patience} epochs (best {early.best:.4g} at epoch {early.best_epoch + 1})")
    else:
        reason = f"max_epochs reached ({cfg.max_epochs})"
    result = {"stop_reason": reason, "restored_epoch": restored, "epochs_run": epochs}
    if restarts is not None:
        result["restarts"] = restarts.restarts
    return result


def plot_learning_curve(history: list[dict], path: str, restored_epoch: int | None = None,
                        standardized: bool = False) -> None:
    """Train and eval curves of the loss and every metric; a dashed line marks the restored
    epoch, dotted lines the epochs where the learning rate changed. Regression losses are in
    standardized label units (the model trains on a standardized label), and say so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted({k.removeprefix("val_") for h in history for k in h} - {"epoch", "learning_rate"})
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    epochs = [h["epoch"] for h in history]
    rates = [h.get("learning_rate") for h in history]
    changes = [epochs[i] for i in range(1, len(rates)) if rates[i] is not None and rates[i] != rates[i - 1]]
    for ax, name in zip(axes[0], metrics):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = [h.get(key, math.nan) for h in history]
            ax.plot(epochs, values, label=label)
        for epoch in changes:
            ax.axvline(epoch, linestyle=":", color="grey", linewidth=0.8)
        if restored_epoch is not None:
            ax.axvline(restored_epoch, linestyle="--", color="black", linewidth=1,
                       label=f"restored ({restored_epoch})")
        in_label_units = standardized and name in ("loss", "mae", "mse")
        ax.set_title(name + (" (standardized label units)" if in_label_units else ""))
        ax.set_xlabel("epoch" + (" (dotted: learning rate changed)" if changes else ""))
        ax.legend()
    fig.tight_layout()
    image = pyio.BytesIO()
    fig.savefig(image, format="png", dpi=80)
    plt.close(fig)
    io.write_bytes(path, image.getvalue())
