"""The Pusher's serving directory: atomic versions, crash safety, idempotence, retention, rollback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from components.common import serving_dir
from components.pusher.executor import push_decision
from pipelines import cli
from tests.conftest import REPO, write_spec


def fake_model(path, fingerprint="abc", size=1000):
    """A SavedModel-shaped folder that passes serving_dir.damage's checks (a saved_model.pb that
    parses, with a graph; the variables' index and data); the serving directory only moves files."""
    from tensorflow.core.protobuf import saved_model_pb2

    (path / "variables").mkdir(parents=True)
    model = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.add().meta_info_def.meta_graph_version = "x" * size
    (path / "saved_model.pb").write_bytes(model.SerializeToString())
    (path / "variables" / "variables.index").write_bytes(b"i")
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * size)
    (path / "assets.extra").mkdir()
    (path / serving_dir.FINGERPRINT_FILE).write_text(fingerprint)
    return path


def test_versions_increase_and_carry_metadata(tmp_path):
    model = fake_model(tmp_path / "model")
    dest = tmp_path / "serving"
    assert serving_dir.publish(str(model), str(dest), {"metrics": {"accuracy": 0.97}}, keep=5) == 1
    assert serving_dir.publish(str(model), str(dest), {}, keep=5) == 2
    assert serving_dir.versions(str(dest)) == [1, 2]
    meta = json.loads((dest / "1" / serving_dir.METADATA_FILE).read_text())
    assert meta == {"metrics": {"accuracy": 0.97}, "version": 1}
    assert (dest / "2" / "saved_model.pb").read_bytes() == (model / "saved_model.pb").read_bytes()


def test_only_the_newest_versions_are_kept(tmp_path):
    model = fake_model(tmp_path / "model")
    for _ in range(5):
        serving_dir.publish(str(model), str(tmp_path / "serving"), {}, keep=3)
    assert serving_dir.versions(str(tmp_path / "serving")) == [3, 4, 5]


PUBLISH = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from components.common import serving_dir
    with serving_dir.push_lock({dest!r}):
        print(serving_dir.publish({model!r}, {dest!r}, {{}}, keep=5), flush=True)
""")


def many_files_model(path, files=1500):
    """A model folder big enough in file count that its copy takes a while."""
    fake_model(path)
    for i in range(files):
        (path / "variables" / f"shard-{i:05d}").write_bytes(b"w" * 4096)
    return path


def test_kill_9_during_a_publish_leaves_the_destination_valid_and_the_next_push_cleans_up(tmp_path):
    model = many_files_model(tmp_path / "model")
    dest = tmp_path / "serving"
    serving_dir.publish(str(model), str(dest), {}, keep=5)
    script = PUBLISH.format(repo=str(REPO), model=str(model), dest=str(dest))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not any(p.name.startswith(serving_dir.TMP_PREFIX) for p in dest.iterdir()):
        assert time.time() < deadline and process.poll() is None, "the publisher never started copying"
        time.sleep(0.01)
    time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert serving_dir.versions(str(dest)) == [1]  # TF Serving still sees only the complete version
    leftovers = [p.name for p in dest.iterdir() if p.name.startswith(serving_dir.TMP_PREFIX)]
    assert leftovers  # the killed pusher's partial copy, hidden from TF Serving
    assert all(name.startswith(".") for name in os.listdir(dest) if not name.isdigit())
    with serving_dir.push_lock(str(dest)):
        assert serving_dir.publish(str(model), str(dest), {}, keep=5) == 2  # its owner is gone: removed
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["1", "2"]
    assert not [p.name for p in dest.iterdir() if p.name.startswith(serving_dir.TMP_PREFIX)]


def test_two_pushers_started_together_take_different_versions(tmp_path):
    model = many_files_model(tmp_path / "model", files=200)
    dest = tmp_path / "serving"
    script = PUBLISH.format(repo=str(REPO), model=str(model), dest=str(dest))
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = sorted(int(p.communicate(timeout=120)[0].strip()) for p in processes)
    assert outputs == [1, 2]
    assert serving_dir.versions(str(dest)) == [1, 2]


def test_a_live_pushers_temporary_is_never_removed(tmp_path):
    dest = tmp_path / "serving"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname().replace("-", "_")
        live = dest / f"{serving_dir.TMP_PREFIX}7-{host}_{sleeper.pid}-abcdef01"
        dead = dest / f"{serving_dir.TMP_PREFIX}7-{host}_99999999-abcdef02"
        for folder in (live, dead):
            folder.mkdir(parents=True)
            (folder / "saved_model.pb").write_bytes(b"x")
        assert serving_dir.remove_stale_temporaries(str(dest)) == [dead.name]
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_full_disk_during_a_push_removes_the_partial_copy_and_names_the_path(tmp_path):
    """A real full file system: a 2 MiB tmpfs (needs root and mount; skipped elsewhere)."""
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        model = fake_model(tmp_path / "model", size=1_500_000)  # 3 MB in all: does not fit
        dest = disk / "serving"
        with pytest.raises(serving_dir.PushError, match="no space left on the device") as error:
            serving_dir.publish(str(model), str(dest), {}, keep=5)
        assert str(dest) in str(error.value) and "partial copy" in str(error.value)
        assert not [p.name for p in dest.iterdir() if p.name.startswith(serving_dir.TMP_PREFIX)]
        assert serving_dir.versions(str(dest)) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_rolled_back_model_is_not_published_again_and_its_number_is_not_reused(tmp_path):
    dest = tmp_path / "serving"
    serving_dir.publish(str(fake_model(tmp_path / "m1", "first")), str(dest), {}, keep=5)
    serving_dir.publish(str(fake_model(tmp_path / "m2", "bad")), str(dest), {}, keep=5)
    assert serving_dir.rollback(str(dest)) == (2, 1)
    blessed = {"blessed": True, "reasons": {}}
    decision = decide(blessed, fake_model(tmp_path / "m3", "bad"), dest)
    assert decision.startswith("identical to version 2, which was rolled back")
    assert serving_dir.publish(str(fake_model(tmp_path / "m4", "better")), str(dest), {}, keep=5) == 3


def test_same_fingerprint_is_not_pushed_again(tmp_path):
    dest = tmp_path / "serving"
    serving_dir.publish(str(fake_model(tmp_path / "m1", "same")), str(dest), {}, keep=5)
    blessed = {"blessed": True, "reasons": {}}
    assert decide(blessed, fake_model(tmp_path / "m2", "same"),
                  dest).startswith("identical to the serving version")
    assert decide(blessed, fake_model(tmp_path / "m3", "other"), dest) == "push"
    not_blessed = {"blessed": False, "reasons": {"accuracy": "FAILED: accuracy 0.5 < 0.9 (absolute)"}}
    assert decide(not_blessed, tmp_path / "m3", dest) == "not blessed: FAILED: accuracy 0.5 < 0.9 (absolute)"


def decide(verdict: dict, model, dest, compared: dict | None = None) -> str:
    """The Pusher's decision for `model` at `dest`, the Evaluator having compared against
    `compared` (default: the destination as it is now)."""
    now = serving_dir.state(str(dest))
    return push_decision(verdict, str(model), str(dest), compared or now, now)


def test_a_blessing_against_a_serving_state_that_changed_since_is_not_pushed(tmp_path):
    dest = tmp_path / "serving"
    serving_dir.publish(str(fake_model(tmp_path / "m1", "first")), str(dest), {}, keep=5)
    compared = serving_dir.state(str(dest))
    assert compared["serving_version"] == 1 and compared["versions"][0]["fingerprint"] == "first"
    # pushed meanwhile
    serving_dir.publish(str(fake_model(tmp_path / "m2", "other root")), str(dest), {}, keep=5)
    decision = decide({"blessed": True, "reasons": {}}, fake_model(tmp_path / "m3", "mine"), dest, compared)
    assert decision.startswith(f"the serving directory {dest} changed after the Evaluator compared")
    assert f"then: {dest / '1'}; now: {dest / '2'}" in decision
    assert serving_dir.versions(str(dest)) == [1, 2]


def test_the_serving_state_changes_with_any_file_of_any_version_and_the_record(tmp_path):
    dest = tmp_path / "serving"
    serving_dir.publish(str(fake_model(tmp_path / "m1", "first")), str(dest), {}, keep=5)
    serving_dir.publish(str(fake_model(tmp_path / "m2", "second")), str(dest), {}, keep=5)
    digests = [serving_dir.state_digest(str(dest))]
    assert serving_dir.state_digest(str(dest)) == digests[0]  # reading changes nothing
    schema = dest / "1" / "assets.extra" / "schema.pbtxt"  # a file later runs validate against
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text('feature { name: "x" }\n')
    digests.append(serving_dir.state_digest(str(dest)))
    serving_dir.rollback(str(dest))  # the record changes, version 2 is withdrawn
    digests.append(serving_dir.state_digest(str(dest)))
    assert len(set(digests)) == 3
    state = serving_dir.state(str(dest))
    assert state["serving_version"] == 1 and [w["version"] for w in state["withdrawn"]] == [2]


def test_rollback_restores_the_previous_version(tmp_path, capsys):
    model = fake_model(tmp_path / "model")
    dest = tmp_path / "root" / "serving"
    for _ in range(3):
        serving_dir.publish(str(model), str(dest), {}, keep=5)
    spec = write_spec(tmp_path,
                      f"name: demo\ndata: {{path: ., label: y}}\nruntime: {{root: {tmp_path / 'root'}}}\n")
    assert cli.main(["rollback", "--config", str(spec)]) == 0
    assert "version 3 withdrawn, version 2 serves now" in capsys.readouterr().out
    assert serving_dir.versions(str(dest)) == [1, 2]
    assert [p.name.split("-")[0] for p in (dest / serving_dir.ROLLED_BACK).iterdir()] == ["3"]


def test_rollback_needs_two_versions(tmp_path):
    serving_dir.publish(str(fake_model(tmp_path / "model")), str(tmp_path / "serving"), {}, keep=5)
    with pytest.raises(ValueError, match="it has 1 version"):
        serving_dir.rollback(str(tmp_path / "serving"))
