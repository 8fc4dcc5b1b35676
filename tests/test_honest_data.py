"""Issue 18, honest data: the task inferred as a statistician would (a count label is a regression,
too many classes are refused, a loss of the other task is refused), rows without a label never
dropped silently, ID-like text columns refused, the plan said, and a validation split (carved
from the train rows) for every training decision while the eval split is the Evaluator's alone.

Data: tests/data/honest/visits.csv, 360 rows of doctor visits (an integer count 0..36, 9 rows
without it, a unique `date` per row)."""

from __future__ import annotations

import json
import re

import pytest

from components.common.features import PlanError, infer_task
from pipelines import cli
from tests.conftest import REPO, run_cli, write_spec

VISITS = REPO / "tests" / "data" / "honest" / "visits.csv"


def test_task_inference_rules():
    task, why = infer_task("visits", "int", 78, 20_190, low=0, high=77)  # the doctor visits
    assert task == "regression" and "values 0..77 (78 possible classes)" in why and "trainer.task" in why
    assert infer_task("y", "int", 3, 300)[0] == "classification"  # a few integer classes
    assert infer_task("y", "int", 15, 500)[0] == "regression"  # more than 10 and more than rows / 50
    assert infer_task("y", "int", 15, 1000)[0] == "classification"
    assert infer_task("y", "string", 40, 1000)[0] == "classification"
    assert infer_task("y", "float", 0, 100)[0] == "regression"
    with pytest.raises(PlanError,
                       match=r"label 'visits' has 78 classes .* for 500 train rows: fewer than 10 rows"):
        infer_task("visits", "int", 78, 500, task="classification", low=0, high=77)
    with pytest.raises(PlanError, match=r"'mse' is a regression loss, but label 'species' holds text"):
        infer_task("species", "string", 3, 300, loss="mse")
    with pytest.raises(PlanError, match=r"'kl_divergence' needs classes, but label 'mass' holds fractional"):
        infer_task("mass", "float", 0, 300, loss="kl_divergence")
    with pytest.raises(PlanError, match=r"'sparse_categorical_crossentropy' needs classes.*set trainer.task: "
                                        "classification"):
        infer_task("visits", "int", 78, 20_190, loss="sparse_categorical_crossentropy", low=0, high=77)


def _check(tmp_path, capsys, data: str) -> tuple[int, str, str]:
    spec = write_spec(tmp_path, f"name: visits\ndata: {{path: {VISITS}, label: visits{data}}}\n")
    code = cli.main(["check", str(spec)])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_names_the_unlabelled_rows_and_then_says_the_plan(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = _check(tmp_path, capsys, "")
    assert code == 2
    assert ("visits.csv: 9 row(s) have no value in the label column 'visits' (line 6, 24, 107, 115, 127 and "
            "4 more); fill them in or remove them, or set data.drop_unlabeled: true") in err
    code, out, err = _check(tmp_path, capsys, ", drop_unlabeled: true")
    assert code == 2, out
    assert (f"data file {VISITS}: column(s) 'date' (360 distinct values in 360 rows) look like identifiers, "
            "dates or free text") in err, err
    assert "Add them to data.exclude in the spec (data: {exclude: [date]})" in err, err
    code, out, err = _check(tmp_path, capsys, ", drop_unlabeled: true, exclude: [date]")
    assert code == 0, err
    assert ("plan: task: regression (integer label 'visits' takes values 0..36 (37 possible classes) in 351 "
            "rows") in out


def test_check_prints_each_columns_encoding(tmp_path, monkeypatch, capsys):
    """The per-column plan at check time, in Batching's words (the same functions)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = _check(tmp_path, capsys, ", drop_unlabeled: true, exclude: [date]")
    assert code == 0, err
    assert "plan:   sex: categorical, one-hot over 2 values + 1 slot for missing or unseen ones" in out, out
    assert re.search(r"plan:   age: numeric, standardized \(mean [\d.]+, std [\d.]+\)", out), out
    assert "plan:   date: excluded (data.exclude)" in out
    assert out.index("plan: task") < out.index("plan:   sex")


def test_an_id_like_column_already_excluding_others_names_the_whole_exclude_line(tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = _check(tmp_path, capsys, ", drop_unlabeled: true, exclude: [sex]")
    assert code == 2
    assert "(data: {exclude: [sex, date]})" in err, err


def test_batching_applies_the_same_id_like_rule_to_the_train_statistics():
    """build_plan (Batching) on real schema and statistics protos: the same rule and words."""
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    from components.common.features import build_plan

    schema = schema_pb2.Schema()
    for name, kind in (("visits", schema_pb2.INT), ("age", schema_pb2.FLOAT), ("date", schema_pb2.BYTES)):
        schema.feature.add(name=name, type=kind)
    stats = statistics_pb2.DatasetFeatureStatistics(num_examples=300)
    label = stats.features.add()
    label.path.step.append("visits")
    label.num_stats.min, label.num_stats.max, label.num_stats.mean, label.num_stats.std_dev = 0, 36, 3.0, 2.0
    label.num_stats.common_stats.num_non_missing = 300
    age = stats.features.add()
    age.path.step.append("age")
    age.num_stats.mean, age.num_stats.std_dev = 40.0, 12.0
    date = stats.features.add()
    date.path.step.append("date")
    date.string_stats.unique = 290
    date.string_stats.common_stats.num_non_missing = 300
    with pytest.raises(PlanError, match=r"column\(s\) 'date' \(290 distinct values in 300 rows\) look like "
                                        r"identifiers.*\(data: \{exclude: \[year, date\]\}\)"):
        build_plan(schema, stats, "visits", ["year"])
    plan = build_plan(schema, stats, "visits", ["date"])
    assert plan.encodings == {"age": "numeric, standardized (mean 40, std 12)",
                              "date": "excluded (data.exclude)"}


@pytest.fixture(scope="module")
def visits_runs(tmp_path_factory):
    """Two real runs on visits.csv: with the ID-like `date` column (refused in Batching), then
    with it excluded and the unlabelled rows dropped (completes)."""
    tmp = tmp_path_factory.mktemp("visits")
    refused = run_cli("--config", str(write_spec(tmp, f"""
name: visits
data: {{path: {VISITS}, label: visits, drop_unlabeled: true}}
trainer: {{max_epochs: 25}}
runtime: {{root: {tmp / 'refused'}}}
""", "refused.yaml")))
    root = tmp / "root"
    done = run_cli("--config", str(write_spec(tmp, f"""
name: visits
data: {{path: {VISITS}, label: visits, exclude: [date], drop_unlabeled: true}}
trainer: {{max_epochs: 25}}
runtime: {{root: {root}}}
""", "done.yaml")))
    return refused, done, root


@pytest.mark.slow
def test_an_id_like_column_is_refused_naming_it_and_data_exclude(visits_runs):
    refused, _, _ = visits_runs
    said = refused.stdout + refused.stderr
    assert refused.returncode == 2, said  # refused before any stage, by the checks `run` shares with `check`
    assert re.search(r"column\(s\) 'date' \(360 distinct values in 360 rows\) look like identifiers, dates "
                     r"or free text", said), said
    assert "Add them to data.exclude in the spec (data: {exclude: [date]})" in said
    assert "Trainer           started" not in refused.stdout


@pytest.mark.slow
def test_the_run_says_its_plan_and_the_rows_each_split_lost(visits_runs):
    _, done, _ = visits_runs
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "plan: task: regression (integer label 'visits' takes values 0..36 (37 possible classes) in" in out
    assert "plan:   sex: categorical, one-hot over 2 values + 1 slot for missing or unseen ones" in out
    assert "plan:   age: numeric, standardized (mean " in out
    assert "plan:   date: excluded (data.exclude)" in out
    assert re.search(r"plan: label 'visits' is missing \(empty, NA or NaN\) in \d of \d+ train rows and \d "
                     r"of \d+ eval rows; dropped \(data.drop_unlabeled: true\)", out)
    assert out.index("plan: task") < out.index("Trainer           started")  # before training
    assert re.search(r"rows used: train \d+, validation \d+ \(training decisions\), eval \d+ \(metrics\); "
                     r"rows dropped without a usable label \(data.drop_unlabeled\): train \d, eval \d", out)


@pytest.mark.slow
def test_training_decisions_use_the_validation_split_and_the_sizes_add_up(visits_runs):
    _, done, root = visits_runs
    assert done.returncode == 0
    model_run = root / "pipeline" / "Trainer" / "model_run"
    history = json.loads(next(model_run.glob("*/history.json")).read_text())
    splits, lost = history["splits"], history["rows_dropped"]
    assert splits["train"] + splits["validation"] + lost["train"]["no_label"] + splits["eval"] + \
        lost["eval"]["no_label"] == 360
    assert lost["train"]["no_label"] + lost["eval"]["no_label"] == 9
    assert 0.05 < splits["validation"] / (splits["train"] + splits["validation"]) < 0.2  # 10 % by default
    assert history["validation_fraction"] == 0.1
    assert history["decisions"]["early_stopping"] == "validation (val_loss)"
    assert history["decisions"]["restored_epoch"] == "validation"
    assert history["decisions"]["evaluator"].startswith("eval")
    evaluation = root / "pipeline" / "Evaluator" / "evaluation"
    metrics = json.loads(next(evaluation.glob("*/metrics.json")).read_text())
    assert metrics["candidate"]["examples"] == splits["eval"]  # the Evaluator scored the rows it said it used
    report = next((root / "reports").glob("*.html")).read_text(encoding="utf-8")
    assert f"<b>validation</b> {splits['validation']:,}" in report and "validation loss" in report


def test_check_profiles_columns_as_example_gen_types_them(tmp_path, monkeypatch, capsys):
    """Over blocks of a file larger than the check's 1 MiB read blocks: spaces around numbers are
    trimmed (ExampleGen does), a column of integers with one fractional value is numeric, and a
    column whose numbers turn to text late is a category (the count of distinct values then a
    floor, never an ID-like refusal on it)."""
    monkeypatch.chdir(tmp_path)
    rows = ["y,padded,mixed,late,kind"]
    for i in range(120_000):
        late = str(i % 7) if i < 119_000 else f"code-{i % 5}"
        rows.append(f"{'yes' if i % 3 else 'no'}, {i % 11} ,{i % 9 if i != 5 else 2.5},{late},{'ab'[i % 2]}")
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert data.stat().st_size > 3 << 19  # more than one 1 MiB block; the text comes in the last one
    spec = write_spec(tmp_path, f"name: rows\ndata: {{path: {data}, label: y}}\n")
    assert cli.main(["check", str(spec)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert re.search(r"plan:   padded: numeric, standardized \(mean 5, std 3\.16\d\)", out), out
    assert "plan:   mixed: numeric, standardized" in out
    assert "plan:   late: categorical, one-hot over 12 values" in out and "(some cells are numbers)" in out
    assert "plan:   kind: categorical, one-hot over 2 values" in out
