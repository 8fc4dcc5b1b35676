"""The exported SavedModel: raw serialized tf.Examples in, probabilities (or a value) out.

The preprocessing of the feature plan is part of the serving graph, with the same constants
the batches were made with, so TF Serving (and the Evaluator) feed raw examples.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from components.common.features import CLASSIFICATION, FeaturePlan
from components.trainer.backend import keras
from components.trainer.model import Head

SIGNATURE = "serving_default"


class ServingModule(tf.Module):
    def __init__(self, model: keras.Model, plan: FeaturePlan, head: Head):
        super().__init__()
        self.model = model
        self._plan, self._head = plan, head
        self.tables = plan.lookup_tables()
        self._spec = plan.raw_feature_spec()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        features = tf.io.parse_example(examples, self._spec)
        outputs = self.model(self._plan.transform(features, self.tables), training=False)
        if self._plan.task != CLASSIFICATION:
            return {"prediction": outputs[:, 0] * self._plan.label_std + self._plan.label_mean}
        if self._head.units == 1:  # one sigmoid unit: P(class 1)
            outputs = tf.concat([1.0 - outputs, outputs], axis=1)
        class_ids = tf.argmax(outputs, axis=1)
        return {
            "probabilities": outputs,
            "class_ids": class_ids,
            "classes": tf.gather(tf.constant(self._plan.classes), class_ids),
        }


def export_serving_model(model: keras.Model, plan: FeaturePlan, head: Head, path: str) -> None:
    module = ServingModule(model, plan, head)
    tf.saved_model.save(module, path, signatures={SIGNATURE: module.serve.get_concrete_function()})


def fingerprint(model: keras.Model, plan: FeaturePlan) -> str:
    """Identifies a trained model by its weights and preprocessing constants: two runs that
    trained the same model have the same fingerprint, whatever the SavedModel bytes."""
    digest = hashlib.sha256(plan.to_json().encode())
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights, dtype=np.float32).tobytes())
    return digest.hexdigest()
