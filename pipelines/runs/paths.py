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
        destination = spec.pusher.destination
        if not os.path.isabs(destination) and not is_uri(destination):
            destination = os.path.join(root, destination)
        store = Store.of(spec.runtime.metadata, root)
        return cls(root, os.path.join(root, "pipeline"), os.path.join(root, "metadata.sqlite"), destination, store,
                   spec.name)
