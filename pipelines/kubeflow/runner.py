"""Compile a pipeline YAML to a Kubeflow Pipelines v2 pipeline spec, and schedule it there.

    python pipelines/kubeflow_runner.py --config X.yaml --output pipeline.yaml [--pipeline-root gs://...]
    python pipelines/kubeflow_runner.py --config X.yaml --output pipeline.yaml \\
        --schedule --host https://kfp.example.com [--cron "0 3 * * *"] [--experiment NAME]

The same spec and compiler as the local runner; TFX's KubeflowV2DagRunner writes the spec. The
compiled pipeline has no TFX Resolver node: the Evaluator finds its baseline itself. The spec is
checked before TFX is imported; a local data.path or schema.path (no pod can read them) and a
mutable image tag (:latest, or none) are warned about, or refused with --strict. A pipeline name
that Kubeflow does not accept (upper case, '_') is compiled under its Kubeflow form, and said.
Exit codes: 0 success, 1 the KFP server refused, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning)

from pipelines.core import cron as cron_rules
from pipelines.core.paths import RunPaths, resolve_destination
from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from pipelines.core.uris import is_remote
from pipelines.core.version import package_version
from pipelines.spec import PipelineSpec, SpecError, load_spec


def kubeflow_name(name: str) -> str:
    """`name` under Kubeflow's rule for pipeline names (lower-case letters, digits and '-', starting
    with a letter or digit, at most 63 characters here): 'Penguin_Daily' -> 'penguin-daily'."""
    kfp = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")[:63].rstrip("-")
    return kfp or "pipeline"


def deployment_problems(spec: PipelineSpec) -> list[str]:
    """What compiles but will not work (or not reproducibly) on a cluster: local files no pod can
    read, and an image tag that names whatever was pushed last."""
    problems = []
    for key, path in (("data.path", spec.data.path), ("schema.path", spec.schema_.path)):
        if path and not is_remote(path):
            problems.append(f"key {key!r}: {path} is a local path, which the cluster's pods cannot read; "
                            "copy it to the object store (gs://, s3://) and name that")
    image = spec.kubeflow.image
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if "@" not in image and (":" not in name or name.endswith(":latest")):
        problems.append(f"key 'kubeflow.image': {image!r} is a mutable tag (what was pushed last runs, not "
                        "what was compiled against); name a version tag (name:0.1.0) or a digest "
                        "(name@sha256:...)")
    return problems


def kubeflow_paths(spec: PipelineSpec, pipeline_root: str | None):
    root = pipeline_root or spec.kubeflow.pipeline_root
    if not root:
        raise SpecError(spec.source, [("key 'kubeflow.pipeline_root': required to compile for Kubeflow "
                                     "(for example gs://bucket/pipelines), or pass --pipeline-root")])
    return RunPaths(root=root, pipeline_root=root, metadata="",
                    destination=resolve_destination(spec.pusher.destination, root))


def compile_to_file(spec: PipelineSpec, output: str, pipeline_root: str | None = None) -> dict:
    """Write the KFP v2 pipeline spec of `spec` to `output` (.yaml or .json); returns it."""
    import json

    import yaml
    from tfx import v1 as tfx  # deferred, with the compiler below: TFX takes seconds to import

    from components.common import io
    from pipelines.build.compiler import add_serving_drivers, compile_pipeline
    from pipelines.kubeflow.container import (
        container_env,
        container_secrets,
        kubeflow_spec,
        set_resources,
        wrap_container_command,
    )

    paths = kubeflow_paths(spec, pipeline_root)
    if kubeflow_name(spec.name) != spec.name:  # Kubeflow's rule for names; a local run keeps its own
        spec = spec.model_copy(update={"name": kubeflow_name(spec.name)})
    spec = kubeflow_spec(spec)
    pipeline = compile_pipeline(spec, paths, target="kubeflow")
    set_resources(pipeline.components, spec)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=spec.kubeflow.image))
    job = runner.run(pipeline, write_out=False)
    uncached_serving_tasks(job)
    add_serving_drivers(job, spec)  # SchemaGen, the DataGate, warm start: cache keyed by what serves
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    env = [{"name": k, "value": v} for k, v in container_env(spec).items()]
    for executor in executors.values():
        container = executor["container"]
        container["command"] = wrap_container_command(container["command"])
        pre = container.get("lifecycle", {}).get("preCacheCheck")
        if pre:
            pre["command"] = wrap_container_command(pre["command"])
        if env:
            container["env"] = env
    secrets = container_secrets(spec)
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        name: {"secretAsEnv": secrets} for name in sorted(executors)}}}}} if secrets else None
    if output.endswith((".yaml", ".yml")):  # the PipelineSpec (+ platform spec), as kfp 2.x clients load it
        text = (f"# {spec.name}: compiled from a tfx-yaml-pipelines spec by TFX's KubeflowV2DagRunner\n"
                + yaml.safe_dump(job["pipelineSpec"], sort_keys=True))
        if platform:  # a second YAML document, as kfp-kubernetes writes it
            text += "---\n" + yaml.safe_dump(platform, sort_keys=True)
    else:  # the PipelineJob JSON, as Vertex AI takes it (Vertex has no Kubernetes secrets)
        if platform:
            raise SpecError(spec.source, [
                ("key 'kubeflow.object_store.credentials_secret': a Kubernetes secret cannot be used in a "
                 "Vertex AI PipelineJob (.json output); compile to .yaml for Kubeflow Pipelines, or remove "
                 "it")])
        text = json.dumps(job, sort_keys=True, indent=1)
    if not io.is_remote(output):
        io.makedirs(os.path.dirname(os.path.abspath(output)))
    io.write_text(output, text)
    return job


# Stages that read the push destination, which is not an artifact of the pipeline: KFP's cache
# would reuse a verdict against a model that no longer serves (see components/serving_state).
SERVING_TASKS = ("ServingState", "Evaluator", "Pusher")


def uncached_serving_tasks(job: dict) -> None:
    """Turn KFP's cache off for the tasks in SERVING_TASKS (compiled specs have it on for all)."""
    for name, task in job["pipelineSpec"]["root"]["dag"]["tasks"].items():
        if name in SERVING_TASKS:
            task["cachingOptions"] = {"enableCache": False}


def schedule(spec: PipelineSpec, package: str, host: str, cron: str, experiment: str | None = None):
    """A KFP recurring run of the compiled package: one run at a time, no catch-up."""
    import kfp

    client = kfp.Client(host=host)
    name = kubeflow_name(spec.name)
    experiment_id = client.create_experiment(experiment or name).experiment_id
    return client.create_recurring_run(
        experiment_id=experiment_id, job_name=f"{name}-retraining", pipeline_package_path=package,
        cron_expression=to_kfp_cron(cron), max_concurrency=1, no_catchup=True, enabled=True)


def _version() -> str:
    return f"tfx-yaml-pipelines {package_version()}"


def to_kfp_cron(cron: str) -> str:
    """KFP's cron has a leading seconds field; a five-field expression gets "0" seconds."""
    fields = cron.split()
    if len(fields) == 5:
        return "0 " + cron
    if len(fields) == 6:
        return cron
    raise ValueError(f"cron expression {cron!r} has {len(fields)} fields; expected 5 (minute hour day month "
                     "weekday)")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`prog`: the command as the user typed it, for --help and errors ("tfx-yaml compile")."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pipeline YAML")
    parser.add_argument("--output", default="pipeline.yaml", help="compiled KFP v2 spec (.yaml or .json)")
    parser.add_argument("--pipeline-root",
                        help="artifact root on the cluster (default: kubeflow.pipeline_root)")
    parser.add_argument("--schedule", action="store_true", help="create a recurring run on --host")
    parser.add_argument("--host", help="KFP API endpoint, for --schedule")
    parser.add_argument("--cron", help="five-field cron expression (default: schedule.cron of the spec)")
    parser.add_argument("--experiment", help="KFP experiment (default: the pipeline name)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 2) a local data.path or schema.path and a mutable image tag "
                             "(default: warn)")
    parser.add_argument("--version", action="version", version=_version())
    args = parser.parse_args(argv)
    if args.cron:  # schedule.cron is checked when the spec loads
        try:
            cron_rules.parse(args.cron)
        except cron_rules.CronError as error:
            print(f"error: --cron: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:  # everything that can be said about the spec, before TFX's seconds of imports
        spec = load_spec(args.config)
        kubeflow_paths(spec, args.pipeline_root)
        problems = deployment_problems(spec)
        if problems and args.strict:
            raise SpecError(spec.source, [*problems,
                                          "(--strict: these are refused; without it, warned about)"])
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
        if kubeflow_name(spec.name) != spec.name:
            print(f"pipeline name {spec.name!r} is {kubeflow_name(spec.name)!r} on Kubeflow (lower-case "
                  "letters, digits and '-')")
        compile_to_file(spec, args.output, args.pipeline_root)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"compiled {args.config} -> {os.path.abspath(args.output)}")
    if not args.schedule:
        return EXIT_OK
    cron = args.cron or spec.schedule.cron
    if not args.host or not cron:
        print("error: --schedule needs --host and a cron expression (--cron or schedule.cron in the spec)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        job = schedule(spec, args.output, args.host, cron, args.experiment)
    except Exception as error:  # noqa: BLE001 (the server's refusal, of any type, in its words)
        print(f"error: could not create the recurring run on {args.host}: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"recurring run {getattr(job, 'recurring_run_id', job)} created on {args.host} ({cron})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
