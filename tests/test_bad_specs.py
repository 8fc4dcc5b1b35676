"""A corpus of malformed and hostile pipeline specs (tests/data/bad_specs/, one defect each, on the
penguin spec): `tfx-yaml check` refuses each with exit 2 and one clear message (key path, line,
value, the rule in words, the fix), no traceback, and nothing written. The first line of each
file says what the message must contain (`# expect: <regex>`)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from pipelines import cli
from tests.conftest import REPO

CORPUS = REPO / "tests" / "data" / "bad_specs"


def expectation(path: Path) -> str:
    side = path.with_suffix(".expect")
    if side.exists():
        return side.read_text().strip()
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    assert first.startswith("# expect: "), f"{path.name} has no '# expect:' line"
    return first.removeprefix("# expect: ")


CASES = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 80


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_spec_is_refused_with_a_clear_message(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where a run would write runs/<name>
    code = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert re.search(expectation(path), err), err
    assert err.startswith(f"error: {path}: ")  # headed by the file, not the pipeline name
    assert "Traceback" not in err and len(err) < 4000
    assert list(tmp_path.iterdir()) == []  # nothing written


def _check_generated(tmp_path, capsys, text: str | bytes) -> str:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.perf_counter()
    assert cli.main(["check", str(path)]) == 2
    assert time.perf_counter() - started < 10  # refused quickly, not after minutes
    return capsys.readouterr().err


def test_a_50_mb_spec_is_refused_by_its_size(tmp_path, capsys):
    err = _check_generated(tmp_path, capsys, "name: x\n" + "# padding\n" * 5_000_000)
    assert "a pipeline spec is at most 1 MiB" in err


def test_100000_nested_levels_are_refused_in_one_line(tmp_path, capsys):
    err = _check_generated(tmp_path, capsys, "name: x\ndescription: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nested more than 50 levels deep" in err and "RecursionError" not in err


def test_an_alias_bomb_of_a_billion_values_is_refused_quickly(tmp_path, capsys):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    err = _check_generated(tmp_path, capsys, "\n".join(lines) + "\nname: x\ndescription: *a8\n")
    assert "expands to more than 100,000 values" in err


def test_the_penguin_spec_passes_check_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(REPO / "pipelines" / "penguin" / "pipeline.yaml")]) == 0
    assert "OK" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []
