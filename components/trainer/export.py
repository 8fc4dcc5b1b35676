"""The exported SavedModel: raw serialized tf.Examples in, probabilities (or a value) out.

The preprocessing of the feature plan is part of the serving graph, with the same constants
the batches were made with, so TF Serving (and the Evaluator) feed raw examples.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from components.common.features import CLASSIFICATION, FeaturePlan
from components.trainer.families import TreeScorer
from components.trainer.model import Head

SIGNATURE = "serving_default"


class ServingModule(tf.Module):
    """The serving signature and what it needs saved: the model's variables and the plan's lookup
    tables. The Keras model itself is not a child of the module (the signature calls it through
    a closure): saved as a child, every call function Keras keeps was traced and saved with it,
    two thirds of the export's time, and nothing loads them (the Evaluator and TF Serving call the
    signature)."""

    def __init__(self, model, plan: FeaturePlan, head: Head):
        super().__init__()
        trees = isinstance(model, TreeScorer)  # gradient_boosted_trees: TF-DF's op and YDF's model asset
        if trees:
            self.forest = model
        else:
            self.model_variables = list(model.variables)
        self.tables = plan.lookup_tables()
        spec, tables = plan.raw_feature_spec(), self.tables

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(examples):
            features = tf.io.parse_example(examples, spec)
            inputs = plan.transform(features, tables)
            outputs = model(inputs) if trees else model(inputs, training=False)
            if plan.task != CLASSIFICATION:
                return {"prediction": outputs[:, 0] * plan.label_std + plan.label_mean}
            if head.units == 1:  # one sigmoid unit: P(class 1)
                outputs = tf.concat([1.0 - outputs, outputs], axis=1)
            class_ids = tf.argmax(outputs, axis=1)
            return {
                "probabilities": outputs,
                "class_ids": class_ids,
                "classes": tf.gather(tf.constant(plan.classes), class_ids),
            }

        self.serve = serve


def export_serving_model(model, plan: FeaturePlan, head: Head, path: str) -> None:
    """`model`: a Keras model, or a TreeScorer (its head gives every class's probability)."""
    module = ServingModule(model, plan, head)
    tf.saved_model.save(module, path, signatures={SIGNATURE: module.serve.get_concrete_function()})


def fingerprint(model, plan: FeaturePlan) -> str:
    """Identifies a trained model by its weights (trees: YDF's serialized model) and preprocessing
    constants: two runs that trained the same model have the same fingerprint, whatever the
    SavedModel bytes."""
    digest = hashlib.sha256(plan.to_json().encode())
    if isinstance(model, TreeScorer):
        digest.update(model.serialized)
        return digest.hexdigest()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights, dtype=np.float32).tobytes())
    return digest.hexdigest()
