"""Run a pipeline YAML on this machine with TFX's LocalDagRunner.

    python pipelines/local_runner.py                    # the bundled penguin pipeline
    python pipelines/local_runner.py --config my.yaml   # yours

Embedded defaults: SQLite ML Metadata and every artifact under one directory (runtime.root,
"runs/<name>" by default, or --root). Prints each stage as it starts and ends, then a summary.
Exit code 0: success; 1: the run failed (for example data validation); 2: bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines go nowhere useful
warnings.filterwarnings("ignore", category=FutureWarning)  # Google Cloud clients on Python 3.10

from pipelines.redaction import PrivateFileHandler, Redact, redact  # noqa: E402
from pipelines.spec import SpecError, load_spec  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "penguin" / "pipeline.yaml"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


PROGRESS_LOGGER = "tfx_yaml.progress"  # components.common.progress.LOGGER_NAME (not imported: TF-free here)
PLAN_LOGGER = "tfx_yaml.plan"  # components.common.progress.PLAN_LOGGER_NAME
QUIET_SECONDS = 2.0  # a stage's own progress lines show only once it has run this long


class StageProgress(logging.Handler):
    """Turns LocalDagRunner's "Component X is running/finished." log lines into progress lines,
    and shows the stages' own progress lines (rows/s, epochs) once a stage runs for 2 seconds."""

    def __init__(self, out=sys.stdout):
        super().__init__(logging.INFO)
        self.out, self.started, self.current = out, {}, None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
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
            print(f"[{time.strftime('%H:%M:%S')}] {stage:<17} started", file=self.out, flush=True)
        else:
            seconds = time.perf_counter() - self.started.get(stage, time.perf_counter())
            print(f"[{time.strftime('%H:%M:%S')}] {stage:<17} done in {seconds:.1f}s", file=self.out, flush=True)


def run(config: str | Path = DEFAULT_CONFIG, root: str | None = None, out=sys.stdout, wait: bool = True) -> int:
    """Load, compile and run one pipeline; returns the exit code. One run per root at a time:
    a second run waits for the first (or, with wait=False, exits 1 at once)."""
    try:
        spec = load_spec(config)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from pipelines.paths import RunPaths

    paths = RunPaths.of(spec, root)
    from pipelines import rerun

    before = rerun.fingerprint(spec, paths) if spec.runtime.enable_cache else None  # before anything is read
    if before and _unchanged(spec, paths, out, before):
        return EXIT_OK
    # TFX imports take seconds: only once the spec is good and there is work to do.
    from pipelines.compiler import compile_pipeline

    from pipelines.metadata import MetadataError

    try:
        check_writable(spec, paths)  # before compiling: TFX creates the metadata folder
        paths.store.check()
        pipeline = compile_pipeline(spec, paths)
    except (SpecError, MetadataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug of ours: one line, the traceback on request
        if os.environ.get("TFX_YAML_DEBUG"):
            raise
        print(f"error: could not build the pipeline of {config}: {type(error).__name__}: {error} "
              "(a bug: set TFX_YAML_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return EXIT_FAILED
    from pipelines.locks import RootLocked, hold_root

    try:
        with hold_root(paths.root, "tfx-yaml run", wait=wait, out=out):
            return _run_locked(spec, paths, pipeline, out, before)
    except RootLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _unchanged(spec, paths, out, stamp: str) -> bool:
    """True (after printing why) when the last successful run of this root covers this one
    (`stamp`: this run's fingerprint)."""
    from pipelines import rerun
    from pipelines.summary import run_summary

    from pipelines.metadata import MetadataError

    last = rerun.last_run(paths)
    if not last or stamp != last.get("fingerprint"):
        return False
    try:
        summary = run_summary(paths.store, last["run_id"], paths.pipeline)
    except (MetadataError, RuntimeError):  # the store is not usable: the run's own check says why
        return False
    if summary is None:
        return False
    print(f"pipeline {spec.name!r}: nothing changed since run {last['run_id']} (same spec, code, data, schema "
          "and serving versions): nothing ran, nothing was pushed. Its summary:", file=out)
    for line in summary.lines():
        print(line, file=out)
    from pipelines.report import report_path

    if os.path.exists(report_path(paths.root, last["run_id"])):  # local-only
        print(f"report: {report_path(paths.root, last['run_id'])}", file=out)
    return True


def check_writable(spec, paths) -> None:
    """The run root and a local push destination must be writable folders: found before any work."""
    from components.common import io

    problems = []
    for key, path in (("runtime.root (or --root)", paths.root), ("pusher.destination", paths.destination)):
        if io.is_remote(path):
            continue
        problem = _unwritable(path)
        if problem:
            problems.append(f"key {key!r}: {path} {problem}")
    if problems:
        raise SpecError(spec.source, problems)


def _unwritable(path: str) -> str:
    """Why a folder cannot be created or written, or ""."""
    existing = path
    while not os.path.exists(existing):  # local-only: the closest existing parent of a local folder
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):  # local-only
        return f"cannot be a folder: {existing} is a file; choose another path"
    if existing.startswith(("/proc", "/sys", "/dev")) or not os.access(existing, os.W_OK):
        return f"is not writable ({existing} is read-only for this user); choose a writable folder"
    return ""


def _run_locked(spec, paths, pipeline, out, before: str | None) -> int:
    from pipelines import rerun

    from pipelines import report

    rerun.forget(paths)
    secrets = paths.store.secrets()
    progress, log_file = _capture_logs(os.path.join(paths.root, "run.log"), out, secrets)
    where = paths.root if paths.store.sqlite else f"{paths.root}, ML Metadata at {paths.store.describe()}"
    print(f"pipeline {spec.name!r}: artifacts and ML Metadata under {where}", file=out)
    started = time.perf_counter()
    run_id = dt.datetime.now().isoformat(timespec="microseconds") + f"-pid{os.getpid()}"
    report.save_run_inputs(paths.root, run_id, spec)
    try:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner
        from tfx.orchestration.portable import runtime_parameter_utils
        from tfx.orchestration.portable.tfx_runner import _make_pipeline_proto
        from tfx.dsl.compiler import constants

        from components.common.beam import use_installed_tfx_on_direct_runner

        use_installed_tfx_on_direct_runner()
        from pipelines.compiler import runtime_parameters

        ir = _make_pipeline_proto(pipeline)
        runtime_parameter_utils.substitute_runtime_parameter(
            ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id, **runtime_parameters(paths)})
        LocalDagRunner().run_with_ir(ir)
        seconds = time.perf_counter() - started
        from pipelines.summary import run_summary

        summary = run_summary(paths.store, run_id, paths.pipeline)  # while its log lines still go to run.log
        report_line = _write_report(paths, run_id)
    except Exception as error:  # the run failed: report the cause in the user's terms
        stage = progress.current or "the pipeline"
        logging.getLogger(__name__).exception("run %s failed in %s", run_id, stage)
        message = redact(_user_message(error), secrets)  # the console, failure.txt and the report too
        print(f"\nFAILED in {stage}: {message}", file=out)
        print(f"(full log: {os.path.join(paths.root, 'run.log')})", file=out)
        print(_write_report(paths, run_id, failure=f"{stage}: {message}"), file=out)
        return EXIT_FAILED
    finally:
        for handler in (progress, log_file):
            logging.getLogger().removeHandler(handler)
        log_file.close()
    pushed = summary.serving_fingerprint if summary and summary.executions.get("Pusher") == "COMPLETE" else None
    rerun.record(paths, rerun.covered(before, paths, pushed), run_id)
    print(f"\nfinished in {seconds:.1f}s", file=out)
    for line in summary.lines() if summary else []:
        print(line, file=out)
    print(report_line, file=out)
    return EXIT_OK


def _write_report(paths, run_id: str, failure: str | None = None) -> str:
    """Write the run's HTML report; the line to print. A report that cannot be written is said,
    never a failed run."""
    from pipelines import report

    try:
        path = report.write_report(paths.root, paths.store, paths.destination, run_id, failure, paths.pipeline)
    except Exception as error:  # noqa: BLE001 (the run itself is done; say why there is no report)
        logging.getLogger(__name__).exception("report of run %s", run_id)
        return f"report: not written ({type(error).__name__}: {error}; see run.log)"
    return f"report: {path}" if path else "report: none (no stage of this run was recorded in ML Metadata)"


def _capture_logs(log_file: str, out, secrets: list[str] = ()) -> tuple[StageProgress, logging.Handler]:
    """Everything logged goes to `log_file`; the console gets only the stage progress."""
    root = logging.getLogger()
    for handler in list(root.handlers):  # absl's and basicConfig's would copy every line to the console
        root.removeHandler(handler)
    logging.getLogger("tensorflow").handlers.clear()
    root.setLevel(logging.INFO)
    file_handler = PrivateFileHandler(log_file)  # 0600: run.log is for the root's owner only
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.addFilter(Redact(list(secrets)))
    root.addHandler(file_handler)
    absl_logger = logging.getLogger("absl")
    absl_logger.setLevel(logging.INFO)
    # tf.saved_model.save raises the absl logger to WARNING mid-run, which would hide the
    # "Component X is finished." lines of every later stage: keep it at INFO.
    absl_logger.setLevel = lambda level: None  # type: ignore[method-assign]
    progress = StageProgress(out)
    root.addHandler(progress)
    return progress, file_handler


def _user_message(error: BaseException) -> str:
    """The innermost error of our own (data validation, training), else the error itself."""
    seen = error
    while seen is not None:
        if type(seen).__module__.startswith("components."):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return f"{type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="pipeline YAML (default: the penguin pipeline)")
    parser.add_argument("--root", help="directory of artifacts and metadata (default: runtime.root or runs/<name>)")
    parser.add_argument("--no-wait", action="store_true",
                        help="exit 1 at once when another run holds the root (default: wait for it)")
    args = parser.parse_args(argv)
    return run(args.config, args.root, wait=not args.no_wait)


def exit_now(code: int) -> None:
    """End the process with `code` once its output is flushed. A run is over when its summary is
    printed and everything it wrote is closed; Python's own shutdown of TensorFlow's and Beam's
    threads and modules after that takes about 2 s of a penguin run, and does nothing for the user."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
