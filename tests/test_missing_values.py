"""Issue 29 items 4 and 5: an empty cell is a missing value in the statistics, the report, the
inferred schema and the anomaly gate (TFX's CsvExampleGen writes it as an empty list, which TFDV
counts as present); an integer identifier (a running index, a dense id unique on every row) is refused
as a text one is, and a kept integer column with many distinct values is named in the plan.

Data is written here, with a known number of empty cells per column."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli, write_spec

ROWS = 400
# column -> rows (of ROWS) whose cell is empty
MISSING = {"x_full": 0, "x_some": 40, "n_some": 100, "color": 60, "mostly_empty": 368}


def write_csv(path, rows: int = ROWS, empty_n_some: float | None = None, seed: int = 0,
              empty_x_some: float | None = None) -> None:
    """`rows` rows: a label `kind` the model can learn from x_full, the columns of MISSING (their
    empty cells at fixed rows), `row` (a running index 1..rows, shuffled) and `code` (an integer
    with many distinct values, not unique). `empty_n_some`: the share of rows whose n_some is
    empty instead (a new span); `empty_x_some` the same for x_some."""
    import numpy as np

    rng = np.random.default_rng(seed)
    order = rng.permutation(rows) + 1
    lines = ["kind,x_full,x_some,n_some,color,mostly_empty,row,code"]
    for i in range(rows):
        x = float(rng.normal())
        kind = "up" if x + 0.3 * rng.normal() > 0 else "down"
        empty_n = (rng.random() < empty_n_some) if empty_n_some is not None else i % 4 == 1
        empty_x = (rng.random() < empty_x_some) if empty_x_some is not None else i % 10 == 3
        cells = [kind, f"{x:.4f}",
                 "" if empty_x else f"{rng.normal():.3f}",
                 "" if empty_n else str(i % 13),
                 "" if i % 20 in (0, 5, 7) else ("red", "green", "blue")[i % 3],
                 f"{rng.normal():.2f}" if i % 25 in (0, 1) else "",
                 str(order[i]), str((i * 7) % (rows * 3 // 4))]
        lines.append(",".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def spec_text(root, data, extra: str = "") -> str:
    return f"""
name: gaps
data: {{path: {data}, label: kind{extra}}}
trainer: {{max_epochs: 20}}
runtime: {{root: {root}}}
"""


def report_tables(html: str) -> dict[str, dict[str, int]]:
    """{split: {feature: missing}} of the report's statistics tables."""
    tables = {}
    for split, body in re.findall(r"<table class='stats' id='stats-(\w+)'>(.*?)</table>", html, re.DOTALL):
        tables[split] = {name: int(missing.replace(",", "")) for name, missing in re.findall(
            r"<tr><td>([^<]+)</td><td>\w+</td><td class='num'>[\d,]+</td><td class='num'>([\d,]+) \(", body)}
    return tables


@pytest.fixture(scope="module")
def gaps_run(tmp_path_factory):
    """One real run on a file with known empty cells per column (`row` excluded)."""
    tmp = tmp_path_factory.mktemp("gaps")
    write_csv(tmp / "data" / "gaps.csv")
    root = tmp / "root"
    result = run_cli("--config", str(write_spec(tmp, spec_text(root, tmp / "data", ", exclude: [row]"))))
    return root, result


@pytest.mark.slow
def test_the_report_counts_each_empty_cell_as_missing_as_the_plan_does(gaps_run):
    from tests.test_report import report_of

    root, result = gaps_run
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    tables = report_tables(report_of(out).read_text(encoding="utf-8"))
    assert set(tables) == {"train", "eval"}, tables
    for column, empty in MISSING.items():  # every empty cell, in one split or the other
        assert tables["train"][column] + tables["eval"][column] == empty, (column, tables)
    plan = json.loads(next((root / "pipeline" / "Batching").glob("*/*/plan.json")).read_text())
    train = tables["train"]
    for column in ("x_some", "n_some", "mostly_empty"):  # the plan's counts (train split) are the report's
        assert f"; {train[column]:,} missing value(s) imputed with the mean" in plan["encodings"][column]
    assert f"; {train['color']:,} missing value(s) in that slot" in plan["encodings"]["color"]
    assert "missing" not in plan["encodings"]["x_full"]
    assert "plan:   x_some: numeric, standardized" in out and "missing value(s) imputed" in out


@pytest.mark.slow
def test_a_kept_integer_column_with_many_values_is_named_and_an_index_is_refused(gaps_run):
    """`code` (7i mod 300: 300 distinct integers in 400 rows) is named in the plan; the train
    split's real statistics make build_plan refuse `row` once it is not excluded."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    from components.common.features import PlanError, build_plan

    root, result = gaps_run
    assert result.returncode == 0
    plan = json.loads(next((root / "pipeline" / "Batching").glob("*/*/plan.json")).read_text())
    assert re.search(r"; high cardinality: [\d,]+ distinct integers in [\d,]+ rows: if it is a code or an "
                     r"identifier rather than a quantity, add it to data.exclude$", plan["encodings"]["code"])
    assert "high cardinality" not in plan["encodings"]["n_some"]  # 13 values
    assert "plan:   code: numeric" in result.stdout
    schema = text_format.Parse(next((root / "pipeline" / "SchemaGen").glob("*/*/schema.pbtxt")).read_text(),
                               schema_pb2.Schema())
    stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(
        next((root / "pipeline" / "StatisticsGen").glob("*/*/Split-train/FeatureStats.pb")).read_bytes())
    with pytest.raises(PlanError, match=r"integer column\(s\) 'row' \(\d+ distinct values in \d+ rows: "
                                        r"unique on every row, numbered densely within \d+\.\.\d+\) "
                                        r"look like identifiers .* \(data: \{exclude: \[row\]\}\)"):
        build_plan(schema, stats.datasets[0], "kind", [])


@pytest.mark.slow
def test_a_running_index_stops_a_real_run_naming_the_exclude_line(tmp_path):
    write_csv(tmp_path / "data" / "gaps.csv", rows=120)
    result = run_cli("--config", str(write_spec(tmp_path, spec_text(tmp_path / "root", tmp_path / "data"))))
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert re.search(r"integer column\(s\) 'row' \(\d+ distinct values in \d+ rows: "
                     r"(a running index 1\.\.120|unique on every row, numbered densely [^)]*)\) look like "
                     r"identifiers \(a row number, an id\)", said), said
    assert "(data: {exclude: [row]})" in said, said
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "root" / "serving").exists()


@pytest.mark.slow
def test_a_column_that_empties_in_a_new_span_stops_the_run_naming_it(tmp_path):
    """No curated schema: span 1 has n_some in every row (the inferred schema asks for it in
    every row) and x_some in 90 % (it asks for at least 45 %); span 2 has both empty in 90 % of
    the rows: the anomaly gate stops the run before training, naming them. Span 1 again (its
    empty cells checked against the schema inferred from it) passes."""
    data = tmp_path / "data"
    write_csv(data / "span-1" / "rows.csv", empty_n_some=0.0, seed=1)
    spec = write_spec(tmp_path, spec_text(tmp_path / "root", data, ', pattern: "span-{SPAN}/*.csv", '
                                                                   "exclude: [row]"))
    first = run_cli("--config", str(spec))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pushed:" in first.stdout, first.stdout
    again = run_cli("--config", str(spec))  # the serving model's (inferred) schema, the same data
    assert again.returncode == 0, again.stdout + again.stderr
    write_csv(data / "span-2" / "rows.csv", empty_n_some=0.9, seed=2, empty_x_some=0.9)
    second = run_cli("--config", str(spec))
    out = second.stdout
    assert second.returncode == 1, out + second.stderr
    assert "FAILED in DataGate: Data validation failed" in out, out
    assert re.search(r"feature 'n_some': Column dropped .*LOW_FRACTION_PRESENT", out), out
    # x_some was 10 % empty in span 1: the inferred schema keeps half its share present as a floor
    assert re.search(r"feature 'x_some': Column dropped .*LOW_FRACTION_PRESENT", out), out
    assert "Nothing was trained or pushed" in out and "Traceback" not in out
    assert not (tmp_path / "root" / "serving" / "2").exists()


def test_check_refuses_a_running_index_and_says_the_missing_counts(tmp_path, monkeypatch, capsys):
    """`tfx-yaml check` on all the rows: the same rule and words as Batching's."""
    from pipelines import cli

    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "data" / "gaps.csv")
    spec = write_spec(tmp_path, spec_text(tmp_path / "root", tmp_path / "data"))
    assert cli.main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert ("integer column(s) 'row' (400 distinct values in 400 rows: a running index 1..400) look like "
            "identifiers (a row number, an id)") in err, err
    assert "Add them to data.exclude in the spec (data: {exclude: [row]})" in err, err
    spec = write_spec(tmp_path, spec_text(tmp_path / "root", tmp_path / "data", ", exclude: [row]"))
    assert cli.main(["check", str(spec)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert re.search(r"plan:   x_some: numeric, standardized \([^)]*\); 40 missing value\(s\) imputed "
                     r"with the mean\n", out), out
    assert "; 368 missing value(s) imputed with the mean" in out
    assert re.search(r"plan:   code: numeric, standardized \([^)]*\); high cardinality: 300 distinct "
                     r"integers in 400 rows", out), out
    assert "plan:   row: excluded (data.exclude)" in out
