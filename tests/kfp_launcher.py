"""Runs a compiled KFP v2 pipeline spec on this machine the way Kubeflow's v2 launcher does.

Each task starts, as on KFP, once the tasks it depends on have completed (independent tasks at
the same time); after a task fails, no other starts. For each task: build the ExecutorInput JSON
that KFP would pass (input parameters, upstream output artifacts with their metadata, output
artifact URIs under the pipeline root, an output file), substitute it for the `{{$}}` placeholder
in the container's arguments, run the pre-cache-check driver if the task has one, then the
container command as a subprocess, and read the ExecutorOutput file back for the downstream
tasks. There is no ML Metadata, as in a KFP task container.

Like a pod, each task gets the container's `env`, the secrets that the kubernetes platform spec
maps to environment variables (`secretAsEnv`, from the `secrets` the caller stands in for the
cluster's), and its own empty working directory, which is checked to be still empty after the
task: on Kubeflow anything written there is lost. The pipeline root may be local or an object
store (s3://, gs://).

Given an `ExecutionCache` (what the KFP server keeps across a pipeline's runs), tasks are cached
the way KFP's v2 driver caches them: after the pre-cache-check driver, a task whose
`cachingOptions.enableCache` is on and whose cache key matches a completed earlier execution of
the same pipeline does not run; its outputs are that execution's artifacts. The key is KFP's:
the input artifacts' identities (KFP: their ML Metadata names; here: their URIs, each unique to
the execution that wrote it), the input parameter values, the output artifacts' specs without
their URIs (the driver's span and fingerprint metadata included), the image, and the container's
command and arguments as compiled (placeholders unfilled).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import yaml

PLACEHOLDER = "{{$}}"


class TaskFailed(RuntimeError):
    pass


class ExecutionCache:
    """KFP's execution cache: completed executions by cache key, per pipeline name, and which
    tasks each run (by its root) took from the cache."""

    def __init__(self) -> None:
        self._outputs: dict[str, dict] = {}
        self.reused: dict[str, list[str]] = {}

    def get(self, key: str) -> dict | None:
        outputs = self._outputs.get(key)
        return copy.deepcopy(outputs) if outputs is not None else None

    def put(self, key: str, outputs: dict) -> None:
        self._outputs[key] = copy.deepcopy(outputs)


def load_pipeline_spec(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return next(d for d in yaml.safe_load_all(f) if d)


def load_platform_spec(path: str | Path) -> dict:
    """The kubernetes platform spec (second YAML document), or {}."""
    with open(path, encoding="utf-8") as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    return next((d for d in documents if "platforms" in d), {})


def topological_order(tasks: dict) -> list[str]:
    done: list[str] = []
    while len(done) < len(tasks):
        ready = [n for n, t in sorted(tasks.items())
                 if n not in done and all(d in done for d in t.get("dependentTasks", []))]
        if not ready:
            raise ValueError(f"cycle among tasks {sorted(set(tasks) - set(done))}")
        done += ready
    return done


def run_pipeline_spec(spec: dict, root: str | Path, env: dict | None = None, log=None,
                      platform: dict | None = None, secrets: dict | None = None,
                      cache: ExecutionCache | None = None) -> dict[str, dict]:
    """Execute every task (or take it from `cache`); returns {task: {output key: runtime artifact
    dict}}."""
    tasks = spec["root"]["dag"]["tasks"]
    topological_order(tasks)  # a cycle is refused before anything runs
    reused = [] if cache is None else cache.reused.setdefault(str(root), [])
    executors_platform = (platform or {}).get("platforms", {}).get("kubernetes", {}).get(
        "deploymentSpec", {}).get("executors", {})
    produced: dict[str, dict] = {}

    def run_task(name: str) -> dict:
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        label = component["executorLabel"]
        executor = spec["deploymentSpec"]["executors"][label]
        if "container" not in executor:
            raise TaskFailed(f"task {name} is not a container task ({list(executor)}); open-source KFP "
                             "runs containers only")
        container = executor["container"]
        pod_env = {**(env or {}), **{e["name"]: e["value"] for e in container.get("env", [])},
                   **_secret_env(executors_platform.get(label, {}), secrets or {})}
        with tempfile.TemporaryDirectory(prefix=f"kfp-{name}-") as scratch:
            workdir, outputs_dir = Path(scratch, "workdir"), Path(scratch, "kfp_outputs")
            workdir.mkdir()
            outputs_dir.mkdir()
            executor_input = _executor_input(name, task, component, produced,
                                             f"{str(root).rstrip('/')}/{name}", outputs_dir)
            pre = container.get("lifecycle", {}).get("preCacheCheck")
            if pre:
                _run(name + " (driver)", pre["command"] + _fill(pre["args"], executor_input), pod_env, log,
                     workdir)
                _take_driver_parameters(executor_input)
            caching = cache is not None and task.get("cachingOptions", {}).get("enableCache", False)
            key = _cache_key(spec, container, executor_input)
            if caching:
                outputs = cache.get(key)
                if outputs is not None:
                    reused.append(name)
                    if log is not None:
                        log.write(f"== {name}: cached\n")
                    return outputs
            _run(name, container["command"] + _fill(container["args"], executor_input), pod_env, log, workdir)
            outputs = _read_outputs(executor_input, component)
            left = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*"))
            if left:
                raise TaskFailed(f"task {name} wrote into its pod's working directory, which Kubeflow "
                                 f"throws away: {left[:10]}")
            if caching:  # a completed execution, for later runs to reuse
                cache.put(key, outputs)
            return outputs

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:  # on leaving, running tasks finish
        running: dict = {}
        while len(produced) < len(tasks):
            for name in sorted(set(tasks) - set(produced) - set(running.values())):
                if all(d in produced for d in tasks[name].get("dependentTasks", [])):
                    running[pool.submit(run_task, name)] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                produced[running.pop(future)] = future.result()  # a failed task's error, raised
    return produced


def _cache_key(spec: dict, container: dict, executor_input: dict) -> str:
    """The fingerprint KFP's driver looks the cache up by (scoped to the pipeline's name)."""
    inputs, outputs = executor_input["inputs"], executor_input["outputs"]["artifacts"]
    artifacts = inputs["artifacts"]
    key = {"pipeline": spec["pipelineInfo"]["name"],
           "inputArtifactNames": {k: [a["uri"] for a in v["artifacts"]] for k, v in artifacts.items()},
           "inputParameterValues": inputs["parameters"],
           "outputArtifactsSpec": {k: {**v["artifacts"][0], "uri": ""} for k, v in outputs.items()},
           "containerSpec": {"image": container.get("image", ""),
                             "cmdArgs": container["command"] + container["args"]}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _take_driver_parameters(executor_input: dict) -> None:
    """What KFP does with a pre-cache-check driver's output: its parameter values (ExampleGen's
    resolved span, version, fingerprint and input config) become the executor's parameters, and
    the metadata of its output artifacts (the span) that of the executor's."""
    path = Path(executor_input["outputs"]["outputFile"])
    output = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()
    for key, artifacts in output.get("artifacts", {}).items():  # e.g. the examples' span property
        declared = executor_input["outputs"]["artifacts"][key]["artifacts"][0]
        declared["metadata"] = {**declared.get("metadata", {}),
                                **artifacts["artifacts"][0].get("metadata", {})}
    for key, value in output.get("parameterValues", {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            typed = {"intValue": str(int(value))} if float(value).is_integer() else {"doubleValue": value}
        else:
            typed = {"stringValue": value}
        executor_input["inputs"]["parameters"][key] = typed


def _secret_env(executor_platform: dict, secrets: dict) -> dict:
    """What Kubernetes sets from `secretAsEnv`: each secret key's value as an environment variable."""
    env = {}
    for entry in executor_platform.get("secretAsEnv", []):
        secret = secrets[entry["secretName"]]
        for mapping in entry["keyToEnv"]:
            env[mapping["envVar"]] = secret[mapping["secretKey"]]
    return env


def _executor_input(name: str, task: dict, component: dict, produced: dict, task_dir: str,
                    outputs_dir: Path) -> dict:
    inputs = task.get("inputs", {})
    parameters = {key: value["runtimeValue"]["constantValue"]
                  for key, value in inputs.get("parameters", {}).items()}
    artifacts = {}
    for key, value in inputs.get("artifacts", {}).items():
        source = value["taskOutputArtifact"]
        artifacts[key] = {"artifacts": [produced[source["producerTask"]][source["outputArtifactKey"]]]}
    outputs = {}
    for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        outputs[key] = {"artifacts": [{"name": f"{name}.{key}", "type": definition["artifactType"],
                                       "uri": f"{task_dir}/{key}", "metadata": {}}]}
    if "://" not in task_dir:
        Path(task_dir).mkdir(parents=True, exist_ok=True)
    return {"inputs": {"parameters": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": outputs, "outputFile": str(outputs_dir / "output_metadata.json")}}


def _fill(args: list[str], executor_input: dict) -> list[str]:
    return [json.dumps(executor_input) if a == PLACEHOLDER else a for a in args]


def _run(name: str, command: list[str], env: dict | None, log, cwd: Path) -> None:
    if command[0] == "python":
        command = [sys.executable, *command[1:]]
    repo = str(Path(__file__).resolve().parents[1])  # the image has the project installed
    pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
    started = time.monotonic()
    result = subprocess.run(command, env={**os.environ, **(env or {}), "PYTHONPATH": pythonpath},
                            capture_output=True, text=True, cwd=cwd, check=False)
    if log is not None:
        log.write(f"== {name} ({time.monotonic() - started:.1f} s)\n{result.stdout}{result.stderr}\n")
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
