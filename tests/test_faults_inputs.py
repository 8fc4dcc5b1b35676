"""Issue 28, cases 5 and 10: inputs that would hang a run or take all memory, and the smaller
faults of hostile data and specs. Real files: FIFOs (os.mkfifo), /dev/zero, one-line files of
hundreds of MB, NUL bytes, numbers that overflow float32. Whatever would hang runs in a
subprocess under a timeout, so that a regression fails instead of blocking CI."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from components.common import io
from pipelines import cli
from pipelines.build import checks
from pipelines.local import rerun
from tests.conftest import PENGUIN_CSV, REPO, write_spec

HANG = 120  # seconds: far above a check's few seconds, far below a hang


def _penguin_lines() -> list[str]:
    return PENGUIN_CSV.read_text(encoding="utf-8").splitlines()


def _spec(tmp_path: Path, data: str, extra: str = "", label: str = "species") -> str:
    text = f"name: faults\ndata:\n  path: {data}\n  label: {label}\n  exclude: [year]\n{extra}"
    return str(write_spec(tmp_path, text))


def _cli(*args: str) -> subprocess.CompletedProcess:
    """`tfx-yaml ARGS` in a fresh process, killed after HANG seconds (a hang fails the test)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=HANG, check=False)


# -- case 5: FIFOs and devices are never opened; reads are bounded -------------------------------

CHECKS = """
import resource, sys
from pipelines import cli
for spec in sys.argv[1:]:
    code = cli.main(["check", spec])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\\nEND {code} {peak}", file=sys.stderr, flush=True)
"""


def _one_line_file(path: Path, megabytes: int) -> Path:
    block = b"a," * (1 << 19)  # 1 MiB, no line break
    with path.open("wb") as f:
        for _ in range(megabytes):
            f.write(block)
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[str, tuple[int, str, float]]:
    """`tfx-yaml check` of each hostile input, one after the other in one fresh process killed after
    HANG seconds (a FIFO that blocks fails the tests, it does not hang them): {case: (exit code,
    stderr, the process's peak memory in MB after that check)}. The penguin file goes first: the
    peak of an ordinary check, against which the 300 MB one-line file's is measured."""
    base = tmp_path_factory.mktemp("hostile")
    specs = {}
    for case in ("penguin", "fifo_folder", "dev_zero", "one_line"):
        (base / case).mkdir()
    specs["penguin"] = _spec(base / "penguin", str(PENGUIN_CSV))
    folder = base / "fifo_folder"
    (folder / "data").mkdir()
    (folder / "data" / "penguins.csv").write_text(PENGUIN_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    os.mkfifo(folder / "data" / "stuck.csv")
    os.mkfifo(folder / "schema.pbtxt")
    specs["fifo_folder"] = _spec(folder, "data", "schema:\n  path: schema.pbtxt\n")
    specs["dev_zero"] = _spec(base / "dev_zero", "/dev/zero", "schema:\n  path: /dev/zero\n")
    specs["one_line"] = _spec(base / "one_line", str(_one_line_file(base / "one_line" / "one.csv", 300)))
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", CHECKS, *specs.values()], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=HANG, check=False)
    parts = result.stderr.split("\nEND ")
    assert len(parts) == len(specs) + 1, result.stderr
    found = {}
    for case, err, end in zip(specs, parts[:-1], parts[1:]):
        code, peak = end.split("\n", 1)[0].split()
        found[case] = (int(code), err.split("\n", 1)[-1] if case != "penguin" else err, int(peak) / 1024)
    return found


def test_check_refuses_a_fifo_in_the_data_folder_and_as_schema_without_blocking(checked):
    code, err, _ = checked["fifo_folder"]
    assert code == 2, err
    assert "key 'schema.path': " in err and "schema.pbtxt is a FIFO (named pipe), not a regular file" in err
    assert "key 'data.path': " in err and "stuck.csv is a FIFO (named pipe), not a regular file" in err
    assert "narrow data.pattern" in err and "Traceback" not in err


def test_check_refuses_dev_zero_as_data_and_schema(checked):
    code, err, _ = checked["dev_zero"]
    assert code == 2, err
    assert "key 'schema.path': /dev/zero is a character device, not a regular file" in err
    assert "key 'data.path': /dev/zero is a character device, not a regular file" in err


def test_a_300_mb_one_line_file_is_refused_in_bounded_memory(checked):
    """The issue: 2.42 GB peak for an 800 MB one-line file. Now the first line is read in blocks
    up to 1 MiB and the line-by-line check stops at MAX_LINE_BYTES: the process's peak after the
    check is that after checking the penguin file, plus a few MB."""
    code, err, peak = checked["one_line"]
    assert code == 2, err
    assert f"line 1 is longer than {checks.MAX_LINE_BYTES:,} bytes" in err
    baseline_code, baseline_err, baseline = checked["penguin"]
    assert baseline_code == 0, baseline_err
    assert peak < baseline + 64, (peak, baseline)  # MB


@pytest.mark.slow
def test_run_refuses_a_fifo_before_any_work(tmp_path):
    """`run` (the fast path's fingerprint first, then the checks) neither opens nor waits on it."""
    os.mkfifo(tmp_path / "stuck.csv")
    spec = _spec(tmp_path, "stuck.csv")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, str(REPO / "pipelines" / "local_runner.py"), "--config", spec,
                             "--root", str(tmp_path / "root")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=HANG, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    fifo = tmp_path / "stuck.csv"
    assert f"key 'data.path': {fifo} is a FIFO (named pipe), not a regular file" in result.stderr
    assert "point data.path at a regular file" in result.stderr


def test_a_spec_that_is_a_fifo_or_a_device_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "spec.yaml")
    assert cli.main(["check", str(tmp_path / "spec.yaml")]) == 2  # refused before it is opened
    assert "is a FIFO (named pipe), not a regular file" in capsys.readouterr().err
    assert cli.main(["check", "/dev/zero"]) == 2
    assert "/dev/zero is a character device, not a regular file" in capsys.readouterr().err


def test_the_file_layer_refuses_to_open_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for read in (io.read_bytes, lambda p: io.first_line(p, "utf-8"), io.open_stream):
        with pytest.raises(io.NotARegularFile, match="is a FIFO"):
            read(str(tmp_path / "pipe"))
    with pytest.raises(io.NotARegularFile, match="is a character device"):
        io.read_text("/dev/zero", limit=10)
    assert io.not_a_regular_file(str(PENGUIN_CSV)) == ""


def test_the_first_line_is_read_in_blocks_with_a_stated_bound(tmp_path):
    big = _one_line_file(tmp_path / "one_line.csv", 8)
    with pytest.raises(io.TooLarge, match=r"longer than 1,048,576 bytes \(the bound on a header line\)"):
        io.first_line(str(big), "utf-8")
    (tmp_path / "long16.csv").write_text("a," * 10_000, encoding="utf-16")
    with pytest.raises(io.TooLarge, match="longer than 4,096 bytes"):
        io.first_line(str(tmp_path / "long16.csv"), "utf-16", limit=4096)
    (tmp_path / "ok.csv").write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\n")
    assert io.first_line(str(tmp_path / "ok.csv"), "utf-8") == "a,b"
    (tmp_path / "ok16.csv").write_text("a,b\n1,2\n", encoding="utf-16")
    assert io.first_line(str(tmp_path / "ok16.csv"), "utf-16") == "a,b"


def _returns_within(seconds: float, function, *args):
    """function(*args) in a daemon thread; fails when it has not returned after `seconds`."""
    box = []
    thread = threading.Thread(target=lambda: box.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"{function.__name__}{args} did not return within {seconds} s"
    return box[0]


def test_the_fast_path_reads_by_content_with_a_cap(tmp_path):
    """rerun's fingerprint of the schema: /dev/zero (size 0) and a FIFO are never read; a file over
    SMALL_FILE is taken by its identity, a small one by its content."""
    started = time.perf_counter()
    assert _returns_within(10, rerun._content, "/dev/zero").startswith(b"/dev/zero\0")
    os.mkfifo(tmp_path / "pipe")
    _returns_within(10, rerun._content, str(tmp_path / "pipe"))
    assert time.perf_counter() - started < 10
    big = tmp_path / "big.pbtxt"
    big.write_bytes(b"x" * (rerun.SMALL_FILE + 1))
    assert rerun._content(str(big)).endswith(b"\n")  # file_identity's line, not a digest
    small = tmp_path / "small.pbtxt"
    small.write_text("feature {}\n")
    before = rerun._content(str(small))
    small.write_text("feature {}\n\n")
    assert rerun._content(str(small)) != before


def test_a_schema_larger_than_its_bound_is_refused(tmp_path):
    big = tmp_path / "schema.pbtxt"
    with big.open("wb") as f:
        f.truncate(checks.MAX_SCHEMA_BYTES + 1)  # sparse: no disk used
    problems = checks.schema_problems(str(big))
    assert problems and f"larger than {checks.MAX_SCHEMA_BYTES:,} bytes" in problems[0]


# -- case 5: a bound on the number of columns ---------------------------------------------------

def _wide_csv(path: Path, features: int, rows: int = 30) -> Path:
    header = ["species", *(f"f{i}" for i in range(features)), "year"]
    lines = [",".join(header)]
    lines += [",".join(["Adelie" if r % 2 else "Gentoo",  # fractional values: no integer identifiers
                        *(str((r * 31 + i * 17) % 11 + 0.5) for i in range(features)), "2007"])
              for r in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_more_columns_than_data_max_columns_are_refused_at_check(tmp_path, capsys):
    data = _wide_csv(tmp_path / "wide.csv", 1_200)
    started = time.perf_counter()
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - started < 30
    assert ("1,200 feature columns (the header's 1,202 minus the label and data.exclude); at most "
            "data.max_columns = 1,000 are used") in err
    assert "under data.exclude, or raise data.max_columns" in err
    raised = _spec(tmp_path, str(data), "  max_columns: 1200\n")
    assert cli.main(["check", raised]) == 0, capsys.readouterr().err
    excluded = "[year, " + ", ".join(f"f{i}" for i in range(200)) + "]"
    text = Path(_spec(tmp_path, str(data))).read_text().replace("exclude: [year]", f"exclude: {excluded}")
    (tmp_path / "pipeline.yaml").write_text(text)
    assert cli.main(["check", str(tmp_path / "pipeline.yaml")]) == 0, capsys.readouterr().err


# -- case 10: NUL bytes and numbers that are not finite in float32 ------------------------------

def _penguins_with(tmp_path: Path, changes: dict[int, tuple[int, str]], name: str = "data.csv") -> Path:
    """The penguin CSV with the cell (line, column index) -> value replaced."""
    lines = _penguin_lines()
    for line, (column, value) in changes.items():
        cells = lines[line - 1].split(",")
        cells[column] = value
        lines[line - 1] = ",".join(cells)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_nul_byte_in_a_value_is_refused_with_its_column_and_line(tmp_path, capsys):
    data = _penguins_with(tmp_path, {7: (1, "Torg\x00ersen"), 30: (1, "Dream\x00"), 40: (4, "nan")})
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 2
    err = capsys.readouterr().err
    assert f"data file {data}: column 'island', line 7, 30 (2 cells): a NUL byte (0x00) in a value" in err
    assert "remove those bytes" in err and "Traceback" not in err
    assert "column 'flipper_length_mm', line 40: 'nan' is not a finite number" in err  # both at once


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e308", "-1e39"])
def test_a_number_not_finite_in_float32_is_refused_with_its_column_and_line(value, tmp_path, capsys):
    data = _penguins_with(tmp_path, {9: (5, value)})  # body_mass_g
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 2
    err = capsys.readouterr().err
    assert (f"data file {data}: column 'body_mass_g', line 9: {value!r} is not a finite number in float32"
            in err), err
    assert "An empty cell is a missing value" in err and "data.exclude" in err


def test_text_nan_in_a_text_column_is_a_category_and_in_the_label_is_missing(tmp_path, capsys):
    """'nan' is a number only in a numeric column: in a text column (island) it is one more value,
    and in the label it means no label, as pandas reads it (the rows-without-a-label rule)."""
    data = _penguins_with(tmp_path, {5: (1, "nan")})
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 0, capsys.readouterr().err
    capsys.readouterr()
    data = _penguins_with(tmp_path, {5: (0, "nan")}, name="label.csv")
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 2
    assert "1 row(s) have no value in the label column 'species' (line 5)" in capsys.readouterr().err


def test_a_regression_label_that_overflows_float32_is_refused(tmp_path, capsys):
    data = _penguins_with(tmp_path, {12: (5, "1e308")})
    spec = _spec(tmp_path, str(data), "  drop_unlabeled: true\n", label="body_mass_g")
    assert cli.main(["check", spec]) == 2
    err = capsys.readouterr().err
    assert "column 'body_mass_g' (the label), line 12: '1e308' is not a finite number in float32" in err


# -- case 10: control characters in paths, echoed values cut -------------------------------------

def test_a_newline_in_the_destination_cannot_forge_console_lines(tmp_path, capsys):
    forged = "/tmp/x\n[21:00:00] Pusher done; pushed: /evil/1"
    spec = _spec(tmp_path, str(PENGUIN_CSV), f"pusher:\n  destination: {forged!r}\n".replace("'", '"'))
    assert cli.main(["check", spec]) == 2
    err = capsys.readouterr().err
    assert "key 'pusher.destination' (line 7): " in err and "holds a newline (\\n) at character 7" in err
    assert not any(line.startswith("[21:00:00]") for line in err.splitlines())


def test_a_500_kb_label_is_echoed_cut(tmp_path, capsys):
    lines = _penguin_lines()[:60]
    big = "X" * 500_000
    lines[30] = big + "," + lines[30].split(",", 1)[1]
    data = tmp_path / "big_label.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 0
    out = capsys.readouterr().out
    assert f"{'X' * checks.ECHO_CHARS}… (500,000 chars)" in out and len(out) < 10_000


def test_every_problem_is_cut_to_a_stated_length():
    from pipelines.spec.loader import MAX_PROBLEM_CHARS, SpecError

    error = SpecError("x.yaml", ["y" * 50_000])
    assert error.problems == ["y" * MAX_PROBLEM_CHARS + "… (50,000 chars)"]
    assert math.isclose(len(str(error)), MAX_PROBLEM_CHARS, rel_tol=0.05)


def test_a_100_kb_column_name_is_echoed_cut(tmp_path, capsys):
    lines = _penguin_lines()
    long_name = "I" * 100_000  # Python's csv module refuses a field over 131,072
    lines[0] = lines[0].replace("island", long_name)
    data = tmp_path / "long_name.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["check", _spec(tmp_path, str(data))]) == 0
    out = capsys.readouterr().out
    assert f"  {'I' * checks.ECHO_CHARS}… (100,000 chars): categorical" in out and len(out) < 10_000


def test_a_control_character_in_root_given_as_a_flag_is_refused(tmp_path, capsys):
    """--root is no key of the spec (the loader never sees it): the checks before a run refuse it."""
    spec = _spec(tmp_path, str(PENGUIN_CSV))
    assert cli.main(["check", spec, "--root", f"{tmp_path}/runs\n[21:00:00] Pusher done"]) == 2
    err = capsys.readouterr().err
    assert "key 'runtime.root (or --root)': " in err and "holds a control character" in err
    assert not any(line.startswith("[21:00:00]") for line in err.splitlines())
    assert not (tmp_path / "runs").exists()
