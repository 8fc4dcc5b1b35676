"""Never a worse model, never no model: the serving directory is an input of the Evaluator and the
Pusher. One scenario of real runs on one destination, shared by the tests below:

    A1  a 3-line spec (name, data.path, data.label) pushes version 1
    A2  version 1 deleted by hand: the next run pushes again (version 2)
    A3  the first run after a push compares with what it pushed: nothing pushed
    A4  nothing changed (fast path bypassed): ServingState, Evaluator and Pusher stay cached
    B1  another root, same destination, 1 epoch, force_bless: pushes a worse version 3
    A5  the next run of A names version 3 as its baseline, beats it, pushes version 4
    A6  A with trainer.max_epochs 1: a worse candidate, not blessed, not pushed
    R   `tfx-yaml rollback`: version 4 withdrawn, version 3 serves
    A7  the next run of A compares with version 3, says so, and marks version 4 as rolled back
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.common import serving_dir
from pipelines.runs.summary import run_summary
from tests.conftest import PENGUIN_CSV, REPO, run_cli, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SPEC = """name: guard
data: {{path: {data}, label: species}}
"""


def tfx_yaml(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


class Scenario:
    def __init__(self, tmp):
        self.tmp, self.a_root, self.b_root = tmp, tmp / "a", tmp / "b"
        self.serving = self.a_root / "serving"
        self.a_spec = write_spec(tmp, SPEC.format(data=PENGUIN_CSV), "a.yaml")
        self.out: dict[str, subprocess.CompletedProcess] = {}
        self.summaries = {}

    def run_a(self, step: str, force_pipeline: bool = False):
        if force_pipeline:
            (self.a_root / ".last_run.json").unlink(missing_ok=True)
        self._keep(step, run_cli("--config", str(self.a_spec), "--root", str(self.a_root)), self.a_root)

    def _keep(self, step, result, root):
        assert result.returncode == 0, step + result.stdout + result.stderr
        self.out[step] = result
        run_id = re.search(r"^run (\S+):", result.stdout, re.MULTILINE).group(1)
        self.summaries[step] = run_summary(str(root / "metadata.sqlite"), run_id)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("guard"))
    s.run_a("A1")
    s.versions_after = {"A1": serving_dir.versions(str(s.serving))}
    shutil.rmtree(s.serving / "1")
    s.run_a("A2")
    s.versions_after["A2"] = serving_dir.versions(str(s.serving))
    s.run_a("A3", force_pipeline=True)
    s.run_a("A4", force_pipeline=True)
    b_spec = write_spec(s.tmp, SPEC.format(data=PENGUIN_CSV) + f"""trainer: {{max_epochs: 1}}
evaluator: {{force_bless: true}}
pusher: {{destination: {s.serving}}}
""", "b.yaml")
    s._keep("B1", run_cli("--config", str(b_spec), "--root", str(s.b_root)), s.b_root)
    s.versions_after["B1"] = serving_dir.versions(str(s.serving))
    s.run_a("A5")
    s.versions_after["A5"] = serving_dir.versions(str(s.serving))
    s.a_spec.write_text(SPEC.format(data=PENGUIN_CSV) + "trainer: {max_epochs: 1}\n")
    s.run_a("A6")
    s.versions_after["A6"] = serving_dir.versions(str(s.serving))
    s.rollback = tfx_yaml("rollback", "--config", str(s.a_spec), "--root", str(s.a_root))
    s.run_a("A7")
    s.runs = tfx_yaml("runs", "--config", str(s.a_spec), "--root", str(s.a_root))
    s.report = tfx_yaml("report", "--config", str(s.a_spec), "--root", str(s.a_root))
    return s


def test_a_version_deleted_by_hand_is_pushed_again(scenario):
    assert scenario.versions_after["A1"] == [1]
    a2 = scenario.summaries["A2"]
    assert a2.executions["Trainer"] == "CACHED"
    assert {a2.executions[n] for n in ("ServingState", "Evaluator", "Pusher")} == {"COMPLETE"}
    assert scenario.versions_after["A2"] == [2]
    assert f"pushed: {scenario.serving / '2'}" in scenario.out["A2"].stdout
    assert f"no model is serving at {scenario.serving}" in scenario.out["A2"].stdout


def test_the_run_after_a_push_compares_with_it_and_then_everything_stays_cached(scenario):
    a3, a4 = scenario.summaries["A3"], scenario.summaries["A4"]
    assert a3.executions["Evaluator"] == "COMPLETE"
    identical = f"not pushed: identical to the serving version {scenario.serving / '2'}"
    assert identical in scenario.out["A3"].stdout
    assert set(a4.executions.values()) == {"CACHED"}, a4.executions


def test_the_console_shows_both_models_and_every_reason_shows_the_difference(scenario):
    out = scenario.out["A3"].stdout
    assert re.search(r"metrics: accuracy=0\.\d{4} \(serving 0\.\d{4}\), auc=", out), out
    reasons = scenario.summaries["A3"].reasons
    assert set(reasons) >= {"accuracy", "auc", "log_loss", "precision", "recall"}
    for name, reason in reasons.items():
        if name.endswith(" vs trivial"):  # the candidate against the trivial model (issue 29)
            metric = name[: -len(" vs trivial")]
            assert re.match(rf"OK: {metric} [\d.e-]+ vs trivial [\d.e-]+ \(", reason), reason
            continue
        assert re.match(rf"OK: {name} [\d.e-]+ vs serving [\d.e-]+ \(", reason), reason
    assert "allowed >= -0.001 at the CI's upper end" in reasons["accuracy"]  # the default comparison


def test_a_worse_model_from_another_root_is_blessed_only_by_force_and_recorded(scenario):
    b1 = scenario.summaries["B1"]
    assert b1.blessed is True and b1.forced is True
    assert re.match(r"FAILED: accuracy 0\.\d+ vs serving 0\.\d+ \(-0\.\d+, 95% CI [-+.\de]+\.\.[-+.\de]+, "
                    r"allowed >= -0\.001 at the CI's upper end FAILED\)",
                    b1.reasons["accuracy"]), b1.reasons["accuracy"]
    assert scenario.versions_after["B1"] == [2, 3]


def test_a_model_pushed_by_another_root_becomes_the_baseline(scenario):
    a5 = scenario.summaries["A5"]
    assert a5.executions["Trainer"] == "CACHED" and a5.executions["Evaluator"] == "COMPLETE"
    assert a5.baseline == f"serving model {scenario.serving / '3'}"
    assert a5.blessed is True and scenario.versions_after["A5"] == [2, 3, 4]


def test_a_worse_candidate_of_a_three_line_spec_is_not_pushed(scenario):
    a6 = scenario.summaries["A6"]
    assert a6.executions["Trainer"] == "COMPLETE"
    assert a6.blessed is False
    assert "FAILED" in a6.reasons["accuracy"] and "vs serving" in a6.reasons["accuracy"]
    assert a6.metrics["accuracy"] < a6.baseline_metrics["accuracy"] - 0.001
    assert a6.push_decision.startswith("not blessed")
    assert scenario.versions_after["A6"] == [2, 3, 4]


def test_after_a_rollback_the_next_run_compares_with_the_version_serving_now(scenario):
    assert scenario.rollback.returncode == 0, scenario.rollback.stderr
    assert "version 4 withdrawn, version 3 serves now" in scenario.rollback.stdout
    a7 = scenario.summaries["A7"]
    assert a7.executions["Evaluator"] == "COMPLETE"
    assert a7.baseline == f"serving model {scenario.serving / '3'}"
    assert f"serving now: {scenario.serving / '3'}" in scenario.out["A7"].stdout
    assert serving_dir.versions(str(scenario.serving))[:2] == [2, 3]  # 4 stays withdrawn
    pushed_4 = [line for line in scenario.runs.stdout.splitlines() if re.search(r"\s4 \(rolled back ", line)]
    assert len(pushed_4) == 1, scenario.runs.stdout


def test_the_report_lists_the_withdrawn_version(scenario):
    assert scenario.report.returncode == 0, scenario.report.stderr
    path = re.search(r"(\S+\.html)", scenario.report.stdout).group(1)
    page = Path(path).read_text(encoding="utf-8")
    assert re.search(r"<ul id='withdrawn-versions'><li>version 4 withdrawn at ", page), page[-2000:]


def test_runs_says_why_a_blessed_run_did_not_push(scenario):
    """`tfx-yaml runs`: 'blessed yes, pushed -' carries the Pusher's reason (here: identical model)."""
    why = [line for line in scenario.runs.stdout.splitlines()
           if " - (identical to the serving version " in line]
    assert why and all(" yes " in line for line in why), scenario.runs.stdout
