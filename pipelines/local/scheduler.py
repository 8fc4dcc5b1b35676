"""Scheduled retraining on this machine: run a pipeline on a cron expression and/or whenever a
new data span appears, one run at a time, with a lock so that two schedulers cannot run the same
pipeline root at once.

    python pipelines/scheduler.py --config X.yaml [--root DIR] [--cron "0 3 * * *"] [--on-new-span]
                                  [--poll 60] [--max-runs N]

Spans are the `{SPAN}` numbers of `data.pattern` (for example "span-{SPAN}/*.csv"); each run
ingests the latest span (or the last `data.span_window` spans). What was run is kept in
`<root>/scheduler_state.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time

from pipelines.core import cron
from pipelines.core.private import private_dir
from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from pipelines.local import runner as local_runner
from pipelines.spec import PipelineSpec, SpecError, load_spec

LOCK_FILE = "scheduler.lock"
STATE_FILE = "scheduler_state.json"


class SchedulerLocked(RuntimeError):
    """Another scheduler holds the pipeline root."""


def spans(spec: PipelineSpec) -> list[int]:
    """The span numbers present under data.path, oldest first."""
    from pipelines.build.spans import spans as spans_under

    return spans_under(spec.data.path, spec.data.pattern)


class Scheduler:
    """Decides when the pipeline is due and runs it; `tick()` is one look, `serve()` the loop."""

    def __init__(self, config: str, root: str | None = None, cron_expression: str | None = None,
                 on_new_span: bool | None = None, out=sys.stdout):
        self.config, self.out = config, out
        self.spec = load_spec(config)
        from pipelines.runs.paths import RunPaths

        self.root = RunPaths.of(self.spec, root).root
        self.cron = cron_expression or self.spec.schedule.cron
        self.on_new_span = self.spec.schedule.on_new_span if on_new_span is None else on_new_span
        if self.cron:
            cron.parse(self.cron)  # bad expressions fail here, before anything runs
        if not self.cron and not self.on_new_span:
            raise SpecError(config, [("key 'schedule': nothing to schedule on; set schedule.cron and/or "
                                      "schedule.on_new_span (or pass --cron / --on-new-span)")])
        if self.on_new_span and "{SPAN}" not in (self.spec.data.pattern or ""):
            raise SpecError(config, [("key 'data.pattern': on_new_span needs a {SPAN} pattern, "
                                      "for example 'span-{SPAN}/*.csv'")])
        self._lock = None

    # -- the lock ----------------------------------------------------------------------------

    def __enter__(self) -> Scheduler:  # noqa: PYI034 (Scheduler is not subclassed)
        from components.common.locks import Locked, file_lock

        private_dir(self.root)  # 0700 when created, as a run's root: the scheduler's root is local
        path = os.path.join(self.root, LOCK_FILE)
        held = contextlib.ExitStack()
        try:
            held.enter_context(file_lock(path, "scheduler", wait=False))
        except Locked as locked:
            raise SchedulerLocked(f"another scheduler ({locked.holder}) is running on {self.root}; "
                                  f"stop it first (lock: {path})") from None
        self._lock = held
        return self

    def __exit__(self, *exc) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None

    # -- deciding and running -----------------------------------------------------------------

    def state(self) -> dict:
        from components.common import io

        path = io.join(self.root, STATE_FILE)
        if not io.exists(path):
            return {"last_span": None, "last_run": None, "runs": []}
        return io.read_json(path)

    def due(self, now: dt.datetime) -> str | None:
        """Why a run is due now, or None."""
        state = self.state()
        if self.on_new_span:
            present = spans(self.spec)
            if present and (state["last_span"] is None or present[-1] > state["last_span"]):
                return f"new span {present[-1]}"
        if self.cron:
            last = (dt.datetime.fromisoformat(state["last_run"]) if state["last_run"]
                    else now - dt.timedelta(minutes=1))
            if cron.next_time(self.cron, last) <= now:
                return f"cron {self.cron!r}"
        return None

    def tick(self, now: dt.datetime | None = None) -> int | None:
        """Run the pipeline if it is due; returns its exit code, or None when nothing was due."""
        if self._lock is None:
            raise RuntimeError("use the scheduler inside `with Scheduler(...) as scheduler:` (it holds the "
                               "lock)")
        now = now or dt.datetime.now()
        reason = self.due(now)
        if reason is None:
            return None
        present = spans(self.spec)
        print(f"[scheduler] {now.isoformat(timespec='seconds')}: running {self.spec.name!r} ({reason})",
              file=self.out, flush=True)
        code = local_runner.run(self.config, self.root, out=self.out)  # waits for other runs of the root
        state = self.state()
        state["last_run"] = now.isoformat(timespec="seconds")
        if present:
            state["last_span"] = present[-1]  # a failed span is not retried until a newer one comes
        state["runs"].append({"at": state["last_run"], "reason": reason,
                              "span": present[-1] if present else None, "exit_code": code})
        from components.common import io

        tmp = io.join(self.root, STATE_FILE + ".tmp")
        io.write_text(tmp, json.dumps(state, indent=2))
        io.rename(tmp, io.join(self.root, STATE_FILE), overwrite=True)
        return code

    def serve(self, poll_seconds: float = 60, max_runs: int | None = None) -> None:
        runs = 0
        while max_runs is None or runs < max_runs:
            if self.tick() is not None:
                runs += 1
            else:
                time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--root")
    parser.add_argument("--cron", help="five-field cron expression (default: schedule.cron)")
    parser.add_argument("--on-new-span", action="store_true", default=None,
                        help="run when a new span appears")
    parser.add_argument("--poll", type=float, default=60, help="seconds between looks (default 60)")
    parser.add_argument("--max-runs", type=int, help="stop after this many runs")
    args = parser.parse_args(argv)
    try:
        scheduler = Scheduler(args.config, args.root, args.cron, args.on_new_span)
    except (SpecError, cron.CronError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with scheduler:
            scheduler.serve(args.poll, args.max_runs)
    except SchedulerLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
