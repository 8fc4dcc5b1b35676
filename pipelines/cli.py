"""The `tfx-yaml` command: one entry point for the runners.

    tfx-yaml run [--config X.yaml] [--root DIR] [--no-wait]   run on this machine (local_runner.py)
    tfx-yaml check X.yaml                                validate a spec, run nothing
    tfx-yaml rollback --config X.yaml [--root DIR]       withdraw the newest pushed version (for good)
    tfx-yaml compile --config X.yaml --output p.yaml     KFP v2 spec (kubeflow_runner.py)
    tfx-yaml schedule --config X.yaml [--cron ...]       retrain on a schedule here (scheduler.py)
"""

from __future__ import annotations

import argparse
import sys

from pipelines import local_runner
from pipelines.spec import SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfx-yaml", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a pipeline on this machine")
    check = commands.add_parser("check", help="validate a pipeline YAML without running it")
    rollback = commands.add_parser("rollback", help="withdraw the newest pushed version")
    for sub in (run, rollback):
        sub.add_argument("--config", default=str(local_runner.DEFAULT_CONFIG))
        sub.add_argument("--root")
        sub.add_argument("--no-wait", action="store_true",
                         help="exit 1 at once when another run holds the root (default: wait for it)")
    check.add_argument("config")
    commands.add_parser("compile", help="compile for Kubeflow Pipelines (see kubeflow_runner.py --help)",
                        add_help=False)
    commands.add_parser("schedule", help="retrain on a schedule here (see scheduler.py --help)", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "compile":
        from pipelines import kubeflow_runner

        return kubeflow_runner.main(rest)
    if args.command == "schedule":
        from pipelines import scheduler

        return scheduler.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        return local_runner.run(args.config, args.root, wait=not args.no_wait)
    try:
        spec = load_spec(args.config)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return local_runner.EXIT_BAD_INPUT
    if args.command == "check":
        print(f"{args.config}: OK (pipeline {spec.name!r})")
        return local_runner.EXIT_OK
    from components.common import serving_dir
    from pipelines.compiler import RunPaths
    from pipelines.locks import RootLocked, hold_root

    paths = RunPaths.of(spec, args.root)
    destination = paths.destination
    try:
        with hold_root(paths.root, "tfx-yaml rollback", wait=not args.no_wait), serving_dir.push_lock(destination):
            withdrawn, serving = serving_dir.rollback(destination)
    except (ValueError, RootLocked) as error:
        print(f"error: {error}", file=sys.stderr)
        return local_runner.EXIT_FAILED
    print(f"rolled back {destination}: version {withdrawn} withdrawn, version {serving} serves now")
    return local_runner.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
