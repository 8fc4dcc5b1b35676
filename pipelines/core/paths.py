"""Where a local run writes, and where its destination is: plain paths, no TFX and no ML Metadata
(deciding whether a run is needed at all, pipelines/local/rerun.py, imports none of them)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from pipelines.core.uris import is_remote, local_path


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where a local run writes: everything under `root`."""

    root: str
    pipeline_root: str
    metadata: str  # the SQLite file's path (unused when runtime.metadata is a server)
    destination: str
    store: Any = None  # local runs' ML Metadata store (pipelines.runs.metadata.Store); Kubeflow has its own
    pipeline: str | None = None  # the spec's name: a store shared by several pipelines is read for this one

    @classmethod
    def of(cls, spec: Any, root: str | None = None,
           store_of: Callable[[Any, str], Any] | None = None) -> RunPaths:
        """The paths of a PipelineSpec's local run; `store_of(spec.runtime.metadata, root)` gives
        the store (pipelines.runs.paths.RunPaths.of passes Store.of)."""
        root = os.path.abspath(root or spec.runtime.root or os.path.join("runs", spec.name))
        destination = resolve_destination(spec.pusher.destination, root)
        store = store_of(spec.runtime.metadata, root) if store_of else None
        return cls(root, os.path.join(root, "pipeline"), os.path.join(root, "metadata.sqlite"), destination,
                   store, spec.name)


def resolve_destination(destination: str, root: str) -> str:
    """`pusher.destination` as a run uses it: absolute paths and remote URIs as they are (a file://
    URI as its local path), a relative path under the run's root (a local folder, or the pipeline
    root on an object store for Kubeflow)."""
    if is_remote(destination):
        return destination
    destination = local_path(destination)
    if os.path.isabs(destination):
        return destination
    return f"{root.rstrip('/')}/{destination}" if is_remote(root) else os.path.join(root, destination)
