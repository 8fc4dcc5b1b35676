"""Kubeflow's pre-cache-check driver of the stages that read a file of the serving version
(SchemaGen: its schema, the DataGate: its train statistics, warm start: its weights).

    python -m components.common.serving_driver --json_serialized_invocation_args '{{$}}' --file NAME

A compiled pipeline runs long after it was compiled, so the digest that keys these stages' cache
(`serving_dir.reference_digest`, which the local runner binds when a run starts) is read here,
when the task starts and before KFP looks its cache up: like ExampleGen's driver, it writes the
value of the stage's `serving_digest` parameter to the task's output file, and KFP makes it the
executor's parameter. A rollback or a removed version then runs the stage again (and the stage
checks that it reads the very file the digest names); an unchanged serving version keeps it cached.
"""

from __future__ import annotations

import argparse
import json
import sys

from components.common import io, serving_dir
from components.common.io import CONFIG_KEY

PARAMETER = "serving_digest"


def _parameters(executor_input: dict) -> dict:
    """The task's input parameters, in the 2.1 form (`parameterValues`: plain values) or the 2.0
    one (`parameters`: {"stringValue": ...})."""
    inputs = executor_input.get("inputs", {})
    if inputs.get("parameterValues"):
        return dict(inputs["parameterValues"])
    return {key: next(iter(value.values())) if isinstance(value, dict) and value else value
            for key, value in inputs.get("parameters", {}).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json_serialized_invocation_args", required=True)
    parser.add_argument("--file", required=True, help="the file of the serving version the stage reads")
    args, _ = parser.parse_known_args(argv)
    executor_input = json.loads(args.json_serialized_invocation_args)
    config = json.loads(_parameters(executor_input)[CONFIG_KEY])
    destination = config.get("destination") or ""
    digest = serving_dir.reference_digest(destination, args.file) if destination else ""
    output = executor_input["outputs"]["outputFile"]
    io.write_text(output, json.dumps({"parameterValues": {PARAMETER: digest}}))
    print(f"serving_driver: {args.file} of the version serving at {destination or '-'}: {digest or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
