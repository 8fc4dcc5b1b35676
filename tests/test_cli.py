"""The `tfx-yaml` command's words: help that names the command and says what each flag is, `runs`
saying why a blessed model was not pushed, `schema freeze` writing beside the spec."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines import api, cli

PENGUIN = Path(__file__).resolve().parents[1] / "pipelines" / "penguin"


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["compile", "schedule"])
def test_help_of_a_runner_command_names_the_command(capsys, command):
    assert _help(capsys, command).startswith(f"usage: tfx-yaml {command} ")


@pytest.mark.parametrize("command", [["run"], ["runs"], ["report"], ["rollback"], ["schema", "freeze"]])
def test_config_and_root_have_help_text(capsys, command):
    text = " ".join(_help(capsys, *command).split())
    assert "--config CONFIG the pipeline YAML (default: the bundled penguin pipeline" in text, text
    assert "--root ROOT the run root (default: the spec's runtime.root, else runs/<name>)" in text, text


def test_runs_says_why_a_blessed_model_was_not_pushed():
    from pipelines.runs.summary import history_lines

    base = {"status": "complete", "seconds": 20.0, "span": None, "started": 1.7e9,
            "metric": {"name": "accuracy", "value": 0.97}, "blessed": True}
    identical = "identical to the serving version /srv/penguin/2 (same fingerprint)"
    lines = history_lines([
        {**base, "run_id": "b", "pushed_version": None, "push_decision": identical},
        {**base, "run_id": "a", "pushed_version": 2, "push_decision": "push"},
        {**base, "run_id": "c", "blessed": False, "pushed_version": None, "push_decision": None}])
    assert lines[1].endswith(f"yes     - ({identical})"), lines
    assert lines[2].endswith("yes     2"), lines
    assert lines[3].endswith("no      -"), lines


def test_schema_freeze_writes_beside_the_spec_not_in_the_current_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    shutil.copytree(PENGUIN, folder, ignore=shutil.ignore_patterns("*.png"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = api.load(str(folder / "pipeline.yaml"))
    target = api.default_schema_target(spec)
    assert target == str(folder / "schemas" / spec.name / "schema.pbtxt")
    # the printed path is what `schema.path` resolves relative to the YAML file
    text = (folder / "pipeline.yaml").read_text().replace("path: schema.pbtxt",
                                                          f"path: schemas/{spec.name}/schema.pbtxt")
    (folder / "pipeline.yaml").write_text(text)
    Path(target).parent.mkdir(parents=True)
    shutil.copy(folder / "schema.pbtxt", target)
    assert api.load(str(folder / "pipeline.yaml")).schema_.path == target
