"""Run a pipeline YAML on this machine with TFX's LocalDagRunner.

    python pipelines/local_runner.py                    # the bundled penguin pipeline
    python pipelines/local_runner.py --config my.yaml   # yours
    python pipelines/local_runner.py --quiet            # only the summary
    python pipelines/local_runner.py --log-level WARNING  # also the warnings (all are in run.log)

Embedded defaults: SQLite ML Metadata and every artifact under one directory (runtime.root,
"runs/<name>" by default, or --root). Prints each stage as it starts and ends, then a summary.
Exit code 0: success; 1: the run failed (for example data validation); 2: bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines go nowhere useful
warnings.filterwarnings("ignore", category=FutureWarning)  # Google Cloud clients on Python 3.10

from pipelines.core.private import PrivateFileHandler, Redact, redact
from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, RunResult
from pipelines.core.version import package_version
from pipelines.spec import SpecError, as_spec

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "penguin" / "pipeline.yaml"


PROGRESS_LOGGER = "tfx_yaml.progress"  # components.common.progress.LOGGER_NAME (not imported: TF-free here)
PLAN_LOGGER = "tfx_yaml.plan"  # components.common.progress.PLAN_LOGGER_NAME
QUIET_SECONDS = 2.0  # a stage's own progress lines show only once it has run this long


class StageProgress(logging.Handler):
    """Turns LocalDagRunner's "Component X is running/finished." log lines into progress lines,
    and shows the stages' own progress lines (rows/s, epochs) once a stage runs for 2 seconds."""

    def __init__(self, out=sys.stdout, quiet: bool = False):
        super().__init__(logging.INFO)
        self.out, self.started, self.current, self.quiet = out, {}, None, quiet

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.quiet and record.name in (PLAN_LOGGER, PROGRESS_LOGGER):
            return
        if record.name == PLAN_LOGGER:  # what was inferred and what was dropped: always shown
            print(f"[{time.strftime('%H:%M:%S')}]   {message}", file=self.out, flush=True)
            return
        if record.name == PROGRESS_LOGGER:
            if self.current and time.perf_counter() - self.started[self.current] >= QUIET_SECONDS:
                print(f"[{time.strftime('%H:%M:%S')}]   {message}", file=self.out, flush=True)
            return
        if not message.startswith("Component ") or not message.endswith((" is running.", " is finished.")):
            return
        stage = message.split(" ")[1]
        if message.endswith("running."):
            self.started[stage], self.current = time.perf_counter(), stage
            if self.quiet:
                return
            print(f"[{time.strftime('%H:%M:%S')}] {stage:<17} started", file=self.out, flush=True)
        else:
            release_freed_memory()  # before the next stage starts
            if self.quiet:
                return
            seconds = time.perf_counter() - self.started.get(stage, time.perf_counter())
            print(f"[{time.strftime('%H:%M:%S')}] {stage:<17} done in {seconds:.1f}s", file=self.out,
                  flush=True)


def release_freed_memory() -> None:
    """Hands what the stage that just finished freed back to the operating system. Every stage
    runs in this one process, and glibc's malloc and Arrow's memory pool keep freed memory for
    later allocations (after the Evaluator of 10M rows, benchmarks/scale.py's, 0.11 GB of them),
    which the next stage's own peak then sits on. A few milliseconds; nothing without glibc."""
    import ctypes

    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only (not macOS, not musl)
    if trim is not None:
        trim(0)


def run(config=DEFAULT_CONFIG, root: str | None = None, out=sys.stdout, wait: bool = True,
        log_level: int | str | None = None, quiet: bool = False) -> int:
    """Load, compile and run one pipeline; returns the exit code. One run per root at a time:
    a second run waits for the first (or, with wait=False, exits 1 at once). `config`: a path or a
    PipelineSpec. The Python API (pipelines.api.run) returns the whole RunResult."""
    result = execute(config, root, out=out, wait=wait, log_level=log_level, quiet=quiet, own_console=True)
    return result.exit_code


def execute(config=DEFAULT_CONFIG, root: str | None = None, out=None, wait: bool = True,
            log_level: int | str | None = None, quiet: bool = False, own_console: bool = False):
    """run(), returning a pipelines.api.RunResult. `own_console`: this process is the command
    line's, so the handlers already on the root logger (absl's, basicConfig's) are set aside for the
    run (they would copy every line to the console); otherwise (the API) they stay and get only
    what they got before the run."""
    out = out if out is not None else sys.stdout

    def bad_input(error: Exception) -> RunResult:
        print(f"error: {error}", file=sys.stderr)
        return RunResult(status="bad_input", exit_code=EXIT_BAD_INPUT, error=str(error))

    try:
        spec = as_spec(config)
    except SpecError as error:
        return bad_input(error)
    from pipelines.runs.paths import RunPaths

    paths = RunPaths.of(spec, root)
    from pipelines.local import rerun

    before = rerun.fingerprint(spec, paths) if spec.runtime.enable_cache else None  # before anything is read
    if before:
        unchanged = _unchanged(spec, paths, out, before)
        if unchanged:
            return unchanged
    from pipelines.runs.metadata import MetadataError, check_sqlite

    if paths.store.sqlite:  # a damaged or read-only store is said at once, before seconds of imports
        try:
            check_sqlite(paths.store.sqlite, write=True)
        except MetadataError as error:
            return bad_input(error)
    # TFX imports take seconds: only once the spec is good and there is work to do.
    from pipelines.build.compiler import compile_pipeline
    from pipelines.build.preflight import preflight

    try:
        findings = preflight(spec, paths)  # before compiling: TFX creates the metadata folder
        pipeline = compile_pipeline(spec, paths, findings=findings)
    except (SpecError, MetadataError) as error:
        return bad_input(error)
    except Exception as error:  # a bug of ours: one line, the traceback on request
        if os.environ.get("TFX_YAML_DEBUG"):
            raise
        message = (f"could not build the pipeline of {spec.source}: {type(error).__name__}: {error} "
                   "(a bug: set TFX_YAML_DEBUG=1 for the traceback and report it)")
        print(f"error: {message}", file=sys.stderr)
        return RunResult(status="failed", exit_code=EXIT_FAILED, root=paths.root, error=message)
    from pipelines.local.locks import RootLocked, hold_root

    console = Console(out, log_level, quiet, own_console)
    try:
        with hold_root(paths.root, "tfx-yaml run", wait=wait, out=out):
            return _run_locked(spec, paths, pipeline, console, before)
    except RootLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return RunResult(status="failed", exit_code=EXIT_FAILED, root=paths.root, error=str(error))
    except OSError as error:  # the root's lock file (a full disk): the run never started
        message = f"could not start the run in {paths.root}: {_user_message(error)}"
        print(f"error: {message}", file=sys.stderr)
        return RunResult(status="failed", exit_code=EXIT_FAILED, root=paths.root, error=message)


def _unchanged(spec, paths, out, stamp: str):
    """The RunResult of the last successful run of this root (after printing why) when it covers
    this one (`stamp`: this run's fingerprint); None otherwise."""
    from pipelines.local import rerun
    from pipelines.runs.summary import run_summary

    last = rerun.last_run(paths)
    if not last or stamp != last.get("fingerprint"):
        return None
    try:
        summary = run_summary(paths.store, last["run_id"], paths.pipeline)
        lines = summary.lines() if summary is not None else None
    except Exception:  # noqa: BLE001 (the store or a file is not usable: the run itself says why)
        return None
    if summary is None:
        return None
    print(f"pipeline {spec.name!r}: nothing changed since run {last['run_id']} (same spec, code, data, "
          "schema and serving versions): nothing ran, nothing was pushed. Its summary:", file=out)
    for line in lines:
        print(line, file=out)
    from pipelines.runs.report import report_path

    report = report_path(paths.root, last["run_id"])
    report = report if os.path.exists(report) else None  # local-only
    if report:
        print(f"report: {report}", file=out)
    return RunResult.of_summary("unchanged", summary, paths.root, report)


class StageNotDone(Exception):
    """The pipeline returned, but ML Metadata does not record every stage as done (a stage failed
    to record its outcome, or the store was damaged during the run)."""

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


def _run_locked(spec, paths, pipeline, console: Console, before: str | None):
    """The run under the root's lock. Everything that can fail (run.log, the spec kept beside the
    report, the pipeline, reading its outcome back, the report, the fast path's record) is inside
    the error handling: a run ends with its summary, or with FAILED and the cause, never with a
    traceback; a failed stage is exit 1 and never recorded as covered."""
    from pipelines.local import rerun
    from pipelines.runs import report

    out = console.out
    secrets = paths.store.secrets()
    where = paths.root if paths.store.sqlite else f"{paths.root}, ML Metadata at {paths.store.describe()}"
    run_id = dt.datetime.now().isoformat(timespec="microseconds") + f"-pid{os.getpid()}"
    log_path = os.path.join(paths.root, "run.log")
    outcome = None  # a failed RunResult, or (summary, seconds, report line, report file)
    progress = None
    try:
        rerun.forget(paths)
        with captured_logs(log_path, console, secrets) as progress:
            if not console.quiet:
                print(f"pipeline {spec.name!r}: artifacts and ML Metadata under {where}", file=out)
            started = time.perf_counter()
            try:
                report.save_run_inputs(paths.root, run_id, spec)
                from tfx.dsl.compiler import constants
                from tfx.orchestration.local.local_dag_runner import LocalDagRunner
                from tfx.orchestration.portable import runtime_parameter_utils
                from tfx.orchestration.portable.tfx_runner import _make_pipeline_proto

                from components.common.beam import use_installed_tfx_on_direct_runner

                use_installed_tfx_on_direct_runner()
                from pipelines.build.compiler import runtime_parameters

                ir = _make_pipeline_proto(pipeline)
                runtime_parameter_utils.substitute_runtime_parameter(
                    ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id, **runtime_parameters(paths)})
                LocalDagRunner().run_with_ir(ir)
                seconds = time.perf_counter() - started
                from pipelines.runs.summary import run_summary

                # while its log lines still go to run.log
                summary = run_summary(paths.store, run_id, paths.pipeline)
                _check_done(summary, run_id)
                report_line, report_file = _write_report(paths, run_id)
                outcome = (summary, seconds, report_line, report_file)
            except Exception as error:  # noqa: BLE001 (the run failed: the cause in the user's terms)
                outcome = _failed(error, paths, run_id, progress, secrets, out)
    except Exception as error:  # noqa: BLE001 (outside the stages: run.log, the root; said in one line)
        if outcome is None:
            outcome = _failed(error, paths, run_id, progress, secrets, out, logged=False)
        else:
            print(f"warning: {log_path} could not be completed ({_user_message(error)})", file=out)
    if not isinstance(outcome, tuple):
        return outcome
    summary, seconds, report_line, report_file = outcome
    pushed = summary.serving_fingerprint if summary.executions.get("Pusher") == "COMPLETE" else None
    try:
        rerun.record(paths, rerun.covered(before, paths, pushed), run_id)
    except Exception as error:  # noqa: BLE001 (the next run runs the pipeline again instead of the fast path: said)
        print(f"warning: could not record what this run covered ({_user_message(error)}); the next run of "
              "this root runs the pipeline again", file=out)
    print(f"\nfinished in {seconds:.1f}s", file=out)
    try:
        lines = summary.lines()
    except Exception as error:  # noqa: BLE001 (every stage is recorded complete: the run stands, said in one line)
        lines = [(f"run {run_id}: the summary could not be read ({_user_message(error)}); `tfx-yaml runs` "
                  "and the report show the run")]
    for line in lines:
        print(line, file=out)
    print(report_line, file=out)
    result = RunResult.of_summary("succeeded", summary, paths.root, report_file)
    result.run_id = run_id
    return result


def _check_done(summary, run_id: str) -> None:
    """Raise StageNotDone unless ML Metadata records every stage of run `run_id` as complete or
    cached: a stage that failed without the pipeline raising (its record could not be written,
    the store was damaged under it) is a failed run, never a success."""
    if summary is None:
        raise StageNotDone("the pipeline", f"no stage of run {run_id} is recorded in ML Metadata")
    for stage, state in summary.executions.items():
        if state not in ("COMPLETE", "CACHED"):
            raise StageNotDone(stage, f"ML Metadata records {stage} as {state.lower()}, not complete; see "
                                      "run.log")


def _failed(error: Exception, paths, run_id: str, progress, secrets, out, logged: bool = True):
    """The failed run's RunResult, after printing the cause, what it published anyway (a version
    whose record in ML Metadata failed still serves: said, and in the RunResult) and the report."""
    from pipelines.runs.summary import published_by

    stage = (error.stage if isinstance(error, StageNotDone)
             else getattr(progress, "current", None) or "the pipeline")
    if logged:  # into run.log; outside it (run.log itself failed) a traceback would reach the console
        logging.getLogger(__name__).exception("run %s failed in %s", run_id, stage)
    message = redact(_user_message(error), secrets)  # the console, failure.txt and the report too
    print(f"\nFAILED in {stage}: {message}", file=out)
    published = published_by(paths.destination, run_id)
    for version, path in published:
        print(f"published: version {version} ({path}) was pushed by this run and is complete; only what "
              "came after the push failed. `tfx-yaml runs` lists it (from its push_metadata.json)", file=out)
    if logged:
        print(f"(full log: {os.path.join(paths.root, 'run.log')})", file=out)
    report_line, report_file = _write_report(paths, run_id, failure=f"{stage}: {message}", logged=logged)
    print(report_line, file=out)
    result = RunResult(status="failed", exit_code=EXIT_FAILED, run_id=run_id, root=paths.root,
                       report=report_file, error=f"{stage}: {message}")
    if published:
        result.pushed_version, result.pushed_to = published[-1]
    return result


def _write_report(paths, run_id: str, failure: str | None = None,
                  logged: bool = True) -> tuple[str, str | None]:
    """Write the run's HTML report; (the line to print, its path or None). A report that cannot
    be written is said, never a failed run."""
    from pipelines.runs import report

    try:
        path = report.write_report(paths.root, paths.store, paths.destination, run_id, failure,
                                   paths.pipeline)
    except Exception as error:
        if logged:  # into run.log (see _failed)
            logging.getLogger(__name__).exception("report of run %s", run_id)
        return f"report: not written ({type(error).__name__}: {error}; see run.log)", None
    if not path:
        return "report: none (no stage of this run was recorded in ML Metadata)", None
    return f"report: {path}", path


@dataclasses.dataclass
class Console:
    """What a run shows on `out`: the stages' progress unless `quiet`; log records at `log_level`
    and above when set. `own_console`: see execute()."""

    out: Any
    log_level: int | str | None = None
    quiet: bool = False
    own_console: bool = False


# Loggers whose handlers and levels a run changes and puts back: the root's, absl's (TFX logs
# through it) and TensorFlow's (it adds a handler of its own when the root logger has none).
TOUCHED_LOGGERS = ("", "absl", "tensorflow")


class _AtLeast(logging.Filter):
    """Lets through what a handler of the caller would have received before the run raised the
    root logger to INFO."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


@contextlib.contextmanager
def captured_logs(log_file: str, console: Console, secrets: list[str] = ()):
    """For the run: everything logged goes to `log_file` (0600, redacted); the console gets the
    stage progress (yields the StageProgress handler). After it, the loggers' handlers, levels and
    absl's setLevel are as they were: a notebook or a program keeps its logging."""
    loggers = [logging.getLogger(name) for name in TOUCHED_LOGGERS]
    saved = [(logger, list(logger.handlers), logger.level) for logger in loggers]
    root, absl_logger, tf_logger = loggers
    absl_set_level = absl_logger.__dict__.get("setLevel")  # an instance attribute: a run already inside
    previous_level = root.getEffectiveLevel()
    set_aside = list(root.handlers) + list(tf_logger.handlers)
    filters = []
    if console.own_console:  # the command line: absl's and basicConfig's would copy every line to the console
        for logger in (root, tf_logger):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
    else:  # the caller's handlers get what they got before, not TFX's INFO lines
        for handler in set_aside:
            handler.addFilter(at_least := _AtLeast(previous_level))
            filters.append((handler, at_least))
    root.setLevel(logging.INFO)
    file_handler = RunLog(log_file, console.out)  # 0600: run.log is for the root's owner only
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.addFilter(Redact(list(secrets)))
    progress = StageProgress(console.out, quiet=console.quiet)
    ours = [file_handler, progress]
    if console.log_level is not None:
        shown = logging.StreamHandler(console.out)
        shown.setLevel(console.log_level)
        shown.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        shown.addFilter(Redact(list(secrets)))
        ours.append(shown)
    for handler in ours:
        root.addHandler(handler)
    absl_logger.setLevel(logging.INFO)
    # tf.saved_model.save raises the absl logger to WARNING mid-run, which would hide the
    # "Component X is finished." lines of every later stage: keep it at INFO for the run.
    absl_logger.setLevel = lambda level: None  # type: ignore[method-assign]
    try:
        yield progress
    finally:
        if absl_set_level is None:
            del absl_logger.setLevel
        else:
            absl_logger.setLevel = absl_set_level  # type: ignore[method-assign]
        for logger, handlers, level in saved:  # what the run added (ours, TFX's, absl's) goes
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            for handler in handlers:
                logger.addHandler(handler)
            logger.setLevel(level)
        for handler, at_least in filters:
            handler.removeFilter(at_least)
        file_handler.close()


class RunLog(PrivateFileHandler):
    """run.log (0600). A write that fails (a full disk) is said once on the console, and the lines
    after it are dropped, instead of logging's `--- Logging error ---` and a traceback per line
    (hundreds in a run); closing a file that cannot be flushed never ends the run."""

    def __init__(self, path: str, out):
        self.out, self.failed = out, None
        super().__init__(path)

    def handleError(self, record: logging.LogRecord) -> None:
        self._fail(sys.exc_info()[1])

    def _fail(self, error: BaseException | None) -> None:
        if self.failed is None:
            self.failed = error or OSError("unknown error")
            with contextlib.suppress(Exception):
                print(f"warning: cannot write {self.baseFilename} ({_user_message(self.failed)}); its later "
                      "lines are dropped", file=self.out, flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed is None:
            super().emit(record)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self._fail(error)

    def close(self) -> None:
        try:
            super().close()
        except OSError as error:
            self._fail(error)


def _user_message(error: BaseException) -> str:
    """The innermost error of our own (data validation, training), else the error itself."""
    seen = error
    while seen is not None:
        if type(seen).__module__.startswith("components."):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    full = _no_space(error)
    if full is not None:
        where = f" ({full.filename})" if full.filename else ""
        return f"no space left on the device{where}: free space, then run again"
    return f"{type(error).__name__}: {error}"


def _no_space(error: BaseException) -> OSError | None:
    """The OSError 'No space left on device' among `error` and its causes, or None."""
    import errno

    seen, hops = error, 0
    while seen is not None and hops < 20:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return seen
        if "No space left on device" in str(seen) or "database or disk is full" in str(seen):
            return OSError(errno.ENOSPC, "No space left on device")
        seen, hops = seen.__cause__ or seen.__context__, hops + 1
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="pipeline YAML (default: the penguin pipeline)")
    parser.add_argument("--root",
                        help="directory of artifacts and metadata (default: runtime.root or runs/<name>)")
    parser.add_argument("--no-wait", action="store_true",
                        help="exit 1 at once when another run holds the root (default: wait for it)")
    add_console_flags(parser)
    args = parser.parse_args(argv)
    return run(args.config, args.root, wait=not args.no_wait, log_level=args.log_level, quiet=args.quiet)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_console_flags(parser: argparse.ArgumentParser, version: bool = True) -> None:
    """--log-level and --quiet (a run's console), --version."""
    if version:
        parser.add_argument("--version", action="version", version=f"tfx-yaml-pipelines {package_version()}")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                        help="also show log records at this level and above (default: none; all are in "
                             "<root>/run.log)")
    parser.add_argument("--quiet", action="store_true",
                        help="show only the summary, not the stages' progress")


def exit_now(code: int) -> None:
    """End the process with `code` once its output is flushed. A run is over when its summary is
    printed and everything it wrote is closed; Python's own shutdown of TensorFlow's and Beam's
    threads and modules after that takes about 2 s of a penguin run, and does nothing for the user."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    remove_autograph_files()
    os._exit(code)


def remove_autograph_files() -> None:
    """TensorFlow's AutoGraph writes each function it converts to <temp>/__autograph_generated_file*.py
    and removes them at interpreter exit (atexit), which os._exit skips: remove this process's own
    (the files of the modules it loaded from them), so that a run leaves nothing in the temp folder."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) if name.startswith("__autograph_generated_file") else None
        if path:
            with contextlib.suppress(OSError):
                os.remove(path)  # local-only: this process's temporary file


if __name__ == "__main__":
    exit_now(main())
