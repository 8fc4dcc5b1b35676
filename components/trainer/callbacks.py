"""Callbacks of the tutorial's training loop that Keras does not have, and the stop reason."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from components.common import progress
from components.trainer.backend import keras
from pipelines.spec.models import EarlyStoppingSection


class NonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.epoch: int | None = None
        self.value: float | None = None

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                self.epoch, self.value = epoch + 1, value  # numbered from 1, as on the console
                self.model.stop_training = True
                return


class PlateauRestarts(keras.callbacks.Callback):
    """On a plateau of `monitor`, go back to the best weights with a lower learning rate; after
    `max_restarts` restarts, stop (with the best weights)."""

    def __init__(self, monitor: str, mode: str, patience: int, factor: float, max_restarts: int):
        super().__init__()
        self.monitor, self.patience, self.factor, self.max_restarts = monitor, patience, factor, max_restarts
        self.better = np.less if mode == "min" else np.greater
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0  # numbered from 1, as the console, history.json and the report number epochs
        self.best_weights = None
        self.wait = 0
        self.restarts: list[dict] = []
        self.exhausted = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0  # Keras passes 0-based epochs
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        if len(self.restarts) >= self.max_restarts:
            self.exhausted = True
            self.model.stop_training = True
            self.model.set_weights(self.best_weights)
            return
        new_lr = learning_rate(self.model) * self.factor
        self.model.set_weights(self.best_weights)
        self.model.optimizer.learning_rate = new_lr
        self.restarts.append({"epoch": epoch + 1, "restored_epoch": self.best_epoch, "learning_rate": new_lr})
        self.wait = 0


class EpochProgress(keras.callbacks.Callback):
    """One progress line per epoch: the epoch, the losses and the validation split's metrics.

    A regression trains on the standardized label ((label - mean) / std, `label_std` given):
    its losses are said to be standardized, and mae / mse are shown in the label's own units as
    well (mae x std, mse x std²), the units of the Evaluator's final line."""

    def __init__(self, max_epochs: int, label_std: float | None = None):
        super().__init__()
        self.max_epochs = max_epochs
        self.label_std = label_std

    def on_epoch_end(self, epoch, logs=None):
        progress.say("Trainer: epoch %d/%d%s: %s", epoch + 1, self.max_epochs,
                     " (standardized label)" if self.label_std else "",
                     epoch_line(logs or {}, self.label_std))


def epoch_line(logs: dict, label_std: float | None = None) -> str:
    """The losses and val_ metrics of one epoch; with `label_std` (a regression), mae/mse also
    in the label's units: `val_mae 0.3411 (x 7.47 = 2.548 in label units)`."""
    shown = [k for k in ("loss", "val_loss") if k in logs] + sorted(
        k for k in logs if k.startswith("val_") and k != "val_loss")
    parts = []
    for key in shown:
        text = f"{key} {logs[key]:.4g}"
        metric = key.removeprefix("val_")
        if label_std and metric in ("mae", "mean_absolute_error"):
            text += f" (x {label_std:.4g} = {logs[key] * label_std:.4g} in label units)"
        elif label_std and metric in ("mse", "mean_squared_error"):
            text += f" (x {label_std:.4g}² = {logs[key] * label_std ** 2:.4g} in label units)"
        parts.append(text)
    return ", ".join(parts)


class LearningRateLog(keras.callbacks.Callback):
    """Adds the learning rate of each epoch to the logs (and so to the history)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = learning_rate(self.model)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback writing the epochs' summaries (the loss, the metrics, the
    learning rate) into `log_dir`: no graph, no profiler, no per-step summaries. Keras' own
    per-batch hook would still record a summary of every metric at every step, into no writer at
    update_freq "epoch": a tenth of the Trainer's time at 1M rows (7,800 steps)."""

    def __init__(self, log_dir: str):
        super().__init__(log_dir, write_graph=False, profile_batch=0, update_freq="epoch")

    def on_train_batch_end(self, batch, logs=None):
        pass


def early_stopping(early: EarlyStoppingSection) -> keras.callbacks.EarlyStopping:
    """Keras' EarlyStopping from the spec's trainer.early_stopping section (Trainer and Tuner)."""
    return keras.callbacks.EarlyStopping(
        monitor=early.monitor, mode=monitor_mode(early.monitor, early.mode), patience=early.patience,
        min_delta=early.min_delta, restore_best_weights=early.restore_best_weights,
        start_from_epoch=early.start_from_epoch)


def learning_rate(model) -> float:
    """The optimizer's current learning rate (a plain, a Keras 3 or a distributed variable)."""
    return float(tf.convert_to_tensor(model.optimizer.learning_rate))


def monitor_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    higher_is_better = name in ("accuracy", "auc", "precision", "recall", "r2") or name.endswith("accuracy")
    return "max" if higher_is_better else "min"
