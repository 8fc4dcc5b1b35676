"""Import TFX's parts, not TFX's index of every component.

`tfx/components/__init__.py` imports all of TFX's components, and with them TensorFlow Model
Analysis, the BulkInferrer's and the InfraValidator's executors, and Google Cloud's AI Platform
client: about 3.5 s before a run can start, for components this project does not use (it uses
ExampleGen's, StatisticsGen's, SchemaGen's and ExampleValidator's). `lean_tfx_components()`
registers the package without running that index; `tfx.components.<name>.component` then imports
only what <name> needs. Any later `from tfx.components import X` still works: the first name
looked up on the package runs the index then.
"""

from __future__ import annotations

import importlib.util
import sys


def lean_tfx_components() -> None:
    if "tfx.components" in sys.modules:
        return
    spec = importlib.util.find_spec("tfx.components")
    module = importlib.util.module_from_spec(spec)
    loaded = []

    def __getattr__(name: str):
        if not loaded:  # the index, once, into this same module object
            loaded.append(True)
            spec.loader.exec_module(module)
        if name in module.__dict__:
            return module.__dict__[name]
        raise AttributeError(f"module 'tfx.components' has no attribute {name!r}")

    module.__getattr__ = __getattr__
    sys.modules["tfx.components"] = module
    import tfx

    tfx.components = module
