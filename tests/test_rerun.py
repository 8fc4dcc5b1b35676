"""An unchanged re-run is decided before TensorFlow is imported and prints the last run's summary;
any change (one byte of data, one spec field, a new span, a removed serving version) runs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli, write_spec
from tests.test_data_gate import write_rows

SPEC = """
name: penguin-rerun
data: {{path: {data}, pattern: "span-{{SPAN}}/*.csv", label: species, exclude: [year]}}
schema: {{path: {schema}}}
trainer: {{max_epochs: 10}}
pusher: {{keep_versions: {keep}}}
"""


def ran(result) -> bool:
    assert result.returncode == 0, result.stdout + result.stderr
    return "ExampleGen        started" in result.stdout


def test_the_fast_path_imports_no_tensorflow():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from pipelines import local_runner; "
            "from pipelines.local import rerun; from pipelines.runs import paths, summary; "
            "print('tensorflow' in sys.modules, 'tfx' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_unchanged_reruns_skip_and_every_change_runs(tmp_path):
    schema = REPO / "schemas" / "penguin" / "schema.pbtxt"

    def spec(keep: int) -> str:
        return str(write_spec(tmp_path, SPEC.format(data=tmp_path / "data", schema=schema, keep=keep)))

    root = ["--root", str(tmp_path / "root")]
    write_rows(tmp_path / "data" / "span-1" / "p.csv", lambda rows: rows[::2])
    assert ran(run_cli("--config", spec(5), *root))
    unchanged = run_cli("--config", spec(5), *root)
    assert not ran(unchanged) and "nothing changed since run " in unchanged.stdout
    assert "metrics: accuracy=" in unchanged.stdout  # the last run's summary, from ML Metadata

    csv = tmp_path / "data" / "span-1" / "p.csv"
    csv.write_text(csv.read_text().replace("39.1", "39.2", 1))  # one byte
    assert ran(run_cli("--config", spec(5), *root))
    assert not ran(run_cli("--config", spec(5), *root))

    assert ran(run_cli("--config", spec(4), *root))  # one spec field
    assert not ran(run_cli("--config", spec(4), *root))

    shutil.rmtree(tmp_path / "root" / "serving" / "1")  # a removed serving version
    assert ran(run_cli("--config", spec(4), *root))

    write_rows(tmp_path / "data" / "span-2" / "p.csv", lambda rows: rows[::2])  # a new span (no drift)
    assert ran(run_cli("--config", spec(4), *root))
    assert not ran(run_cli("--config", spec(4), *root))


def fingerprint_of(spec_path, root, env: dict | None = None) -> str:
    """rerun.fingerprint of a spec at a root, computed in a fresh process (as a run computes it)."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from pipelines.local import rerun; "
            "from pipelines.runs.paths import RunPaths; from pipelines.spec import load_spec; "
            f"s = load_spec({str(spec_path)!r}); print(rerun.fingerprint(s, RunPaths.of(s, {str(root)!r})))")
    import os

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": "", **(env or {})}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_fingerprint_sees_what_size_and_mtime_hide(tmp_path):
    """A copy that keeps size and mtime (`cp -p`), a new version of the stack, and an edited file
    inside a serving version (the schema later runs validate against) each change it."""
    import os

    csv = tmp_path / "data" / "p.csv"
    write_rows(csv, lambda rows: rows[::2])
    spec = write_spec(tmp_path, f"name: fp\ndata: {{path: {tmp_path / 'data'}, label: species}}\n")
    root = tmp_path / "root"
    version = root / "serving" / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"model")
    (version / "assets.extra" / "schema.pbtxt").write_text('feature { name: "island" }\n')
    first = fingerprint_of(spec, root)
    assert fingerprint_of(spec, root) == first  # stable

    stat = csv.stat()
    replacement = tmp_path / "copy.csv"
    replacement.write_bytes(csv.read_bytes().replace(b"39.1", b"39.2", 1))  # same size, one byte differs
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, csv)  # what `cp -p` / `rsync -t` leave: same size and mtime
    assert csv.stat().st_size == stat.st_size and csv.stat().st_mtime_ns == stat.st_mtime_ns
    second = fingerprint_of(spec, root)
    assert second != first

    fake = tmp_path / "site"  # an installed distribution with another version, first on the path
    (fake / "keras-99.0.0.dist-info").mkdir(parents=True)
    (fake / "keras-99.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: keras\nVersion: 99.0.0\n")
    assert fingerprint_of(spec, root, env={"PYTHONPATH": str(fake)}) != second

    (version / "assets.extra" / "schema.pbtxt").write_text('feature { name: "islands" }\n')
    assert fingerprint_of(spec, root) != second


@pytest.mark.slow
@pytest.mark.e2e
def test_a_data_edit_made_while_a_run_goes_is_not_recorded_as_covered(tmp_path):
    import os

    csv = tmp_path / "data" / "p.csv"
    write_rows(csv, lambda rows: rows[::2])
    spec = write_spec(tmp_path, SPEC.format(data=tmp_path / "data",
                                            schema=REPO / "schemas" / "penguin" / "schema.pbtxt",
                                            keep=5).replace('pattern: "span-{SPAN}/*.csv", ', ""))
    run = subprocess.Popen([sys.executable, str(REPO / "pipelines" / "local_runner.py"), "--config",
                            str(spec),
                            "--root", str(tmp_path / "root")], cwd=REPO, env={**os.environ, "PYTHONPATH": ""},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    edited = False
    for line in run.stdout:
        if not edited and "Trainer           started" in line:  # ExampleGen has read the file
            csv.write_text(csv.read_text().replace("39.1", "39.2", 1))
            edited = True
    assert run.wait(timeout=600) == 0 and edited
    assert ran(run_cli("--config", str(spec), "--root", str(tmp_path / "root")))  # the edit was not covered
