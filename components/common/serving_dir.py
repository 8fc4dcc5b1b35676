"""A TF Serving model directory: `<destination>/<version>/` with increasing integer versions.

Versions appear atomically: a version is written to a hidden temporary sibling, synced to disk,
then renamed into place, so a reader (TF Serving, the Evaluator, a person) never sees a partial
version, whatever crashes. TF Serving ignores the hidden folders.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid

TMP_PREFIX = ".tmp-"
ROLLED_BACK = ".rolled-back"
METADATA_FILE = "push_metadata.json"
FINGERPRINT_FILE = "assets.extra/fingerprint.txt"
PLAN_FILE = "assets.extra/plan.json"
WEIGHTS_FILE = "assets.extra/model.weights.h5"


def versions(destination: str) -> list[int]:
    """The versions now visible, oldest first."""
    if not os.path.isdir(destination):
        return []
    return sorted(int(name) for name in os.listdir(destination) if name.isdigit())


def latest_version_path(destination: str) -> str | None:
    found = versions(destination)
    return os.path.join(destination, str(found[-1])) if found else None


def read_text(version_path: str, name: str) -> str | None:
    path = os.path.join(version_path, name)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def publish(model_dir: str, destination: str, metadata: dict, keep: int) -> int:
    """Copy a SavedModel into the next version, atomically; returns the version."""
    os.makedirs(destination, exist_ok=True)
    _remove_stale_temporaries(destination)
    while True:
        version = (versions(destination) or [0])[-1] + 1
        tmp = os.path.join(destination, f"{TMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
        shutil.copytree(model_dir, tmp)
        with open(os.path.join(tmp, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump({**metadata, "version": version}, f, indent=2, sort_keys=True, default=str)
        _sync_tree(tmp)
        try:
            os.rename(tmp, os.path.join(destination, str(version)))
        except OSError:  # another pusher took this version number first: try the next one
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        _sync_dir(destination)
        prune(destination, keep)
        return version


def prune(destination: str, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions; returns the deleted ones."""
    old = versions(destination)[:-keep] if keep > 0 else []
    for version in old:
        # Rename first so that a half-deleted version is never visible under its number.
        doomed = os.path.join(destination, f"{TMP_PREFIX}delete-{version}-{uuid.uuid4().hex[:8]}")
        os.rename(os.path.join(destination, str(version)), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    return old


def rollback(destination: str) -> tuple[int, int]:
    """Withdraw the newest version so that the previous one serves again; the withdrawn version
    is kept under `.rolled-back/`. Returns (withdrawn, now serving)."""
    found = versions(destination)
    if len(found) < 2:
        raise ValueError(
            f"cannot roll back {destination}: it has {len(found)} version(s), a rollback needs 2 or more")
    archive = os.path.join(destination, ROLLED_BACK)
    os.makedirs(archive, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    os.rename(os.path.join(destination, str(found[-1])), os.path.join(archive, f"{found[-1]}-{stamp}"))
    _sync_dir(destination)
    return found[-1], found[-2]


def _remove_stale_temporaries(destination: str) -> None:
    for name in os.listdir(destination):
        if name.startswith(TMP_PREFIX):
            shutil.rmtree(os.path.join(destination, name), ignore_errors=True)


def _sync_tree(root: str) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(folder)


def _sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
