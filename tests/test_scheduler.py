"""Scheduled retraining: cron expressions, the scheduler's lock, and a four-span scenario."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from components.common import serving_dir
from pipelines.local import cron
from pipelines.local.scheduler import Scheduler, SchedulerLocked, spans
from pipelines.runs.lineage import pushed_versions
from pipelines.spec import SpecError, load_spec
from tests.conftest import REPO, write_spec
from tests.test_blessing_e2e import shuffled_labels
from tests.test_data_gate import corrupt, write_rows

SPEC = """
name: penguin-retraining
data:
  path: {data}
  pattern: "span-{{SPAN}}/*.csv"
  label: species
  exclude: [year]
schema: {{path: {schema}}}
trainer:
  max_epochs: 30
  warm_start: true
evaluator:
  thresholds:
    accuracy: {{lower_bound: 0.8, min_improvement: 0.0}}
runtime: {{root: {root}}}
schedule: {{on_new_span: true}}
"""


def spec_file(tmp_path):
    return write_spec(tmp_path, SPEC.format(data=tmp_path / "data",
                                            schema=REPO / "schemas" / "penguin" / "schema.pbtxt",
                                            root=tmp_path / "root"))


def test_cron_next_time():
    start = dt.datetime(2026, 11, 28, 12, 40, 30)
    assert cron.next_time("0 3 * * *", start) == dt.datetime(2026, 11, 29, 3, 0)
    assert cron.next_time("*/15 * * * *", start) == dt.datetime(2026, 11, 28, 12, 45)
    assert cron.next_time("0 0 * * 0", start) == dt.datetime(2026, 11, 29, 0, 0)  # Sunday
    assert cron.next_time("30 9 1,15 * *", start) == dt.datetime(2026, 12, 1, 9, 30)


@pytest.mark.parametrize("bad", ["0 3 * *", "61 * * * *", "0 3 * * mon", "5-1 * * * *"])
def test_bad_cron_is_refused(bad):
    with pytest.raises(cron.CronError):
        cron.parse(bad)


def test_spans_are_found_from_the_pattern(tmp_path):
    for span in (1, 2, 10):
        (tmp_path / "data" / f"span-{span}").mkdir(parents=True)
        (tmp_path / "data" / f"span-{span}" / "a.csv").write_text("x\n1\n")
    (tmp_path / "data" / "span-x").mkdir()
    assert spans(load_spec(spec_file(tmp_path))) == [1, 2, 10]


def test_two_schedulers_cannot_hold_the_same_root(tmp_path):
    path = spec_file(tmp_path)
    locked = "another scheduler \\(pid \\d+ \\(scheduler\\) since .*\\) is running on"
    with Scheduler(str(path)), pytest.raises(SchedulerLocked, match=locked), Scheduler(str(path)):
        pass
    with Scheduler(str(path)):  # released when the first one stops
        pass


def test_cron_due_once_per_fire_time(tmp_path):
    path = spec_file(tmp_path)
    scheduler = Scheduler(str(path), cron_expression="0 3 * * *", on_new_span=False)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "scheduler_state.json").write_text(json.dumps(
        {"last_span": None, "last_run": "2026-11-28T03:00:00", "runs": []}))
    assert scheduler.due(dt.datetime(2026, 11, 28, 12, 0)) is None
    assert scheduler.due(dt.datetime(2026, 11, 29, 3, 0)) == "cron '0 3 * * *'"


def test_nothing_to_schedule_is_an_error(tmp_path):
    text = spec_file(tmp_path).read_text().replace("schedule: {on_new_span: true}", "")
    with pytest.raises(SpecError, match="nothing to schedule on"):
        Scheduler(str(write_spec(tmp_path, text, "other.yaml")))


def few_chinstraps(rows):
    """The first span saw hardly any Chinstrap penguins: its model cannot know them well."""
    chinstraps = [r for r in rows if r["species"] == "Chinstrap"][:3]
    return [r for r in rows if r["species"] != "Chinstrap"] + chinstraps


def add_span(tmp_path, span: int, transform):
    write_rows(tmp_path / "data" / f"span-{span}" / "penguins.csv", transform)


@pytest.mark.slow
@pytest.mark.e2e
def test_four_span_retraining_scenario(tmp_path):
    path = spec_file(tmp_path)
    serving = tmp_path / "root" / "serving"
    out = io.StringIO()
    with Scheduler(str(path), out=out) as scheduler:
        assert scheduler.tick() is None  # no span yet: nothing to do

        add_span(tmp_path, 1, few_chinstraps)
        assert scheduler.tick() == 0
        assert serving_dir.versions(str(serving)) == [1]
        assert scheduler.tick() is None  # span 1 is done

        add_span(tmp_path, 2, lambda rows: rows)  # all of it: evaluated against v1, better, pushed
        assert scheduler.tick() == 0
        assert serving_dir.versions(str(serving)) == [1, 2], out.getvalue()[-3000:]

        add_span(tmp_path, 3, corrupt)  # corrupted: stops at validation
        assert scheduler.tick() == 1
        assert "FAILED in DataGate" in out.getvalue()
        assert serving_dir.versions(str(serving)) == [1, 2]

        add_span(tmp_path, 4, shuffled_labels)  # label noise: trained, not blessed
        assert scheduler.tick() == 0
        assert serving_dir.versions(str(serving)) == [1, 2]
        assert "blessed: no" in out.getvalue().rsplit("[scheduler]", 1)[-1]

    state = json.loads((tmp_path / "root" / "scheduler_state.json").read_text())
    assert [(r["span"], r["exit_code"]) for r in state["runs"]] == [(1, 0), (2, 0), (3, 1), (4, 0)]
    lineage = pushed_versions(str(tmp_path / "root" / "metadata.sqlite"))
    assert [(p["version"], p["span"]) for p in lineage] == [(1, 1), (2, 2)]
    assert json.loads((serving / "2" / serving_dir.METADATA_FILE).read_text())["data_span"] == 2
    histories = [json.loads(p.read_text()) for p in (tmp_path / "root" / "pipeline" / "Trainer" / "model_run")
                 .glob("*/history.json")]
    assert sum(h["warm_start"].startswith(f"from {serving}") for h in histories) == 2  # spans 2 and 4


def test_span_window_ingests_the_latest_spans(tmp_path):
    from pipelines.build.compiler import compile_pipeline
    from pipelines.runs.paths import RunPaths

    for span in (1, 2, 3):
        add_span(tmp_path, span, lambda rows: rows[::10])
    text = spec_file(tmp_path).read_text().replace('pattern: "span-{SPAN}/*.csv"',
                                                   'pattern: "span-{SPAN}/*.csv"\n  span_window: 2')
    spec = load_spec(write_spec(tmp_path, text, "window.yaml"))
    pipeline = compile_pipeline(spec, RunPaths.of(spec))
    example_gen = next(c for c in pipeline.components if c.id == "ExampleGen")
    assert json.loads(example_gen.exec_properties["range_config"]) == {"rolling_range": {"num_spans": 2}}
