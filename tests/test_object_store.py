"""Kubeflow for real: the compiled penguin pipeline run task by task, each task in a fresh process
with an empty working directory (as separate pods), with the pipeline root, the data, the curated
schema and the serving directory all on an S3 server on 127.0.0.1 (moto's server mode).

TensorFlow reaches it through tensorflow-io's S3 file system and Beam through boto3; the endpoint
and region come from the spec's `kubeflow.object_store` as container environment variables, the
access keys from a Kubernetes secret (`secretAsEnv` in the compiled platform spec), here stood in
for by the launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from pipelines.kubeflow import runner as kubeflow_runner
from tests.conftest import REPO, write_spec
from tests.kfp_launcher import ExecutionCache, load_pipeline_spec, load_platform_spec, run_pipeline_spec
from tests.test_data_gate import write_rows
from tests.test_scheduler import few_chinstraps

SECRET = "s3-credentials"

SPEC = """
name: penguin-s3
data: {{path: "s3://{bucket}/data", pattern: "span-{{SPAN}}/*.csv", label: species, exclude: [year]}}
schema: {{path: "s3://{bucket}/schema/schema.pbtxt"}}
trainer: {{max_epochs: 30}}
evaluator:
  thresholds: {{accuracy: {{lower_bound: 0.8, min_improvement: 0.0}}}}
pusher: {{destination: "s3://{bucket}/serving"}}
kubeflow:
  image: registry.example.com/tfx-yaml-pipelines:0.1.0
  pipeline_root: "s3://{bucket}/pipelines"
  object_store: {{endpoint: "{endpoint}", verify_ssl: false, credentials_secret: {secret}}}
"""

LOAD_AND_CLASSIFY = """
import json, os, sys
sys.path.insert(0, {repo!r})
import components.common.io  # registers s3://
import tensorflow as tf
serve = tf.saved_model.load({path!r}).signatures["serving_default"]
def example(**values):
    feature = {{k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) if isinstance(v, float)
               else tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
               for k, v in values.items()}}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
rows = [example(island="Torgersen", bill_length_mm=39.1, bill_depth_mm=18.7, flipper_length_mm=181.0,
                body_mass_g=3750.0, sex="male"),
        example(island="Biscoe", bill_length_mm=46.1, bill_depth_mm=13.2, flipper_length_mm=211.0,
                body_mass_g=4500.0, sex="female")]
print(json.dumps([c.decode() for c in serve(examples=tf.constant(rows))["classes"].numpy()]), flush=True)
os._exit(0)  # tensorflow-io's S3 client aborts at interpreter shutdown (tensorflow/io#2039)
"""


def _decision(produced) -> dict:
    return produced["Pusher"]["pushed_model"]["metadata"]


@pytest.mark.slow
@pytest.mark.e2e
def test_compiled_pipeline_on_an_object_store_pushes_there_and_retrains_on_a_new_span(object_store, tmp_path):
    store, bucket = object_store, object_store.bucket
    store.upload(REPO / "schemas" / "penguin" / "schema.pbtxt", "schema/schema.pbtxt")
    write_rows(tmp_path / "span-1.csv", few_chinstraps)
    store.upload(tmp_path / "span-1.csv", "data/span-1/penguins.csv")
    spec = write_spec(tmp_path, SPEC.format(bucket=bucket, endpoint=store.endpoint, secret=SECRET))
    compiled = tmp_path / "pipeline.yaml"
    assert kubeflow_runner.main(["--config", str(spec), "--output", str(compiled)]) == 0

    # What the cluster gets: endpoint settings in every container, the keys only by secret reference.
    pipeline, platform = load_pipeline_spec(compiled), load_platform_spec(compiled)
    text = compiled.read_text()
    assert store.secret_key not in text and store.access_key not in text
    for name, executor in pipeline["deploymentSpec"]["executors"].items():
        env = {e["name"]: e["value"] for e in executor["container"]["env"]}
        assert env["S3_ENDPOINT"] == env["AWS_ENDPOINT_URL_S3"] == store.endpoint
        secret = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][name]["secretAsEnv"]
        assert secret == [{"secretName": SECRET, "keyToEnv": [
            {"secretKey": "accesskey", "envVar": "AWS_ACCESS_KEY_ID"},
            {"secretKey": "secretkey", "envVar": "AWS_SECRET_ACCESS_KEY"}]}]
    secrets = {SECRET: {"accesskey": store.access_key, "secretkey": store.secret_key}}
    # The test process itself has no S3 settings: each task gets them only from the compiled spec.
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    for key in store.env():
        assert key not in os.environ

    # KFP's cache across the three runs, as the KFP server keeps it: a task whose inputs, parameters
    # and container are those of a completed execution is not run again.
    cache = ExecutionCache()

    def run(name: str):
        with open(tmp_path / f"{name}.log", "w") as log:
            return run_pipeline_spec(pipeline, f"s3://{bucket}/pipelines/{name}", env=env, log=log,
                                     platform=platform, secrets=secrets, cache=cache)

    def cached(name: str) -> set[str]:
        return set(cache.reused[f"s3://{bucket}/pipelines/{name}"])

    first = run("run-1")  # span 1: every task succeeds (the launcher raises otherwise)
    assert cached("run-1") == set()
    assert _decision(first)["pushed"] == 1.0
    assert _decision(first)["pushed_destination"] == f"s3://{bucket}/serving/1"
    serving = store.keys("serving/")
    assert "serving/1/saved_model.pb" in serving and "serving/1/push_metadata.json" in serving
    assert not [k for k in serving if k.startswith("serving/.tmp-")]
    assert any(k.startswith("pipelines/run-1/Trainer/model/") for k in store.keys("pipelines/run-1/"))

    # Version 1 deleted by hand on the store: the next run (same data, same model) finds nothing
    # serving and pushes again. Its Evaluator and Pusher cannot come from KFP's cache: the
    # compiled spec turns it off for the stages that read the serving directory.
    for task in ("ServingState", "Evaluator", "Pusher"):
        assert pipeline["root"]["dag"]["tasks"][task]["cachingOptions"] == {"enableCache": False}
    assert pipeline["root"]["dag"]["tasks"]["Trainer"]["cachingOptions"] == {"enableCache": True}
    for key in store.keys("serving/1/"):
        store.client().delete_object(Bucket=bucket, Key=key)
    second = run("run-2")
    # Same span, same fingerprint (ExampleGen's driver ran again to find out): every stage up to the
    # Trainer comes from the cache, so run 2 pushes run 1's model; the serving stages ran.
    assert cached("run-2") == set(pipeline["root"]["dag"]["tasks"]) - {"ServingState", "Evaluator", "Pusher"}
    assert second["Trainer"]["model"]["uri"] == first["Trainer"]["model"]["uri"]
    verdict = json.loads(store.client().get_object(
        Bucket=bucket, Key="pipelines/run-2/Evaluator/blessing/blessing.json")["Body"].read())
    assert verdict["baseline"] == f"no model is serving at s3://{bucket}/serving"
    assert _decision(second)["pushed_destination"] == f"s3://{bucket}/serving/2"  # numbers are never reused

    write_rows(tmp_path / "span-2.csv", lambda rows: rows)  # span 2: all species, a better model
    store.upload(tmp_path / "span-2.csv", "data/span-2/penguins.csv")
    third = run("run-3")
    assert cached("run-3") == {"SchemaGen"}  # a new span: everything that reads the examples runs again
    assert third["Trainer"]["model"]["uri"] == f"s3://{bucket}/pipelines/run-3/Trainer/model"
    verdict = json.loads(store.client().get_object(
        Bucket=bucket, Key="pipelines/run-3/Evaluator/blessing/blessing.json")["Body"].read())
    assert verdict["baseline"] == f"serving model s3://{bucket}/serving/2"
    assert _decision(third)["pushed_destination"] == f"s3://{bucket}/serving/3"
    metadata = json.loads(store.client().get_object(Bucket=bucket,
                                                    Key="serving/3/push_metadata.json")["Body"].read())
    assert metadata["data_span"] == 2 and metadata["version"] == 3

    # The pushed model loads from the store and classifies (a fresh process, as TF Serving would).
    script = LOAD_AND_CLASSIFY.format(repo=str(REPO), path=f"s3://{bucket}/serving/3")
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **store.env(), **env},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["Adelie", "Gentoo"]


def test_compiled_spec_without_a_secret_has_no_platform_spec(tmp_path):
    text = SPEC.format(bucket="b", endpoint="http://minio-service.kubeflow:9000", secret="x").replace(
        ", credentials_secret: x", "")
    compiled = tmp_path / "p.yaml"
    spec = write_spec(tmp_path, text)
    assert kubeflow_runner.main(["--config", str(spec), "--output", str(compiled)]) == 0
    documents = [d for d in yaml.safe_load_all(compiled.read_text()) if d]
    assert len(documents) == 1
    env = {e["name"]: e["value"] for e in
           documents[0]["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["env"]}
    assert env["S3_ENDPOINT"] == "http://minio-service.kubeflow:9000" and env["S3_USE_HTTPS"] == "0"
    assert "AWS_ACCESS_KEY_ID" not in env
