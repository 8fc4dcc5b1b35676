"""Early stopping, plateau restarts and non-finite losses on scripted validation curves."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from components.trainer.callbacks import NonFiniteLoss
from components.trainer.executor import make_callbacks, stop_reason
from pipelines.spec.models import TrainerSection


class ScriptedValidation(keras.callbacks.Callback):
    """Replaces the measured val_loss (or loss) with a scripted curve, before the others see it."""

    def __init__(self, curve, key="val_loss"):
        super().__init__()
        self.curve, self.key = curve, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.curve[epoch]


class WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def fit(curve, tmp_path, key="val_loss", **trainer):
    cfg = TrainerSection(max_epochs=len(curve), **trainer)
    callbacks, stoppers = make_callbacks(cfg, str(tmp_path))
    recorder = WeightsPerEpoch()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    y = x @ np.array([[1.0], [-2.0]], dtype="float32")
    history = model.fit(x, y, validation_data=(x, y), epochs=len(curve), verbose=0, batch_size=8,
                        callbacks=[ScriptedValidation(curve, key), *callbacks, recorder])
    return model, history.history, recorder.weights, stop_reason(cfg, stoppers, len(history.history["loss"]))


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(tmp_path):
    curve = [1.0, 0.8, 0.6, 0.65, 0.7, 0.9, 0.95, 0.5, 0.4, 0.3]
    model, history, weights, stop = fit(curve, tmp_path, early_stopping={"patience": 3})
    assert len(history["loss"]) == 6  # best at epoch 3 (counted from 1); epochs 4, 5, 6 without improvement
    assert stop["restored_epoch"] == 3
    assert "early stopping: val_loss did not improve by more than 0 for 3 epochs" in stop["stop_reason"]
    assert "-0" not in stop["stop_reason"] and stop["epochs_run"] == 6
    for got, best in zip(model.get_weights(), weights[2]):
        np.testing.assert_array_equal(got, best)


def test_min_delta_and_start_from_epoch(tmp_path):
    curve = [1.0, 0.99, 0.985, 0.98, 0.975, 0.97, 0.5]
    _, history, _, _ = fit(curve, tmp_path, early_stopping={"patience": 2, "min_delta": 0.05})
    assert len(history["loss"]) == 3  # the 0.01 steps do not count as improvements
    _, history, _, _ = fit(curve, tmp_path, early_stopping={"patience": 2, "min_delta": 0.05,
                                                            "start_from_epoch": 5})
    assert len(history["loss"]) == 7


def test_mode_max_for_an_accuracy_monitor(tmp_path):
    curve = [0.5, 0.7, 0.9, 0.8, 0.85, 0.6, 0.95]
    _, history, _, stop = fit(curve, tmp_path, key="val_accuracy",
                              early_stopping={"monitor": "val_accuracy", "patience": 3})
    assert len(history["loss"]) == 6 and stop["restored_epoch"] == 3


def test_plateau_restarts_go_back_to_the_best_weights_with_a_lower_learning_rate(tmp_path):
    curve = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5, 0.4]
    model, history, weights, stop = fit(curve, tmp_path, early_stopping=None,
                                        plateau_restarts={"patience": 2, "factor": 0.5, "max_restarts": 1})
    assert len(history["loss"]) == 6
    assert history["learning_rate"][:4] == pytest.approx([0.1] * 4)
    assert history["learning_rate"][4] == pytest.approx(0.05)
    assert stop["restarts"] == [{"epoch": 4, "restored_epoch": 2, "learning_rate": pytest.approx(0.05)}]
    assert stop["restored_epoch"] == 2 and "plateau restarts" in stop["stop_reason"]
    for got, best in zip(model.get_weights(), weights[1]):
        np.testing.assert_array_equal(got, best)


def test_reduce_lr_on_plateau(tmp_path):
    curve = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98]
    _, history, _, _ = fit(curve, tmp_path, early_stopping=None,
                           reduce_lr_on_plateau={"patience": 2, "factor": 0.5})
    # The learning rate each epoch ran with: lowered after epoch 3, the second without improvement.
    assert history["learning_rate"][:4] == pytest.approx([0.1] * 4)
    assert history["learning_rate"][4] == pytest.approx(0.05)


def test_non_finite_loss_stops_training(tmp_path):
    curve = [1.0, 0.9, float("nan"), 0.5]
    _, history, _, stop = fit(curve, tmp_path, key="loss", early_stopping=None)
    assert len(history["loss"]) == 3
    assert stop["stop_reason"] == "non-finite loss"


def test_non_finite_loss_callback_records_where():
    callback = NonFiniteLoss()
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    callback.on_epoch_end(4, {"loss": float("inf")})  # Keras's fifth epoch
    assert callback.epoch == 5 and callback.model.stop_training


def test_the_learning_curve_marks_the_restored_epoch_and_learning_rate_changes(tmp_path):
    from components.trainer.executor import plot_learning_curve

    history = [{"epoch": i, "loss": 1.0 / (i + 1), "val_loss": 1.2 / (i + 1),
                "learning_rate": 0.1 if i < 3 else 0.05}
               for i in range(6)]
    marked, plain = tmp_path / "marked.png", tmp_path / "plain.png"
    plot_learning_curve(history, str(marked), restored_epoch=4, standardized=True)
    plot_learning_curve([{**h, "learning_rate": 0.1} for h in history], str(plain))
    import matplotlib.image

    a, b = matplotlib.image.imread(str(marked)), matplotlib.image.imread(str(plain))
    assert a.shape == b.shape and (a != b).any()  # the marks are drawn


def test_regression_epoch_lines_show_mae_and_mse_in_the_label_units():
    """The Trainer's epoch lines of a regression (trained on the standardized label) show mae and
    mse in the label's own units too, the units of the Evaluator's final line (issue 18)."""
    from components.trainer.callbacks import epoch_line

    logs = {"loss": 0.2, "val_loss": 0.25, "val_mae": 0.3411, "val_mse": 0.2}
    line = epoch_line(logs, label_std=7.47)
    assert line.startswith("loss 0.2, val_loss 0.25, val_mae 0.3411 (x 7.47 = 2.548 in label units)"), line
    assert "val_mse 0.2 (x 7.47² = 11.16 in label units)" in line
    # classification: as is
    assert epoch_line({"loss": 0.5, "val_accuracy": 0.9}) == "loss 0.5, val_accuracy 0.9"


def test_epochs_are_numbered_alike_on_the_console_in_the_stop_reason_and_in_history(tmp_path, caplog):
    """The console's "epoch 3/10" is the epoch the stop reason, history.json's "epoch" and the
    report call 3: all count from 1 (Keras passes 0-based epochs to its callbacks)."""
    import logging
    import re

    from components.common.progress import LOGGER_NAME
    from components.trainer import executor

    curve = [1.0, 0.8, 0.6, 0.65, 0.7, 0.9, 0.95, 0.5, 0.4, 0.3]
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        _, history, _, stop = fit(curve, tmp_path, early_stopping={"patience": 3})
    console = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    best = [line for line in console if re.search(r"val_loss 0\.6\b", line)]
    assert len(best) == 1 and best[0].startswith("Trainer: epoch 3/10"), console
    assert stop["restored_epoch"] == 3 and "(best 0.6 at epoch 3)" in stop["stop_reason"]
    rows = executor.history_rows(history)  # history.json's rows
    assert [row["epoch"] for row in rows if row["val_loss"] == pytest.approx(0.6)] == [3]
    assert rows[0]["epoch"] == 1 and rows[-1]["epoch"] == len(rows) == stop["epochs_run"]
