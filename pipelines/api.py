"""The Python API: run, check and compile a pipeline from a notebook or a program.

    from pipelines import run, check, compile

    result = run("my.yaml", root="runs/mine")   # or a PipelineSpec from load_spec/parse_spec
    result.exit_code, result.metrics["accuracy"], result.blessed, result.pushed_version, result.report

`run` prints the stages as `python pipelines/local_runner.py` does (to `out`, sys.stdout by
default) and leaves the caller's logging as it found it: its handlers are added for the run and
removed after, and every level it changes is restored. Importing this module imports no TensorFlow:
each function imports the layer it calls when called (deferred on purpose: the runners change the
process's environment on import, and TFX, TensorFlow and ML Metadata take seconds), and the
results, exit codes and version come from the core (pipelines/core), which imports nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, RunResult
from pipelines.core.version import package_version

if TYPE_CHECKING:
    from pipelines.spec import PipelineSpec

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "RunResult", "card", "check", "compile",
           "freeze_schema", "history", "load", "predict", "report", "rollback", "run", "version"]


def run(spec_or_path: PipelineSpec | str | Path, root: str | None = None, wait: bool = True, out: Any = None,
        log_level: int | str | None = None, quiet: bool = False) -> RunResult:
    """Load (a path), check, compile and run one pipeline with LocalDagRunner; never raises for a
    bad spec or a failed run (see RunResult.status and .error). `root`: the run root (default
    runtime.root, else runs/<name>). `wait`: wait for another run of the root (False: fail at
    once). `out`: where progress and the summary go (default sys.stdout). `log_level`: log records
    at this level and above also go to `out` (default: none; everything is in <root>/run.log).
    `quiet`: only the summary."""
    from pipelines.local import runner as local_runner

    return local_runner.execute(spec_or_path, root, out=out, wait=wait, log_level=log_level, quiet=quiet)


def check(spec_or_path: PipelineSpec | str | Path, root: str | None = None) -> list[str]:
    """Every check `run` makes before it starts (the spec, the data files, the schema, the label
    against the task, the Beam arguments, the root and destination), running and writing nothing.
    Raises SpecError (or MetadataError for the metadata server) naming each problem; returns the
    plan: what was inferred from the data (the task and why), one line each."""
    from pipelines.build.preflight import preflight
    from pipelines.runs.paths import RunPaths

    spec = load(spec_or_path)
    return preflight(spec, RunPaths.of(spec, root)).plan


def compile(spec_or_path: PipelineSpec | str | Path, output: str,
            pipeline_root: str | None = None) -> dict:
    """Compile for Kubeflow Pipelines v2: write the spec to `output` (.yaml for KFP, .json for a
    Vertex AI PipelineJob) and return the job. Raises SpecError (pipeline_root missing, ...)."""
    from pipelines.kubeflow import runner as kubeflow_runner

    return kubeflow_runner.compile_to_file(load(spec_or_path), str(output), pipeline_root)


def rollback(spec_or_path: PipelineSpec | str | Path, root: str | None = None,
             wait: bool = True, version: int | None = None, out: Any = None) -> tuple[int, int | None]:
    """Withdraw the newest pushed version of the pipeline's destination, for good; returns
    (withdrawn, serving now or None). Holds the root's lock and the destination's push lock.
    `version`: withdraw exactly that version, refused (ValueError) when it is not the newest once
    the locks are held. Without it, the newest version is read first, named on `out` (when given)
    before waiting for the locks, and the rollback is refused if a run pushed another meanwhile.
    Raises ValueError (no such version, nothing to roll back to, no longer the newest) or
    RootLocked (wait=False and a run holds the root)."""
    from components.common import serving_dir
    from pipelines.local.locks import hold_root
    from pipelines.runs.paths import RunPaths

    spec = load(spec_or_path)
    paths = RunPaths.of(spec, root)
    if version is None:
        found = serving_dir.versions(paths.destination)
        if not found:
            raise ValueError(f"cannot roll back {paths.destination}: it has no version")
        version = found[-1]
        if out is not None:
            print(f"withdrawing version {version} of {paths.destination} (the newest now; refused if a run "
                  "pushes another before the lock is free)", file=out, flush=True)
    with hold_root(paths.root, "tfx-yaml rollback", wait=wait), serving_dir.push_lock(paths.destination):
        return serving_dir.rollback(paths.destination, version)


def history(spec_or_path: PipelineSpec | str | Path, root: str | None = None) -> list[dict]:
    """The pipeline's runs recorded in its ML Metadata store, newest first (a store may hold
    several pipelines: only this one's)."""
    from pipelines.runs.paths import RunPaths
    from pipelines.runs.summary import run_history

    spec = load(spec_or_path)
    return run_history(RunPaths.of(spec, root).store, spec.name)


def report(spec_or_path: PipelineSpec | str | Path, root: str | None = None,
           run_id: str | None = None) -> str | None:
    """Write the HTML report of run `run_id` (default: the newest); returns its path, or None when
    the store has no such run. Raises MetadataError when the store cannot be read."""
    from pipelines.runs import report as reports
    from pipelines.runs.paths import RunPaths

    spec = load(spec_or_path)
    paths = RunPaths.of(spec, root)
    return reports.write_report(paths.root, paths.store, paths.destination, run_id, pipeline=spec.name)


def freeze_schema(spec_or_path: PipelineSpec | str | Path, root: str | None = None,
                  output: str | None = None) -> tuple[str, str]:
    """Copy the schema the pipeline validates against (the serving model's, else the newest one a
    run of it made) to `output` (default schemas/<name>/schema.pbtxt beside the spec's YAML file, where
    `schema.path: schemas/<name>/schema.pbtxt` finds it), for curation as
    `schema.path`; returns (written, source). Raises FileNotFoundError when there is none yet."""
    from components.common import io
    from components.schema_gen.executor import serving_schema
    from pipelines.runs.lineage import newest_schema
    from pipelines.runs.paths import RunPaths

    spec = load(spec_or_path)
    paths = RunPaths.of(spec, root)
    source = serving_schema(paths.destination) or newest_schema(paths.store, spec.name)
    if source is None:
        raise FileNotFoundError(
            f"no schema to freeze for {spec.name!r}: no model serves at {paths.destination} and no run of it "
            f"recorded in {paths.store.describe()} made a schema; run the pipeline first")
    target = output or default_schema_target(spec)
    io.copy_file(source, target)
    return target, source


def card(spec_or_path: PipelineSpec | str | Path, root: str | None = None,
         version: int | None = None) -> tuple[str, dict]:
    """(the HTML card's path, the card's JSON) of a pushed version (default: the one serving); as
    `tfx-yaml card`. ValueError when there is no such version, FileNotFoundError when it has no card."""
    from pipelines import after_push

    return after_push.card(load(spec_or_path), root, version)


def predict(spec_or_path: PipelineSpec | str | Path, data: str, output: str, root: str | None = None,
            version: int | None = None, keep: list[str] | None = None, skip_bad_rows: bool = False,
            out: Any = None) -> dict:
    """Score `data` with a pushed version (default: the one serving) into `output`; as
    `tfx-yaml predict`. Returns the counts, the version and the drift found (pipelines/predictions.py)."""
    from pipelines import predictions

    return predictions.predict(load(spec_or_path), data, output, root=root, version=version, keep=keep,
                               skip_bad_rows=skip_bad_rows, out=out)


def default_schema_target(spec: PipelineSpec) -> str:
    """Where `freeze_schema` writes without `output`: schemas/<name>/schema.pbtxt in the spec's
    folder (a relative schema.path is read from there), not under the current folder; the current
    folder only for a spec that was never a file."""
    is_file = os.path.isfile(spec.source)  # local-only: a spec is a file on this machine
    folder = Path(spec.source).resolve().parent if is_file else Path.cwd()
    return str(folder / "schemas" / spec.name / "schema.pbtxt")


def load(spec_or_path: PipelineSpec | str | Path) -> PipelineSpec:
    """A PipelineSpec as given, or loaded from a path (SpecError when it is not a valid spec)."""
    from pipelines.spec import as_spec  # deferred: pydantic and the spec model load on first use

    return as_spec(spec_or_path)


def version() -> str:
    """This package's version (pyproject's)."""
    return package_version()
