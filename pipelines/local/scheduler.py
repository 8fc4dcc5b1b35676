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

from components.common.locks import Locked, file_lock
from pipelines.core import cron
from pipelines.core.private import private_dir
from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from pipelines.local import runner as local_runner
from pipelines.runs.paths import RunPaths
from pipelines.spec import PipelineSpec, SpecError, load_spec

LOCK_FILE = "scheduler.lock"
STATE_FILE = "scheduler_state.json"
MAX_ATTEMPTS = 3  # runs of one span that fail for a reason outside its data, before it waits for a newer one
RETRY_AFTER_SECONDS = 300  # before the 2nd run, twice that before the 3rd


class SchedulerLocked(RuntimeError):
    """Another scheduler holds the pipeline root."""


def spans(spec: PipelineSpec) -> list[int]:
    """The span numbers present under data.path, oldest first."""
    from pipelines.build.spans import spans as spans_under  # deferred: it imports TFX (seconds)

    return spans_under(spec.data.path, spec.data.pattern)


class Scheduler:
    """Decides when the pipeline is due and runs it; `tick()` is one look, `serve()` the loop."""

    def __init__(self, config: str, root: str | None = None, cron_expression: str | None = None,
                 on_new_span: bool | None = None, out=sys.stdout):
        self.config, self.out = config, out
        self.spec = load_spec(config)
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
        self._unsaved: dict | None = None  # the state while its file cannot be written

    # -- the lock ----------------------------------------------------------------------------

    def __enter__(self) -> Scheduler:  # noqa: PYI034 (Scheduler is not subclassed)
        private_dir(self.root)  # 0700 when created, as a run's root: the scheduler's root is local
        path = os.path.join(self.root, LOCK_FILE)
        held = contextlib.ExitStack()
        try:
            held.enter_context(file_lock(path, "scheduler", wait=False))
        except Locked as locked:
            raise SchedulerLocked(f"another scheduler ({locked.holder}) is running on {self.root}; "
                                  f"stop it first (lock: {path})") from None
        self._lock = held
        with contextlib.suppress(Exception):  # a restart retries a span that used up its attempts
            state = self.state()
            if state.get("retry") and state["retry"].get("attempts", 0) >= MAX_ATTEMPTS:
                state["retry"] = None
                self._save(state)
        return self

    def __exit__(self, *exc) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None

    # -- deciding and running -----------------------------------------------------------------

    def state(self) -> dict:
        """The scheduler's record (scheduler_state.json); the one kept in memory while the file
        cannot be written (a full disk), so that what ran is not run again."""
        from components.common import io  # deferred: the file layer imports TFX (seconds)

        if self._unsaved is not None:
            return json.loads(json.dumps(self._unsaved))
        path = io.join(self.root, STATE_FILE)
        state = io.read_json(path) if io.exists(path) else {}
        return {"last_span": None, "last_run": None, "runs": [], "retry": None, **state}

    def _save(self, state: dict) -> None:
        """Write the record atomically; on failure keep it in memory and say so in one line (the next
        look writes it again)."""
        from components.common import io  # deferred: the file layer imports TFX (seconds)

        tmp = io.join(self.root, STATE_FILE + ".tmp")
        try:
            io.write_text(tmp, json.dumps(state, indent=2))
            io.rename(tmp, io.join(self.root, STATE_FILE), overwrite=True)
            self._unsaved = None
        except Exception as error:  # noqa: BLE001 (a full disk, a read-only root: the schedule goes on)
            with contextlib.suppress(Exception):
                io.remove(tmp)
            if self._unsaved is None:
                self._say(f"cannot write {io.join(self.root, STATE_FILE)} ({_one_line(error)}); kept in "
                          "memory until it can be written")
            self._unsaved = state

    def _say(self, message: str, now: dt.datetime | None = None) -> None:
        stamp = (now or dt.datetime.now()).isoformat(timespec="seconds")
        with contextlib.suppress(Exception):  # the console itself gone: the schedule goes on
            print(f"[scheduler] {stamp}: {message}", file=self.out, flush=True)

    def due(self, now: dt.datetime) -> str | None:
        """Why a run is due now, or None. A span (or a cron run) whose run failed for a reason
        outside its data is due again after RETRY_AFTER_SECONDS (at most MAX_ATTEMPTS runs in
        all); a newer span replaces it."""
        state = self.state()
        retry = state.get("retry")
        present = spans(self.spec) if self.on_new_span else []
        if retry and present and retry.get("span") is not None and present[-1] > retry["span"]:
            retry = None  # a newer span: that run ingests it
        if retry and retry["attempts"] < MAX_ATTEMPTS and dt.datetime.fromisoformat(retry["after"]) <= now:
            what = f"span {retry['span']}" if retry.get("span") is not None else "the failed run"
            return f"retry of {what}, attempt {retry['attempts'] + 1} of {MAX_ATTEMPTS}"
        new = present and (state["last_span"] is None or present[-1] > state["last_span"])
        if new and not (retry and retry.get("span") == present[-1]):
            return f"new span {present[-1]}"
        if self.cron:
            last = (dt.datetime.fromisoformat(state["last_run"]) if state["last_run"]
                    else now - dt.timedelta(minutes=1))
            if cron.next_time(self.cron, last) <= now:
                return f"cron {self.cron!r}"
        return None

    def tick(self, now: dt.datetime | None = None) -> int | None:
        """Run the pipeline if it is due; returns its exit code, or None when nothing was due. A
        run's failure never ends the scheduler: it is said in one line, and the span is marked
        done (`last_span`) only when the run succeeded or failed on what the span's data holds."""
        if self._lock is None:
            raise RuntimeError("use the scheduler inside `with Scheduler(...) as scheduler:` (it holds the "
                               "lock)")
        now = now or dt.datetime.now()
        reason = self.due(now)
        if reason is None:
            return None
        present = spans(self.spec) if self.on_new_span else []
        span = present[-1] if present else None
        self._say(f"running {self.spec.name!r} ({reason})", now)
        try:  # waits for other runs of the root
            result = local_runner.execute(self.config, self.root, out=self.out, own_console=True)
            code, error = result.exit_code, result.error
        except Exception as failure:  # noqa: BLE001 (a bug or the machine: said, and the schedule goes on)
            code, error = EXIT_FAILED, f"the run ended with {_one_line(failure)}"
        state = self.state()
        state["last_run"] = now.isoformat(timespec="seconds")
        retry = state.get("retry") or {}
        if retry.get("span") != span:
            retry = {}
        data_failure = code != EXIT_OK and failed_on_data(code, error)
        if code == EXIT_OK or data_failure:
            if span is not None:
                state["last_span"] = span
            state["retry"] = None
            if data_failure:
                what = f"span {span}'s data" if span is not None else "its data"
                self._say(f"run failed (exit {code}) on {what}: {_one_line(error)[:300]}; not retried (a "
                          "newer span runs)", now)
        else:
            attempts = retry.get("attempts", 0) + 1
            after = now + dt.timedelta(seconds=RETRY_AFTER_SECONDS * attempts)
            state["retry"] = {"span": span, "attempts": attempts, "error": _one_line(error)[:500],
                              "after": after.isoformat(timespec="seconds")}
            what = f"span {span}" if span is not None else "the run"
            then = (f"retried at {after.strftime('%H:%M:%S')} (attempt {attempts + 1} of {MAX_ATTEMPTS})"
                    if attempts < MAX_ATTEMPTS else
                    f"not retried again: {MAX_ATTEMPTS} runs failed; it runs when a newer span arrives or "
                    "the scheduler restarts")
            self._say(f"run failed (exit {code}) for a reason outside its data: {_one_line(error)[:300]}; "
                      f"{what} is not marked done, {then}", now)
        state["runs"].append({"at": state["last_run"], "reason": reason, "span": span, "exit_code": code,
                              **({"error": _one_line(error)[:500]} if code != EXIT_OK else {})})
        self._save(state)
        return code

    def serve(self, poll_seconds: float = 60, max_runs: int | None = None) -> None:
        """Look every `poll_seconds`; stop after `max_runs` runs (None: never). Nothing a run or
        a look does ends it (a full disk, a damaged store or model, a bug): each is one line."""
        runs = 0
        while max_runs is None or runs < max_runs:
            try:
                ran = self.tick() is not None
            except Exception as error:  # noqa: BLE001 (the look itself failed: said; the next look comes)
                self._say(f"the look failed ({_one_line(error)[:300]}); next look in {poll_seconds:g}s")
                ran = False
            if ran:
                runs += 1
            else:
                time.sleep(poll_seconds)


# The stages whose failure (other than the machine's: a full disk, permissions, the store) is what
# the span's data holds: a run of the same data fails the same way, so it is not retried.
DATA_STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate", "Batching")
NOT_THE_DATA = ("no space left", "read-only", "permission denied", "not writable", "errno", "ml metadata",
                "metadata storage", "database", "killed", "memoryerror",
                "the serving directory stopped the run")  # components.common.serving_dir.NOT_THE_DATA


def failed_on_data(code: int, error: str | None) -> bool:
    """Whether a failed run (exit `code`, RunResult.error "Stage: message") failed on its data (or
    its spec: exit 2), so that running the same span again would fail again. Everything else (the
    Trainer, the Evaluator, a damaged serving model, the Pusher, a full disk, the metadata store)
    is retried, at most MAX_ATTEMPTS runs."""
    text = (error or "").lower()
    if any(marker in text for marker in NOT_THE_DATA):
        return False
    if code == EXIT_BAD_INPUT:
        return True
    stage = (error or "").split(":", 1)[0].strip()
    return stage in DATA_STAGES


def _one_line(error) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return " ".join(str(text or "").split())


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`prog`: the command as the user typed it, for --help and errors ("tfx-yaml compile")."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
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
