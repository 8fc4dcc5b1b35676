"""The anomaly gate: bad data stops the run before batching and training, with a readable report."""

from __future__ import annotations

import csv

import pytest

from pipelines.runs.summary import latest_run
from tests.conftest import PENGUIN_CSV, REPO, run_cli, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def penguin_spec(tmp_path, data_dir, extra: str = "") -> str:
    schema = REPO / "schemas" / "penguin" / "schema.pbtxt"
    text = f"""
name: penguin-gate
data: {{path: {data_dir}, label: species, exclude: [year]}}
schema: {{path: {schema}}}
trainer: {{max_epochs: 5}}
runtime: {{root: {tmp_path / 'root'}}}
{extra}
"""
    return str(write_spec(tmp_path, text))


def write_rows(path, transform):
    with open(PENGUIN_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    rows = transform(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def corrupt(rows):
    for i, row in enumerate(rows):
        if i % 10 == 0:
            row["island"] = "Atlantis"  # a value outside the schema's domain
        if i % 7 == 0:
            row["body_mass_g"] = "heavy"  # text in a numeric column
    return rows


def test_anomalous_data_stops_the_run_before_training_with_a_report(tmp_path, browser):
    write_rows(tmp_path / "data" / "penguins.csv", corrupt)
    result = run_cli("--config", penguin_spec(tmp_path, tmp_path / "data"))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "FAILED in DataGate: Data validation failed" in out
    assert "Nothing was trained or pushed" in out
    assert "feature 'island'" in out and "Atlantis" in out
    assert "feature 'body_mass_g'" in out
    assert "Traceback" not in out + result.stderr
    summary = latest_run(str(tmp_path / "root" / "metadata.sqlite"))
    assert "Trainer" not in summary.executions and "Batching" not in summary.executions
    assert summary.executions["DataGate"] == "FAILED"
    # the run's HTML report, in a browser: the failure first, the gate's verdict and the anomalies
    from tests.test_report import report_of

    page, errors, _ = browser.open(report_of(out), tmp_path / "stopped.png")
    assert errors == []
    headings = page.locator("h2").all_inner_texts()
    assert headings[0] == "Failure" and page.locator("#failure").is_visible()
    assert "DataGate: Data validation failed" in page.locator("#failure").inner_text()
    assert page.locator("#gate-verdict").inner_text() == "data gate: STOPPED the run"
    anomalies = page.locator("#anomalies").inner_text()
    assert "island" in anomalies and "Atlantis" in anomalies and "body_mass_g" in anomalies
    assert page.locator("#stages tr.state-failed").inner_text().startswith("DataGate")
    assert page.get_by_text("the Trainer did not run.").is_visible()
    assert not (tmp_path / "root" / "serving").exists()


def test_exempt_features_and_fail_on_let_known_anomalies_through(tmp_path):
    write_rows(tmp_path / "data" / "penguins.csv", lambda rows: [
        {**r, "island": "Atlantis"} if i % 10 == 0 else r for i, r in enumerate(rows)])
    spec = penguin_spec(tmp_path, tmp_path / "data", "validation: {exempt_features: [island]}")
    result = run_cli("--config", spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pushed:" in result.stdout


def test_a_missing_column_is_reported_by_the_gate(tmp_path):
    write_rows(tmp_path / "data" / "penguins.csv",
               lambda rows: [{k: v for k, v in r.items() if k != "flipper_length_mm"} for r in rows])
    result = run_cli("--config", penguin_spec(tmp_path, tmp_path / "data"))
    assert result.returncode == 1
    assert "feature 'flipper_length_mm'" in result.stdout and "Traceback" not in result.stdout


def test_an_empty_file_is_bad_input_and_nothing_is_written(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "penguins.csv").write_text("")
    result = run_cli("--config", penguin_spec(tmp_path, tmp_path / "data"))
    assert result.returncode == 2
    assert "is empty; expected a CSV header line and rows" in result.stderr
    assert not (tmp_path / "root").exists()


def test_a_label_that_is_not_a_column_is_bad_input(tmp_path):
    write_rows(tmp_path / "data" / "penguins.csv", lambda rows: rows)
    spec = penguin_spec(tmp_path, tmp_path / "data")
    with open(spec) as f:
        text = f.read()
    with open(spec, "w") as f:
        f.write(text.replace("label: species", "label: specie"))
    result = run_cli("--config", spec)
    assert result.returncode == 2
    assert "column 'specie' is not in penguins.csv; its columns are: species, island" in result.stderr
    assert not (tmp_path / "root").exists()
