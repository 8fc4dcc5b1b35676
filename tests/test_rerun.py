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
    code = ("import sys; sys.path.insert(0, %r); from pipelines import local_runner, rerun, summary, paths; "
            "print('tensorflow' in sys.modules, 'tfx' in sys.modules)" % str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
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
