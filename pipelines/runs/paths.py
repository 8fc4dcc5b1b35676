"""Where a local run writes: kept apart from the compiler so that deciding whether a run is
needed at all (pipelines/local/rerun.py) does not import TFX."""

from __future__ import annotations

import dataclasses
import os

from pipelines.runs.metadata import Store
from pipelines.spec import PipelineSpec
from pipelines.spec.loader import is_uri


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where a local run writes: everything under `root`."""

    root: str
    pipeline_root: str
    metadata: str  # the SQLite file's path (unused when runtime.metadata is a server)
    destination: str
    store: Store | None = None  # the ML Metadata store of local runs (Kubeflow has its own)
    pipeline: str | None = None  # the spec's name: a store shared by several pipelines is read for this one

    @classmethod
    def of(cls, spec: PipelineSpec, root: str | None = None) -> RunPaths:
        root = os.path.abspath(root or spec.runtime.root or os.path.join("runs", spec.name))
        destination = resolve_destination(spec.pusher.destination, root)
        store = Store.of(spec.runtime.metadata, root)
        return cls(root, os.path.join(root, "pipeline"), os.path.join(root, "metadata.sqlite"), destination,
                   store, spec.name)


def resolve_destination(destination: str, root: str) -> str:
    """`pusher.destination` as a run uses it: absolute paths and URIs as they are, a relative path
    under the run's root (a local folder, or the pipeline root on an object store for Kubeflow)."""
    if os.path.isabs(destination) or is_uri(destination):
        return destination
    return f"{root.rstrip('/')}/{destination}" if is_uri(root) else os.path.join(root, destination)
