"""Everything a run checks before it starts, in one place: `preflight` is what `run` (the local
runner, `tfx-yaml run`, `pipelines.run`) does before compiling and what `check` (`tfx-yaml check`,
`pipelines.check`) does instead of running. Nothing is written."""

from __future__ import annotations

import os

from pipelines.build import checks
from pipelines.spec import PipelineSpec, SpecError


def preflight(spec: PipelineSpec, paths) -> list[str]:
    """The files the spec names and what they hold (data, schema, label, task, Beam arguments), the
    run root and a local destination writable, the ML Metadata store reachable. Raises SpecError
    (every problem of the spec and its files at once) or MetadataError; returns the plan: what was
    inferred from the data (the task and why, each column), one line each."""
    from pipelines.build.compiler import check_inputs

    check_inputs(spec)
    check_writable(spec, paths)
    paths.store.check()
    return list(checks.INFERRED.get(id(spec), []))


def check_writable(spec, paths) -> None:
    """The run root and a local push destination must be writable folders: found before any work."""
    from components.common import io

    problems = []
    for key, path in (("runtime.root (or --root)", paths.root), ("pusher.destination", paths.destination)):
        if io.is_remote(path):
            continue
        problem = _unwritable(path)
        if problem:
            problems.append(f"key {key!r}: {path} {problem}")
    if problems:
        raise SpecError(spec.source, problems)


def _unwritable(path: str) -> str:
    """Why a folder cannot be created or written, or ""."""
    existing = path
    while not os.path.exists(existing):  # local-only: the closest existing parent of a local folder
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):  # local-only
        return f"cannot be a folder: {existing} is a file; choose another path"
    if existing.startswith(("/proc", "/sys", "/dev")) or not os.access(existing, os.W_OK):
        return f"is not writable ({existing} is read-only for this user); choose a writable folder"
    return ""
