"""The one file lock of the project: an exclusive fcntl lock on a local file, used for a pipeline
root (`pipelines/local/locks.py`), a scheduler (`pipelines/local/scheduler.py`) and a push
destination (`serving_dir.push_lock`).

The kernel drops an fcntl lock when its process ends, however it ends (kill -9 included), so a
crashed holder never leaves anything locked. The file names its holder, for the message a second
process prints while it waits or when it gives up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Callable, Iterator


class Locked(RuntimeError):
    """The lock is held by another process and the caller asked not to wait."""

    def __init__(self, path: str, holder: str):
        super().__init__(f"{path} is held by {holder}")
        self.path, self.holder = path, holder


def holder_of(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "another process"


@contextlib.contextmanager
def file_lock(path: str, purpose: str = "", wait: bool = True, on_wait: Callable[[str], None] | None = None,
              poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock on the local file `path` for the `with` block. If another process
    holds it: wait (calling `on_wait(holder)` once first) or, with wait=False, raise Locked. With a
    `purpose`, the file then says who holds it: "pid N (purpose) since T"."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  # local-only: fcntl needs a local file
    try:
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = holder_of(handle)
                if not wait:
                    raise Locked(path, holder) from None
                if on_wait and not announced:
                    on_wait(holder)
                    announced = True
                time.sleep(poll_seconds)
        if purpose:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} ({purpose}) since "
                         f"{dt.datetime.now().isoformat(timespec='seconds')}")
            handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
