"""The one home of reading a TF Serving model directory, without TensorFlow: its names, and
`ServingDirectory` (versions, the version serving now, the rollback record, one digest of its
state) over a small file-system interface: the standard library for a local path (LocalFiles),
the file layer for an object store (RemoteFiles, imported only then).

`serving_dir.py` publishes, prunes and rolls back, and says whether a version loads; it reads
through this module. The unchanged-run fast path (pipelines/local/rerun.py), the run summary and
the report read a local destination here without importing TFX.

    <destination>/<version>/saved_model.pb           a version counts once this exists
    <destination>/<version>/push_metadata.json       who pushed it, with which blessing
    <destination>/<version>/assets.extra/...         fingerprint, feature plan, schema, statistics
    <destination>/.serving_record.json               highest version ever published, withdrawn models
    <destination>/.rolled-back/<version>-<stamp>/     withdrawn versions, kept
    <destination>/.tmp-...                           a pusher's temporary (never read)
    <destination>/.push.lock                         the pushers' lock (never read)
"""

from __future__ import annotations

import hashlib
import json
import os

from pipelines.core.uris import is_remote

TMP_PREFIX = ".tmp-"
ROLLED_BACK = ".rolled-back"
RECORD_FILE = ".serving_record.json"
LOCK_FILE = ".push.lock"
METADATA_FILE = "push_metadata.json"
SAVED_MODEL_FILE = "saved_model.pb"
FINGERPRINT_FILE = "assets.extra/fingerprint.txt"
PLAN_FILE = "assets.extra/plan.json"
WEIGHTS_FILE = "assets.extra/model.weights.h5"
# The schema and the train split's statistics of the data that trained the model: the pipeline's
# schema when none is curated, and the reference of the drift checks of later runs.
SCHEMA_FILE = "assets.extra/schema.pbtxt"
STATISTICS_FILE = "assets.extra/train_statistics.pb"


def is_counted(name: str) -> bool:
    """Whether an entry of the destination is part of what serves: the versions and the record
    (not the lock, not temporaries, not the archive of withdrawn versions)."""
    return name.isdigit() or name == RECORD_FILE


def _is_remote(path: str) -> bool:
    """pipelines/core/uris.py's rule (file:// is local)."""
    return is_remote(path)


class LocalFiles:
    """The file-system functions a ServingDirectory needs, for a local path: the standard library
    only (no TensorFlow: the fast path, the summary and the report read local destinations)."""

    def join(self, base: str, *parts: str) -> str:
        return os.path.join(base.removeprefix("file://"), *parts)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)  # local-only
        except OSError:
            return []

    def exists(self, path: str) -> bool:
        return os.path.exists(path)  # local-only

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:  # local-only
                return f.read()
        except OSError:
            return None

    def files_under(self, path: str) -> list[str]:
        """Every file under `path` (itself when a file or a link), links not followed, sorted."""
        if not os.path.isdir(path) or os.path.islink(path):  # local-only
            return [path]
        found = []
        for folder, dirs, files in os.walk(path):  # local-only; os.walk does not follow links
            dirs.sort()
            found += [os.path.join(folder, f) for f in sorted(files)]
        return [path, *found]

    def identity(self, path: str) -> bytes:
        return file_identity(path, follow_links=False)


class RemoteFiles:
    """The same functions for an object store (gs://, s3://), through the file layer (imported
    when first used: it imports TFX)."""

    @staticmethod
    def _io():
        from components.common import io  # deferred: the file layer imports TFX

        return io

    def join(self, base: str, *parts: str) -> str:
        return "/".join([base.rstrip("/"), *parts])

    def listdir(self, path: str) -> list[str]:
        try:
            return [name.rstrip("/") for name in self._io().listdir(path)]
        except Exception:  # noqa: BLE001 (an absent prefix: nothing there)
            return []

    def exists(self, path: str) -> bool:
        return self._io().exists(path)

    def read(self, path: str) -> bytes | None:
        try:
            io = self._io()
            return io.read_bytes(path)
        except Exception:  # noqa: BLE001 (absent or unreadable)
            return None

    def files_under(self, path: str) -> list[str]:
        io = self._io()
        if not io.isdir(path):
            return [path]
        return [path, *(self.join(path, name) for name in sorted(io.files_under(path)))]

    def identity(self, path: str) -> bytes:
        try:
            size, mtime = self._io().size_and_mtime(path)
        except Exception:  # noqa: BLE001 (a folder on an object store: no object)
            return f"{path}\0-\n".encode()
        return f"{path}\0{size}\0{mtime}\n".encode()


class ServingDirectory:
    """The one reader of a TF Serving model directory: its versions, the version serving now, the
    rollback record (highest version published, withdrawn versions) and one digest of its state.
    `files`: LocalFiles (the standard library) for a local path, RemoteFiles (the file layer) for
    an object store, chosen from the path when not given (Kedro passes its file system the same
    way). Writing (publish, prune, rollback) and whether a version loads are components/common/
    serving_dir.py's, which uses this class to read."""

    def __init__(self, destination: str, files: LocalFiles | RemoteFiles | None = None):
        self.destination = destination
        self.files = files or (RemoteFiles() if _is_remote(destination) else LocalFiles())

    def version_path(self, version: int) -> str:
        return self.files.join(self.destination, str(version))

    def versions(self) -> list[int]:
        """The complete versions (their saved_model.pb exists), oldest first."""
        if not self.destination:
            return []
        found = sorted(int(n) for n in self.files.listdir(self.destination) if n.isdigit())
        return [v for v in found
                if self.files.exists(self.files.join(self.version_path(v), SAVED_MODEL_FILE))]

    def newest(self) -> int | None:
        """The newest complete version (what TF Serving's default policy serves); serving_dir's
        `serving_version` also skips versions that cannot be loaded."""
        found = self.versions()
        return found[-1] if found else None

    def record(self, strict: bool = False) -> dict:
        """The rollback record: {"last_version": highest ever published, "withdrawn": [{version,
        fingerprint, at[, damaged]}]}; an absent record reads as empty, an unreadable one too
        unless `strict` (a pusher must not reuse a number: ValueError naming the file)."""
        path = self.files.join(self.destination, RECORD_FILE) if self.destination else ""
        data = self.files.read(path) if path else None
        try:
            record = json.loads(data) if data else {}
        except ValueError:
            record = None
        if not isinstance(record, dict):
            if strict:
                raise ValueError(f"the rollback record {path} is not readable JSON; restore it from a "
                                 "backup, or remove it (numbers of withdrawn versions may then be reused)")
            record = {}
        return {"last_version": record.get("last_version", 0), "withdrawn": list(record.get("withdrawn", []))}

    def withdrawn(self) -> list[dict]:
        return self.record()["withdrawn"]

    def digest(self) -> str:
        """One digest of everything that serves: every file of every version folder and the
        record, each by path and identity (local: size, mtime_ns, ctime_ns and inode, so that a copy
        that keeps size and mtime still differs; object store: size and mtime). Equal digests,
        the same models serving; the digest of an absent destination is that of an empty one."""
        digest = hashlib.sha256()
        listed = self.files.listdir(self.destination) if self.destination else []
        names = sorted(n for n in listed if is_counted(n))
        for name in names:
            for path in self.files.files_under(self.files.join(self.destination, name)):
                digest.update(self.files.identity(path))
        return digest.hexdigest()


def file_identity(path: str, follow_links: bool = True) -> bytes:
    """A file by path, size, mtime_ns, ctime_ns and inode, as a line to hash: any write, and any
    replacement (a copy that keeps size and mtime still has a new inode and ctime), changes it."""
    try:
        st = os.stat(path) if follow_links else os.lstat(path)  # local-only
    except OSError:
        return f"{path}\0gone\n".encode()
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode()
