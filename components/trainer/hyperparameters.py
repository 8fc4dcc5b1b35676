"""Hyper-parameters chosen by the Tuner, in TFX's HyperParameters format, applied to the
trainer's config: the one place that says which trainer field each searched name sets."""

from __future__ import annotations

import copy
import json

from components.common import io

BEST_FILE = "best_hyperparameters.txt"  # TFX's Tuner writes and TFX's Trainer reads this name

# searched name -> the path of the trainer config field it sets
FIELDS = {
    "learning_rate": ("optimizer", "learning_rate"),
    "optimizer": ("optimizer", "name"),
    "hidden_units": ("model", "hidden_units"),
    "activation": ("model", "activation"),
    "dropout": ("model", "dropout"),
    "batch_size": ("batch_size",),
}


def apply(trainer: dict, values: dict) -> dict:
    """A copy of the trainer config with the searched fields set to `values`."""
    cfg = copy.deepcopy(trainer)
    for name, value in values.items():
        *parents, leaf = FIELDS[name]
        target = cfg
        for key in parents:
            target = target[key]
        target[leaf] = value
    return cfg


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
