"""Name -> Keras object, for losses, activations and optimizers.

Each registry is one dict and a `get_*` function whose error names the bad value and lists the
valid ones. The names are the spec's (pipelines.spec.models); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.backend import keras
from pipelines.spec.models import did_you_mean


def leaky_relu(x):
    """max(x, 0.2 x): Keras 3's default slope, also under the legacy Keras (which has no function)."""
    return tf.nn.leaky_relu(x, alpha=0.2)


LOSSES: dict[str, Callable[[], keras.losses.Loss]] = {
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "kl_divergence": keras.losses.KLDivergence,
}

ACTIVATIONS: dict[str, Callable] = {
    "relu": keras.activations.relu,
    "leaky_relu": leaky_relu,
    "elu": keras.activations.elu,
    "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh,
    "softmax": keras.activations.softmax,
    "gelu": keras.activations.gelu,
    "linear": keras.activations.linear,
}


def _momentum(lr, cfg):
    return keras.optimizers.SGD(lr, momentum=_or(cfg.get("momentum"), 0.9), nesterov=cfg.get("nesterov", False),
                                weight_decay=cfg.get("weight_decay"))


def _adamw(lr, cfg):
    return keras.optimizers.AdamW(lr, weight_decay=_or(cfg.get("weight_decay"), 0.004), beta_1=cfg["beta_1"],
                                  beta_2=cfg["beta_2"], epsilon=cfg["epsilon"])


OPTIMIZERS: dict[str, Callable[[Any, dict], keras.optimizers.Optimizer]] = {
    "sgd": lambda lr, cfg: keras.optimizers.SGD(lr, weight_decay=cfg.get("weight_decay")),
    "momentum": _momentum,
    "adam": lambda lr, cfg: keras.optimizers.Adam(lr, beta_1=cfg["beta_1"], beta_2=cfg["beta_2"],
                                                  epsilon=cfg["epsilon"], weight_decay=cfg.get("weight_decay")),
    "adamw": _adamw,
    "adagrad": lambda lr, cfg: keras.optimizers.Adagrad(
        lr, initial_accumulator_value=cfg["initial_accumulator_value"], epsilon=cfg["epsilon"],
        weight_decay=cfg.get("weight_decay")),
    "adadelta": lambda lr, cfg: keras.optimizers.Adadelta(lr, rho=_or(cfg.get("rho"), 0.95), epsilon=cfg["epsilon"],
                                                          weight_decay=cfg.get("weight_decay")),
    "rmsprop": lambda lr, cfg: keras.optimizers.RMSprop(
        lr, rho=_or(cfg.get("rho"), 0.9), momentum=_or(cfg.get("momentum"), 0.0), epsilon=cfg["epsilon"],
        weight_decay=cfg.get("weight_decay")),
}


def _or(value, default):
    return default if value is None else value


def _lookup(kind: str, registry: dict, name: str):
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; expected one of: {', '.join(registry)}"
                         + did_you_mean(name, list(registry)))
    return registry[name]


def get_loss(name: str) -> keras.losses.Loss:
    return _lookup("loss", LOSSES, name)()


def get_activation(name: str) -> Callable:
    return _lookup("activation", ACTIVATIONS, name)


def get_optimizer(cfg: dict) -> keras.optimizers.Optimizer:
    """An optimizer from the spec's `trainer.optimizer` section (a dict), with its schedule."""
    factory = _lookup("optimizer", OPTIMIZERS, cfg["name"])
    return factory(learning_rate_schedule(cfg), cfg)


def learning_rate_schedule(cfg: dict):
    lr = cfg["learning_rate"]
    if cfg.get("schedule", "constant") == "exponential_decay":
        return keras.optimizers.schedules.ExponentialDecay(lr, cfg["decay_steps"], cfg["decay_rate"])
    if cfg.get("schedule") == "cosine_decay":
        return keras.optimizers.schedules.CosineDecay(lr, cfg["decay_steps"])
    return lr
