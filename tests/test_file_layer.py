"""All file work on artifact URIs, data, schema and serving paths goes through one layer
(components/common/io.py, i.e. tfx.dsl.io.fileio), so that it works on gs:// and s3:// as on a
local disk. This test keeps it that way: a bare `open`, `os.*` file call, `glob` or `shutil` in
components/ or pipelines/ fails it, unless the line (or the one above) says `# local-only: why`."""

from __future__ import annotations

import re

import pytest

from components.common import io
from tests.conftest import REPO

BARE_FILE_CALLS = re.compile(
    r"(?<![\w.])open\(|\bos\.(makedirs|mkdir|listdir|rename|replace|remove|unlink|walk|scandir|rmdir)\(|"
    r"\bos\.path\.(isdir|isfile|exists|getsize|getmtime)\(|\bglob\.glob\(|\bshutil\.|"
    r"(?<!\bio)(?<!serving_dir)\.(read_text|write_text|read_bytes|write_bytes|iterdir|mkdir)\(")
LAYER = REPO / "components" / "common" / "io.py"


def offenders() -> list[str]:
    found = []
    for path in sorted([*(REPO / "components").rglob("*.py"), *(REPO / "pipelines").rglob("*.py")]):
        if path == LAYER:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            code = line.split("#", 1)[0]
            allowed = "# local-only" in line or (number > 1 and "# local-only" in lines[number - 2])
            if BARE_FILE_CALLS.search(code) and not allowed:
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


def test_no_bare_file_calls_outside_the_file_layer():
    found = offenders()
    assert found == [], "use components.common.io (tfx.dsl.io.fileio) instead:\n" + "\n".join(found)


def test_the_checker_catches_what_it_should():
    for line in ("with open(path) as f:", "os.makedirs(x)", "glob.glob(p)", "shutil.rmtree(p)",
                 "os.path.isdir(p)", "Path(p).read_text()"):
        assert BARE_FILE_CALLS.search(line), line
    for line in ("io.open_file(p)", "fileio.open(p)", "os.path.join(a, b)", "io.write_text(p, t)"):
        assert not BARE_FILE_CALLS.search(line), line


@pytest.mark.parametrize("base, parts, joined", [
    ("/a/b", ("c", "d"), "/a/b/c/d"),
    ("s3://bucket/root", ("x", "y.json"), "s3://bucket/root/x/y.json"),
    ("gs://bucket/", ("x",), "gs://bucket/x"),
])
def test_join_keeps_uris_intact(base, parts, joined):
    assert io.join(base, *parts) == joined


def test_local_round_trip_and_tree_copy_order(tmp_path):
    io.write_json(str(tmp_path / "a" / "b.json"), {"x": 1})
    assert io.read_json(str(tmp_path / "a" / "b.json")) == {"x": 1}
    io.write_text(str(tmp_path / "a" / "sub" / "saved_model.pb"), "model")
    io.copytree(str(tmp_path / "a"), str(tmp_path / "copy"), last=("sub/saved_model.pb",))
    assert io.files_under(str(tmp_path / "copy")) == ["b.json", "sub/saved_model.pb"]
    assert io.listdir(str(tmp_path / "missing")) == [] and io.glob(str(tmp_path / "missing" / "*")) == []
    io.rmtree(str(tmp_path / "copy"))
    assert not io.exists(str(tmp_path / "copy"))
