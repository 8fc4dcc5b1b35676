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
