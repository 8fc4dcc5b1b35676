"""An unchanged re-run without TensorFlow: decide, before the heavy imports, whether the last
successful run of a root already covers this one.

What TFX's cache would look at is fingerprinted: the spec's canonical form, the project's code
(names, sizes and modification times of its Python files) and version, the input files' names,
sizes and modification times, the schema file, and the serving directory (its versions and its
rollback record: a removed or withdrawn version changes what the Evaluator compares against).
When it equals the fingerprint stored by the last successful run, the runner prints that run's
summary from ML Metadata and exits 0. Anything else (one byte of data, one spec field, a new
span, a removed serving version, remote data that cannot be listed cheaply) runs the pipeline.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from pipelines.paths import RunPaths
from pipelines.spec import PipelineSpec
from pipelines.spec.loader import is_uri

STAMP_FILE = ".last_run.json"
REPO = Path(__file__).resolve().parents[1]


def fingerprint(spec: PipelineSpec, paths: RunPaths) -> str | None:
    """The inputs of a run of `spec` at `paths`, hashed; None when they cannot be listed
    without the file layer (data, schema or destination on an object store)."""
    if any(is_uri(p) for p in (spec.data.path, spec.schema_.path or "", paths.destination)):
        return None
    digest = hashlib.sha256()
    digest.update(spec.model_dump_json(by_alias=True).encode())
    digest.update(paths.root.encode())
    try:
        digest.update(metadata.version("tfx-yaml-pipelines").encode())
    except metadata.PackageNotFoundError:
        pass
    code = sorted(_glob(str(REPO / "components" / "**" / "*.py")) + _glob(str(REPO / "pipelines" / "**" / "*.py")))
    data = sorted(_glob(os.path.join(spec.data.path, "**"))) if os.path.isdir(spec.data.path) else [spec.data.path]  # local-only
    serving = sorted(_glob(os.path.join(paths.destination, "*")) + _glob(os.path.join(paths.destination, ".serving_record.json"))
                     + _glob(os.path.join(paths.destination, "*", "saved_model.pb")))
    for path in [*code, *data, *([spec.schema_.path] if spec.schema_.path else []), *serving]:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _glob(pattern: str) -> list[str]:
    return glob.glob(pattern, recursive=True)  # local-only: every path here was checked to be local


def last_run(paths: RunPaths) -> dict | None:
    path = os.path.join(paths.root, STAMP_FILE)
    try:
        # local-only: the stamp lives in the local root beside the SQLite store
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def record(paths: RunPaths, stamp: str | None, run_id: str) -> None:
    """After a successful run: what it covered (written atomically)."""
    if stamp is None:
        return
    path = os.path.join(paths.root, STAMP_FILE)
    # local-only: the stamp lives in the local root beside the SQLite store
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"fingerprint": stamp, "run_id": run_id}, f)
    os.replace(path + ".tmp", path)  # local-only


def forget(paths: RunPaths) -> None:
    """Before a run starts: a run that fails must not leave an older stamp claiming coverage."""
    try:
        os.remove(os.path.join(paths.root, STAMP_FILE))  # local-only
    except FileNotFoundError:
        pass
