"""Import TFX's parts, not TFX's index of every component.

`tfx/components/__init__.py` imports all of TFX's components, and with them TensorFlow Model
Analysis, the BulkInferrer's and the InfraValidator's executors, and Google Cloud's AI Platform
client: about 3.5 s before a run can start, for components this project does not use (it uses
ExampleGen's, StatisticsGen's, SchemaGen's and ExampleValidator's). `lean_tfx_components()`
registers the package without running that index; `tfx.components.<name>.component` then imports
only what <name> needs. Any later `from tfx.components import X` still works: the first name
looked up on the package runs the index then.

`defer_unused_packages()` does the same for whole packages that TFX imports at start and this
project does not use (DEFERRED_PACKAGES): their submodules import as usual, and the package's
own __init__ runs only when something asks it for anything else. `lean_tfx_imports()` does both;
the compiler calls it before TFX is imported. (A Kubeflow task imports TFX's Evaluator executor,
and with it all of TFMA, whatever this does.)
"""

from __future__ import annotations

import importlib.util
import sys
import types

# TFX's component specs (tfx.types.standard_component_specs) import TensorFlow Model Analysis
# to name one proto class (tfma.EvalConfig, from its `sdk` submodule); TFMA's package __init__
# imports all of TFMA, tf_keras and nltk with it: about a second of every run's start, for TFX's
# Evaluator, which this project does not use (components/evaluator computes its own metrics).
DEFERRED_PACKAGES = ("tensorflow_model_analysis",)


def lean_tfx_imports() -> None:
    lean_tfx_components()
    defer_unused_packages()


class _DeferredPackage(types.ModuleType):
    """A package whose __init__ has not run: a submodule's name imports that submodule (by the
    package's __path__); the first other name asked for runs __init__ in this very module
    object, which is an ordinary module from then on."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            return importlib.import_module(f"{self.__name__}.{name}")  # what `from package import name` does
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def defer_unused_packages() -> None:
    """DEFERRED_PACKAGES, each unless already imported or not installed."""
    for name in DEFERRED_PACKAGES:
        spec = None if name in sys.modules else importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            continue
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _DeferredPackage
        sys.modules[name] = module


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
