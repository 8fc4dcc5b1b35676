"""Shared fixtures: the default penguin pipeline is run once per session and many tests read it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
PENGUIN_YAML = REPO / "pipelines" / "penguin" / "pipeline.yaml"
PENGUIN_CSV = REPO / "pipelines" / "penguin" / "data" / "penguins_raw.csv"


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python pipelines/local_runner.py ARGS` as a user runs it."""
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run([sys.executable, str(REPO / "pipelines" / "local_runner.py"), *args],
                          cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout)


class PipelineRun:
    def __init__(self, root: Path, result: subprocess.CompletedProcess):
        self.root, self.result = root, result
        self.stdout = result.stdout
        self.metadata = root / "metadata.sqlite"
        self.serving = root / "serving"


@pytest.fixture(scope="session")
def penguin_run(tmp_path_factory) -> PipelineRun:
    """The bundled pipeline, run once with no flags but --root, exactly as the README says."""
    root = tmp_path_factory.mktemp("penguin")
    result = run_cli("--root", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    return PipelineRun(root, result)


def write_spec(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class ObjectStore:
    """A real S3 API server (moto's server mode) on 127.0.0.1, with one bucket."""

    bucket = "pipelines"
    access_key, secret_key, region = "test-access-key", "test-secret-key", "us-east-1"

    def __init__(self, port: int):
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def env(self) -> dict[str, str]:
        """What a process needs to reach the store: tensorflow-io's S3 and boto3 (Beam) settings."""
        return {"S3_ENDPOINT": self.endpoint, "AWS_ENDPOINT_URL_S3": self.endpoint, "S3_USE_HTTPS": "0",
                "S3_VERIFY_SSL": "0", "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def upload(self, local: Path, key: str) -> str:
        self.client().upload_file(str(local), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="session")
def object_store() -> ObjectStore:
    """moto's S3 server, started for the test session and stopped after it."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = ObjectStore(port)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(store.endpoint, timeout=1)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto's S3 server did not start on {store.endpoint}")
            time.sleep(0.2)
    store.client().create_bucket(Bucket=store.bucket)
    yield store
    server.terminate()
    server.wait(timeout=10)
