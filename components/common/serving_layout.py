"""The names of a TF Serving model directory, and its local fingerprint, without TensorFlow.

`serving_dir.py` publishes, prunes and rolls back (through the file layer, so also on object
stores); this module only names things and reads a local destination with the standard library,
so that the unchanged-run fast path (pipelines/local/rerun.py) and run summaries stay light.

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


def local_fingerprint(destination: str) -> str:
    """A digest of everything that serves at a local destination: every file of every version
    folder and the record, each by path, size, mtime_ns, ctime_ns and inode (a copy that keeps
    size and mtime still has a new inode and ctime). "" digest of an absent destination."""
    digest = hashlib.sha256()
    try:
        names = sorted(n for n in os.listdir(destination) if is_counted(n))  # local-only
    except OSError:
        return digest.hexdigest()
    for name in names:
        top = os.path.join(destination, name)
        paths = [top]
        if os.path.isdir(top) and not os.path.islink(top):  # local-only
            for folder, dirs, files in os.walk(top):  # local-only; os.walk does not follow links
                dirs.sort()
                paths += [os.path.join(folder, f) for f in sorted(files)]
        for path in paths:
            digest.update(file_identity(path, follow_links=False))
    return digest.hexdigest()


def file_identity(path: str, follow_links: bool = True) -> bytes:
    """A file by path, size, mtime_ns, ctime_ns and inode, as a line to hash: any write, and any
    replacement (a copy that keeps size and mtime still has a new inode and ctime), changes it."""
    try:
        st = os.stat(path) if follow_links else os.lstat(path)  # local-only
    except OSError:
        return f"{path}\0gone\n".encode()
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode()


def local_withdrawn(destination: str) -> list[dict]:
    """The withdrawal entries of a local destination's record (version, fingerprint, at)."""
    try:
        with open(os.path.join(destination, RECORD_FILE), encoding="utf-8") as f:  # local-only
            return list(json.load(f).get("withdrawn", []))
    except (OSError, ValueError):
        return []


def local_versions(destination: str) -> list[int]:
    """The complete versions of a local destination (their saved_model.pb exists), oldest first."""
    try:
        names = os.listdir(destination)  # local-only
    except OSError:
        return []
    return sorted(int(n) for n in names
                  if n.isdigit()
                  and os.path.exists(os.path.join(destination, n, SAVED_MODEL_FILE)))  # local-only
