"""A TF Serving model directory: `<destination>/<version>/` with increasing integer versions, on a
local disk or an object store (gs://, s3://).

A version counts (for TF Serving, the Evaluator's baseline, warm starts, rollback and lineage)
only once its `saved_model.pb` exists, and no reader may ever see a partial version:

- local disk: the version is written to a hidden temporary sibling, synced, then renamed into
  place (atomic);
- object store (no atomic rename): the version is staged under a hidden prefix, then copied into
  `<destination>/<version>/` with `saved_model.pb` written last, then `push_metadata.json`.

TF Serving ignores hidden folders. Pushers on one local destination take `.push.lock` so that
deciding what to publish and publishing it is one step. The record `.serving_record.json` keeps
the highest version ever published (numbers are never reused, even after a rollback) and the
fingerprints of withdrawn models (a rolled-back model is not published again).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
import uuid

from components.common import io
from components.common.serving_layout import (  # noqa: F401 (the layout's names, stated once there)
    FINGERPRINT_FILE,
    LOCK_FILE,
    METADATA_FILE,
    PLAN_FILE,
    RECORD_FILE,
    ROLLED_BACK,
    SAVED_MODEL_FILE,
    SCHEMA_FILE,
    STATISTICS_FILE,
    TMP_PREFIX,
    WEIGHTS_FILE,
)

# A temporary folder whose owner cannot be checked (another host, an object store) is removed
# only when it is older than this.
STALE_TEMPORARY_SECONDS = 6 * 3600


class PushError(RuntimeError):
    """Publishing failed; the message names the path and the cause. Nothing partial is left."""


def version_path(destination: str, version: int) -> str:
    return io.join(destination, str(version))


def versions(destination: str) -> list[int]:
    """The complete versions now visible (their saved_model.pb exists), oldest first."""
    found = [int(name) for name in io.listdir(destination) if name.isdigit()]
    return sorted(v for v in found if io.exists(io.join(version_path(destination, v), SAVED_MODEL_FILE)))


def latest_version_path(destination: str) -> str | None:
    found = versions(destination) if destination else []
    return version_path(destination, found[-1]) if found else None


def read_text(version_path_: str, name: str) -> str | None:
    path = io.join(version_path_, name)
    return io.read_text(path).strip() if io.exists(path) else None


def read_record(destination: str) -> dict:
    """The destination's record: highest version published, withdrawn fingerprints."""
    path = io.join(destination, RECORD_FILE)
    record = io.read_json(path) if io.exists(path) else {}
    return {"last_version": record.get("last_version", 0), "withdrawn": record.get("withdrawn", [])}


def _write_record(destination: str, record: dict) -> None:
    io.write_json(io.join(destination, RECORD_FILE), record)


def withdrawn_version(destination: str, fingerprint: str | None) -> dict | None:
    """The withdrawal entry of a model with this fingerprint, if it was rolled back."""
    if not fingerprint:
        return None
    return next((w for w in read_record(destination)["withdrawn"] if w.get("fingerprint") == fingerprint),
                None)


def state(destination: str) -> dict:
    """What serves at `destination` now, as the Evaluator and the Pusher take it: every complete
    version with its model fingerprint and the names, sizes and modification times of its files,
    the version that serves (the newest), and the record (highest number used, withdrawn models).
    Cheap: listings and small files only, on a local disk or an object store."""
    found = []
    for version in versions(destination) if destination else []:
        path = version_path(destination, version)
        files = [[name, *io.size_and_mtime(io.join(path, name))] for name in io.files_under(path)]
        found.append({"version": version, "path": path,
                      "fingerprint": read_text(path, FINGERPRINT_FILE), "files": files})
    record = read_record(destination) if destination else {"last_version": 0, "withdrawn": []}
    serving = found[-1] if found else None
    body = {"destination": destination, "versions": found,
            "serving_version": serving["version"] if serving else None,
            "serving_path": serving["path"] if serving else None,
            "last_version": record["last_version"], "withdrawn": record["withdrawn"]}
    return {**body, "digest": _digest(body)}


def state_digest(destination: str) -> str:
    """The digest of `state(destination)`: equal digests, same models serving."""
    return state(destination)["digest"]


def _digest(body: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


@contextlib.contextmanager
def push_lock(destination: str):
    """Exclusive among pushers on one local destination (a lock file next to the versions).
    Object stores have no locks: on Kubeflow one pipeline runs at a time per recurring run
    (max_concurrency 1), which is what keeps two pushers apart there."""
    if io.is_remote(destination):
        yield
        return
    from components.common.locks import file_lock

    io.makedirs(destination)
    with file_lock(os.path.join(destination, LOCK_FILE), "push", poll_seconds=0.05):
        yield


def publish(model_dir: str, destination: str, metadata: dict, keep: int) -> int:
    """Copy a SavedModel into the next version so that no reader sees it partial; returns the
    version. Call under `push_lock(destination)`."""
    io.makedirs(destination)
    remove_stale_temporaries(destination)
    record = read_record(destination)
    version = max([record["last_version"], *versions(destination)]) + 1
    target = version_path(destination, version)
    if io.exists(target):  # a version folder without saved_model.pb: a crashed object-store copy
        io.rmtree(target)
    tmp = io.join(destination, f"{TMP_PREFIX}{version}-{_owner()}-{uuid.uuid4().hex[:8]}")
    try:
        io.copytree(model_dir, tmp)
        io.write_text(io.join(tmp, METADATA_FILE),
                      json.dumps({**metadata, "version": version}, indent=2, sort_keys=True, default=str))
        if io.is_remote(destination):
            io.copytree(tmp, target, last=(SAVED_MODEL_FILE, METADATA_FILE))
            io.rmtree(tmp)
        else:
            _sync_tree(tmp)
            io.rename(tmp, target)
            _sync_dir(destination)
    except Exception as error:
        io.rmtree(tmp)
        if io.is_remote(destination) and not io.exists(io.join(target, SAVED_MODEL_FILE)):
            io.rmtree(target)
        raise PushError(_push_failure(error, tmp, destination)) from error
    record["last_version"] = version
    _write_record(destination, record)
    prune(destination, keep)
    return version


def _push_failure(error: Exception, tmp: str, destination: str) -> str:
    text = str(error)
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text or "space left" in text:
        cause = f"no space left on the device of {destination}"
    elif getattr(error, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in text \
            or "Read-only" in text:
        cause = f"{destination} is not writable"
    else:
        cause = f"{type(error).__name__}: {text}"
    return (f"could not publish the model to {destination}: {cause}. The partial copy {tmp} was removed; "
            "the versions already there are untouched. Free space or fix the permissions, then run again.")


def prune(destination: str, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions; returns the deleted ones."""
    old = versions(destination)[:-keep] if keep > 0 else []
    for version in old:
        _withdraw(destination, version)
    return old


def _withdraw(destination: str, version: int, archive: str | None = None) -> None:
    """Make a version stop counting, then remove it (after archiving it to `archive`)."""
    path = version_path(destination, version)
    if io.is_remote(destination):
        if archive:
            io.copytree(path, archive)
        io.remove(io.join(path, SAVED_MODEL_FILE))  # from here on it is not a version
        io.rmtree(path)
        return
    # Rename first so that a half-deleted version is never visible under its number.
    doomed = archive or io.join(destination,
                                f"{TMP_PREFIX}delete-{version}-{_owner()}-{uuid.uuid4().hex[:8]}")
    io.makedirs(os.path.dirname(doomed))
    io.rename(path, doomed)
    if not archive:
        io.rmtree(doomed)


def rollback(destination: str) -> tuple[int, int]:
    """Withdraw the newest version so that the previous one serves again; the withdrawn version
    is kept under `.rolled-back/` and its fingerprint is remembered, so that a later run that
    trains the same model does not publish it again. Returns (withdrawn, now serving)."""
    found = versions(destination)
    if len(found) < 2:
        raise ValueError(
            f"cannot roll back {destination}: it has {len(found)} version(s), a rollback needs 2 or more")
    newest = found[-1]
    record = read_record(destination)
    record["last_version"] = max(record["last_version"], newest)
    record["withdrawn"].append({
        "version": newest, "fingerprint": read_text(version_path(destination, newest), FINGERPRINT_FILE),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    _write_record(destination, record)  # first: a crash after it still never reuses the number
    stamp = time.strftime("%Y%m%dT%H%M%S")
    _withdraw(destination, newest, archive=io.join(destination, ROLLED_BACK, f"{newest}-{stamp}"))
    _sync_dir(destination)
    return newest, found[-2]


def remove_stale_temporaries(destination: str) -> list[str]:
    """Remove temporaries of pushers that are gone: on this host, whose process no longer runs;
    otherwise, older than STALE_TEMPORARY_SECONDS. A live pusher's temporary is never touched."""
    removed = []
    for name in io.listdir(destination):
        if not name.startswith(TMP_PREFIX):
            continue
        path = io.join(destination, name)
        if _owner_is_gone(name) or _age_seconds(path) > STALE_TEMPORARY_SECONDS:
            io.rmtree(path)
            removed.append(name)
    return removed


def _owner() -> str:
    return f"{socket.gethostname().replace('-', '_')}_{os.getpid()}"


def _owner_is_gone(name: str) -> bool:
    """From `.tmp-<version>-<host>_<pid>-<id>`: True when <host> is this one and <pid> is gone."""
    parts = name[len(TMP_PREFIX):].split("-")
    owner = next((p for p in parts if "_" in p), "")
    host, _, pid = owner.rpartition("_")
    if host != socket.gethostname().replace("-", "_") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return int(pid) != os.getpid() and _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    try:
        # local-only: /proc is this host's process table
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _age_seconds(path: str) -> float:
    from tfx.dsl.io import fileio

    try:
        stat = fileio.stat(path)
        mtime = stat.mtime_nsec / 1e9 if getattr(stat, "mtime_nsec", 0) else 0.0
    except Exception:  # noqa: BLE001 (an object store has no folder objects to stat: look at a file inside)
        files = io.files_under(path)
        if not files:
            return float("inf")
        mtime = fileio.stat(io.join(path, files[0])).mtime_nsec / 1e9
    return time.time() - mtime if mtime else float("inf")


def _sync_tree(root: str) -> None:
    """fsync every file and folder of a local tree, so that a rename publishes durable data."""
    for relative in io.files_under(root):
        _fsync(os.path.join(root, relative))
    for folder in {os.path.dirname(os.path.join(root, r)) for r in io.files_under(root)} | {root}:
        _sync_dir(folder)


def _sync_dir(path: str) -> None:
    if not io.is_remote(path):
        _fsync(path)


def _fsync(path: str) -> None:
    # local-only: durability on a local disk (object stores have no fsync)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
