"""TensorFlow Decision Forests' inference ops, registered in this process before a SavedModel is
loaded: a `trainer.model.type: gradient_boosted_trees` version calls them (SimpleMLCreateModelResource
and friends), and tf.saved_model.load fails on an op it does not know. TF Serving 2.11 and later
include them.

Only the op library is loaded (tf.load_op_library), not the tensorflow_decision_forests package,
whose __init__ imports tf_keras, pandas and its Keras models (seconds). Loading it twice is a
no-op. A network's SavedModel does not need it; without the package installed nothing happens.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


@functools.cache
def register() -> bool:
    """Load TF-DF's inference op library once; False when TF-DF is not installed."""
    spec = importlib.util.find_spec("tensorflow_decision_forests")
    if spec is None or not spec.submodule_search_locations:
        return False
    import tensorflow as tf

    # local-only: the op library ships inside the installed package, on this machine's disk
    package = Path(next(iter(spec.submodule_search_locations)))
    tf.load_op_library(str(package / "tensorflow" / "ops" / "inference" / "inference.so"))
    return True
