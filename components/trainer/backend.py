"""Which Keras the Trainer uses: `tf.keras`, that is Keras 3, or the legacy Keras 2 (tf_keras)
when TF_USE_LEGACY_KERAS=1 is set before TensorFlow starts.

Keras 3 cannot train under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
`distribution: multi_worker` runs the Trainer with TF_USE_LEGACY_KERAS=1 (the Kubeflow compiler
sets it on the Trainer's container). The Trainer's code uses only what both Kerases share.
"""

from __future__ import annotations

import os

from tensorflow import keras

__all__ = ["LEGACY", "keras"]

LEGACY = os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")
