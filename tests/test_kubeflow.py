"""Kubeflow Pipelines: the compiled v2 spec has the resources asked for and no Resolver, and it
runs, task by task, the way KFP's v2 launcher runs it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from components.common import serving_dir
from pipelines.kubeflow import runner as kubeflow_runner
from pipelines.spec import SpecError, load_spec
from tests.conftest import REPO, write_spec
from tests.kfp_launcher import ExecutionCache, load_pipeline_spec, run_pipeline_spec

SPEC = """
name: penguin-kfp
data: {{path: {data}, label: species, exclude: [year]}}
schema: {{path: {schema}}}
trainer: {{max_epochs: 30}}
evaluator:
  thresholds: {{accuracy: {{lower_bound: 0.9}}}}
kubeflow:
  image: registry.example.com/tfx-yaml-pipelines:0.1.0
  pipeline_root: {root}
  resources:
    Trainer: {{cpu: "8", memory: 32Gi, accelerator_type: nvidia.com/gpu, accelerator_count: 2}}
    StatisticsGen: {{cpu: 500m, memory: 4Gi}}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kfp")
    path = write_spec(tmp, SPEC.format(data=REPO / "pipelines" / "penguin" / "data",
                                       schema=REPO / "schemas" / "penguin" / "schema.pbtxt",
                                       root=tmp / "root"),
                      "spec.yaml")
    output = tmp / "pipeline.yaml"
    assert kubeflow_runner.main(["--config", str(path), "--output", str(output)]) == 0
    return tmp, load_pipeline_spec(output)


def test_compiled_spec_has_every_stage_and_no_resolver(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate",
                          "Batching", "Trainer", "ServingState", "Evaluator", "Pusher"}
    executors = spec["deploymentSpec"]["executors"].values()
    assert all(set(e) == {"container"} for e in executors)  # no resolver, no importer
    assert "Resolver" not in json.dumps(spec)
    assert {e["container"]["image"] for e in executors} == {"registry.example.com/tfx-yaml-pipelines:0.1.0"}


def test_trainer_resources_and_matching_distribution(compiled):
    _, spec = compiled
    trainer = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["resources"]
    assert trainer["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    assert trainer["cpuLimit"] == 8.0 and trainer["memoryLimit"] == pytest.approx(34.359738368)
    stats = spec["deploymentSpec"]["executors"]["StatisticsGen_executor"]["container"]["resources"]
    assert stats["cpuLimit"] == 0.5
    config = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["config"]
    assert json.loads(config["runtimeValue"]["constantValue"]["stringValue"])["distribution"] == "mirrored"


def test_mismatched_distribution_is_refused(tmp_path):
    path = write_spec(tmp_path, "name: x\ndata: {path: ., label: y}\ntrainer: {distribution: tpu}\n"
                                "kubeflow: {resources: {Trainer: {accelerator_type: nvidia.com/gpu}}}\n")
    with pytest.raises(SpecError,
                       match="trainer.distribution is tpu but the Trainer's accelerator is nvidia.com/gpu"):
        load_spec(path)


def test_compiling_needs_a_pipeline_root(tmp_path, capsys):
    path = write_spec(tmp_path,
                      f"name: x\ndata: {{path: {REPO / 'pipelines' / 'penguin' / 'data'}, label: species}}\n")
    assert kubeflow_runner.main(["--config", str(path), "--output", str(tmp_path / "p.yaml")]) == 2
    assert "kubeflow.pipeline_root" in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()


def test_cron_for_kfp():
    assert kubeflow_runner.to_kfp_cron("0 3 * * *") == "0 0 3 * * *"
    with pytest.raises(ValueError, match="expected 5"):
        kubeflow_runner.to_kfp_cron("0 3 *")


@pytest.mark.slow
@pytest.mark.e2e
def test_compiled_pipeline_runs_task_by_task_and_pushes_a_blessed_model(compiled):
    tmp, spec = compiled
    with open(tmp / "launcher.log", "w") as log:
        produced = run_pipeline_spec(spec, tmp / "root" / "run-1", env={"TF_CPP_MIN_LOG_LEVEL": "3"}, log=log)
    blessing = produced["Evaluator"]["blessing"]
    assert blessing["metadata"]["blessed"] == 1.0
    verdict = json.loads((tmp / "root" / "run-1" / "Evaluator" / "blessing" / "blessing.json").read_text())
    assert verdict["metrics"]["accuracy"] >= 0.9
    assert produced["Pusher"]["pushed_model"]["metadata"]["pushed"] == 1.0
    assert serving_dir.versions(str(tmp / "root" / "serving")) == [1]


# A task container that writes its ExecutorOutput and, as its artifact, the value it was given.
_WRITE = ("import json, pathlib, sys; e = json.loads(sys.argv[1]); out = e['outputs']; "
          "uri = pathlib.Path(out['artifacts']['out']['artifacts'][0]['uri']); uri.mkdir(parents=True); "
          "(uri / 'value').write_text(json.dumps(e['inputs']['parameters'])); "
          "pathlib.Path(out['outputFile']).write_text('{}')")


def _two_tasks(value: str, cache_second: bool = True) -> dict:
    """A pipeline spec of two tasks, Make (parameter `value`) and Use (Make's artifact)."""
    def task(name, **more):
        return {"componentRef": {"name": f"comp-{name}"}, "cachingOptions": {"enableCache": True}, **more}

    out = {"out": {"artifactType": {"schemaTitle": "system.Artifact"}}}
    components = {f"comp-{n}": {"executorLabel": f"exec-{n}", "outputDefinitions": {"artifacts": out}}
                  for n in ("Make", "Use")}
    container = {"image": "x", "command": ["python", "-c", _WRITE], "args": ["{{$}}"]}
    return {"pipelineInfo": {"name": "two"},
            "root": {"dag": {"tasks": {
                "Make": task("Make", inputs={"parameters": {"value": {"runtimeValue": {
                    "constantValue": {"stringValue": value}}}}}),
                "Use": {**task("Use", dependentTasks=["Make"], inputs={"artifacts": {"made": {
                    "taskOutputArtifact": {"producerTask": "Make", "outputArtifactKey": "out"}}}}),
                        "cachingOptions": {"enableCache": cache_second}}}}},
            "components": components,
            "deploymentSpec": {"executors": {f"exec-{n}": {"container": container} for n in ("Make", "Use")}}}


def test_launcher_reuses_a_completed_execution_as_kfp_caching_does(tmp_path):
    """Same parameters and upstream artifacts: taken from the cache (the earlier run's artifacts);
    a changed parameter re-runs its task and, through the new artifact, the task downstream;
    a task with caching off always runs."""
    cache = ExecutionCache()
    first = run_pipeline_spec(_two_tasks("a"), tmp_path / "r1", cache=cache)
    assert cache.reused[str(tmp_path / "r1")] == []
    second = run_pipeline_spec(_two_tasks("a"), tmp_path / "r2", cache=cache)
    assert sorted(cache.reused[str(tmp_path / "r2")]) == ["Make", "Use"]
    assert second == first and not [p for p in (tmp_path / "r2").rglob("*") if p.is_file()]
    run_pipeline_spec(_two_tasks("b"), tmp_path / "r3", cache=cache)
    assert cache.reused[str(tmp_path / "r3")] == []
    assert json.loads((tmp_path / "r3" / "Make" / "out" / "value").read_text()) == {
        "value": {"stringValue": "b"}}
    run_pipeline_spec(_two_tasks("b", cache_second=False), tmp_path / "r4", cache=cache)
    assert cache.reused[str(tmp_path / "r4")] == ["Make"]
    assert (tmp_path / "r4" / "Use" / "out" / "value").exists()
    run_pipeline_spec(_two_tasks("a"), tmp_path / "r5")  # no cache: everything runs
    assert (tmp_path / "r5" / "Use" / "out" / "value").exists()


def test_multi_worker_is_refused_for_kubeflow_with_what_works_there(tmp_path, capsys):
    """One KFP task is one pod: a spec that says multi_worker must not compile into one worker."""
    path = write_spec(tmp_path, SPEC.format(data=REPO / "pipelines" / "penguin" / "data",
                                            schema=REPO / "schemas" / "penguin" / "schema.pbtxt",
                                            root=tmp_path / "root")
                      .replace("trainer: {max_epochs: 30}",
                               "trainer: {max_epochs: 30, distribution: multi_worker}")
                      .replace("accelerator_type: nvidia.com/gpu, accelerator_count: 2",
                               "accelerator_count: 2"))
    assert kubeflow_runner.main(["--config", str(path), "--output", str(tmp_path / "p.json")]) == 2
    error = capsys.readouterr().err
    assert "key 'trainer.distribution': multi_worker cannot be compiled for Kubeflow Pipelines" in error
    assert "Use mirrored" in error and "tpu" in error
    assert not (tmp_path / "p.json").exists()


def test_every_task_container_starts_through_the_project_entrypoint(compiled):
    _, spec = compiled
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["command"][:3] == ["python", "-m", "components.common.container_entrypoint"]
        pre = container.get("lifecycle", {}).get("preCacheCheck")
        if pre:
            assert pre["command"][:3] == ["python", "-m", "components.common.container_entrypoint"]


def test_kfp_client_loads_the_compiled_yaml(compiled):
    from kfp import components
    from kfp.client import client

    tmp, _ = compiled
    component = components.load_component_from_file(str(tmp / "pipeline.yaml"))
    assert component.name == "penguin-kfp"
    assert "Trainer" in component.pipeline_spec.root.dag.tasks
    # What Client.create_run_from_pipeline_package / create_recurring_run send to the server:
    package = client._extract_pipeline_yaml(str(tmp / "pipeline.yaml"))
    assert package.pipeline_spec.pipeline_info.name == "penguin-kfp"


class _KfpApi(BaseHTTPRequestHandler):
    """A loopback stand-in for the KFP v2beta1 REST API (no KFP server can run here): it records
    what the real kfp client sends and answers with ids."""

    requests: ClassVar[list] = []

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._reply({})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append((self.path, body))
        self._reply({"experiment_id": "exp-1"} if "experiments" in self.path
                    else {"recurring_run_id": "rr-1"})

    def log_message(self, *args):
        pass


def test_schedule_creates_a_kfp_recurring_run_with_the_kfp_client(compiled):
    tmp, _ = compiled
    server = HTTPServer(("127.0.0.1", 0), _KfpApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = kubeflow_runner.main(["--config", str(tmp / "spec.yaml"), "--output",
                                     str(tmp / "scheduled.yaml"),
                                     "--schedule", "--host", f"http://127.0.0.1:{server.server_port}",
                                     "--cron", "0 3 * * *"])
    finally:
        server.shutdown()
    assert code == 0
    (_, experiment), (path, run) = _KfpApi.requests
    assert experiment["display_name"] == "penguin-kfp"
    assert path == "/apis/v2beta1/recurringruns"
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "penguin-kfp-retraining"
    assert run["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert int(run["max_concurrency"]) == 1 and run["no_catchup"] is True
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "penguin-kfp"
