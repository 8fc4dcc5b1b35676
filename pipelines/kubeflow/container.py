"""What only a Kubeflow (or Vertex AI) compile adds to the compiled pipeline: the Trainer's
strategy from its accelerators, per-task resources, the task containers' entry point, environment
and secrets. The compiler (pipelines/build/compiler.py) knows nothing of these."""

from __future__ import annotations

from pipelines.spec import PipelineSpec, SpecError


def kubeflow_spec(spec: PipelineSpec) -> PipelineSpec:
    """`spec` as it compiles for Kubeflow: the Trainer's "auto" distribution decided from its
    accelerators; a multi-worker Trainer refused (a KFP task is one pod)."""
    spec = spec.model_copy(deep=True)
    spec.trainer.distribution = trainer_distribution(spec)
    if spec.trainer.distribution == "multi_worker":
        raise SpecError(spec.source, [
            ("key 'trainer.distribution': multi_worker cannot be compiled for Kubeflow Pipelines: a KFP "
             "task is one pod, and one pod is one worker (a multi-worker job needs a TFJob or a "
             "Vertex custom job with several replicas and a TF_CONFIG each, which this compiler does not "
             "make). Use mirrored with kubeflow.resources.Trainer.accelerator_count > 1 (several GPUs "
             "on one node), or tpu with a TPU accelerator_type")])
    return spec


def set_resources(components, spec: PipelineSpec) -> None:
    """Each component named in `kubeflow.resources` gets its CPU, memory and accelerators."""
    for component in components:
        if component.id in spec.kubeflow.resources:
            component.with_platform_config(resource_spec(spec.kubeflow.resources[component.id]))


def trainer_distribution(spec: PipelineSpec) -> str:
    """The Trainer's strategy on Kubeflow: "auto" follows its accelerators (tpu for a TPU type,
    mirrored for two or more GPUs)."""
    resources = spec.kubeflow.resources.get("Trainer")
    if spec.trainer.distribution != "auto" or resources is None or not resources.accelerator_type:
        return spec.trainer.distribution
    if resources.is_tpu:
        return "tpu"
    return "mirrored" if (resources.accelerator_count or 1) > 1 else "one_device"


def container_env(spec: PipelineSpec) -> dict[str, str]:
    """Environment variables of every task container on Kubeflow: the object store's endpoint
    and region for TensorFlow's S3 file system (tensorflow-io) and for boto3 (Beam). Credentials
    are not here: see `container_secrets`."""
    store = spec.kubeflow.object_store
    if store is None:
        return {}
    env = {"AWS_REGION": store.region, "AWS_DEFAULT_REGION": store.region,
           "S3_VERIFY_SSL": "1" if store.verify_ssl else "0"}
    if store.endpoint:
        endpoint = store.endpoint.rstrip("/")
        env |= {"S3_ENDPOINT": endpoint, "AWS_ENDPOINT_URL_S3": endpoint,
                "S3_USE_HTTPS": "1" if endpoint.startswith("https://") else "0"}
    return env


def container_secrets(spec: PipelineSpec) -> list[dict]:
    """The Kubernetes secret mounted as environment variables in every task container (KFP's
    kubernetes platform spec, `secretAsEnv`): the object store's access keys."""
    store = spec.kubeflow.object_store
    if store is None or not store.credentials_secret:
        return []
    return [{"secretName": store.credentials_secret, "keyToEnv": [
        {"secretKey": store.access_key_key, "envVar": "AWS_ACCESS_KEY_ID"},
        {"secretKey": store.secret_key_key, "envVar": "AWS_SECRET_ACCESS_KEY"}]}]


ENTRYPOINT = ["python", "-m", "components.common.container_entrypoint"]


def wrap_container_command(command: list[str]) -> list[str]:
    """`python -m MODULE` -> `python -m components.common.container_entrypoint MODULE` (see there)."""
    if command[:2] == ["python", "-m"] and len(command) >= 3:
        return [*ENTRYPOINT, *command[2:]]
    return command


def resource_spec(resources):
    """Kubernetes-style resources as the KFP v2 ResourceSpec (vCPU count, memory in GB)."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    if resources.cpu:
        millicores = resources.cpu.endswith("m")
        spec.cpu_limit = float(resources.cpu[:-1]) / 1000 if millicores else float(resources.cpu)
    if resources.memory:
        spec.memory_limit = _gigabytes(resources.memory)
    if resources.accelerator_type:
        spec.accelerator.type = resources.accelerator_type
        spec.accelerator.count = resources.accelerator_count or 1
    return spec


def _gigabytes(memory: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix in sorted(units, key=len, reverse=True):
        if memory.endswith(suffix):
            return float(memory[: -len(suffix)]) * units[suffix] / 1e9
    return float(memory) / 1e9
