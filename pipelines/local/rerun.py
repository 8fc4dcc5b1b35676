"""An unchanged re-run without TensorFlow: decide, before the heavy imports, whether the last
successful run of a root already covers this one.

What TFX's cache would look at is fingerprinted: the spec's canonical form, the project's code
and version, the installed versions of the stack (TensorFlow, Keras, TFX, Beam, TFDV, ...), the
input files, the schema file (by content), and every file of the serving directory (its versions
and its rollback record: a removed, edited or withdrawn version changes what the Evaluator
compares against). Files are identified by path, size, mtime_ns, ctime_ns and inode: a copy that
keeps size and mtime (`cp -p`, `rsync -t`) still has a new ctime and inode.

The fingerprint is taken before the run reads anything and is the one stored after it succeeds,
so that a change made while a run goes is never recorded as covered. Only the serving part may be
advanced to what the run's own Pusher left, and only when the destination still looks exactly as
that Pusher left it under its lock (see `covered`).

When the stored fingerprint equals this run's, the runner prints that run's summary from ML
Metadata and exits 0. Anything else (one byte of data, one spec field, a new span, a removed
serving version, a new TensorFlow, remote data that cannot be listed cheaply) runs the pipeline.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from components.common import serving_layout
from pipelines.core.paths import RunPaths
from pipelines.core.uris import is_remote
from pipelines.spec import PipelineSpec

STAMP_FILE = ".last_run.json"
REPO = Path(__file__).resolve().parents[2]
# The installed distributions whose versions change what a run computes.
STACK = ("tfx-yaml-pipelines", "tensorflow", "keras", "tf-keras", "tfx", "tfx-bsl", "apache-beam",
         "tensorflow-data-validation", "tensorflow-metadata", "ml-metadata", "numpy", "pyarrow")
SMALL_FILE = 1 << 20  # files up to this size (the schema) are fingerprinted by content


def fingerprint(spec: PipelineSpec, paths: RunPaths) -> str | None:
    """The inputs of a run of `spec` at `paths`, hashed, then "-", then the serving directory's
    local fingerprint; None when they cannot be listed without the file layer (data, schema or
    destination on an object store)."""
    if any(is_remote(p) for p in (spec.data.path, spec.schema_.path or "", paths.destination)):
        return None
    digest = hashlib.sha256()
    digest.update(spec.model_dump_json(by_alias=True).encode())
    digest.update(paths.root.encode())
    for name in STACK:
        try:
            digest.update(f"{name}=={metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent\n".encode())
    code = sorted(_glob(str(REPO / "components" / "**" / "*.py"))
                  + _glob(str(REPO / "pipelines" / "**" / "*.py")))
    folder = os.path.isdir(spec.data.path)  # local-only
    data = sorted(_glob(os.path.join(spec.data.path, "**"))) if folder else [spec.data.path]
    for path in [*code, *data]:
        digest.update(serving_layout.file_identity(path))
    if spec.schema_.path:
        digest.update(_content(spec.schema_.path))
    return f"{digest.hexdigest()}-{serving_layout.ServingDirectory(paths.destination).digest()}"


def covered(before: str | None, paths: RunPaths, pushed_fingerprint: str | None) -> str | None:
    """What a successful run covers: `before` (taken before it read anything), with the serving
    part advanced to `pushed_fingerprint` (what this run's Pusher left, under its lock) when the
    destination still looks exactly like that; otherwise `before` as it is (the next run, seeing
    another serving directory, runs the Evaluator and the Pusher again)."""
    if before is None or not pushed_fingerprint:
        return before
    if serving_layout.ServingDirectory(paths.destination).digest() != pushed_fingerprint:
        return before
    return f"{before.split('-', 1)[0]}-{pushed_fingerprint}"


def _content(path: str) -> bytes:
    """A file by its content when it holds at most SMALL_FILE bytes (read by content with that cap,
    not by the size the file system reports: /dev/zero and /proc files report 0), else by its
    identity; a FIFO or a device is never opened (it would block or never end)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return serving_layout.file_identity(path)
        with open(path, "rb") as f:  # local-only
            data = f.read(SMALL_FILE + 1)
    except OSError:
        return f"{path}\0gone\n".encode()
    if len(data) > SMALL_FILE:
        return serving_layout.file_identity(path)
    return path.encode() + b"\0" + hashlib.sha256(data).digest()


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
    """After a successful run: what it covered (written atomically; OSError when it cannot be
    written, with nothing left behind)."""
    if stamp is None:
        return
    path = os.path.join(paths.root, STAMP_FILE)
    try:
        # local-only: the stamp lives in the local root beside the SQLite store
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"fingerprint": stamp, "run_id": run_id}, f)
        os.replace(path + ".tmp", path)  # local-only
    except OSError:  # a full disk: no half-written stamp left; the caller says it (the next run runs)
        try:
            os.remove(path + ".tmp")  # local-only
        except OSError:
            pass
        raise


def forget(paths: RunPaths) -> None:
    """Before a run starts: a run that fails must not leave an older stamp claiming coverage."""
    try:
        os.remove(os.path.join(paths.root, STAMP_FILE))  # local-only
    except FileNotFoundError:
        pass
