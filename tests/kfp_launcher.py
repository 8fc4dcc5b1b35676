"""Runs a compiled KFP v2 pipeline spec on this machine the way Kubeflow's v2 launcher does.

For each task, in topological order: build the ExecutorInput JSON that KFP would pass (input
parameters, upstream output artifacts with their metadata, output artifact URIs under the
pipeline root, an output file), substitute it for the `{{$}}` placeholder in the container's
arguments, run the pre-cache-check driver if the task has one, then the container command as a
subprocess, and read the ExecutorOutput file back for the downstream tasks. Artifacts live on the
local filesystem; there is no ML Metadata, as in a KFP task container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

PLACEHOLDER = "{{$}}"


class TaskFailed(RuntimeError):
    pass


def load_pipeline_spec(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return next(d for d in yaml.safe_load_all(f) if d)


def topological_order(tasks: dict) -> list[str]:
    done: list[str] = []
    while len(done) < len(tasks):
        ready = [n for n, t in sorted(tasks.items())
                 if n not in done and all(d in done for d in t.get("dependentTasks", []))]
        if not ready:
            raise ValueError(f"cycle among tasks {sorted(set(tasks) - set(done))}")
        done += ready
    return done


def run_pipeline_spec(spec: dict, root: Path, env: dict | None = None, log=None) -> dict[str, dict]:
    """Execute every task; returns {task: {output key: runtime artifact dict}}."""
    tasks = spec["root"]["dag"]["tasks"]
    produced: dict[str, dict] = {}
    for name in topological_order(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
        if "container" not in executor:
            raise TaskFailed(f"task {name} is not a container task ({list(executor)}); open-source KFP "
                             "runs containers only")
        container = executor["container"]
        task_dir = root / name
        executor_input = _executor_input(name, task, component, produced, task_dir)
        pre = container.get("lifecycle", {}).get("preCacheCheck")
        if pre:
            _run(name + " (driver)", pre["command"] + _fill(pre["args"], executor_input), env, log)
        _run(name, container["command"] + _fill(container["args"], executor_input), env, log)
        produced[name] = _read_outputs(executor_input, component)
    return produced


def _executor_input(name: str, task: dict, component: dict, produced: dict, task_dir: Path) -> dict:
    inputs = task.get("inputs", {})
    parameters = {key: value["runtimeValue"]["constantValue"] for key, value in inputs.get("parameters", {}).items()}
    artifacts = {}
    for key, value in inputs.get("artifacts", {}).items():
        source = value["taskOutputArtifact"]
        artifacts[key] = {"artifacts": [produced[source["producerTask"]][source["outputArtifactKey"]]]}
    outputs = {}
    for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        uri = task_dir / key
        outputs[key] = {"artifacts": [{"name": f"{name}.{key}", "type": definition["artifactType"],
                                       "uri": str(uri), "metadata": {}}]}
    task_dir.mkdir(parents=True, exist_ok=True)
    return {"inputs": {"parameters": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": outputs, "outputFile": str(task_dir / "executor_output.json")}}


def _fill(args: list[str], executor_input: dict) -> list[str]:
    return [json.dumps(executor_input) if a == PLACEHOLDER else a for a in args]


def _run(name: str, command: list[str], env: dict | None, log) -> None:
    if command[0] == "python":
        command = [sys.executable, *command[1:]]
    result = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if log is not None:
        log.write(f"== {name}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise TaskFailed(f"task {name} exited {result.returncode}:\n{result.stderr[-4000:]}")


def _read_outputs(executor_input: dict, component: dict) -> dict:
    with open(executor_input["outputs"]["outputFile"], encoding="utf-8") as f:
        written = json.load(f).get("artifacts", {})
    outputs = {}
    for key, declared in executor_input["outputs"]["artifacts"].items():
        artifact = dict(declared["artifacts"][0])
        if key in written:
            artifact.update({k: v for k, v in written[key]["artifacts"][0].items() if k != "type"})
        outputs[key] = artifact
    return outputs
