"""Safe to leave running: one run per root (real processes started together), degenerate data
refused before training, unwritable roots found before any work."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from components.common import serving_dir
from tests.conftest import PENGUIN_YAML, REPO, run_cli, write_spec
from tests.test_data_gate import write_rows


def start_run(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.Popen([sys.executable, str(REPO / "pipelines" / "local_runner.py"), *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.e2e
def test_two_runs_on_one_root_run_one_after_the_other_and_push_once(tmp_path):
    root = tmp_path / "root"
    first = start_run("--root", str(root))
    lock = root / ".run.lock"
    deadline = time.time() + 120
    while not (lock.exists() and "pid" in lock.read_text()):
        assert time.time() < deadline and first.poll() is None, "the first run never took the root"
        time.sleep(0.1)
    second = start_run("--root", str(root))
    impatient = start_run("--root", str(root), "--no-wait")
    out, err = impatient.communicate(timeout=120)
    assert impatient.returncode == 1, out + err
    assert re.search(rf"{re.escape(str(root))} is in use by pid {first.pid} \(tfx-yaml run\) since ", err)
    first_out, first_err = first.communicate(timeout=600)
    second_out, second_err = second.communicate(timeout=600)
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 0, second_out + second_err
    assert f"in use by pid {first.pid}" in second_out  # it said whom it waited for
    assert serving_dir.versions(str(root / "serving")) == [1]  # one push, not two
    first_run = re.search(r"^run (\S+):", first_out, re.MULTILINE).group(1)
    second_run = re.search(r"^run (\S+):", second_out, re.MULTILINE).group(1)
    assert first_run != second_run  # each process reports the run it started
    assert f"pid{first.pid}" in first_run and f"pid{second.pid}" in second_run
    # The second run found the first one's push: it compared the (cached) model with it.
    assert re.search(r"^run \S+: .*Trainer cached, ServingState complete, Evaluator complete", second_out,
                     re.MULTILINE)
    assert f"not pushed: identical to the serving version {root / 'serving' / '1'}" in second_out


def penguin_spec(tmp_path, data, extra: str = "") -> str:
    text = PENGUIN_YAML.read_text().replace("path: data", f"path: {data}").replace(
        "path: schema.pbtxt", f"path: {REPO / 'schemas' / 'penguin' / 'schema.pbtxt'}")
    return str(write_spec(tmp_path, text + extra, "spec.yaml"))


@pytest.mark.slow
def test_a_single_class_label_is_refused_before_training(tmp_path):
    write_rows(tmp_path / "data" / "penguins.csv", lambda rows: [r for r in rows if r["species"] == "Adelie"])
    result = run_cli("--config", penguin_spec(tmp_path, tmp_path / "data"), "--root", str(tmp_path / "root"))
    assert result.returncode == 2, result.stdout + result.stderr  # refused before any work
    assert "the label 'species' has 1 distinct value ('Adelie') in the data" in result.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
def test_a_five_row_file_is_refused_before_any_work_with_the_counts(tmp_path):
    write_rows(tmp_path / "data" / "penguins.csv",
               lambda rows: [rows[0], rows[1], rows[200], rows[201], rows[300]])
    result = run_cli("--config", penguin_spec(tmp_path, tmp_path / "data"), "--root", str(tmp_path / "root"))
    assert result.returncode == 2, result.stdout + result.stderr  # refused before any work
    assert ("label 'species' has 3 classes (3 distinct value(s)) for 5 rows of the data: fewer than 10 rows "
            "per class") in result.stderr
    assert "add rows" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("where", ["root_is_a_file", "read_only_root", "destination_is_a_file"])
def test_an_unwritable_root_or_destination_is_found_before_any_work(tmp_path, where):
    root = tmp_path / "root"
    extra = ""
    if where == "root_is_a_file":
        root.write_text("not a folder")
    elif where == "read_only_root":
        parent = tmp_path / "ro"
        parent.mkdir()
        subprocess.run(["mount", "--bind", "-o", "ro", str(parent), str(parent)], check=False)
        if os.access(parent, os.W_OK) and subprocess.run(
                ["touch", str(parent / "x")], check=False).returncode == 0:
            subprocess.run(["umount", str(parent)], check=False)
            pytest.skip("cannot make a read-only folder here")
        root = parent / "root"
    else:
        (tmp_path / "dest").write_text("a file")
        extra = f"pusher: {{destination: {tmp_path / 'dest'}}}\n"
    spec = penguin_spec(tmp_path, REPO / "pipelines" / "penguin" / "data")
    if extra:
        text = open(spec).read().split("pusher:")[0] + extra  # noqa: SIM115
        spec = str(write_spec(tmp_path, text, "spec2.yaml"))
    try:
        result = run_cli("--config", spec, "--root", str(root))
    finally:
        if where == "read_only_root":
            subprocess.run(["umount", str(tmp_path / "ro")], check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    key = "pusher.destination" if where == "destination_is_a_file" else "runtime.root"
    assert f"key '{key}" in result.stderr and ("is a file" in result.stderr
                                               or "not writable" in result.stderr)
    assert "Traceback" not in result.stderr
    if where != "root_is_a_file":
        assert not (root / "run.log").exists()


def grams_to_kilograms(rows):
    for row in rows:
        if row["body_mass_g"] not in ("", "NA"):
            row["body_mass_g"] = str(float(row["body_mass_g"]) / 1000)
    return rows


def new_island(rows):
    for i, row in enumerate(rows):
        if i % 4 == 0:
            row["island"] = "Atlantis"
    return rows


def text_in_a_numeric_column(rows):
    for i, row in enumerate(rows):
        if i % 5 == 0:
            row["flipper_length_mm"] = "long"
    return rows


@pytest.mark.slow
@pytest.mark.e2e
def test_without_a_curated_schema_the_serving_models_schema_and_data_hold_the_gate(tmp_path):
    """The first run's inferred schema is kept with the model it pushed; later runs are validated
    against it and checked for drift against its data, so bad data stops before training."""
    text = "\n".join(line for line in PENGUIN_YAML.read_text().splitlines()
                     if "schema.pbtxt" not in line and not line.startswith("schema:"))
    spec = str(write_spec(tmp_path, text.replace("path: data", f"path: {tmp_path / 'data'}"), "spec.yaml"))
    root = tmp_path / "root"
    write_rows(tmp_path / "data" / "penguins.csv", lambda rows: rows)
    first = run_cli("--config", spec, "--root", str(root))
    assert first.returncode == 0, first.stdout + first.stderr
    kept = root / "serving" / "1" / serving_dir.SCHEMA_FILE
    assert kept.exists() and (root / "serving" / "1" / serving_dir.STATISTICS_FILE).exists()
    assert 'name: "island"' in kept.read_text()
    frozen = tmp_path / "frozen" / "schema.pbtxt"
    from pipelines import cli

    assert cli.main(["schema", "freeze", "--config", spec, "--root", str(root), "--output", str(frozen)]) == 0
    assert frozen.read_text() == kept.read_text()

    for transform, expected in ((new_island, r"feature 'island': Unexpected string values"),
                                (grams_to_kilograms, (r"feature 'body_mass_g': .*Jensen-Shannon|"
                                                      r"COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH")),
                                (text_in_a_numeric_column, r"feature 'flipper_length_mm'")):
        write_rows(tmp_path / "data" / "penguins.csv", transform)
        result = run_cli("--config", spec, "--root", str(root))
        assert result.returncode == 1, transform.__name__ + result.stdout + result.stderr
        assert "FAILED in DataGate" in result.stdout, result.stdout
        assert re.search(expected, result.stdout), transform.__name__ + result.stdout
        assert serving_dir.versions(str(root / "serving")) == [1]
        assert "Traceback" not in result.stdout


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_9_in_every_stage_never_leaves_a_partial_version_and_the_next_run_completes(tmp_path):
    from pipelines.build.compiler import STAGES

    root = tmp_path / "root"
    serving = root / "serving"
    for stage in STAGES:  # each run is killed as `stage` starts; the stages before it are cached by then
        process = start_run("--root", str(root))
        for line in process.stdout:
            if re.search(rf"\] {stage} +started", line):
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=600)
        assert process.returncode == -signal.SIGKILL, f"the run ended before {stage} started"
        partial = [p.name for p in serving.iterdir()
                   if p.name.isdigit() and not (p / "saved_model.pb").exists()] \
            if serving.exists() else []
        assert partial == [], f"killed in {stage}: partial versions {partial}"
        assert not (root / ".run.lock").exists() or "pid" in (root / ".run.lock").read_text()
    final = run_cli("--root", str(root), "--no-wait")  # the lock died with its process: no waiting
    assert final.returncode == 0, final.stdout + final.stderr
    versions = serving_dir.versions(str(serving))
    assert versions in ([1], [1, 2]) and (serving / str(versions[-1]) / serving_dir.METADATA_FILE).exists()
