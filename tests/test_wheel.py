"""The wheel holds all the bundled pipeline needs: built with `pip wheel`, installed into a fresh
virtualenv, `tfx-yaml run` trains and pushes the penguin model from a folder outside the repo.

The new virtualenv gets its third-party packages from the project's .venv (a .pth file naming its
site-packages; .pth files there, such as the repo's editable install, are not read), so nothing
is downloaded but the build backend `pip wheel` fetches, as it does for a user."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO

# what a wheel is built from (the Dockerfile copies the same); schemas/: the bundled spec's schema
# is a link to schemas/penguin/schema.pbtxt
SOURCES = ("pyproject.toml", "README.md", "pipelines", "components", "schemas")


@pytest.mark.slow
def test_the_wheel_runs_the_bundled_pipeline_from_any_folder(tmp_path):
    # a copy, so that the build's build/ and *.egg-info/ are not left in (or taken from) the checkout
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path / "dist")], check=True)
    wheel = next((tmp_path / "dist").glob("tfx_yaml_pipelines-*.whl"))

    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "project_venv.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_path("purelib") + "\n")  # the .venv's site-packages, after the wheel's

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    imported = "import pipelines, components; print(pipelines.__file__); print(components.__file__)"
    where = subprocess.run([python, "-c", imported], cwd=elsewhere, env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    assert all(path.startswith(site) for path in where), where  # the installed copy, not the checkout

    result = subprocess.run([venv / "bin" / "tfx-yaml", "run", "--root", "root"], cwd=elsewhere, env=env,
                            check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    serving = elsewhere / "root" / "serving"
    assert f"pushed: {serving / '1'}" in result.stdout
    assert (serving / "1" / "saved_model.pb").exists()
    assert str(REPO) not in result.stdout  # the spec, data and schema came from the installed package
    # the report, from the wheel's templates (pipelines/runs/report/templates: package data)
    report = re.findall(r"^report: (/\S+\.html)$", result.stdout, flags=re.MULTILINE)
    assert report, result.stdout
    assert "<section id='evaluation'>" in Path(report[-1]).read_text(encoding="utf-8")
