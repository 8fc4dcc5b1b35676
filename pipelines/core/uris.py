"""Local paths and URIs: the one rule the spec, the runners, the file layer and the readers use.

`file://` is decided here, once: a `file://` URI names a file on this machine, so it is local
(`is_remote` is False) and `local_path` gives the plain path the standard library opens. Every
other `scheme://` (gs://, s3://, hdfs://) is remote: '/'-joined, read through the file layer.
"""

from __future__ import annotations

import os
import posixpath

LOCAL_SCHEME = "file://"


def has_scheme(path: str) -> bool:
    """True for any `scheme://...` (file:// included)."""
    return "://" in path


def is_remote(path: str) -> bool:
    """True for object-store and other non-local URIs (gs://, s3://, hdfs://...); False for local
    paths and file:// URIs."""
    return has_scheme(path) and not path.startswith(LOCAL_SCHEME)


def local_path(path: str) -> str:
    """A local path as the standard library opens it: `file:///a/b` -> `/a/b`; anything else as it is."""
    return path.removeprefix(LOCAL_SCHEME)


def join(base: str, *parts: str) -> str:
    """`os.path.join` for local paths, '/'-joined for remote URIs."""
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)
