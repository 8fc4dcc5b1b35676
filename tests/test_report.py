"""The HTML run report, opened in headless Chromium as a user opens it: what is drawn and readable
on the rendered page (not the HTML source), with no console errors and nothing fetched."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.runs.summary import latest_run
from tests.conftest import PENGUIN_YAML

pytestmark = [pytest.mark.e2e]


def report_of(stdout: str) -> Path:
    found = re.findall(r"^report: (/\S+\.html)$", stdout, flags=re.MULTILINE)
    assert found, f"the run did not print its report's path:\n{stdout}"
    return Path(found[-1])


def box(page, selector: str) -> dict:
    found = page.locator(selector)
    assert found.count() == 1, f"{selector} is not on the page"
    return found.bounding_box()


def only_local(requests: list[str], path: Path) -> list[str]:
    return [url for url in requests if url != path.as_uri() and not url.startswith("data:")]


def test_report_of_a_penguin_run_in_a_browser(penguin_run, browser, tmp_path):
    path = report_of(penguin_run.stdout)
    assert path.parent == penguin_run.root / "reports"
    page, errors, requests = browser.open(path, tmp_path / "report.png")
    assert errors == []
    assert only_local(requests, path) == []  # self-contained: no CDN, no fonts, no images fetched
    assert (tmp_path / "report.png").stat().st_size > 50_000
    for chart in ("#learning-curve-loss", "#learning-curve-accuracy", "#learning-rate", "#confusion-matrix"):
        size = box(page, chart)
        assert size["width"] > 100 and size["height"] > 50, (chart, size)
    assert page.locator("#learning-curve-loss polyline").count() == 2  # train and eval loss
    summary = latest_run(penguin_run.metadata)
    reason = summary.reasons["accuracy"]
    assert page.get_by_text(reason, exact=True).is_visible()
    assert page.locator("#blessing").inner_text().startswith("candidate model: BLESSED")
    assert page.locator("#run-status").inner_text() == "complete"
    assert page.locator("#failure").count() == 0
    # the confusion matrix is the evaluator's: its cells sum to the eval examples
    evaluation = penguin_run.root / "pipeline" / "Evaluator" / "evaluation"
    metrics = json.loads(next(evaluation.glob("*/metrics.json")).read_text())["candidate"]
    cells = page.locator("#confusion-matrix td").all_inner_texts()
    assert sum(int(c) for c in cells) == metrics["examples"] == sum(map(sum, metrics["confusion_matrix"]))
    # statistics from StatisticsGen's proto, one row per feature, for both splits
    train = page.locator("#stats-train").inner_text()
    assert "flipper_length_mm" in train and "island" in train and "3 (top:" in train
    assert page.locator("#stats-eval tr").count() == page.locator("#stats-train tr").count()
    model_run = penguin_run.root / "pipeline" / "Trainer" / "model_run"
    history = json.loads(next(model_run.glob("*/history.json")).read_text())
    assert page.locator("#stop-reason").inner_text() == history["stop_reason"]
    assert page.locator("#serving-versions").inner_text() == "1"
    from pipelines.build.compiler import STAGES

    assert page.locator("#stages tr.state-complete").count() == len(STAGES) == 10
    assert "name: penguin" in page.locator("#spec").inner_text()  # the spec as run, defaults filled in


def test_report_command_rewrites_a_run_report(penguin_run, capsys):
    path = report_of(penguin_run.stdout)
    before = path.read_text(encoding="utf-8")
    path.unlink()
    run_id = re.search(r"^run (\S+): ", penguin_run.stdout, flags=re.MULTILINE).group(1)
    assert cli.main(["report", "--config", str(PENGUIN_YAML), "--root", str(penguin_run.root), "--run",
                     run_id]) == 0
    assert report_of(capsys.readouterr().out) == path
    after = path.read_text(encoding="utf-8")
    assert after.split("serving versions")[0] == before.split("serving versions")[0]
    assert cli.main(["report", "--root", str(penguin_run.root), "--run", "no-such-run"]) == 1
    assert "no record of run 'no-such-run'" in capsys.readouterr().err


HOSTILE_COLUMN = "<script>alert('column')</script>"
HOSTILE_VALUE = "</td><script>alert('value')</script>"


@pytest.mark.slow
def test_names_and_values_from_the_data_are_drawn_as_text(tmp_path, browser):
    """A column named like a script tag, and a value that closes its table cell and opens one, are
    shown as text in the report of a real run: no element is made of them and no script runs. (A
    pipeline name cannot carry markup: the spec allows letters, digits, '_' and '-'.)"""
    from tests.conftest import PENGUIN_CSV, run_cli, write_spec

    with open(PENGUIN_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    data = tmp_path / "penguins.csv"
    with open(data, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*rows[0], HOSTILE_COLUMN])
        writer.writeheader()
        writer.writerows({**row, HOSTILE_COLUMN: "plain" if i % 3 == 0 else HOSTILE_VALUE}
                         for i, row in enumerate(rows))
    spec = write_spec(tmp_path, f"""
name: penguin-markup
data: {{path: {data}, label: species, exclude: [year, "{HOSTILE_COLUMN}"]}}
trainer: {{max_epochs: 3}}
runtime: {{root: {tmp_path / 'root'}}}
""")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    path = report_of(result.stdout)
    source = path.read_text(encoding="utf-8")
    assert "<script" not in source.lower() and "&lt;script&gt;alert(" in source
    page, errors, _ = browser.open(path, tmp_path / "report.png")
    assert errors == [] and page.evaluate("document.scripts.length") == 0
    train = page.locator("#stats-train").inner_text()
    assert HOSTILE_COLUMN in train and f"(top: {HOSTILE_VALUE})" in train
    assert HOSTILE_COLUMN in page.locator("#spec").inner_text()  # the spec as run: data.exclude


def test_charts_escape_the_text_they_draw():
    """The figures are our own SVG, passed to the templates as safe: their own text is escaped."""
    from pipelines.runs.report import charts

    svg = charts.line_chart("curve", "<b>title</b>", [1, 2], [("<script>x</script>", [0.5, 0.25])],
                            [(2, "<i>mark</i>")])
    assert "<script" not in svg and "<b>" not in svg and "<i>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;" in svg and "&lt;b&gt;title&lt;/b&gt;" in svg


@pytest.mark.slow
def test_long_stages_say_how_far_they_are(tmp_path):
    """A Trainer that runs for more than two seconds prints one line per epoch as it ends."""
    from tests.conftest import PENGUIN_CSV, run_cli, write_spec

    spec = write_spec(tmp_path, f"""
name: penguin-long
data: {{path: {PENGUIN_CSV}, label: species}}
batching: {{batch_size: 4}}
trainer: {{max_epochs: 60, early_stopping: null}}
runtime: {{root: {tmp_path / 'root'}}}
""")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    epochs = [int(m) for m in re.findall(r"Trainer: epoch (\d+)/60: loss [0-9.e-]+, val_loss [0-9.e-]+, "
                                          r"val_accuracy [0-9.e-]+$", result.stdout, flags=re.MULTILINE)]
    assert epochs and epochs == list(range(epochs[0], 61)), result.stdout  # from the 2-second mark on
    lines = result.stdout.splitlines()
    trainer = [i for i, line in enumerate(lines) if "Trainer: epoch" in line]
    started = next(i for i, line in enumerate(lines) if line.endswith("Trainer           started"))
    done = next(i for i, line in enumerate(lines) if "Trainer           done in" in line)
    assert started < trainer[0] and trainer[-1] < done
    log = (tmp_path / "root" / "run.log").read_text()
    assert len(re.findall(r"Trainer: epoch \d+/60", log)) == 60  # run.log has every epoch
