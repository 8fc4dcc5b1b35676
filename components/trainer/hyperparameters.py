"""Hyper-parameters chosen by the Tuner, in TFX's HyperParameters format, applied to the
trainer's config: the one place that says which trainer field each searched name sets."""

from __future__ import annotations

import json

from components.common import io
from components.common.configs import TrainerConfig

BEST_FILE = "best_hyperparameters.txt"  # TFX's Tuner writes and TFX's Trainer reads this name

# searched name (pipelines.spec.models.SearchSpace) -> the trainer config field it sets: a field of
# trainer.optimizer, of trainer.model, or of the config itself
OPTIMIZER_FIELDS = {"learning_rate": "learning_rate", "optimizer": "name"}
MODEL_FIELDS = {"hidden_units": "hidden_units", "activation": "activation", "dropout": "dropout"}
CONFIG_FIELDS = {"batch_size": "batch_size"}
FIELDS = OPTIMIZER_FIELDS | MODEL_FIELDS | CONFIG_FIELDS


def apply(trainer: TrainerConfig, values: dict) -> TrainerConfig:
    """A copy of the trainer config with the searched fields set to `values` (searched name ->
    value, as KerasTuner gives them)."""
    def picked(fields: dict) -> dict:
        return {field: values[name] for name, field in fields.items() if name in values}

    return trainer.model_copy(update=picked(CONFIG_FIELDS) | {
        "optimizer": trainer.optimizer.model_copy(update=picked(OPTIMIZER_FIELDS)),
        "model": trainer.model.model_copy(update=picked(MODEL_FIELDS))})


def read_best(uri: str) -> dict:
    """The values in a HyperParameters artifact's best_hyperparameters.txt (KerasTuner's config
    JSON, as TFX's Tuner writes it), hidden_units back as a list of ints."""
    import keras_tuner as kt

    return decode(kt.HyperParameters.from_config(json.loads(io.read_text(io.join(uri, BEST_FILE)))).values)


def decode(values: dict) -> dict:
    """KerasTuner's values of the searched fields (not Hyperband's own "tuner/..." entries), with
    hidden_units (a choice of "64,32" strings) as a list of ints."""
    values = {k: v for k, v in values.items() if k in FIELDS}
    if isinstance(values.get("hidden_units"), str):
        values["hidden_units"] = [int(u) for u in values["hidden_units"].split(",")]
    return values
