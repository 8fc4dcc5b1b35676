"""The model card of every pushed version (components/pusher/model_card.py): the penguin run's
version 1 carries assets.extra/model_card.json, valid against the Model Card Toolkit's published
JSON schema (v0.0.2, copied to tests/data/model_card/ from model-card-toolkit 2.0.0's wheel: the
package itself does not install with this stack, it pins absl-py < 1.1, jsonschema < 4 and
TFMA < 0.42), whose figures equal the run's, and a model_card.html that renders in headless
Chromium with nothing fetched. `tfx-yaml card` prints it."""

from __future__ import annotations

import json

import jsonschema
import pytest

from components.common import serving_dir
from components.pusher import model_card
from tests.conftest import PENGUIN_YAML, REPO

pytestmark = pytest.mark.slow

SCHEMA = REPO / "tests" / "data" / "model_card" / "model_card.schema.json"


@pytest.fixture(scope="module")
def card(penguin_run) -> dict:
    return json.loads((penguin_run.serving / "1" / model_card.JSON_FILE).read_text())


def test_the_card_validates_against_the_toolkits_schema(card):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(card)
    assert set(card) == {"schema_version", "model_details", "model_parameters", "quantitative_analysis",
                         "considerations"}


def test_the_cards_figures_are_the_runs(card, penguin_run):
    version = penguin_run.serving / "1"
    pushed = json.loads((version / serving_dir.METADATA_FILE).read_text())
    details = card["model_details"]
    assert details["name"] == "penguin" and details["version"]["name"] == "1"
    assert details["lineage"]["run"] == pushed["source_run"]
    assert details["lineage"]["data_span"] == pushed["data_span"]
    assert details["lineage"]["replaced_version"] is None
    overall = {m["type"]: m["value"] for m in card["quantitative_analysis"]["performance_metrics"]
               if "slice" not in m}
    for name, value in pushed["metrics"].items():
        assert overall[name] == f"{value:.4f}", name
    metrics = card["quantitative_analysis"]["performance_metrics"]
    latency = {(m["type"], m["slice"]): m["value"] for m in metrics if m.get("slice", "").startswith("batch")}
    for batch, figures in pushed["serving_check"]["latency_ms"].items():
        assert latency[("latency p50 ms", f"batch size {batch}")] == f"{figures['p50']:.4f}"
    runs = penguin_run.root / "pipeline" / "Trainer" / "model_run"
    history = json.loads(next(runs.glob("*/history.json")).read_text())
    data = {d["name"]: d["description"] for d in card["model_parameters"]["data"]}
    for split, rows in history["splits"].items():
        assert data[split].startswith(f"{rows} rows")
    training = card["model_parameters"]["training"]
    assert training["epochs_run"] == history["epochs_run"]
    assert training["stop_reason"] == history["stop_reason"]
    plan = json.loads((version / serving_dir.PLAN_FILE).read_text())
    assert {f["key"]: f["value"] for f in card["model_parameters"]["input_format_map"]} == plan["encodings"]
    per_class = [m for m in card["quantitative_analysis"]["performance_metrics"]
                 if m.get("slice", "").startswith("class=")]
    assert {m["slice"] for m in per_class} == {f"class={c}" for c in plan["classes"]}


def test_the_html_card_renders_in_a_browser(penguin_run, browser, tmp_path, card):
    path = penguin_run.serving / "1" / model_card.HTML_FILE
    page, errors, requests = browser.open(path, tmp_path / "card.png")
    assert errors == []
    assert requests == [path.as_uri()]
    assert page.inner_text("#title") == "penguin — version 1"
    rows = page.locator("#metrics tr").count()
    assert rows == len(card["quantitative_analysis"]["performance_metrics"]) + 1
    assert "as the Evaluator did" in page.inner_text("#serving-check")


def test_the_spec_section_and_escaping(tmp_path):
    """model_card: values reach the card and are escaped in the HTML."""
    inputs = model_card.CardInputs(
        name="m", version=3, path="/x/3", date="2026-12-01",
        section={"owners": [{"name": "<b>team</b>", "contact": "t@example.com"}],
                 "intended_use": "ranking <script>alert(1)</script>", "users": [],
                 "limitations": ["small data"]},
        model={"architecture": "dnn", "loss": "mse", "optimizer": "adam"},
        plan={"task": "regression", "label": "y", "encodings": {"x": "numeric"}},
        verdict={"metrics": {"mae": 0.5}, "baseline_metrics": {"mae": 0.6}, "span": 2, "baseline": "v2"},
        replaced=2)
    card = model_card.write(str(tmp_path), inputs)
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(card)
    assert card["model_details"]["owners"] == [{"name": "<b>team</b>", "contact": "t@example.com"}]
    assert card["considerations"]["use_cases"] == [{"description": "ranking <script>alert(1)</script>"}]
    html = (tmp_path / model_card.HTML_FILE).read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;team&lt;/b&gt;" in html
    assert "replaces version 2" in html


def test_card_command(penguin_run, capsys):
    from pipelines.cli import main

    assert main(["card", "--config", str(PENGUIN_YAML), "--root", str(penguin_run.root)]) == 0
    out = capsys.readouterr().out
    assert "model card of penguin version 1" in out
    assert f"card: {penguin_run.serving / '1' / model_card.HTML_FILE}" in out
    args = ["card", "--config", str(PENGUIN_YAML), "--root", str(penguin_run.root)]
    assert main([*args, "--version", "7"]) == 2
    assert "version 7 is not at" in capsys.readouterr().err
