"""The artifact contract (components/common/payloads.py): every payload file has one name, one
writer and one reader; a reader finds what the writer wrote, and a missing payload is an error
that names the file, not a blank."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.common import payloads
from tests.conftest import REPO


def test_each_writer_and_reader_agree(tmp_path):
    uri = str(tmp_path)
    payloads.write_verdict(uri, False, [{"feature": "x"}], "x: drifted")
    assert payloads.read_verdict(uri) == {"passed": False, "anomalies": [{"feature": "x"}]}
    assert payloads.read_gate_report(uri) == "x: drifted"
    payloads.write_counts(uri, {"train": {"examples": 3, "batches": 1}})
    assert payloads.read_counts(uri)["train"]["examples"] == 3
    payloads.write_history(uri, {"epochs": [{"loss": 1.0}], "stop_reason": "max_epochs"})
    assert payloads.read_history(uri)["stop_reason"] == "max_epochs"
    payloads.write_tuner_results(uri, [{"rank": 1, "trial": "0", "val_loss": 0.1, "values": {}}])
    assert payloads.read_tuner_results(uri)[0]["rank"] == 1
    payloads.write_plan(uri, '{"label": "y"}')
    assert payloads.read_plan_json(uri) == '{"label": "y"}'
    payloads.write_blessing(uri, {"blessed": True})
    assert payloads.read_blessing(uri) == {"blessed": True}
    payloads.write_metrics(uri, {"candidate": {}})
    assert payloads.read_metrics(uri) == {"candidate": {}}
    names = {payloads.VERDICT_FILE, payloads.GATE_REPORT_FILE, payloads.COUNTS_FILE, payloads.HISTORY_FILE,
             payloads.TUNER_RESULTS_FILE, payloads.PLAN_FILE, payloads.BLESSING_FILE, payloads.METRICS_FILE}
    assert {p.name for p in tmp_path.iterdir()} == names


@pytest.mark.parametrize("reader, name", [
    (payloads.read_verdict, "verdict.json"), (payloads.read_gate_report, "report.txt"),
    (payloads.read_counts, "counts.json"), (payloads.read_history, "history.json"),
    (payloads.read_tuner_results, "tuner_results.json"), (payloads.read_plan_json, "plan.json"),
])
def test_a_missing_payload_is_an_error_naming_the_file(tmp_path, reader, name):
    with pytest.raises(payloads.PayloadMissing, match=f"{name} is missing from the artifact at {tmp_path}"):
        reader(str(tmp_path))


def test_readers_are_strict_in_the_tests_and_lenient_only_when_asked(tmp_path, monkeypatch):
    assert not payloads.lenient()  # tests/conftest.py sets TFX_YAML_STRICT_PAYLOADS=1
    assert payloads.read_counts(str(tmp_path), missing_ok=True) is None
    monkeypatch.delenv(payloads.STRICT_ENV)
    assert payloads.lenient()


def test_the_contract_imports_no_tensorflow_and_producers_do_not_import_batching():
    code = ("import sys; from components.common import payloads; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tfx')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.stdout.strip() == "[]", done.stderr
    for module in ("components/trainer/executor.py", "components/tuner/executor.py"):
        assert "components.batching" not in (REPO / module).read_text(), module
    report = sorted(str(p.relative_to(REPO)) for p in (REPO / "pipelines" / "runs" / "report").rglob("*.*")
                    if p.suffix in (".py", ".html"))  # the package: data reading, charts, templates
    assert "pipelines/runs/report/data.py" in report
    for module in (*report, "pipelines/runs/summary.py", "components/data_gate/executor.py"):
        text = (REPO / module).read_text()
        for name in ("verdict.json", "report.txt", "counts.json", "history.json", "tuner_results.json"):
            assert f'"{name}"' not in text, (module, name)  # the name is payloads.py's alone
