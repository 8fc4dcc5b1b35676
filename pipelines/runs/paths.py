"""Where a local run writes: RunPaths lives in the core (pipelines/core/paths.py), which the
compiler and the fast path import; here `RunPaths.of` adds the run's ML Metadata store."""

from __future__ import annotations

from pipelines.core import paths as core_paths
from pipelines.core.paths import resolve_destination
from pipelines.runs.metadata import Store


class RunPaths(core_paths.RunPaths):
    """pipelines.core.paths.RunPaths whose `of` opens nothing but names the run's Store."""

    @classmethod
    def of(cls, spec, root: str | None = None, store_of=None) -> RunPaths:
        return super().of(spec, root, store_of or Store.of)  # type: ignore[return-value]


__all__ = ["RunPaths", "resolve_destination"]
