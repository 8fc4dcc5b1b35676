"""The Keras model a trainer spec describes, and how its labels must be shaped."""

from __future__ import annotations

import dataclasses

from components.common.features import CLASSIFICATION, FeaturePlan
from components.trainer.backend import keras
from components.trainer.registry import get_activation, get_loss
from pipelines.spec.models import TrainerSection


@dataclasses.dataclass(frozen=True)
class Head:
    """The output layer and label coding that the task, loss and class count lead to."""

    loss: str
    activation: str
    units: int
    label_coding: str  # "ids" (sparse), "one_hot", "binary" (one sigmoid unit) or "value"
    metrics: tuple[str, ...]


def resolve_head(plan: FeaturePlan, cfg: TrainerSection) -> Head:
    """The output layer for this label: the loss, activation and metrics of `cfg` (the trainer's
    config) with its "auto" choices made for the plan's task (TrainerSection.for_task: the
    compiler has made them already when it could read the label), the units from the classes."""
    cfg = cfg.for_task(plan.task)
    classes = len(plan.classes)
    if plan.task != CLASSIFICATION:
        units, coding = 1, "value"
    elif cfg.loss == "sparse_categorical_crossentropy":
        units, coding = classes, "ids"
    elif cfg.loss == "binary_crossentropy" and classes == 2:
        units, coding = 1, "binary"
    else:
        units, coding = classes, "one_hot"
    return Head(cfg.loss, cfg.model.output_activation, cfg.model.output_units or units, coding,
                tuple(cfg.metrics))


def build_model(width: int, head: Head, cfg: TrainerSection) -> keras.Model:
    """Dense layers on the preprocessed feature vector; compiled with the spec's loss."""
    model_cfg, seed = cfg.model, cfg.seed
    inputs = keras.Input((width,), name="features")
    hidden = inputs
    for i, units in enumerate(model_cfg.hidden_units):
        hidden = keras.layers.Dense(units, activation=get_activation(model_cfg.activation),
                                    kernel_initializer=keras.initializers.GlorotUniform(seed + i),
                                    name=f"hidden_{i}")(hidden)
        if model_cfg.batch_norm:
            hidden = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(hidden)
        if model_cfg.dropout:
            hidden = keras.layers.Dropout(model_cfg.dropout, seed=seed + i, name=f"dropout_{i}")(hidden)
    if model_cfg.wide:  # Wide & Deep: the features also reach the output directly
        hidden = keras.layers.Concatenate(name="wide_and_deep")([hidden, inputs])
    outputs = keras.layers.Dense(head.units, activation=get_activation(head.activation),
                                 kernel_initializer=keras.initializers.GlorotUniform(seed + 100),
                                 name="output")(hidden)
    return keras.Model(inputs, outputs, name="model")


# Training steps run per call of Keras' compiled train function: the same steps, updates and
# metrics as one per call, without Python's round trip between them. For the small dense models
# here that round trip is most of a step's time: 2 epochs of 300k rows in batches of 256 took
# 6.8 s at 1 and 3.5 s at 16 (the same loss). Every callback of the Trainer and the Tuner acts at
# epoch ends, which this does not move.
STEPS_PER_EXECUTION = 32


def compile_model(model: keras.Model, head: Head, optimizer: keras.optimizers.Optimizer) -> None:
    model.compile(optimizer=optimizer, loss=get_loss(head.loss), metrics=list(head.metrics),
                  steps_per_execution=STEPS_PER_EXECUTION)
