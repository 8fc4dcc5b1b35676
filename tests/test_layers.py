"""The layering (README "Layout"): import-linter's contracts in pyproject.toml hold, and they can
break; the core imports nothing else of the project; one URI rule; no import circle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_import_contracts_hold():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_a_runner_breaks_the_contracts(tmp_path):
    for package in ("pipelines", "components"):
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    uris = tmp_path / "pipelines" / "core" / "uris.py"
    uris.write_text(uris.read_text() + "\n\ndef _runner():\n    from pipelines.local import runner  # noqa\n")
    spec = tmp_path / "pipelines" / "spec" / "models.py"
    spec.write_text(spec.read_text() + "\n\ndef _tfx():\n    import tfx  # noqa\n")
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                            check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a layer imports only the layers below it BROKEN" in result.stdout
    assert "the core imports nothing else of the project and none of the ML stack BROKEN" in result.stdout
    assert "the spec knows no TFX (nor Beam, TensorFlow, ML Metadata, Keras) BROKEN" in result.stdout
    assert "pipelines.core.uris -> pipelines.local.runner" in result.stdout


def test_the_core_imports_nothing_else_of_the_project():
    """In a fresh process, with the `pipelines` package's __init__ (the API façade) left out: importing
    every core module loads no other module of the project, and none of the ML stack."""
    code = (
        "import sys, types\n"
        "package = types.ModuleType('pipelines')\n"
        "package.__path__ = ['pipelines']\n"
        "sys.modules['pipelines'] = package\n"
        "import pipelines.core.cron, pipelines.core.paths, pipelines.core.private, pipelines.core.results\n"
        "import pipelines.core.uris, pipelines.core.version\n"
        "ours = sorted(m for m in sys.modules if m.split('.')[0] in ('pipelines', 'components'))\n"
        "print(' '.join(ours))\n"
        "print(' '.join(m for m in ('tensorflow', 'tfx', 'apache_beam', 'ml_metadata', 'pydantic', 'yaml')\n"
        "               if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    ours, heavy = (result.stdout.splitlines() + ["", ""])[:2]
    assert "pipelines.core.paths" in ours.split()
    assert {m for m in ours.split() if not m.startswith("pipelines.core")} == {"pipelines"}, ours
    assert heavy == ""


def test_one_uri_rule_for_the_spec_the_runners_and_the_file_layer(tmp_path):
    """file:// is local everywhere: the loader resolves it to a plain path, the destination rule
    keeps it as one, and the file layer's is_remote is the core's."""
    from pipelines.core import uris
    from pipelines.core.paths import resolve_destination
    from pipelines.spec import loader

    assert not uris.is_remote("file:///data/x.csv") and uris.is_remote("s3://bucket/x.csv")
    assert not uris.is_remote("/data/x.csv") and not uris.is_remote("data/x.csv")
    assert loader.is_uri is not None and loader.is_uri("gs://b/x") and not loader.is_uri("file:///x")
    assert uris.join("s3://b/root", "serving", "1") == "s3://b/root/serving/1"
    assert uris.join("/root", "serving") == "/root/serving"
    assert resolve_destination("file:///srv/models", "/root") == "/srv/models"
    assert resolve_destination("serving", "/root") == "/root/serving"
    assert resolve_destination("serving", "s3://b/root") == "s3://b/root/serving"
    assert resolve_destination("gs://b/models", "/root") == "gs://b/models"

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,label\n1,0\n2,1\n")
    spec_text = (REPO / "pipelines" / "penguin" / "pipeline.yaml").read_text()
    spec_text = spec_text.replace("path: data", f"path: file://{data}", 1)
    path = tmp_path / "pipeline.yaml"
    path.write_text(spec_text)
    spec = loader.load_spec(path)
    assert spec.data.path == str(data)  # a plain local path: the fast path and preflight stat it


def test_no_import_circle_among_the_projects_modules():
    """api -> local/runner -> api was a circle (RunResult, load, version); kubeflow/runner took the
    exit codes from local/runner. The runners now take them from the core."""
    import grimp

    graph = grimp.build_graph("pipelines", "components", cache_dir=None)
    for runner in ("pipelines.local.runner", "pipelines.kubeflow.runner", "pipelines.local.scheduler"):
        assert not graph.find_shortest_chain(importer=runner, imported="pipelines.api"), runner
    assert not graph.find_shortest_chain(importer="pipelines.kubeflow.runner",
                                         imported="pipelines.local.runner")
