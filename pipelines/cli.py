"""The `tfx-yaml` command: parses the arguments, calls the Python API (pipelines/api.py) or a runner,
and turns the result into messages and an exit code.

    tfx-yaml --version                                   the package version
    tfx-yaml run [--config X.yaml] [--root DIR] [--no-wait]   run on this machine (local_runner.py)
                 [--log-level L] [--quiet]
    tfx-yaml check X.yaml                                validate a spec, run nothing
    tfx-yaml rollback --config X.yaml [--root DIR] [--version N]  withdraw the newest version (for good)
    tfx-yaml runs [--config X.yaml] [--root DIR] [--json]  the run history of a root (ML Metadata)
    tfx-yaml report [--config X.yaml] [--root DIR] [--run ID] [--open]  write a run's HTML report
    tfx-yaml schema freeze --config X.yaml [--output F]  write the schema in use to a file for curation
    tfx-yaml compile --config X.yaml --output p.yaml     KFP v2 spec (kubeflow_runner.py)
    tfx-yaml schedule --config X.yaml [--cron ...]       retrain on a schedule here (scheduler.py)
    tfx-yaml card [--config X.yaml] [--version N] [--open]  a pushed version's model card
    tfx-yaml predict --config X.yaml --data PATH --output FILE [--version N] [--keep COLS]
                     [--skip-bad-rows]                   score data with a pushed version (Beam)
"""

from __future__ import annotations

import argparse
import sys

from pipelines import after_push, api
from pipelines.api import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from pipelines.local import runner as local_runner
from pipelines.local.locks import RootLocked
from pipelines.runs.metadata import MetadataError
from pipelines.runs.paths import RunPaths
from pipelines.runs.summary import history_lines
from pipelines.spec import SpecError, load_spec

CONFIG_HELP = "the pipeline YAML (default: the bundled penguin pipeline, pipelines/penguin/pipeline.yaml)"
ROOT_HELP = "the run root (default: the spec's runtime.root, else runs/<name>)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfx-yaml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tfx-yaml-pipelines {api.version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a pipeline on this machine")
    check = commands.add_parser("check", help="validate a pipeline YAML without running it")
    rollback = commands.add_parser("rollback", help="withdraw the newest pushed version")
    for sub in (run, rollback):
        sub.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG), help=CONFIG_HELP)
        sub.add_argument("--root", help=ROOT_HELP)
        sub.add_argument("--no-wait", action="store_true",
                         help="exit 1 at once when another run holds the root (default: wait for it)")
    rollback.add_argument("--version", type=int,
                          help="withdraw exactly this version; refused when it is no longer the newest "
                               "(default: the newest, named before waiting for the lock)")
    local_runner.add_console_flags(run, version=False)
    check.add_argument("config")
    check.add_argument("--root", help="the root a run would use (checked for being writable)")
    runs = commands.add_parser("runs", help="the run history of a root, from ML Metadata, newest first")
    runs.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG), help=CONFIG_HELP)
    runs.add_argument("--root", help=ROOT_HELP)
    runs.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    report = commands.add_parser("report", help="write the HTML report of a run (default: the newest)")
    report.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG), help=CONFIG_HELP)
    report.add_argument("--root", help=ROOT_HELP)
    report.add_argument("--run",
                        help="the run id (as `tfx-yaml runs --json` lists them; default: the newest)")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    schema = commands.add_parser("schema",
                                 help="schema freeze: write the schema in use to a file for curation")
    schema.add_argument("action", choices=["freeze"])
    schema.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG), help=CONFIG_HELP)
    schema.add_argument("--root", help=ROOT_HELP)
    schema.add_argument("--output",
                        help="where to write it (default: schemas/<name>/schema.pbtxt beside the spec)")
    after_push.add_parsers(commands, str(local_runner.DEFAULT_CONFIG))  # card, predict
    commands.add_parser("compile", help="compile for Kubeflow Pipelines (see kubeflow_runner.py --help)",
                        add_help=False)
    commands.add_parser("schedule", help="retrain on a schedule here (see scheduler.py --help)",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "compile":
        from pipelines.kubeflow import runner as kubeflow_runner

        return kubeflow_runner.main(rest, prog="tfx-yaml compile")
    if args.command == "schedule":
        from pipelines.local import scheduler

        return scheduler.main(rest, prog="tfx-yaml schedule")
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        return local_runner.run(args.config, args.root, wait=not args.no_wait, log_level=args.log_level,
                                quiet=args.quiet)
    try:
        spec = load_spec(args.config)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "check":  # everything `run` checks before it starts, and nothing written
        try:
            plan = api.check(spec, args.root)
        except (SpecError, MetadataError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{args.config}: OK (pipeline {spec.name!r}: spec, data files, schema, label, destinations)")
        for line in plan:  # the task and why, from the CSV files' label
            print(f"plan: {line}")
        return EXIT_OK
    if args.command == "schema":
        try:
            target, source = api.freeze_schema(spec, args.root, args.output)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {target} (from {source}); set schema.path to it in the pipeline YAML to curate it")
        return EXIT_OK
    paths = RunPaths.of(spec, args.root)  # for the messages: where the store and the destination are
    if args.command == "runs":
        try:
            history = api.history(spec, args.root)
        except Exception as error:  # noqa: BLE001 (a damaged store: one line, exit 2, never a traceback)
            return store_error(error, paths)
        return print_runs(history, spec, paths, args.json)
    if args.command == "report":
        return write_report(spec, paths, args.root, args.run, args.open)
    if args.command in ("card", "predict"):
        return after_push.command(args, spec)
    try:
        withdrawn, serving = api.rollback(spec, args.root, wait=not args.no_wait, version=args.version,
                                          out=sys.stdout)
    except (ValueError, RootLocked) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    now = f"version {serving} serves now" if serving is not None else "no version serves now"
    print(f"rolled back {paths.destination}: version {withdrawn} withdrawn, {now}")
    return EXIT_OK


def print_runs(history: list[dict], spec, paths, as_json: bool) -> int:
    import json

    if as_json:
        print(json.dumps(history, indent=1))
    elif not history:
        print(f"no runs of pipeline {spec.name!r} recorded in {paths.store.describe()}")
    else:
        print("\n".join(history_lines(history)))
    return EXIT_OK


def store_error(error: Exception, paths) -> int:
    """A store that cannot be read (MetadataError says which and what to do; anything else from
    reading it is said in one line with the store's path): exit 2. TFX_YAML_DEBUG=1 raises."""
    import os

    if os.environ.get("TFX_YAML_DEBUG") and not isinstance(error, MetadataError):
        raise error
    if isinstance(error, MetadataError):
        print(f"error: {error}", file=sys.stderr)
    else:
        text = " ".join(str(error).split())[:300]
        print(f"error: could not read the runs of {paths.store.describe()} ({type(error).__name__}: {text}); "
              "if the store is damaged, restore it from a backup or move it aside to start a new run history "
              "(TFX_YAML_DEBUG=1 shows the traceback)", file=sys.stderr)
    return EXIT_BAD_INPUT


def write_report(spec, paths, root: str | None, run_id: str | None, open_it: bool) -> int:
    try:
        path = api.report(spec, root, run_id)
    except MetadataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # the report's folder: read-only, full
        print(f"error: cannot write the report {error.filename or ''}: {error.strerror or error}; make "
              f"{paths.root} writable (or free space there)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 (a store damaged past SQLite's quick check)
        return store_error(error, paths)
    if path is None:
        which = f"run {run_id!r}" if run_id else "any run"
        print(f"error: no record of {which} of pipeline {spec.name!r} in {paths.store.describe()}; "
              "`tfx-yaml runs` lists the runs of this pipeline", file=sys.stderr)
        return EXIT_FAILED
    print(f"report: {path}")
    if open_it:
        import webbrowser

        webbrowser.open("file://" + path)
    return EXIT_OK


def entry() -> None:
    """The `tfx-yaml` command (pyproject's script): `main`, then the process ends without Python's
    slow shutdown of TensorFlow and Beam (local_runner.exit_now)."""
    local_runner.exit_now(main())


if __name__ == "__main__":
    entry()
