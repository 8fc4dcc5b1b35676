"""The `tfx-yaml` command: one entry point for the runners.

    tfx-yaml --version                                   the package version
    tfx-yaml run [--config X.yaml] [--root DIR] [--no-wait]   run on this machine (local_runner.py)
                 [--log-level L] [--quiet]
    tfx-yaml check X.yaml                                validate a spec, run nothing
    tfx-yaml rollback --config X.yaml [--root DIR]       withdraw the newest pushed version (for good)
    tfx-yaml runs [--config X.yaml] [--root DIR] [--json]  the run history of a root (ML Metadata)
    tfx-yaml report [--config X.yaml] [--root DIR] [--run ID] [--open]  write a run's HTML report
    tfx-yaml schema freeze --config X.yaml [--output F]  write the schema in use to a file for curation
    tfx-yaml compile --config X.yaml --output p.yaml     KFP v2 spec (kubeflow_runner.py)
    tfx-yaml schedule --config X.yaml [--cron ...]       retrain on a schedule here (scheduler.py)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.local import runner as local_runner
from pipelines.spec import SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfx-yaml", description=__doc__.splitlines()[0])
    from pipelines.api import version

    parser.add_argument("--version", action="version", version=f"tfx-yaml-pipelines {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a pipeline on this machine")
    check = commands.add_parser("check", help="validate a pipeline YAML without running it")
    rollback = commands.add_parser("rollback", help="withdraw the newest pushed version")
    for sub in (run, rollback):
        sub.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG))
        sub.add_argument("--root")
        sub.add_argument("--no-wait", action="store_true",
                         help="exit 1 at once when another run holds the root (default: wait for it)")
    local_runner.add_console_flags(run, version=False)
    check.add_argument("config")
    check.add_argument("--root", help="the root a run would use (checked for being writable)")
    runs = commands.add_parser("runs", help="the run history of a root, from ML Metadata, newest first")
    runs.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG))
    runs.add_argument("--root")
    runs.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    report = commands.add_parser("report", help="write the HTML report of a run (default: the newest)")
    report.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG))
    report.add_argument("--root")
    report.add_argument("--run",
                        help="the run id (as `tfx-yaml runs --json` lists them; default: the newest)")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    schema = commands.add_parser("schema",
                                 help="schema freeze: write the schema in use to a file for curation")
    schema.add_argument("action", choices=["freeze"])
    schema.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG))
    schema.add_argument("--root")
    schema.add_argument("--output", help="where to write it (default: schemas/<name>/schema.pbtxt)")
    commands.add_parser("compile", help="compile for Kubeflow Pipelines (see kubeflow_runner.py --help)",
                        add_help=False)
    commands.add_parser("schedule", help="retrain on a schedule here (see scheduler.py --help)",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "compile":
        from pipelines.kubeflow import runner as kubeflow_runner

        return kubeflow_runner.main(rest)
    if args.command == "schedule":
        from pipelines.local import scheduler

        return scheduler.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        return local_runner.run(args.config, args.root, wait=not args.no_wait, log_level=args.log_level,
                                quiet=args.quiet)
    try:
        spec = load_spec(args.config)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return local_runner.EXIT_BAD_INPUT
    if args.command == "check":  # everything `run` checks before it starts, and nothing written
        from pipelines import api
        from pipelines.runs.metadata import MetadataError

        try:
            plan = api.check(spec, args.root)
        except (SpecError, MetadataError) as error:
            print(f"error: {error}", file=sys.stderr)
            return local_runner.EXIT_BAD_INPUT
        print(f"{args.config}: OK (pipeline {spec.name!r}: spec, data files, schema, label, destinations)")
        for line in plan:  # the task and why, from the CSV files' label
            print(f"plan: {line}")
        return local_runner.EXIT_OK
    if args.command == "schema":
        return freeze_schema(spec, args.root, args.output)
    if args.command == "runs":
        return print_runs(spec, args.root, args.json)
    if args.command == "report":
        return write_report(spec, args.root, args.run, args.open)
    from components.common import serving_dir
    from pipelines.build.compiler import RunPaths
    from pipelines.local.locks import RootLocked, hold_root

    paths = RunPaths.of(spec, args.root)
    destination = paths.destination
    try:
        with hold_root(paths.root, "tfx-yaml rollback", wait=not args.no_wait), \
                serving_dir.push_lock(destination):
            withdrawn, serving = serving_dir.rollback(destination)
    except (ValueError, RootLocked) as error:
        print(f"error: {error}", file=sys.stderr)
        return local_runner.EXIT_FAILED
    print(f"rolled back {destination}: version {withdrawn} withdrawn, version {serving} serves now")
    return local_runner.EXIT_OK


def print_runs(spec, root: str | None, as_json: bool) -> int:
    import json

    from pipelines.runs.paths import RunPaths
    from pipelines.runs.summary import history_lines, run_history

    paths = RunPaths.of(spec, root)
    history = run_history(paths.store, spec.name)  # this pipeline's runs only (a store may be shared)
    if as_json:
        print(json.dumps(history, indent=1))
    elif not history:
        print(f"no runs of pipeline {spec.name!r} recorded in {paths.store.describe()}")
    else:
        print("\n".join(history_lines(history)))
    return local_runner.EXIT_OK


def write_report(spec, root: str | None, run_id: str | None, open_it: bool) -> int:
    from pipelines.runs import report
    from pipelines.runs.metadata import MetadataError
    from pipelines.runs.paths import RunPaths

    paths = RunPaths.of(spec, root)
    try:
        path = report.write_report(paths.root, paths.store, paths.destination, run_id, pipeline=spec.name)
    except MetadataError as error:
        print(f"error: {error}", file=sys.stderr)
        return local_runner.EXIT_BAD_INPUT
    if path is None:
        which = f"run {run_id!r}" if run_id else "any run"
        print(f"error: no record of {which} of pipeline {spec.name!r} in {paths.store.describe()}; "
              "`tfx-yaml runs` lists the runs of this pipeline", file=sys.stderr)
        return local_runner.EXIT_FAILED
    print(f"report: {path}")
    if open_it:
        import webbrowser

        webbrowser.open("file://" + path)
    return local_runner.EXIT_OK


def freeze_schema(spec, root: str | None, output: str | None) -> int:
    """Write the schema the pipeline validates against (the serving model's, or the last run's
    SchemaGen output) to a file, for curation as `schema.path`."""
    from components.common import io
    from components.schema_gen.executor import serving_schema
    from pipelines.build.compiler import RunPaths

    paths = RunPaths.of(spec, root)
    source = serving_schema(paths.destination) or _last_schema_artifact(paths.store, spec.name)
    if source is None:
        print(f"error: no schema to freeze for {spec.name!r}: no model serves at {paths.destination} and no "
              f"run of it recorded in {paths.store.describe()} made a schema; run the pipeline first",
              file=sys.stderr)
        return local_runner.EXIT_FAILED
    target = output or str(Path("schemas") / spec.name / "schema.pbtxt")
    io.copy_file(source, target)
    print(f"wrote {target} (from {source}); set schema.path to it in the pipeline YAML to curate it")
    return local_runner.EXIT_OK


def _last_schema_artifact(metadata, pipeline: str | None = None) -> str | None:
    """The newest schema that the pipeline named `pipeline` made (a store may hold several pipelines)."""
    from components.common import io
    from pipelines.runs.lineage import artifacts_of

    store = metadata.connect()
    if store is None:
        return None
    schemas = artifacts_of(store, "Schema", pipeline)
    for artifact in sorted(schemas, key=lambda a: a.create_time_since_epoch, reverse=True):
        path = io.join(artifact.uri, "schema.pbtxt")
        if io.exists(path):
            return path
    return None


def entry() -> None:
    """The `tfx-yaml` command (pyproject's script): `main`, then the process ends without Python's
    slow shutdown of TensorFlow and Beam (local_runner.exit_now)."""
    local_runner.exit_now(main())


if __name__ == "__main__":
    entry()
