"""The Pusher's serving directory: atomic versions, crash safety, idempotence, retention, rollback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from components.common import serving_dir
from components.pusher.executor import push_decision
from pipelines import cli
from tests.conftest import REPO, write_spec


def fake_model(path, fingerprint="abc", size=1000):
    """A SavedModel-shaped folder; the serving directory only moves files."""
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"x" * size)
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


CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {repo!r})
    from components.common import serving_dir
    real_rename = os.rename
    def crash(src, dst):
        if os.path.basename(src).startswith(serving_dir.TMP_PREFIX):
            os._exit(3)  # the process dies between writing the version and renaming it
        real_rename(src, dst)
    os.rename = crash
    serving_dir.publish({model!r}, {dest!r}, {{}}, keep=5)
""")


def test_a_crash_between_writing_and_renaming_leaves_the_destination_valid(tmp_path):
    model = fake_model(tmp_path / "model")
    dest = tmp_path / "serving"
    serving_dir.publish(str(model), str(dest), {}, keep=5)
    script = CRASH.format(repo=str(REPO), model=str(model), dest=str(dest))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert serving_dir.versions(str(dest)) == [1]  # TF Serving still sees only the complete version
    leftovers = [p.name for p in dest.iterdir() if not p.name.isdigit()]
    assert leftovers and all(name.startswith(".") for name in leftovers)  # hidden from TF Serving
    assert serving_dir.publish(str(model), str(dest), {}, keep=5) == 2  # the next push cleans up
    assert sorted(p.name for p in dest.iterdir()) == ["1", "2"]


def test_same_fingerprint_is_not_pushed_again(tmp_path):
    dest = tmp_path / "serving"
    serving_dir.publish(str(fake_model(tmp_path / "m1", "same")), str(dest), {}, keep=5)
    blessed = {"blessed": True, "reasons": {}}
    assert push_decision(blessed, str(fake_model(tmp_path / "m2", "same")), str(dest)).startswith(
        "identical to the serving version")
    assert push_decision(blessed, str(fake_model(tmp_path / "m3", "other")), str(dest)) == "push"
    not_blessed = {"blessed": False, "reasons": {"accuracy": "FAILED: accuracy 0.5 < 0.9 (absolute)"}}
    assert push_decision(not_blessed, str(tmp_path / "m3"), str(dest)) == (
        "not blessed: FAILED: accuracy 0.5 < 0.9 (absolute)")


def test_rollback_restores_the_previous_version(tmp_path, capsys):
    model = fake_model(tmp_path / "model")
    dest = tmp_path / "root" / "serving"
    for _ in range(3):
        serving_dir.publish(str(model), str(dest), {}, keep=5)
    spec = write_spec(tmp_path, f"name: demo\ndata: {{path: ., label: y}}\nruntime: {{root: {tmp_path / 'root'}}}\n")
    assert cli.main(["rollback", "--config", str(spec)]) == 0
    assert "version 3 withdrawn, version 2 serves now" in capsys.readouterr().out
    assert serving_dir.versions(str(dest)) == [1, 2]
    assert [p.name.split("-")[0] for p in (dest / serving_dir.ROLLED_BACK).iterdir()] == ["3"]


def test_rollback_needs_two_versions(tmp_path):
    serving_dir.publish(str(fake_model(tmp_path / "model")), str(tmp_path / "serving"), {}, keep=5)
    with pytest.raises(ValueError, match="it has 1 version"):
        serving_dir.rollback(str(tmp_path / "serving"))
