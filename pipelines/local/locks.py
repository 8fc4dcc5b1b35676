"""One run per pipeline root: every entry point that writes a root (the local runner, `tfx-yaml run`,
the scheduler's runs, rollback) holds `<root>/.run.lock` while it works.

The lock is an fcntl lock: the kernel drops it when its process ends, however it ends (kill -9
included), so a crashed run never leaves the root locked. The file names the holder, for the
message a second run prints while it waits (or, with --no-wait, when it gives up at once).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
import time

LOCK_FILE = ".run.lock"


class RootLocked(RuntimeError):
    """Another process holds the pipeline root and the caller asked not to wait."""


def _holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "another process"


@contextlib.contextmanager
def hold_root(root: str, purpose: str, wait: bool = True, out=sys.stderr, poll_seconds: float = 0.5):
    """Hold the root's run lock for the `with` block. Waits for the holder (saying who it is and
    since when) or, with wait=False, raises RootLocked naming it."""
    from pipelines.local.redaction import private_dir

    private_dir(root)  # 0700 when created: the runner's root is local (SQLite, lock, logs)
    path = os.path.join(root, LOCK_FILE)
    # local-only: an fcntl lock needs a local file descriptor
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(handle)
                if not wait:
                    raise RootLocked(f"{root} is in use by {holder}; not waiting (--no-wait). "
                                     f"Run again when it has finished (lock: {path})") from None
                if not announced:
                    print(f"waiting for {root}: in use by {holder} (lock: {path})", file=out, flush=True)
                    announced = True
                time.sleep(poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({purpose}) since {dt.datetime.now().isoformat(timespec='seconds')}")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
