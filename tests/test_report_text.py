"""The report as a user reads it: round axis ticks (whole epochs, a constant learning rate at its
value), the spec as run with the YAML's own keys, the push sentence."""

from __future__ import annotations

import re
import types
from pathlib import Path

import yaml

from pipelines.runs.report import charts

PENGUIN = Path(__file__).resolve().parents[1] / "pipelines" / "penguin" / "pipeline.yaml"


def _tick_labels(svg: str, y: int) -> list[str]:
    return re.findall(rf"<text x='[\d.]+' y='{y}' text-anchor='middle' font-size='10'>([^<]*)</text>", svg)


def _y_labels(svg: str) -> list[str]:
    return re.findall(r"<text x='46' y='[\d.]+' text-anchor='end' font-size='10'>([^<]*)</text>", svg)


def test_nice_ticks_are_round_numbers_inside_the_range():
    assert charts.nice_ticks(1, 13, integer=True) == [2, 4, 6, 8, 10, 12]
    assert charts.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert charts.nice_ticks(-0.03, 0.05) == [-0.02, 0, 0.02, 0.04]
    assert charts.nice_ticks(1, 2, integer=True) == [1, 2]


def test_epoch_ticks_are_whole_and_a_constant_learning_rate_is_one_tick():
    epochs = list(range(1, 14))  # 13 epochs: the old ticks were 3.25, 6.5, 9.75 (0-based)
    loss = charts.line_chart("loss", "loss", epochs, [("loss", [1 / e for e in epochs])], [])
    assert _tick_labels(loss, 240 - 16) == ["2", "4", "6", "8", "10", "12"]
    assert all(float(v) in (0, 0.2, 0.4, 0.6, 0.8, 1) for v in _y_labels(loss)), _y_labels(loss)
    rate = charts.line_chart("lr", "learning rate", epochs, [("learning_rate", [0.01] * 13)], [])
    assert _y_labels(rate) == ["0.01"]  # not 0.0089 ... 0.0111


def test_the_spec_as_run_uses_the_yamls_keys_and_loads_again(tmp_path):
    from pipelines.runs.report import report_path, save_run_inputs
    from pipelines.spec import load_spec, parse_spec

    spec = load_spec(PENGUIN)
    save_run_inputs(str(tmp_path), "run-1", spec)
    text = Path(report_path(str(tmp_path), "run-1")[: -len(".html")] + ".spec.yaml").read_text()
    assert re.search(r"(?m)^schema:$", text) and "schema_" not in text
    again = parse_spec(text, source="spec as run")
    assert again.schema_.path == spec.schema_.path and yaml.safe_load(text)["name"] == spec.name


def test_the_push_sentence():
    from pipelines.runs.report import _templates
    from pipelines.runs.report.data import Push

    template = _templates().get_template("push.html")

    def sentence(decision: str, where: str) -> str:
        push = Push(True, decision, where, "/srv/penguin", [1], [])
        page = template.render(report=types.SimpleNamespace(push=push))
        return re.sub(r"<[^>]+>", "", re.search(r"<p id='push-decision'>(.*?)</p>", page).group(1))

    assert sentence("push", "/srv/penguin/1") == "pushed to /srv/penguin/1"
    identical = "identical to the serving version /srv/penguin/1 (same fingerprint)"
    assert sentence(identical, "") == f"not pushed: {identical}"
