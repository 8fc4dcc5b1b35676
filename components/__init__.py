"""This project's TFX custom components, one folder each (component.py + executor.py).

The custom artifact types are reachable as `components.Batches`, `components.DataGateResult` and
`components.ServingState`:
on Kubeflow Pipelines v2, TFX records a custom type by "<module>.<Class>" and imports it back by
that path in each task's container.
"""

from __future__ import annotations

__all__ = ["Batches", "DataGateResult", "ServingState"]


def __getattr__(name: str):
    if name in __all__:  # imported lazily: `import components.x` need not import TFX
        from components.common import artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
