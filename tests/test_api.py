"""The Python API (pipelines.run / check / compile) and the command line's --version, --log-level
and --quiet: a run in this process returns its figures and leaves the caller's logging as it was."""

from __future__ import annotations

import io as text_io
import json
import logging
import re
import subprocess
import sys

import pytest

import pipelines
from pipelines.kubeflow import runner as kubeflow_runner
from pipelines.spec import SpecError, load_spec
from tests.conftest import PENGUIN_YAML, REPO, run_cli, write_spec

PYPROJECT_VERSION = re.search(r'(?m)^version = "([^"]+)"', (REPO / "pyproject.toml").read_text()).group(1)
PENGUIN_DATA = REPO / "pipelines" / "penguin" / "data"
PENGUIN_SCHEMA = REPO / "schemas" / "penguin" / "schema.pbtxt"


@pytest.mark.slow
@pytest.mark.e2e
def test_run_returns_the_metrics_and_leaves_the_callers_logging_alone(tmp_path):
    root_logger, absl_logger, tf_logger = (logging.getLogger(n) for n in ("", "absl", "tensorflow"))
    seen = text_io.StringIO()
    mine = logging.StreamHandler(seen)
    mine.setLevel(logging.DEBUG)
    root_logger.addHandler(mine)
    saved_levels = [root_logger.level, absl_logger.level, tf_logger.level]
    saved_handlers = [list(root_logger.handlers), list(absl_logger.handlers), list(tf_logger.handlers)]
    root_logger.setLevel(logging.ERROR)
    try:
        out = text_io.StringIO()
        result = pipelines.run(load_spec(PENGUIN_YAML), root=str(tmp_path / "root"), out=out)  # a spec object
        assert result.status == "succeeded" and result.exit_code == 0 and result.ok, out.getvalue()
        assert result.metrics["accuracy"] > 0.9 and set(result.metrics) >= {"accuracy", "auc", "log_loss"}
        assert result.blessed is True and "accuracy" in result.reasons
        assert result.baseline_metrics is None  # nothing was serving
        assert result.pushed_version == 1 and result.pushed_to == str(tmp_path / "root" / "serving" / "1")
        assert (tmp_path / "root" / "serving" / "1" / "saved_model.pb").is_file()
        assert result.report and result.report.endswith(".html") and re.search(r"\d", result.run_id)
        assert "Trainer           started" in out.getvalue() and f"report: {result.report}" in out.getvalue()
        # the caller's logging, as it was: the same handlers, levels, and absl's own setLevel
        assert [root_logger.level, absl_logger.level, tf_logger.level] == [logging.ERROR, *saved_levels[1:]]
        assert [list(root_logger.handlers), list(absl_logger.handlers), list(tf_logger.handlers)] == [
            saved_handlers[0], *saved_handlers[1:]]
        assert "setLevel" not in vars(absl_logger) and mine.filters == []
        assert "is running." not in seen.getvalue()  # TFX's INFO lines went to run.log, not to the caller
        assert "Component Trainer is running." in (tmp_path / "root" / "run.log").read_text()
        logging.getLogger("after.the.run").error("still mine")
        assert "still mine" in seen.getvalue()
        absl_logger.setLevel(logging.WARNING)  # absl's setLevel works again
        assert absl_logger.level == logging.WARNING
    finally:
        absl_logger.setLevel(saved_levels[1])
        root_logger.setLevel(saved_levels[0])
        root_logger.removeHandler(mine)


def test_run_of_a_bad_spec_is_a_result_not_an_exception(tmp_path, capsys):
    path = write_spec(tmp_path, "name: x\ndata: {path: ., label: y}\ntrainer: {max_epochs: yes}\n")
    result = pipelines.run(path, root=str(tmp_path / "root"))
    assert (result.status, result.exit_code) == ("bad_input", 2)
    assert "trainer.max_epochs" in result.error and "trainer.max_epochs" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


def test_check_returns_the_plan_or_raises_with_every_problem(tmp_path):
    plan = pipelines.check(PENGUIN_YAML, root=str(tmp_path / "root"))
    assert any("classification" in line for line in plan), plan
    assert ("model: loss sparse_categorical_crossentropy, output activation softmax, metrics accuracy; "
            "the Evaluator compares accuracy with the serving model") in plan, plan  # "auto", decided
    assert not (tmp_path / "root").exists()  # nothing written
    path = write_spec(tmp_path, f"name: penguin_Local\ndata: {{path: {PENGUIN_DATA}, label: specie, "
                                f"exclude: [years]}}\n")
    with pytest.raises(SpecError) as error:
        pipelines.check(path, root=str(tmp_path / "root"))
    message = str(error.value)  # the name is fine locally; both column typos, each with its closest column
    assert "key 'data.label': column 'specie'" in message and "did you mean 'species'?" in message
    assert "key 'data.exclude': column 'years'" in message and "did you mean 'year'?" in message
    with pytest.raises(TypeError, match="PipelineSpec or the path"):
        pipelines.check(42)


def test_compile_turns_the_name_into_a_kubeflow_name(tmp_path):
    spec = load_spec(write_spec(tmp_path, f"name: Penguin_Daily\n"
                                          f"data: {{path: {PENGUIN_DATA}, label: species, exclude: [year]}}\n"
                                          f"schema: {{path: {PENGUIN_SCHEMA}}}\n"
                                          f"kubeflow: {{pipeline_root: gs://bucket/root}}\n"))
    job = pipelines.compile(spec, str(tmp_path / "p.json"))
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "penguin-daily"
    written = json.loads((tmp_path / "p.json").read_text())
    assert written["pipelineSpec"]["pipelineInfo"]["name"] == "penguin-daily"
    assert spec.name == "Penguin_Daily"  # the caller's spec is not changed
    assert kubeflow_runner.kubeflow_name("A__b--c_") == "a-b-c"


def _kubeflow_cli(tmp_path, spec_text: str, *flags: str) -> subprocess.CompletedProcess:
    """kubeflow_runner.main in a fresh process, which also says whether TFX was imported."""
    path = write_spec(tmp_path, spec_text)
    code = ("import sys; from pipelines import kubeflow_runner; "
            f"code = kubeflow_runner.main(['--config', {str(path)!r}, "
            f"'--output', {str(tmp_path / 'p.yaml')!r}, *{list(flags)!r}]); "
            "print('tfx imported:', 'tfx' in sys.modules); sys.exit(code)")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)


def test_kubeflow_compile_checks_the_spec_before_importing_tfx(tmp_path):
    spec = f"name: my_pipe\ndata: {{path: {PENGUIN_DATA}, label: species}}\n"
    done = _kubeflow_cli(tmp_path, spec)  # no pipeline_root
    assert done.returncode == 2 and "kubeflow.pipeline_root" in done.stderr
    assert "tfx imported: False" in done.stdout
    kubeflow = "kubeflow: {{pipeline_root: gs://b/r, image: '{}'}}\n"
    strict = _kubeflow_cli(tmp_path, spec + kubeflow.format("reg.io/img:latest"), "--strict")
    assert strict.returncode == 2 and "tfx imported: False" in strict.stdout, strict.stderr
    assert f"key 'data.path': {PENGUIN_DATA} is a local path" in strict.stderr
    assert "key 'kubeflow.image': 'reg.io/img:latest' is a mutable tag" in strict.stderr
    assert not (tmp_path / "p.yaml").exists()
    untagged = _kubeflow_cli(tmp_path, spec + kubeflow.format("reg.io:5000/img"), "--strict")
    assert "key 'kubeflow.image': 'reg.io:5000/img' is a mutable tag" in untagged.stderr


@pytest.mark.slow
def test_kubeflow_compile_warns_and_says_the_kubeflow_name(tmp_path):
    spec = (f"name: my_pipe\ndata: {{path: {PENGUIN_DATA}, label: species, exclude: [year]}}\n"
            f"schema: {{path: {PENGUIN_SCHEMA}}}\n"
            "kubeflow: {pipeline_root: gs://b/r, image: 'img:latest'}\n")
    done = _kubeflow_cli(tmp_path, spec)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning: key 'data.path'" in done.stderr and "warning: key 'kubeflow.image'" in done.stderr
    assert "pipeline name 'my_pipe' is 'my-pipe' on Kubeflow" in done.stdout
    assert "name: my-pipe" in (tmp_path / "p.yaml").read_text()


@pytest.mark.parametrize("command", [["pipelines/local_runner.py"], ["-m", "pipelines.cli"],
                                     ["pipelines/kubeflow_runner.py"]])
def test_version_is_the_pyproject_version(command):
    done = subprocess.run([sys.executable, *command, "--version"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tfx-yaml-pipelines {PYPROJECT_VERSION}"
    assert pipelines.version() == PYPROJECT_VERSION


def test_quiet_and_log_level_flags_are_accepted_and_checked(tmp_path):
    bad = run_cli("--log-level", "LOUD", "--config", str(PENGUIN_YAML), timeout=120)
    assert bad.returncode == 2 and "--log-level" in bad.stderr
    help_text = run_cli("--help", timeout=120).stdout
    assert "--quiet" in help_text and "--log-level" in help_text


@pytest.mark.parametrize("quiet, log_level", [(False, None), (True, None), (True, "WARNING")])
def test_what_the_console_shows_with_quiet_and_log_level(tmp_path, quiet, log_level):
    from pipelines.local.runner import PLAN_LOGGER, Console, captured_logs

    out = text_io.StringIO()
    log = tmp_path / "run.log"
    with captured_logs(str(log), Console(out, log_level, quiet), secrets=["hunter2"]):
        logging.getLogger("absl").info("Component Trainer is running.")
        logging.getLogger(PLAN_LOGGER).info("plan: task: classification")
        logging.getLogger("tfx.something").info("an INFO line of TFX")
        logging.getLogger("tfx.something").warning("a warning with hunter2 in it")
        logging.getLogger("absl").info("Component Trainer is finished.")
    shown = out.getvalue()
    assert ("Trainer           started" in shown) is not quiet and ("plan: task" in shown) is not quiet
    assert "an INFO line of TFX" not in shown
    assert ("a warning with" in shown) is (log_level == "WARNING") and "hunter2" not in shown
    written = log.read_text()
    assert "an INFO line of TFX" in written and "Component Trainer is finished." in written
    assert "hunter2" not in written
