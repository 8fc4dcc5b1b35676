"""Name -> Keras object, for losses, activations and optimizers.

Each registry is one dict and a `get_*` function whose error names the bad value and lists the
valid ones. The names are the spec's (pipelines.spec.models); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.backend import keras
from pipelines.spec.models import OptimizerSection, did_you_mean


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


# name -> the Keras optimizer of a trainer.optimizer section whose optimizer defaults are filled in
# (OptimizerSection.with_defaults: momentum, rho and weight_decay per optimizer)
OPTIMIZERS: dict[str, Callable[[Any, OptimizerSection], keras.optimizers.Optimizer]] = {
    "sgd": lambda lr, opt: keras.optimizers.SGD(lr, weight_decay=opt.weight_decay),
    "momentum": lambda lr, opt: keras.optimizers.SGD(lr, momentum=opt.momentum, nesterov=opt.nesterov,
                                                     weight_decay=opt.weight_decay),
    "adam": lambda lr, opt: keras.optimizers.Adam(lr, beta_1=opt.beta_1, beta_2=opt.beta_2,
                                                  epsilon=opt.epsilon, weight_decay=opt.weight_decay),
    "adamw": lambda lr, opt: keras.optimizers.AdamW(lr, weight_decay=opt.weight_decay, beta_1=opt.beta_1,
                                                    beta_2=opt.beta_2, epsilon=opt.epsilon),
    "adagrad": lambda lr, opt: keras.optimizers.Adagrad(
        lr, initial_accumulator_value=opt.initial_accumulator_value, epsilon=opt.epsilon,
        weight_decay=opt.weight_decay),
    "adadelta": lambda lr, opt: keras.optimizers.Adadelta(lr, rho=opt.rho, epsilon=opt.epsilon,
                                                          weight_decay=opt.weight_decay),
    "rmsprop": lambda lr, opt: keras.optimizers.RMSprop(
        lr, rho=opt.rho, momentum=opt.momentum, epsilon=opt.epsilon, weight_decay=opt.weight_decay),
}


def _lookup(kind: str, registry: dict, name: str):
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; expected one of: {', '.join(registry)}"
                         + did_you_mean(name, list(registry)))
    return registry[name]


def get_loss(name: str) -> keras.losses.Loss:
    return _lookup("loss", LOSSES, name)()


def get_activation(name: str) -> Callable:
    return _lookup("activation", ACTIVATIONS, name)


def get_optimizer(opt: OptimizerSection) -> keras.optimizers.Optimizer:
    """An optimizer from the spec's `trainer.optimizer` section, with its schedule."""
    factory = _lookup("optimizer", OPTIMIZERS, opt.name)
    return factory(learning_rate_schedule(opt), opt.with_defaults())


def learning_rate_schedule(opt: OptimizerSection):
    if opt.schedule == "exponential_decay":
        return keras.optimizers.schedules.ExponentialDecay(opt.learning_rate, opt.decay_steps, opt.decay_rate)
    if opt.schedule == "cosine_decay":
        return keras.optimizers.schedules.CosineDecay(opt.learning_rate, opt.decay_steps)
    return opt.learning_rate
