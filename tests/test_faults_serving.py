"""Faults of the serving directory a scheduled retrain must survive (issue 28, cases 2, 4, 8, 9),
on real runs of one root and one destination, shared by the tests below:

    S1  penguins without Torgersen, in grams: pushes version 1 (schema: islands Biscoe, Dream)
    S2  all penguins in kilograms, a curated schema with Torgersen, drift: null, force_bless: v2
    S3  the first spec on the kilogram data: SchemaGen keeps v2's schema, the drift check passes
        against v2's statistics (nothing new to push: the model is v2's)
    R   `rollback` (names the version before the lock), `rollback --version 1` (refused: not the
        newest), until version 1 serves again
    S4  S3 again on the same root: SchemaGen and the DataGate run again (their cache keys hold what
        they read from the serving version) and stop the run, as ...
    F   ... a fresh root on the same destination does
    S5  version 1's saved_model.pb garbled; the first spec on the gram data: judged against no
        model (none loads), the console names version 1 and the command that withdraws it, and
        the candidate is pushed (version 4)
    S6  version 4's train statistics deleted: the drift check stops the run (fails closed)
(A damaged only version withdrawn by rollback: the last test, on a directory of small files.)
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.common import serving_dir
from pipelines.runs.summary import run_history, run_summary
from tests.conftest import PENGUIN_CSV, REPO, run_cli, write_spec

SPEC = """name: faults
data: {{path: {data}, label: species}}
"""


def tfx_yaml(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


def write_penguins(path: Path, keep, kilograms: bool) -> Path:
    with open(PENGUIN_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in filter(keep, rows):
            if kilograms and row["body_mass_g"]:
                row["body_mass_g"] = str(float(row["body_mass_g"]) / 1000)
            writer.writerow(row)
    return path


class Scenario:
    def __init__(self, tmp: Path):
        self.tmp, self.root = tmp, tmp / "root"
        self.serving = self.root / "serving"
        grams = write_penguins(tmp / "grams.csv", lambda r: r["island"] != "Torgersen", kilograms=False)
        kilograms = write_penguins(tmp / "kilograms.csv", lambda r: True, kilograms=True)
        self.grams_spec = write_spec(tmp, SPEC.format(data=grams), "grams.yaml")
        self.kg_spec = write_spec(tmp, SPEC.format(data=kilograms), "kilograms.yaml")
        # the bundled schema (all three islands) without the gram range of body_mass_g
        curated = (REPO / "pipelines" / "penguin" / "schema.pbtxt").read_text(encoding="utf-8")
        (tmp / "curated.pbtxt").write_text(curated.replace("float_domain { min: 2000.0 max: 7000.0 }", ""),
                                           encoding="utf-8")
        self.curated_spec = write_spec(tmp, SPEC.format(data=kilograms) + f"""\
schema: {{path: {tmp / 'curated.pbtxt'}}}
validation: {{drift: null}}
evaluator: {{force_bless: true}}
""", "curated.yaml")
        self.out: dict[str, subprocess.CompletedProcess] = {}
        self.states: dict[str, dict[str, str]] = {}

    def run(self, step: str, spec: Path, root: Path | None = None) -> subprocess.CompletedProcess:
        root = root or self.root
        result = run_cli("--config", str(spec), "--root", str(root))
        self.out[step] = result
        newest = run_history(str(root / "metadata.sqlite"), "faults")[0]["run_id"]
        self.states[step] = run_summary(str(root / "metadata.sqlite"), newest).executions
        return result

    def rollback(self, *args: str) -> subprocess.CompletedProcess:
        return tfx_yaml("rollback", "--config", str(self.kg_spec), "--root", str(self.root), *args)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("faults"))
    assert s.run("S1", s.grams_spec).returncode == 0, s.out["S1"].stdout + s.out["S1"].stderr
    assert s.run("S2", s.curated_spec).returncode == 0, s.out["S2"].stdout + s.out["S2"].stderr
    assert s.run("S3", s.kg_spec).returncode == 0, s.out["S3"].stdout + s.out["S3"].stderr
    s.versions_before_rollback = serving_dir.versions(str(s.serving))
    s.refused = s.rollback("--version", "1")
    s.rollbacks = []
    while serving_dir.versions(str(s.serving)) != [1]:
        s.rollbacks.append(s.rollback())
        assert s.rollbacks[-1].returncode == 0, s.rollbacks[-1].stderr
    s.run("S4", s.kg_spec)
    fresh = write_spec(s.tmp, SPEC.format(data=s.tmp / "kilograms.csv")
                       + f"pusher: {{destination: {s.serving}}}\n", "fresh.yaml")
    s.run("F", fresh, s.tmp / "fresh")
    damaged = s.serving / "1" / "saved_model.pb"
    damaged.write_bytes(bytes(b ^ 0x5A for b in damaged.read_bytes()[:4000]))  # garbled and cut
    s.run("S5", s.grams_spec)
    s.serving_after_s5 = serving_dir.serving_version(str(s.serving))
    (s.serving / str(s.serving_after_s5) / serving_dir.STATISTICS_FILE).unlink()
    s.run("S6", s.grams_spec)
    return s


pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_after_a_rollback_a_cached_root_stops_in_the_data_gate_as_a_fresh_root_does(scenario):
    s = scenario
    assert s.states["S3"]["DataGate"] == "COMPLETE" and s.versions_before_rollback[:2] == [1, 2]
    assert s.states["S4"]["SchemaGen"] == "COMPLETE", s.states["S4"]
    assert s.states["S4"]["DataGate"] == "FAILED", s.states["S4"]
    assert s.out["S4"].returncode == 1
    for step in ("S4", "F"):
        out = s.out[step].stdout
        assert "FAILED in DataGate" in out, out
        assert "'island'" in out and "'body_mass_g'" in out, out  # Torgersen; kilograms against grams
        assert "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH" in out, out
    assert serving_dir.versions(str(s.serving))[:1] == [1]


def test_a_rollback_names_the_version_first_and_refuses_one_that_is_not_the_newest(scenario):
    s = scenario
    assert s.refused.returncode == 1
    newest = s.versions_before_rollback[-1]
    assert f"version 1 of {s.serving} is no longer the newest: version {newest}" in s.refused.stderr
    first = s.rollbacks[0].stdout.splitlines()
    assert first[0].startswith(f"withdrawing version {newest} of {s.serving}"), first
    assert f"version {newest} withdrawn" in first[-1], first


def test_a_damaged_version_is_named_never_the_baseline_and_a_good_candidate_is_pushed(scenario):
    s = scenario
    assert s.out["S5"].returncode == 0, s.out["S5"].stdout + s.out["S5"].stderr
    out = s.out["S5"].stdout
    assert f"(baseline: no model is serving at {s.serving}; version 1 cannot be loaded " in out, out
    assert "tfx-yaml rollback --version 1" in out and f"or remove {s.serving / '1'}" in out
    assert s.states["S5"]["Evaluator"] == "COMPLETE"
    assert s.serving_after_s5 == serving_dir.versions(str(s.serving))[-1] > 1  # pushed over it
    assert f"pushed: {s.serving / str(s.serving_after_s5)}" in out


def test_the_drift_check_fails_closed_without_the_serving_statistics(scenario):
    s = scenario
    out = s.out["S6"].stdout
    assert s.out["S6"].returncode == 1 and s.states["S6"]["DataGate"] == "FAILED", out
    path = s.serving / str(s.serving_after_s5) / serving_dir.STATISTICS_FILE
    assert re.search(rf"FAILED in DataGate: .*statistics {re.escape(str(path))} is missing", out), out
    assert "validation: {drift: null}" in out and f"rollback --version {s.serving_after_s5}" in out


def _fake_version(path: Path, fingerprint: str) -> Path:
    from tensorflow.core.protobuf import saved_model_pb2

    (path / "variables").mkdir(parents=True)
    (path / "assets.extra").mkdir()
    model = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.add().meta_info_def.meta_graph_version = "v"
    (path / "saved_model.pb").write_bytes(model.SerializeToString())
    (path / "variables" / "variables.index").write_bytes(b"i")
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(b"w")
    (path / serving_dir.FINGERPRINT_FILE).write_text(fingerprint)
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbled", "no variables"])
def test_the_only_version_when_damaged_is_named_and_can_be_rolled_back(tmp_path, damage):
    dest = str(tmp_path / "serving")
    serving_dir.publish(str(_fake_version(tmp_path / "m", "abc")), dest, {}, keep=5)
    assert serving_dir.serving_version(dest) == 1
    with pytest.raises(ValueError, match="it has 1 version"):
        serving_dir.rollback(dest)  # a loadable only version stays
    pb = tmp_path / "serving" / "1" / "saved_model.pb"
    if damage == "truncated":
        pb.write_bytes(pb.read_bytes()[:7])
    elif damage == "garbled":
        pb.write_bytes(b"\xff" * 100)
    else:
        for f in (tmp_path / "serving" / "1" / "variables").iterdir():
            f.unlink()
    state = serving_dir.state(dest)
    assert state["serving_version"] is None and state["damaged"][0]["version"] == 1
    assert "tfx-yaml rollback --version 1" in state["damaged"][0]["fix"]
    with pytest.raises(ValueError, match="no version 2"):
        serving_dir.rollback(dest, version=2)
    assert serving_dir.rollback(dest, version=1) == (1, None)
    assert serving_dir.versions(dest) == []
    # a damaged copy withdrawn does not bar that model from being published again
    assert serving_dir.withdrawn_version(dest, "abc") is None


KFP_SPEC = """name: faults-kfp
data: {{path: {data}, label: species}}
trainer: {{warm_start: true}}
kubeflow: {{image: registry.example.com/tfx-yaml-pipelines:0.1.0, pipeline_root: {root}}}
pusher: {{destination: {serving}}}
"""


def test_on_kubeflow_a_driver_keys_the_cache_of_the_stages_that_read_the_serving_version(tmp_path):
    import json

    from pipelines import kubeflow_runner
    from tests.kfp_launcher import load_pipeline_spec

    serving = tmp_path / "serving"
    spec = write_spec(tmp_path, KFP_SPEC.format(data=PENGUIN_CSV, root=tmp_path / "root", serving=serving))
    assert kubeflow_runner.main(["--config", str(spec), "--output", str(tmp_path / "p.yaml")]) == 0
    pipeline = load_pipeline_spec(tmp_path / "p.yaml")
    files = {"SchemaGen": serving_dir.SCHEMA_FILE, "DataGate": serving_dir.STATISTICS_FILE,
             "Trainer": serving_dir.WEIGHTS_FILE}
    for name, version in (("1", "a"), ("2", "b")):  # two versions whose files differ
        model = _fake_version(tmp_path / f"m{name}", version)
        for file in files.values():
            (model / file).write_text(f"{file} of version {name}")
        serving_dir.publish(str(model), str(serving), {}, keep=5)
    tasks = pipeline["root"]["dag"]["tasks"]
    digests = []
    for _ in ("version 2 serves", "version 1 serves"):
        seen = {}
        for name, file in files.items():
            label = pipeline["components"][tasks[name]["componentRef"]["name"]]["executorLabel"]
            container = pipeline["deploymentSpec"]["executors"][label]["container"]
            pre = container["lifecycle"]["preCacheCheck"]
            assert pre["command"][-1] == "components.common.serving_driver" and file in pre["args"]
            output = tmp_path / f"{name}.json"
            parameters = {k: v["runtimeValue"]["constantValue"]
                          for k, v in tasks[name]["inputs"]["parameters"].items()}
            executor_input = {"inputs": {"parameters": parameters}, "outputs": {"outputFile": str(output)}}
            command = [sys.executable, *pre["command"][1:],
                       *[json.dumps(executor_input) if a == "{{$}}" else a for a in pre["args"]]]
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
            seen[name] = json.loads(output.read_text())["parameterValues"]["serving_digest"]
            assert seen[name] == serving_dir.reference_digest(str(serving), file)
        digests.append(seen)
        if len(digests) == 1:
            serving_dir.rollback(str(serving))
    assert all(digests[0][n] != digests[1][n] for n in files)  # a rollback changes each stage's key
    for name in ("ExampleGen", "Batching", "ServingState", "Evaluator", "Pusher"):
        label = pipeline["components"][tasks[name]["componentRef"]["name"]]["executorLabel"]
        lifecycle = pipeline["deploymentSpec"]["executors"][label]["container"].get("lifecycle", {})
        assert "serving_driver" not in json.dumps(lifecycle)


AGREE = r"""
import json, os, sys
import boto3
import components.common.io  # registers s3://
from components.common import serving_dir
from components.common.serving_layout import ServingDirectory

url, bucket, endpoint = sys.argv[1], sys.argv[2], sys.argv[3]
d = ServingDirectory(url)
seen = {"versions": d.versions(), "newest": d.newest(), "record": d.record(), "withdrawn": d.withdrawn(),
        "serving": serving_dir.serving_version(url), "state_versions": serving_dir.versions(url)}
before = d.digest()
s3 = boto3.client("s3", endpoint_url=endpoint)
key = url.split(bucket + "/", 1)[1] + "/2/assets.extra/fingerprint.txt"
s3.put_object(Bucket=bucket, Key=key, Body=b"edited, a different size")
seen["digest_changed"] = d.digest() != before
print(json.dumps(seen))
sys.stdout.flush()
os._exit(0)  # tensorflow-io's S3 client may abort at interpreter shutdown (tensorflow/io#2039)
"""


def test_the_local_and_the_object_store_readers_agree_on_one_serving_directory(tmp_path, object_store):
    import json
    import os

    from components.common.serving_layout import LocalFiles, ServingDirectory

    dest = tmp_path / "serving"
    for fingerprint in ("a", "b", "c"):
        serving_dir.publish(str(_fake_version(tmp_path / fingerprint, fingerprint)), str(dest), {}, keep=5)
    serving_dir.rollback(str(dest), version=3)
    (dest / "7").mkdir()  # a version folder without saved_model.pb: not a version
    (dest / "7" / "push_metadata.json").write_text("{}")
    (dest / ".tmp-9-host_1-abcdef12").mkdir()
    (dest / ".tmp-9-host_1-abcdef12" / "saved_model.pb").write_text("partial")
    client = object_store.client()
    for path in dest.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), object_store.bucket, f"agree/serving/{path.relative_to(dest)}")
    local = ServingDirectory(str(dest), LocalFiles())
    expected = {"versions": [1, 2], "newest": 2, "record": local.record(), "withdrawn": local.withdrawn(),
                "serving": 2, "state_versions": [1, 2]}
    assert local.versions() == [1, 2] and local.record()["last_version"] == 3
    assert [w["version"] for w in local.withdrawn()] == [3]
    url = f"s3://{object_store.bucket}/agree/serving"
    done = subprocess.run([sys.executable, "-c", AGREE, url, object_store.bucket, object_store.endpoint],
                          cwd=REPO, env={**os.environ, **object_store.env()}, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    remote = json.loads(done.stdout.strip().splitlines()[-1])
    assert remote.pop("digest_changed") is True
    assert remote == expected
    before = local.digest()
    (dest / "2" / serving_dir.FINGERPRINT_FILE).write_text("edited, a different size")
    assert local.digest() != before
