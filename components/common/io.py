"""The one file layer of this project: every read, write and listing of an artifact URI, a data
or schema path, or a serving destination goes through here.

It is TFX's own file layer (`tfx.dsl.io.fileio`, over `tf.io.gfile`), so the same code works on a
local disk, on gs:// (TensorFlow's GCS file system), on s3:// (tensorflow-io's S3 file system,
registered on import below) and on hdfs://. Object stores have no folders and no atomic rename:
code that publishes something readers poll for (the serving directory) writes the file readers
look for last; see components/common/serving_dir.py.

Beam stages read and write through Beam's own file systems, which know the same schemes.
"""

from __future__ import annotations

import io as pyio
import json
import os
import posixpath
from typing import Any

from tfx.dsl.io import fileio

# The one rule for local paths and URIs (file:// is local), re-exported: callers use io.is_remote, io.join
from pipelines.core.uris import is_remote, join

# Executors of this project take their configuration as one JSON string parameter.
CONFIG_KEY = "config"

NotFoundError = fileio.NotFoundError


def _register_object_stores() -> None:
    """tensorflow-io brings TensorFlow's s3:// file system (TensorFlow 2.16 has none built in).
    Loading it is cheap (its libraries load lazily), and TF ops in this process (SavedModel
    save/load, TFRecord datasets, TensorBoard) then read and write s3:// too."""
    try:
        import tensorflow_io  # noqa: F401
    except ImportError:  # not installed: s3:// paths fail with TensorFlow's "scheme not implemented"
        pass


_register_object_stores()


def exists(path: str) -> bool:
    return fileio.exists(path)


def isdir(path: str) -> bool:
    return fileio.isdir(path)


def isfile(path: str) -> bool:
    return fileio.exists(path) and not fileio.isdir(path)


def makedirs(path: str) -> None:
    """Create a folder and its parents (a no-op on object stores, where folders are prefixes)."""
    if not is_remote(path):
        fileio.makedirs(path)


def listdir(path: str) -> list[str]:
    """Names in a folder (without trailing '/'); [] when it does not exist."""
    try:
        return sorted(os.fsdecode(name).rstrip("/") for name in fileio.listdir(path))
    except NotFoundError:
        return []


def glob(pattern: str) -> list[str]:
    """Files matching a glob pattern, sorted."""
    try:
        return sorted(os.fsdecode(found) for found in fileio.glob(pattern))
    except NotFoundError:
        return []


def size(path: str) -> int:
    """Bytes in the file."""
    return int(fileio.stat(path).length)


def size_and_mtime(path: str) -> tuple[int, int]:
    """Bytes in the file and its modification time in nanoseconds (0 where the store has none)."""
    stat = fileio.stat(path)
    return int(stat.length), int(getattr(stat, "mtime_nsec", 0) or 0)


def open_file(path: str, mode: str = "r"):
    return fileio.open(path, mode)


def open_stream(path: str) -> pyio.BufferedReader:
    """A binary stream of the file, for readers that want a standard Python file object (Arrow's
    CSV reader): what a GFile lacks (`closed`, `readinto`) is added here."""
    return pyio.BufferedReader(_RawGFile(fileio.open(path, "rb")), buffer_size=1 << 20)


class _RawGFile(pyio.RawIOBase):
    def __init__(self, gfile):
        self._gfile = gfile

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._gfile.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._gfile.close()
        super().close()


def first_line(path: str, encoding: str, limit: int = 1 << 20) -> str:
    """The first line of a text file, decoded (without a byte-order mark or the line break). In
    UTF-16 the line break is two bytes (0x0a 0x00 little-endian), so the file is decoded as it is
    read and cut after the character (a byte-wise readline() cuts inside it, and the line does not
    decode); in the other encodings (ASCII-based) it is the bytes up to 0x0a. At most `limit`
    bytes are read (a longer header is returned cut)."""
    import codecs

    with fileio.open(path, "rb") as f:
        if encoding.replace("_", "-").lower() not in ("utf-16", "utf16"):
            first = f.readline()[:limit]
            return first.decode("utf-8-sig" if encoding == "utf-8"
                                else encoding).lstrip("\ufeff").rstrip("\r\n")
        decoder, text, read = codecs.getincrementaldecoder("utf-16")(), "", 0
        while read < limit:
            chunk = f.read(min(1 << 12, limit - read))
            read += len(chunk)
            text += decoder.decode(chunk, final=not chunk)
            if not chunk or "\n" in text or "\r" in text:
                break
    text = text.lstrip("\ufeff")
    return text.splitlines()[0] if text else ""


def read_bytes(path: str) -> bytes:
    with fileio.open(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    makedirs(os.path.dirname(path))
    with fileio.open(path, "wb") as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=float) + "\n")


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def copy_file(source: str, target: str) -> None:
    makedirs(os.path.dirname(target))
    fileio.copy(source, target, overwrite=True)


def files_under(root: str) -> list[str]:
    """Every file under `root`, as paths relative to it, sorted."""
    found = []
    for folder, _, files in fileio.walk(root):
        relative = os.path.relpath(str(folder), root) if not is_remote(root) else \
            str(folder)[len(root.rstrip("/")):].strip("/")
        for name in files:
            name = os.fsdecode(name)
            found.append(posixpath.join(relative, name) if relative not in ("", ".") else name)
    return sorted(found)


def copytree(source: str, target: str, last: tuple[str, ...] = ()) -> None:
    """Copy every file under `source` to `target`; the files named in `last` (relative paths)
    are copied after all others, in that order."""
    files = files_under(source)
    ordered = [f for f in files if f not in last] + [f for f in last if f in files]
    for relative in ordered:
        copy_file(join(source, relative), join(target, relative))


def rmtree(path: str) -> None:
    """Remove a folder and everything under it; nothing happens when it does not exist. On a local
    disk a removal never leaves its folder: a link (to a folder or a file) is unlinked, never
    followed, at the top (`lstat`) and inside (shutil's file-descriptor walk, which unlinks links)."""
    if not is_remote(path):
        _local_rmtree(path.removeprefix("file://"))
        return
    try:
        if fileio.isdir(path):
            fileio.rmtree(path)
        elif fileio.exists(path):
            fileio.remove(path)
    except NotFoundError:
        pass


def _local_rmtree(path: str) -> None:
    import shutil
    import stat

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):  # a file or a link (to anything): unlink the entry itself
        _unlink(path)
        return
    assert shutil.rmtree.avoids_symlink_attacks  # the fd-based walk: links inside are unlinked

    def gone_already(function, name, info) -> None:
        if not issubclass(info[0], FileNotFoundError):
            raise info[1]

    shutil.rmtree(path, onerror=gone_already)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove(path: str) -> None:
    """Remove one file; a local link is unlinked, not followed."""
    if not is_remote(path):
        _unlink(path.removeprefix("file://"))
        return
    try:
        fileio.remove(path)
    except NotFoundError:
        pass


def rename(source: str, target: str, overwrite: bool = False) -> None:
    """Rename within one local file system (atomic there); not for object stores."""
    if is_remote(source):
        raise ValueError(f"no atomic rename on {source}: use copytree and write the marker file last")
    fileio.rename(source, target, overwrite=overwrite)
