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
import stat
from typing import Any

from tfx.dsl.io import fileio

# re-exported: the executors' configuration key (components/common/keys.py) had its home here
from components.common.keys import CONFIG_KEY  # noqa: F401

# The one rule for local paths and URIs (file:// is local), re-exported: callers use io.is_remote, io.join
from pipelines.core.uris import is_remote, join

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


class NotARegularFile(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file is read: reading it
    would block forever (a FIFO with no writer) or never end (/dev/zero)."""


class TooLarge(OSError):
    """A file (or its first line) longer than the bound its reader states."""


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_a_regular_file(path: str) -> str:
    """What a local path is when it is not a regular file ("a FIFO (named pipe)", "a character
    device", ...; links followed), else "" (also for a missing path and for object stores, which
    hold only objects). Checked before every read of a local file."""
    if is_remote(path):
        return ""
    try:
        mode = os.stat(path.removeprefix("file://")).st_mode
    except OSError:
        return ""  # missing or unreadable: the read itself says so
    if stat.S_ISREG(mode):
        return ""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str) -> None:
    """Raise NotARegularFile, naming the path and what it is, unless it is a regular file."""
    kind = not_a_regular_file(path)
    if kind:
        raise NotARegularFile(f"{path} is {kind}, not a regular file; reading it would block or never end: "
                              "point at a regular file")


def open_file(path: str, mode: str = "r"):
    if "r" in mode:
        check_regular(path)
    return fileio.open(path, mode)


def open_stream(path: str) -> pyio.BufferedReader:
    """A binary stream of the file, for readers that want a standard Python file object (Arrow's
    CSV reader): what a GFile lacks (`closed`, `readinto`) is added here."""
    check_regular(path)
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


FIRST_LINE_BYTES = 1 << 20  # the first line (a CSV header) is read up to this many bytes
_READ_BLOCK = 1 << 16


def first_line(path: str, encoding: str, limit: int = FIRST_LINE_BYTES) -> str:
    """The first line of a text file, decoded (without a byte-order mark or the line break), read
    in blocks of 64 KiB: memory stays near `limit` whatever the file (one line of 800 MB too).
    A first line longer than `limit` bytes raises TooLarge, which states the bound. In UTF-16 the
    line break is two bytes (0x0a 0x00 little-endian), so the file is decoded as it is read and cut
    after the character; in the other encodings (ASCII-based) it is the bytes up to 0x0a or 0x0d."""
    import codecs

    utf16 = encoding.replace("_", "-").lower() in ("utf-16", "utf16")
    name = "utf-8-sig" if encoding == "utf-8" else encoding
    decoder = codecs.getincrementaldecoder("utf-16" if utf16 else name)()
    text, read, raw = "", 0, b""
    with open_file(path, "rb") as f:
        while True:
            chunk = f.read(min(_READ_BLOCK, limit + 1 - read))
            read += len(chunk)
            if utf16:
                text += decoder.decode(chunk, final=not chunk)
                done = "\n" in text or "\r" in text
            else:
                raw += chunk
                done = b"\n" in chunk or b"\r" in chunk
            if done or not chunk:
                break
            if read > limit:
                break
    if not utf16:
        cut = min((i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0), default=len(raw))
        if cut > limit:
            raise _long_first_line(path, limit)
        text = raw[:cut].decode(name)
    elif read > limit and not ("\n" in text or "\r" in text):
        raise _long_first_line(path, limit)
    text = text.lstrip("\ufeff")
    return text.splitlines()[0] if text else ""


def _long_first_line(path: str, limit: int) -> TooLarge:
    return TooLarge(f"the first line of {path} is longer than {limit:,} bytes (the bound on a header line); "
                    "is it a text file with a header line?")


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """The file's bytes; with `limit`, at most that many are read (by content, not by the size the
    file system reports: /dev/zero and /proc files report 0) and a longer file raises TooLarge."""
    with open_file(path, "rb") as f:
        if limit is None:
            return f.read()
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{path} is larger than {limit:,} bytes")
    return data


def read_text(path: str, limit: int | None = None) -> str:
    return read_bytes(path, limit).decode("utf-8")


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

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):  # a file or a link (to anything): unlink the entry itself
        _unlink(path)
        return
    # local-only: the file layer's own local remover; the fd-based walk unlinks links inside
    assert shutil.rmtree.avoids_symlink_attacks

    def gone_already(function, name, info) -> None:
        if not issubclass(info[0], FileNotFoundError):
            raise info[1]

    shutil.rmtree(path, onerror=gone_already)  # local-only: the file layer's own local remover


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
