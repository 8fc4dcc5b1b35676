"""Issue 19: hostile specs, shared stores and secrets. Beam options by allowlist, deletion that
never follows symlinks, schedules that can fire, bounds on work, secrets kept out of logs, and
data files confined to data.path. Real files, real processes; the refusals themselves are in
tests/data/bad_specs (tests/test_bad_specs.py)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import checks, cli
from tests.conftest import REPO

PENGUIN = REPO / "pipelines" / "penguin"


def _spec(tmp_path: Path, extra: str = "", data: str | Path | None = None) -> Path:
    data = data or PENGUIN / "data"
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: sec\ndata:\n  path: {data}\n  label: species\n  exclude: [year]\n"
                    f"schema:\n  path: {REPO / 'schemas' / 'penguin' / 'schema.pbtxt'}\n"
                    f"trainer:\n  max_epochs: 5\n{extra}")
    return path


# -- 1. Beam options by allowlist ------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    ["--runner=DataflowRunner", "--project=p", "--region=europe-west1", "--temp_location=gs://b/tmp",
     "--worker_machine_type=n1-standard-8", "--worker_disk_type=pd-ssd", "--max_num_workers=20",
     "--sdk_container_image=gcr.io/p/tfx-yaml:1.0", "--no_use_public_ips", "--experiments=use_runner_v2"],
    ["--runner=FlinkRunner", "--flink_master=flink:8081", "--parallelism=4", "--environment_type=DOCKER",
     "--environment_config=apache/beam_python3.10_sdk:2.59.0", "--job-server-timeout=120"],
    ["--runner=SparkRunner", "--spark_master_url=spark://spark:7077", "--environment_type=EXTERNAL",
     "--environment_config=beam-worker-pool:50000"],
    ["--runner=PortableRunner", "--job_endpoint=jobservice.beam:8099", "--environment_type=DOCKER",
     "--environment_options=docker_container_image=registry.local/tfx-yaml@sha256:" + "a" * 64],
    ["--runner=direct", "--s3_endpoint_url=http://127.0.0.1:9000", "--s3_region_name=us-east-1"],
])
def test_documented_options_of_the_supported_runners_are_accepted(args):
    assert checks.beam_problems(args) == []


def test_check_accepts_a_dataflow_spec_with_its_machine_type(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, "runtime:\n  beam_pipeline_args: ['--runner=DataflowRunner', '--project=p', "
                           "'--region=us-central1', '--worker_machine_type=n2-highmem-4', "
                           "'--worker_disk_type=compute.googleapis.com/projects/p/zones/z/diskTypes/pd-ssd']\n")
    assert cli.main(["check", str(spec)]) == 0, capsys.readouterr().err


def test_every_refusal_says_why():
    for flag, reason in checks.BEAM_REFUSED.items():
        (problem,) = checks.beam_problems([f"--{flag}=x"])
        assert f"--{flag} is refused: " in problem and len(reason) > 30, problem
