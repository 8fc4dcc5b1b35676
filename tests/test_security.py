"""Issue 19: hostile specs, shared stores and secrets. Beam options by allowlist, deletion that
never follows symlinks, schedules that can fire, bounds on work, secrets kept out of logs, and
data files confined to data.path. Real files, real processes; the refusals themselves are in
tests/data/bad_specs (tests/test_bad_specs.py)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines import cli
from pipelines.build import checks
from tests.conftest import REPO

PENGUIN = REPO / "pipelines" / "penguin"


def _spec(tmp_path: Path, extra: str = "", data: str | Path | None = None) -> Path:
    data = data or PENGUIN / "data"
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: sec\ndata:\n  path: {data}\n  label: species\n  exclude: [year]\n"
                    f"schema:\n  path: {REPO / 'schemas' / 'penguin' / 'schema.pbtxt'}\n"
                    f"trainer:\n  max_epochs: 5\n{extra}")
    return path


# -- 1. Beam options by allowlist ------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    ["--runner=DataflowRunner", "--project=p", "--region=europe-west1", "--temp_location=gs://b/tmp",
     "--worker_machine_type=n1-standard-8", "--worker_disk_type=pd-ssd", "--max_num_workers=20",
     "--sdk_container_image=gcr.io/p/tfx-yaml:1.0", "--no_use_public_ips", "--experiments=use_runner_v2"],
    ["--runner=FlinkRunner", "--flink_master=flink:8081", "--parallelism=4", "--environment_type=DOCKER",
     "--environment_config=apache/beam_python3.10_sdk:2.59.0", "--job-server-timeout=120"],
    ["--runner=SparkRunner", "--spark_master_url=spark://spark:7077", "--environment_type=EXTERNAL",
     "--environment_config=beam-worker-pool:50000"],
    ["--runner=PortableRunner", "--job_endpoint=jobservice.beam:8099", "--environment_type=DOCKER",
     "--environment_options=docker_container_image=registry.local/tfx-yaml@sha256:" + "a" * 64],
    ["--runner=direct", "--s3_endpoint_url=http://127.0.0.1:9000", "--s3_region_name=us-east-1"],
])
def test_documented_options_of_the_supported_runners_are_accepted(args):
    assert checks.beam_problems(args) == []


def test_check_accepts_a_dataflow_spec_with_its_machine_type(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    disk = "compute.googleapis.com/projects/p/zones/z/diskTypes/pd-ssd"
    spec = _spec(tmp_path, "runtime:\n  beam_pipeline_args: ['--runner=DataflowRunner', '--project=p', "
                           "'--region=us-central1', '--worker_machine_type=n2-highmem-4', "
                           f"'--worker_disk_type={disk}']\n")
    assert cli.main(["check", str(spec)]) == 0, capsys.readouterr().err


def test_every_refusal_says_why():
    for flag, reason in checks.BEAM_REFUSED.items():
        (problem,) = checks.beam_problems([f"--{flag}=x"])
        assert f"--{flag} is refused: " in problem and len(reason) > 30, problem


# -- 2. Deletion never follows symlinks ------------------------------------------------------------

def _sentinel(tmp_path: Path) -> Path:
    sentinel = tmp_path / "sentinel"
    (sentinel / "inner").mkdir(parents=True)
    (sentinel / "precious.txt").write_text("keep me")
    (sentinel / "inner" / "also.txt").write_text("keep me too")
    (sentinel / "saved_model.pb").write_text("not a model of this destination")
    return sentinel


def _sentinel_intact(sentinel: Path) -> None:
    assert (sentinel / "precious.txt").read_text() == "keep me"
    assert (sentinel / "inner" / "also.txt").read_text() == "keep me too"
    assert (sentinel / "saved_model.pb").exists()


def _model(tmp_path: Path, name: str) -> str:
    model = tmp_path / name
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_text(name)
    (model / "variables" / "variables.index").write_text(name)
    (model / "fingerprint.txt").write_text(name)
    return str(model)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_serving_directory_never_deletes_through_a_symlink(tmp_path):
    import socket

    from components.common import serving_dir
    TMP_PREFIX = serving_dir.TMP_PREFIX

    sentinel = _sentinel(tmp_path)
    dest = tmp_path / "serving"
    dest.mkdir()
    owner = f"{socket.gethostname().replace('-', '_')}_{_dead_pid()}"
    # A stale temporary that is a link to the sentinel, and one that is a folder holding links.
    (dest / f"{TMP_PREFIX}1-{owner}-aaaaaaaa").symlink_to(sentinel, target_is_directory=True)
    holder = dest / f"{TMP_PREFIX}2-{owner}-bbbbbbbb"
    holder.mkdir()
    (holder / "linked_folder").symlink_to(sentinel, target_is_directory=True)
    (holder / "linked_file").symlink_to(sentinel / "precious.txt")
    # A version that is itself a link to the sentinel (it has a saved_model.pb, so it counts).
    (dest / "1").symlink_to(sentinel, target_is_directory=True)

    assert serving_dir.publish(_model(tmp_path, "m2"), str(dest), {}, keep=5) == 2
    assert not os.path.lexists(dest / f"{TMP_PREFIX}1-{owner}-aaaaaaaa") and not holder.exists()
    _sentinel_intact(sentinel)

    # Links inside version folders; then prune (keep 1) deletes versions 1 and 2.
    for version in ("2",):
        (dest / version / "linked_folder").symlink_to(sentinel, target_is_directory=True)
        (dest / version / "variables" / "linked_file").symlink_to(sentinel / "precious.txt")
    assert serving_dir.publish(_model(tmp_path, "m3"), str(dest), {}, keep=1) == 3
    assert serving_dir.versions(str(dest)) == [3]
    assert not os.path.lexists(dest / "1") and not os.path.lexists(dest / "2")
    _sentinel_intact(sentinel)

    # Rollback moves the newest version (with links inside) aside; pruning later cleans up.
    assert serving_dir.publish(_model(tmp_path, "m4"), str(dest), {}, keep=5) == 4
    (dest / "4" / "linked_folder").symlink_to(sentinel, target_is_directory=True)
    assert serving_dir.rollback(str(dest)) == (4, 3)
    assert serving_dir.publish(_model(tmp_path, "m5"), str(dest), {}, keep=1) == 5
    _sentinel_intact(sentinel)
    assert [p.name for p in dest.iterdir() if p.name.startswith(TMP_PREFIX)] == []


def test_rmtree_unlinks_links_and_never_follows_them(tmp_path):
    from components.common import io

    sentinel = _sentinel(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(sentinel, target_is_directory=True)
    io.rmtree(str(link))
    assert not os.path.lexists(link)
    folder = tmp_path / "folder"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "to_dir").symlink_to(sentinel, target_is_directory=True)
    (folder / "to_file").symlink_to(sentinel / "precious.txt")
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    io.rmtree(str(folder))
    io.rmtree("file://" + str(tmp_path / "link_again"))  # absent: nothing happens
    assert not folder.exists()
    file_link = tmp_path / "file_link"
    file_link.symlink_to(sentinel / "precious.txt")
    io.rmtree(str(file_link))
    io.remove(str(tmp_path / "absent"))
    assert not os.path.lexists(file_link)
    _sentinel_intact(sentinel)


# -- 3. Schedules that can fire ---------------------------------------------------------------------

@pytest.mark.parametrize("expression, says", [
    ("*/0 * * * *", "step '0' must be a whole number from 1 to 60"),
    ("0 0 31 2 *", "never fires"),
    ("0 0 30 2 *", "never fires"),
])
def test_a_bad_cron_on_the_command_line_is_a_clear_error(tmp_path, monkeypatch, capsys, expression, says):
    from pipelines.kubeflow import runner as kubeflow_runner

    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path)
    assert cli.main(["schedule", "--config", str(spec), "--cron", expression, "--max-runs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err, err
    assert kubeflow_runner.main(["--config", str(spec), "--output", str(tmp_path / "p.yaml"), "--schedule",
                                 "--host", "http://127.0.0.1:9", "--cron", expression]) == 2
    err = capsys.readouterr().err
    assert "error: --cron: " in err and says in err and "Traceback" not in err, err


def test_the_scheduler_cli_refuses_a_zero_step_in_a_fresh_process(tmp_path):
    spec = _spec(tmp_path)
    done = subprocess.run([sys.executable, str(REPO / "pipelines" / "scheduler.py"), "--config", str(spec),
                           "--cron", "*/0 3 * * *", "--max-runs", "1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert "cron minute field '*/0': the step '0' must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_cron_next_time_agrees_with_the_fields_it_parses():
    import datetime as dt

    from pipelines.local import cron

    start = dt.datetime(2026, 1, 1)
    for expression in ("0 3 * * *", "*/7 1-5 * * 1-5", "30 9 1,15 * *", "0 0 29 2 *", "15 10 * 6 0"):
        fields, moment = cron.parse(expression), start
        for _ in range(20):
            moment = cron.next_time(expression, moment)
            assert cron.matches(fields, moment), (expression, moment)


# -- 5. Secrets: redaction of what TFX logs, private files ------------------------------------------

PASSWORDS = ['Zq"x7k', "Zq'x7k", "Zq\\x7k", "Zqässwört", "Zq\nx7k", "Zq\tx7k", "Zq\"b'c\\d\ne\u00e9\u4e2d-",
             "Zqx7k\\", "Zq\\\"x7k"]


def _fragments(password: str) -> set[str]:
    """Pieces of the password that must not survive, raw or escaped as protobuf and Python do."""
    from google.protobuf import text_encoding

    forms = {password, text_encoding.CEscape(password.encode(), False), repr(password)[1:-1]}
    return {form[i:i + 4] for form in forms for i in range(len(form) - 3)} - {"\\\\\\\\"} or forms


def _real_connection_config(password: str):
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host, config.mysql.port, config.mysql.database = "db.internal", 3306, "ml_metadata"
    config.mysql.user, config.mysql.password = "tfx", password
    return config


@pytest.mark.parametrize("password", PASSWORDS, ids=range(len(PASSWORDS)))
def test_run_log_never_holds_the_password_in_any_form_tfx_writes(tmp_path, password):
    """The handler and filter local runs use, on the exact lines TFX logs: LocalDagRunner's
    'Using connection config:\\n %s' with the real ConnectionConfig proto, its repr, its one-line
    and UTF-8 text forms, and a traceback of an error whose message holds the config."""
    import logging

    from google.protobuf import text_format

    from pipelines.local.redaction import PRIVATE_FILE, PrivateFileHandler, Redact

    config = _real_connection_config(password)
    log = tmp_path / "run.log"
    logger = logging.getLogger(f"test-redaction-{id(password)}")
    logger.propagate = False
    handler = PrivateFileHandler(str(log))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact([password]))
    logger.addHandler(handler)
    try:
        logger.warning("Using connection config:\n %s", config)  # tfx/orchestration/local/local_dag_runner.py
        logger.warning("%r", config)
        logger.warning("%s", text_format.MessageToString(config, as_one_line=True))
        logger.warning("%s", text_format.MessageToString(config, as_utf8=True))
        logger.warning("config: %r", str(config))
        try:
            raise RuntimeError(f"could not connect with {config}: {str(config)!r}")
        except RuntimeError:
            logger.exception("run failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert text.count("****") >= 7, text
    assert "db.internal" in text and "RuntimeError" in text  # the rest of each line is kept
    left = [f for f in _fragments(password) if f in text]
    assert not left, (left, text)
    assert stat.S_IMODE(log.stat().st_mode) == PRIVATE_FILE


def test_redaction_by_field_needs_no_value():
    from pipelines.local.redaction import redact

    for line, kept in [('mysql { user: "u" password: "whatever\\"it\\\\is" }', 'user: "u"'),
                       ('{"user": "u", "password": "x y z"}', '"user": "u"'),
                       ("connect(user=u, passwd=hunter2)", "user=u"),
                       ("password_env: MLMD_PASSWORD", "MLMD_PASSWORD")]:
        out = redact(line)
        assert kept in out and "whatever" not in out and "x y z" not in out and "hunter2" not in out, out


def test_a_run_root_is_private(tmp_path):
    """A real run's root (created by the runner's lock) is 0700; run.log and the report files are
    0600. The spec is refused by the data check before any stage runs, which still writes nothing
    else; so the report files are checked through the report module itself."""
    from pipelines.local import locks
    from pipelines.local.redaction import PRIVATE_DIR, PRIVATE_FILE
    from pipelines.runs import report

    root = tmp_path / "runs" / "sec"
    with locks.hold_root(str(root), "test"):
        pass
    assert stat.S_IMODE(root.stat().st_mode) == PRIVATE_DIR
    from pipelines.spec import load_spec

    report.save_run_inputs(str(root), "2026-01-01T00:00:00-pid1", load_spec(str(_spec(tmp_path))))
    (saved,) = (root / report.REPORTS_DIR).iterdir()
    assert stat.S_IMODE((root / report.REPORTS_DIR).stat().st_mode) == PRIVATE_DIR
    assert stat.S_IMODE(saved.stat().st_mode) == PRIVATE_FILE


# -- 6. Confinement: data files inside data.path, schemas never echoed -------------------------------

def test_a_link_out_of_the_data_folder_is_refused_without_showing_its_target(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "elsewhere" / "credentials.env"
    secret.parent.mkdir()
    secret.write_text("SECRET_TOKEN=hunter2-do-not-print\nOTHER=1\n")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PENGUIN / "data" / "penguins_raw.csv", data / "penguins.csv")
    (data / "more.csv").symlink_to(secret)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(_spec(tmp_path, data=data))]) == 2
    err = capsys.readouterr().err
    assert f"key 'data.path': {data / 'more.csv'} leads outside {data}" in err, err
    assert "SECRET_TOKEN" not in err and "hunter2" not in err and "credentials.env" not in err
    # a folder of data that is itself a link is fine: its files are inside its real path
    (tmp_path / "linked_data").symlink_to(data, target_is_directory=True)
    (data / "more.csv").unlink()
    assert cli.main(["check",
                     str(_spec(tmp_path, data=tmp_path / "linked_data"))]) == 0, capsys.readouterr().err


def test_a_one_column_file_is_not_echoed(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "token.csv").write_text("SECRET_TOKEN=hunter2-do-not-print\nx\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(_spec(tmp_path, data=data))]) == 2
    err = capsys.readouterr().err
    assert "its first line is one column (not shown)" in err and "hunter2" not in err, err


def test_a_schema_path_that_is_not_a_schema_is_not_echoed(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "id_token"
    secret.write_text("SECRET_TOKEN hunter2-do-not-print\n")
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace(str(REPO / "schemas" / "penguin" / "schema.pbtxt"), str(secret)))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{secret} is not a TFDV schema in text format (it does not parse at line 1" in err, err
    assert "SECRET_TOKEN" not in err and "hunter2" not in err


def test_the_schedulers_root_is_private(tmp_path):
    from pipelines.local.redaction import PRIVATE_DIR
    from pipelines.local.scheduler import Scheduler

    root = tmp_path / "scheduled"
    with Scheduler(str(_spec(tmp_path)), str(root), cron_expression="0 3 * * *", on_new_span=False):
        assert stat.S_IMODE(root.stat().st_mode) == PRIVATE_DIR


# -- 7. Bounds at run time: classes, the confusion matrix and the report's class tables ---------------

def test_more_classes_than_the_bound_are_refused_before_training(tmp_path, monkeypatch, capsys):
    """1,001 string classes with 12 rows each (enough rows per class): `check`, which runs before
    any stage, refuses them with the counts; Batching applies the same rule (features.infer_task)."""
    from components.common.features import MAX_CLASSES, PlanError, infer_task

    data = tmp_path / "data"
    data.mkdir()
    rows = [f"{(i * 7919) % 1000 / 10},c{i % 1001}" for i in range(1001 * 12)]
    (data / "many.csv").write_text("x,kind\n" + "\n".join(rows) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: many\ndata: {{path: {data}, label: kind}}\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert ("key 'data.label': label 'kind' has 1,001 classes (1001 distinct value(s)) in 12,012 rows of the "
            "data") in err
    assert f"more than {MAX_CLASSES:,}" in err and "Group rare classes into one" in err, err
    with pytest.raises(PlanError, match="has 100,000 classes"):  # rows enough for each: the bound still holds
        infer_task("kind", "string", 100_000, 10_000_000)
    assert infer_task("kind", "string", MAX_CLASSES, 10_000_000)[0] == "classification"


def test_the_confusion_matrix_of_many_classes_is_capped_not_dense():
    """2,000 classes: the Evaluator's matrix is the 50 most frequent classes and one "others" row and
    column (51 x 51), equal cell by cell to scikit-learn's dense matrix regrouped."""
    from sklearn import metrics as sk

    from components.evaluator.metrics import CONFUSION_CLASSES, capped_confusion, classification_metrics

    rng = np.random.default_rng(1)
    k, n = 2000, 30_000
    weights = 1 / np.arange(1, k + 1)  # Zipf-like: a few frequent classes, a long tail
    labels = rng.choice(k, size=n, p=weights / weights.sum())
    predicted = np.where(rng.random(n) < 0.6, labels, rng.integers(0, k, size=n))
    classes = [f"c{i}" for i in range(k)]
    names, matrix = capped_confusion(labels, predicted, classes)
    assert len(names) == len(matrix) == CONFUSION_CLASSES + 1 and all(len(r) == CONFUSION_CLASSES + 1
                                                                      for r in matrix)
    assert names[-1] == "others (1,950 classes)"
    dense = sk.confusion_matrix(labels, predicted, labels=range(k))
    kept = [int(name[1:]) for name in names[:-1]]
    counts = np.bincount(labels, minlength=k)
    assert sorted(counts[kept]) == sorted(counts)[-CONFUSION_CLASSES:]  # the most frequent classes
    rest = np.setdiff1d(np.arange(k), kept)
    expected = np.zeros((CONFUSION_CLASSES + 1,) * 2, dtype=np.int64)
    expected[:-1, :-1] = dense[np.ix_(kept, kept)]
    expected[:-1, -1], expected[-1, :-1] = dense[np.ix_(kept, rest)].sum(1), dense[np.ix_(rest, kept)].sum(0)
    expected[-1, -1] = dense[np.ix_(rest, rest)].sum()
    assert matrix == expected.tolist() and sum(map(sum, matrix)) == n

    probabilities = np.full((n, k), 0.1 / k)
    probabilities[np.arange(n), predicted] += 0.9
    got = classification_metrics(labels, probabilities[:, :], classes)
    assert got["confusion_classes"] == names and got["confusion_matrix"] == matrix
    assert got["per_class"]["c0"]["count"] == counts[0] and len(got["per_class"]) == k
    # few classes: the full matrix, as before
    small = classification_metrics(labels % 3, probabilities[:, :3], ["a", "b", "c"])
    assert small["confusion_classes"] == ["a", "b", "c"] and len(small["confusion_matrix"]) == 3


def test_the_reports_class_tables_are_capped():
    from pipelines.runs import report

    per_class = {f"c{i}": {"count": 1000 - i if i < 300 else 1, "predicted": 3, "precision": 0.5,
                           "recall": 0.5, "auc": 0.5} for i in range(300)}
    shown, rest = report.top_classes(per_class)
    assert list(shown) == [f"c{i}" for i in range(report.REPORT_CLASSES)]
    assert rest == {"classes": 250, "count": sum(1000 - i for i in range(50, 300)), "predicted": 750}
    # a dense matrix of an older run's metrics.json: regrouped for drawing
    rng = np.random.default_rng(2)
    dense = rng.integers(0, 5, size=(300, 300)).tolist()
    names, matrix = report.capped_matrix(list(per_class), dense)
    assert len(matrix) == report.REPORT_CLASSES + 1 and names[-1] == "others (250 classes)"
    assert sum(map(sum, matrix)) == sum(map(sum, dense))
    html = report._per_class({"per_class": per_class, "confusion_matrix": dense})
    assert html.count("<tr") == 2 * (report.REPORT_CLASSES + 2)  # header + 50 + others, in each table
    assert "others (250 classes)" in html and "c299" not in html


# -- 8. The malformed-CSV check streams: memory by the block, lines bounded --------------------------

def _penguin_rows(count: int) -> list[str]:
    lines = (PENGUIN / "data" / "penguins_raw.csv").read_text().splitlines()
    body = [line for line in lines[1:] if line.strip()]
    return [lines[0]] + [body[i % len(body)] for i in range(count)]


def test_a_line_over_the_bound_is_refused_with_its_line_number(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    lines = _penguin_rows(20)
    # ~1 MiB and a bit: one absurd row at line 8
    lines[7] = lines[7] + ",x" * (checks.MAX_LINE_BYTES // 2 + 10)
    (data / "long.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(_spec(tmp_path, data=data))]) == 2
    err = capsys.readouterr().err
    assert (f"data file {data / 'long.csv'}: line 8 is longer than 1,048,576 bytes" in err
            and "split or remove that line" in err), err
    # a file with no line break at all: refused at line 1 after reading about one block, not the file
    (data / "long.csv").write_bytes(b"a," * (3 * checks.MAX_LINE_BYTES))
    from pipelines.spec import load_spec

    problems, *_ = checks._csv_line_by_line(load_spec(str(_spec(tmp_path, data=data))),
                                            str(data / "long.csv"))
    assert len(problems) == 1 and "line 1 is longer than 1,048,576 bytes" in problems[0], problems


def test_a_malformed_row_deep_in_a_large_file_is_found_in_bounded_memory(tmp_path):
    """A 14 MB file with one ragged row near its end: the line-by-line check names that line, and
    its peak memory (tracemalloc, in a fresh process) is a few blocks, not the file (the check
    read the whole file and held it twice, bytes and text, ~10x with the rows)."""
    import json

    data = tmp_path / "data"
    data.mkdir()
    lines = _penguin_rows(300_000)
    lines[290_000] = lines[290_000].rsplit(",", 3)[0]  # line 290,001 lost its last three fields
    (data / "big.csv").write_text("\n".join(lines) + "\n")
    size = (data / "big.csv").stat().st_size
    assert size > 12e6
    spec = _spec(tmp_path, data=data)
    script = f"""
import json, sys, tracemalloc
from pipelines.build import checks
from pipelines.spec import load_spec
spec = load_spec({str(spec)!r})
fast = checks._well_formed_csv(spec, {str(data / 'big.csv')!r})
tracemalloc.start()
problems, header, values, labelled = checks._csv_line_by_line(spec, {str(data / 'big.csv')!r})
print(json.dumps({{"fast": fast, "problems": problems, "values": values, "labelled": labelled,
                  "peak": tracemalloc.get_traced_memory()[1]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["fast"] is None  # Arrow gives up on the ragged row: the line-by-line check runs
    assert got["problems"] == [(f"data file {data / 'big.csv'}: line 290001 has 5 field(s), the header has "
                                "8; a truncated or ragged row: fix or remove it")]
    assert got["peak"] < 8e6, f"peak {got['peak'] / 1e6:.1f} MB for a {size / 1e6:.0f} MB file"
    assert got["labelled"] > 250_000 and sorted(got["values"]) == ["Adelie", "Chinstrap", "Gentoo"]


def test_a_row_of_very_many_fields_is_refused_not_a_crash(tmp_path, monkeypatch, capsys):
    """Arrow 10's CSV reader dies (SIGSEGV) on a row of ~320,000 fields, which fits in 700 KB: the
    fast path hands such a line to the line-by-line check, which names it. In a fresh process,
    so that a crash is a failed test, not a dead test session."""
    data = tmp_path / "data"
    data.mkdir()
    lines = _penguin_rows(20)
    lines[12] = lines[12] + ",x" * 340_000
    (data / "wide.csv").write_text("\n".join(lines) + "\n")
    spec = _spec(tmp_path, data=data)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "check", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"data file {data / 'wide.csv'}: line 13 has 340008 field(s), the header has 8" in done.stderr


# -- 9. The image: a non-root user, the base image pinned (or its pinning said), no :latest ---------

def test_the_image_runs_as_a_non_root_user_and_the_default_tag_is_this_version():
    import re

    from pipelines.spec.models import KubeflowSection

    dockerfile = (REPO / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in dockerfile.splitlines()
                    if line and not line.startswith("#")]
    users = [args.strip() for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    words = [word for word, _ in instructions]
    assert "RUN" in words[:len(words) - words[::-1].index("USER")]  # the install runs before the switch...
    assert "RUN" not in words[len(words) - words[::-1].index("USER"):]  # ...and nothing after it
    base = re.search(r"(?m)^ARG BASE_IMAGE=(\S+)$", dockerfile).group(1)
    # pinned, or the reason it is not yet
    assert "@sha256:" in base or "must be pinned by digest" in dockerfile
    assert ":latest" not in base

    version = re.search(r'(?m)^version = "([^"]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert KubeflowSection().image == f"tfx-yaml-pipelines:{version}"
