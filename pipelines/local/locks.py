"""One run per pipeline root: every entry point that writes a root (the local runner, `tfx-yaml run`,
the scheduler's runs, rollback) holds `<root>/.run.lock` while it works.

The lock is `components.common.locks.file_lock` (an fcntl lock: a crashed run never leaves the
root locked). The file names the holder, for the message a second run prints while it waits (or,
with --no-wait, when it gives up at once).
"""

from __future__ import annotations

import contextlib
import os
import sys

from components.common.locks import Locked, file_lock
from pipelines.core.private import private_dir

LOCK_FILE = ".run.lock"


class RootLocked(RuntimeError):
    """Another process holds the pipeline root and the caller asked not to wait."""


@contextlib.contextmanager
def hold_root(root: str, purpose: str, wait: bool = True, out=sys.stderr, poll_seconds: float = 0.5):
    """Hold the root's run lock for the `with` block. Waits for the holder (saying who it is and
    since when) or, with wait=False, raises RootLocked naming it."""
    private_dir(root)  # 0700 when created: the runner's root is local (SQLite, lock, logs)
    path = os.path.join(root, LOCK_FILE)

    def waiting(holder: str) -> None:
        print(f"waiting for {root}: in use by {holder} (lock: {path})", file=out, flush=True)

    with contextlib.ExitStack() as held:
        try:
            held.enter_context(file_lock(path, purpose, wait=wait, on_wait=waiting,
                                         poll_seconds=poll_seconds))
        except Locked as locked:
            raise RootLocked(f"{root} is in use by {locked.holder}; not waiting (--no-wait). "
                             f"Run again when it has finished (lock: {path})") from None
        yield
