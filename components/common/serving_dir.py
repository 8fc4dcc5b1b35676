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

Reading the directory (versions, the record, the digest) is serving_layout.ServingDirectory's;
this module adds what needs TensorFlow's protos or writes: whether a version loads (`damage`:
the version that serves is the newest that loads), the file of the serving version a stage reads
with the digest that keys its cache (`reference`), and publish, prune and rollback.
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
    ServingDirectory,
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
    return ServingDirectory(destination).versions()


def latest_version_path(destination: str) -> str | None:
    """The newest version that can be loaded (damaged ones skipped, see `damage`), or None."""
    serving = serving_version(destination) if destination else None
    return version_path(destination, serving) if serving is not None else None


VARIABLES_INDEX = "variables/variables.index"


def damage(path: str) -> str | None:
    """Why the complete version at `path` cannot be loaded, or None when it looks loadable: its
    saved_model.pb must parse as a SavedModel with a graph, and its variables must be there.
    (What TensorFlow itself would refuse with "Cannot parse file" or "Unsuccessful
    TensorSliceReader constructor".) Imports TensorFlow's protos (deferred: readers that only
    list versions stay free of TensorFlow)."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        data = io.read_bytes(io.join(path, SAVED_MODEL_FILE))
    except Exception as error:  # noqa: BLE001 (any read failure is damage, named)
        return f"{SAVED_MODEL_FILE} cannot be read ({type(error).__name__}: {error})"
    try:
        model = saved_model_pb2.SavedModel.FromString(data)
    except (DecodeError, ValueError, RuntimeError):
        return f"{SAVED_MODEL_FILE} is not a valid SavedModel ({len(data)} bytes: truncated or garbled)"
    if not model.meta_graphs:
        return f"{SAVED_MODEL_FILE} holds no graph ({len(data)} bytes: truncated or garbled)"
    if not io.exists(io.join(path, VARIABLES_INDEX)):
        return f"{VARIABLES_INDEX} is missing (the model's weights are gone)"
    if not [n for n in io.listdir(io.join(path, "variables")) if n.startswith("variables.data-")]:
        return "variables/variables.data-* is missing (the model's weights are gone)"
    return None


def loadable(destination: str) -> tuple[int | None, list[dict]]:
    """(the newest version that can be loaded, or None; the newer versions that cannot, newest
    first, each {"version", "path", "reason", "fix"}). Older versions are not opened."""
    damaged: list[dict] = []
    for version in reversed(versions(destination)):
        path = version_path(destination, version)
        reason = damage(path)
        if reason is None:
            return version, damaged
        damaged.append({"version": version, "path": path, "reason": reason,
                        "fix": damage_fix(destination, version)})
    return None, damaged


def damage_fix(destination: str, version: int) -> str:
    return (f"withdraw it with `tfx-yaml rollback --version {version}` (the pipeline's --config and --root), "
            f"or remove {version_path(destination, version)}")


def serving_version(destination: str) -> int | None:
    """The version that serves: the newest that can be loaded (a damaged newer one is skipped)."""
    return loadable(destination)[0] if destination else None


class ServingError(RuntimeError):
    """The serving directory, not the run's data, stops the run; the message names the path and
    what to do, and ends with NOT_THE_DATA, by which a scheduler knows to retry the span (once the
    directory is repaired) rather than mark it done."""

    def __init__(self, message: str):
        super().__init__(f"{message} {NOT_THE_DATA}")


NOT_THE_DATA = "(the serving directory stopped the run, not the data)"


class ServingChanged(ServingError):
    """What serves changed after the run read it at its start; the message says to run again."""


NOTHING_SERVES = "nothing serves"


def reference(destination: str, name: str, expected: str = "") -> tuple[str | None, bytes | None, str]:
    """The file `name` of the version that serves (SchemaGen: the schema, the DataGate: the train
    statistics, warm start: the weights): (version path or None, its bytes or None when missing
    or unreadable, the digest that keys the reading stage's cache). `expected`: the digest the
    runner bound when the run started (`reference_digest`); a different one now means what serves
    changed meanwhile, and raises ServingChanged instead of reading another version than the
    stage's cache key names. "" (not bound): no check."""
    serving = latest_version_path(destination) if destination else None
    data = None
    if serving:
        try:
            data = io.read_bytes(io.join(serving, name))
        except Exception:  # noqa: BLE001 (missing or unreadable: the caller says what to do)
            data = None
    digest = _reference_digest(serving, name, data)
    if expected and expected != digest:
        raise ServingChanged(
            f"what serves at {destination} changed after this run started (its {name} then and now "
            "differ: a push, a rollback or a version removed meanwhile); nothing was read from it. "
            "Run again: the next run reads what serves then")
    return serving, data, digest


def reference_digests(destination: str, names: dict[str, str]) -> dict[str, str]:
    """`reference_digest` of each file in `names` (key -> file name), the serving version found once."""
    serving = latest_version_path(destination) if destination else None
    digests = {}
    for key, name in names.items():
        try:
            data = io.read_bytes(io.join(serving, name)) if serving else None
        except Exception:  # noqa: BLE001 (missing or unreadable)
            data = None
        digests[key] = _reference_digest(serving, name, data)
    return digests


def reference_digest(destination: str, name: str) -> str:
    """The cache key of a stage that reads `name` from the version that serves: its content's
    digest (equal content, equal key, whichever version holds it), "missing <path>", or
    NOTHING_SERVES."""
    return reference(destination, name)[2]


def _reference_digest(serving: str | None, name: str, data: bytes | None) -> str:
    import hashlib

    if serving is None:
        return NOTHING_SERVES
    if data is None:
        return f"missing {io.join(serving, name)}"
    return hashlib.sha256(data).hexdigest()[:32]


def read_text(version_path_: str, name: str) -> str | None:
    path = io.join(version_path_, name)
    return io.read_text(path).strip() if io.exists(path) else None


def read_record(destination: str) -> dict:
    """The destination's record: highest version published, withdrawn fingerprints (ValueError,
    naming the file, when it cannot be read: a pusher must not reuse a number)."""
    return ServingDirectory(destination).record(strict=True)


def _write_record(destination: str, record: dict) -> None:
    io.write_json(io.join(destination, RECORD_FILE), record)


def withdrawn_version(destination: str, fingerprint: str | None) -> dict | None:
    """The withdrawal entry of a model with this fingerprint, if it was rolled back (not counting
    a withdrawal of a damaged copy: the model itself was not judged)."""
    if not fingerprint:
        return None
    return next((w for w in read_record(destination)["withdrawn"]
                 if w.get("fingerprint") == fingerprint and not w.get("damaged")), None)


def state(destination: str) -> dict:
    """What serves at `destination` now, as the Evaluator and the Pusher take it: every complete
    version with its model fingerprint and the names, sizes and modification times of its files,
    the version that serves (the newest that can be loaded), the newer ones that cannot
    ("damaged", with why and what to do), and the record (highest number used, withdrawn models).
    Cheap: listings and small files only, on a local disk or an object store."""
    found = []
    for version in versions(destination) if destination else []:
        path = version_path(destination, version)
        files = [[name, *io.size_and_mtime(io.join(path, name))] for name in io.files_under(path)]
        found.append({"version": version, "path": path,
                      "fingerprint": read_text(path, FINGERPRINT_FILE), "files": files})
    record = read_record(destination) if destination else {"last_version": 0, "withdrawn": []}
    serving, damaged = loadable(destination) if destination else (None, [])
    body = {"destination": destination, "versions": found,
            "serving_version": serving,
            "serving_path": version_path(destination, serving) if serving is not None else None,
            "damaged": damaged,
            "last_version": record["last_version"], "withdrawn": record["withdrawn"]}
    return {**body, "digest": state_digest(destination)}


def state_digest(destination: str) -> str:
    """The one digest of what serves at `destination` (ServingDirectory.digest: every file of every
    version and the record): equal digests, same models serving. All of `state` follows from those
    files, so the digest is that of the state too."""
    return ServingDirectory(destination).digest()


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


def rollback(destination: str, version: int | None = None) -> tuple[int, int | None]:
    """Withdraw the newest version so that the previous one serves again; the withdrawn version
    is kept under `.rolled-back/` and its fingerprint is remembered, so that a later run that
    trains the same model does not publish it again (unless it was withdrawn because it was
    damaged: then a good copy of that model may be published). `version`: withdraw exactly this
    one, and refuse when it is not the newest (a run pushed after the caller looked). The only
    version is withdrawn only when it is damaged. Returns (withdrawn, the newest version left or None)."""
    found = versions(destination)
    if not found:
        raise ValueError(f"cannot roll back {destination}: it has no version")
    newest = found[-1]
    if version is not None and version != newest:
        if version in found:
            raise ValueError(
                f"version {version} of {destination} is no longer the newest: version {newest} was "
                f"pushed since. Nothing was withdrawn; to withdraw {newest}, run rollback --version {newest}")
        raise ValueError(f"{destination} has no version {version} (its versions: "
                         f"{', '.join(map(str, found))}); nothing was withdrawn")
    damaged = damage(version_path(destination, newest))
    if len(found) < 2 and damaged is None:
        raise ValueError(
            f"cannot roll back {destination}: it has 1 version, version {newest}, and it loads: withdrawing "
            "it would leave nothing serving (a rollback needs 2 or more versions, or a damaged newest one)")
    record = read_record(destination)
    record["last_version"] = max(record["last_version"], newest)
    entry = {"version": newest, "fingerprint": read_text(version_path(destination, newest), FINGERPRINT_FILE),
             "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    record["withdrawn"].append({**entry, "damaged": damaged} if damaged else entry)
    _write_record(destination, record)  # first: a crash after it still never reuses the number
    stamp = time.strftime("%Y%m%dT%H%M%S")
    _withdraw(destination, newest, archive=io.join(destination, ROLLED_BACK, f"{newest}-{stamp}"))
    _sync_dir(destination)
    return newest, found[-2] if len(found) > 1 else None


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
