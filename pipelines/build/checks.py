"""Checks of everything a spec points at, before any stage runs (and by `tfx-yaml check`): the
data files (readable text, a header with the label, well-formed rows), the schema file, the Beam
arguments, and what the label's values say about the task and the output layer.

Each problem is one line for the user: file, line, what is wrong, what to change. Messages echo
only the data's own header and label values, never other file contents, each cut to ECHO_CHARS
characters (`cut`).

Bounds stated here: a data file must be a regular file (not a FIFO or a device: `irregular_files`);
a line is at most MAX_LINE_BYTES; at most `data.max_columns` feature columns; no NUL byte in a
value; a number in a numeric column (or a numeric label) must be finite in float32, the type the
examples hold (|x| <= FLOAT32_MAX; "nan" and "inf" texts parse as numbers, as in TFX's
CsvExampleGen, so they are refused too: only an empty cell is a missing value).
"""

from __future__ import annotations

import csv
import dataclasses
import io as pyio
import math
import re
from pathlib import Path

from components.common import io
from pipelines.spec import PipelineSpec
from pipelines.spec.models import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    combination_problem,
    did_you_mean,
)

OTHER_DELIMITERS = (";", "\t", "|")
MAX_LISTED_LINES = 5
MAX_LISTED_COLUMNS = 30  # a header listed in a message: its first columns, then "and N more"
ECHO_CHARS = 200  # a value from the data echoed in a message or the plan: at most this many characters
FLOAT32_MAX = 3.4028234663852886e38  # numbers become float32 features: a larger magnitude is inf there


def cut(value, limit: int = ECHO_CHARS) -> str:
    """A value from the user's files, for a message: at most `limit` characters, then
    "… (N chars)" (a 500 KB label would otherwise be printed whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


@dataclasses.dataclass
class Findings:
    """What the checks inferred from the data: `plan`, the lines `tfx-yaml check` and every run
    print (the task and why, the classes, each column's encoding; Batching says the same on the
    train split); `task`, the task and why, which the compiler records in the stage configs
    (pipelines/build/compiler.py, `decided_sections`). None where the data was not read."""

    plan: list[str] = dataclasses.field(default_factory=list)
    task: tuple[str, str] | None = None


def csv_problems(spec: PipelineSpec, files: list[str], findings: Findings) -> list[str]:
    """Problems of the CSV files of one spec, and of its label's values against the trainer; what
    the label and the columns say goes into `findings`."""
    problems, label_values, labelled = [], [], 0
    header_of_first, profile = None, None
    too_wide = _too_many_columns(spec, files[0]) if files else []
    if too_wide:
        return too_wide  # before any row is read: each column costs time in every stage
    for path in files:
        found, header, values, rows, columns = _one_csv(spec, path)
        problems += found
        if columns is not None:
            profile = columns if profile is None else profile.merge(columns)
        label_values += values
        labelled += rows
        if header is not None:
            if header_of_first is not None and header != header_of_first:
                problems.append(f"data file {path}: its columns differ from those of {files[0]}; "
                                "files of one split need the same header")
            header_of_first = header_of_first or header
    if label_values and not [p for p in problems if "have no value in the label column" not in p]:
        problems += _label_problems(spec, list(dict.fromkeys(label_values)), labelled, findings)
        if profile is not None and not problems:
            problems += _column_plan(spec, profile, files, findings)
    return problems


# What the bound on columns (data.max_columns) stands for, measured (README, "What happens when").
COLUMNS_COST = ("every column is a feature in every stage (statistics, the model's inputs, the Evaluator), "
                "and time and memory grow with them: 1,000 columns x 300 rows took 111 s of CPU and 2.4 GB "
                "at its peak for a whole run; 10,000 columns x 300 rows trained for 7 minutes and were still "
                "in the Evaluator after 30 at 14 GB")


def _too_many_columns(spec: PipelineSpec, path: str) -> list[str]:
    """More feature columns (the header minus the label and data.exclude) than data.max_columns:
    refused from the first line alone (read in blocks, at most 1 MiB)."""
    try:
        header = next(csv.reader(pyio.StringIO(io.first_line(path, spec.data.encoding)),
                                 delimiter=spec.data.delimiter))
    except (UnicodeDecodeError, csv.Error, StopIteration, LookupError, OSError):
        return []  # the line-by-line check names what is wrong with the first line
    return columns_bound_problems(spec, header, path)


def columns_bound_problems(spec: PipelineSpec, header: list[str], where: str) -> list[str]:
    """The bound on the number of feature columns, with what it implies and the fix."""
    features = [c for c in dict.fromkeys(header) if c != spec.data.label and c not in spec.data.exclude]
    bound = spec.data.max_columns
    if len(features) <= bound:
        return []
    return [(f"data file {where}: {len(features):,} feature columns (the header's {len(header):,} minus "
             f"the label and data.exclude); at most data.max_columns = {bound:,} are used: {COLUMNS_COST}. "
             "List the columns the model does not need under data.exclude, or raise data.max_columns (at "
             f"most {MAX_FAST_FIELDS:,})")]


def _unlabeled_is_a_problem(spec: PipelineSpec) -> bool:
    """Rows without a label stop the run unless the spec drops them (data.drop_unlabeled), and a
    curated schema that requires the label stops them anyway unless the label is exempt."""
    curated = bool(spec.schema_.path) and spec.data.label not in (spec.validation.exempt_features or [])
    return not spec.data.drop_unlabeled or curated


def _one_csv(spec: PipelineSpec, path: str) -> tuple[list[str], list[str] | None, list[str], int,
                                                     _Profile | None]:
    """(problems, header, the label's distinct values, rows with a label) of one CSV file. A
    well-formed file is read once by Arrow's CSV reader, a block at a time (`_well_formed_csv`); any
    other file is read again line by line with Python's csv module, which names the line of each
    problem."""
    suspects: set[str] = set()  # columns with numbers that are not finite in float32
    checked = _well_formed_csv(spec, path, suspects)
    return checked if checked is not None else (*_csv_line_by_line(spec, path, suspects), None)


def _well_formed_csv(spec: PipelineSpec, path: str, suspects: set[str] | None = None
                     ) -> tuple[list[str], list[str], list[str], int] | None:
    """The fast path of `_one_csv`: None when Arrow cannot read the file as a header and rows of
    the same width (or finds anything `_csv_line_by_line` would report), else no problems, the
    header, the label's distinct values, in order of appearance, and the rows with a label (all
    that `_label_problems` needs). Memory stays at one block, whatever the file's size. A NUL byte
    anywhere, or a number that is not finite in float32 in a numeric column or the label (their
    names go into `suspects`), also sends the file to the line-by-line check, which names the line."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    try:
        # UTF-16 too: decoded as it is read, not per byte line
        first = io.first_line(path, spec.data.encoding)
        header = next(csv.reader(pyio.StringIO(first), delimiter=spec.data.delimiter))
    except (UnicodeDecodeError, csv.Error, StopIteration, LookupError, OSError):
        return None
    if len(set(header)) != len(header) or spec.data.label not in header or any(
            c not in header for c in spec.data.exclude) or (len(header) == 1 and spec.data.delimiter == ","):
        return None
    options = (pa_csv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 20,  # ~20 read ahead
                                  encoding="utf8" if spec.data.encoding == "utf-8" else spec.data.encoding),
               pa_csv.ParseOptions(delimiter=spec.data.delimiter, newlines_in_values=True),
               pa_csv.ConvertOptions(column_types={c: pa.string() for c in header},
                                     strings_can_be_null=False))
    label, rows, labels, labelled = header.index(spec.data.label), 0, [], 0
    profile = _Profile([c for c in header if c != spec.data.label and c not in spec.data.exclude])
    utf16, label_not_finite = spec.data.encoding == "utf-16", False
    try:
        guard = _Guard(raw := io.open_stream(path), spec.data.delimiter, nul=not utf16)
        with raw, pyio.BufferedReader(guard, 1 << 20) as f:
            for block in pa_csv.open_csv(f, *options):
                if utf16 and any(pc.any(pc.match_substring(c, "\x00")).as_py() for c in block.columns):
                    guard.nul_seen = True
                if block.num_columns == 1:  # a blank line of a one-column file is an empty row
                    block = block.filter(pc.not_equal(pc.utf8_trim_whitespace(block.column(0)), ""))
                rows += block.num_rows
                repeated = pc.equal(block.column(0), header[0])
                for i, name in enumerate(header[1:], start=1):
                    repeated = pc.and_(repeated, pc.equal(block.column(i), name))
                values = pc.utf8_trim_whitespace(block.column(label))
                missing = pc.is_in(values, value_set=pa.array(["", "NA", "NaN", "nan", "null"]))
                if pc.any(repeated).as_py() or (_unlabeled_is_a_problem(spec) and pc.any(missing).as_py()):
                    return None  # the line-by-line path names the lines
                present = values.filter(pc.invert(missing))
                label_not_finite = label_not_finite or _not_finite(present)
                labelled += len(present)
                labels.append(pc.unique(present))
                profile.add(block)
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if rows == 0:
        return None
    found = {c for c in profile.not_finite if profile.kind[c] in ("int", "float")}
    found |= {spec.data.label} if label_not_finite else set()
    if found or guard.nul_seen:
        (suspects if suspects is not None else set()).update(found)
        return None  # the line-by-line check names the lines (of NUL bytes and of these numbers)
    distinct = pc.unique(pa.chunked_array(labels, pa.string())).to_pylist() if labels else []
    return [], header, distinct, labelled, profile


# Distinct values of a text column are counted exactly up to this many (then "more than"): the
# check's memory stays bounded whatever the file (Batching counts them all on the train split).
MAX_COUNTED_VALUES = 200_000


class _Profile:
    """What the plan needs of each feature column, from the rows as `tfx-yaml check` reads them
    (every cell a string): its type by ExampleGen's rule (INT when every non-empty cell is an
    integer, FLOAT when every one is a number, else STRING), and for numbers the count, mean
    and standard deviation, for text the distinct values (up to MAX_COUNTED_VALUES) and the
    rows with a value. Empty cells are missing values."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.kind = dict.fromkeys(columns, "unknown")
        self.rows = 0
        self.present = dict.fromkeys(columns, 0)
        self.sums = {c: [0, 0.0, 0.0] for c in columns}  # n, sum, sum of squares (while numeric)
        self.values: dict[str, list] = {c: [] for c in columns}  # unique arrays (while text)
        self.integers: dict[str, list] = {c: [] for c in columns}  # unique arrays (while integer)
        self.partial = set()  # text only after numbers in earlier blocks: the distinct count is a floor
        self.not_finite = set()  # columns with a number that is not finite in float32 (nan, inf, 1e308)

    def add(self, block) -> None:
        import numpy as np
        import pyarrow.compute as pc

        self.rows += block.num_rows
        names = block.schema.names
        for column in self.columns:
            values = _non_empty(block.column(names.index(column)), trim=False)
            numbers, trimmed = None, False
            if self.kind[column] != "string" and len(values):
                numbers = _numbers(values, self.kind[column])
                if numbers is None:  # cells with spaces around the number? ExampleGen trims them
                    values, trimmed = _non_empty(values, trim=True), True
                    numbers = _numbers(values, self.kind[column])
            elif len(values):
                values, trimmed = _non_empty(values, trim=True), True
            self.present[column] += len(values)
            if not len(values):
                continue
            if numbers is not None:
                kind, array = numbers
                self.kind[column] = kind if self.kind[column] in ("unknown", "int") else "float"
                floats = array.to_numpy(zero_copy_only=False).astype(np.float64)
                if not _finite32(floats):  # refused: the line-by-line check names the lines
                    self.not_finite.add(column)
                    continue
                n, total, squares = self.sums[column]
                self.sums[column] = [n + len(floats), total + float(floats.sum()),
                                     squares + float(floats @ floats)]
                if kind == "int":
                    self._count(column, pc.unique(array), self.integers)
                continue
            if self.kind[column] != "string":
                if self.kind[column] != "unknown":
                    self.partial.add(column)
                self.kind[column] = "string"
            self._count(column, pc.unique(values if trimmed else _non_empty(values, trim=True)))

    def _count(self, column: str, unique, into: dict | None = None) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        into = self.values if into is None else into
        kept = into[column]
        if kept is None:  # more than MAX_COUNTED_VALUES already
            return
        kept.append(unique)
        if sum(len(a) for a in kept) > MAX_COUNTED_VALUES // 4 or len(kept) > 64:
            merged = pc.unique(pa.chunked_array(kept, unique.type))
            into[column] = None if len(merged) > MAX_COUNTED_VALUES else [merged]

    def integers_of(self, column: str) -> tuple[int, int, int] | None:
        """(distinct values, min, max) of an integer column; None past MAX_COUNTED_VALUES values."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kept = self.integers[column]
        if not kept:
            return None
        unique = pc.unique(pa.chunked_array(kept, pa.int64()))
        low, high = pc.min_max(unique).values()
        return len(unique), low.as_py(), high.as_py()

    def distinct(self, column: str) -> int | None:
        """The distinct values of a text column; None when more than MAX_COUNTED_VALUES."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kept = self.values[column]
        if kept is None:
            return None
        count = len(pc.unique(pa.chunked_array(kept, pa.string()))) if kept else 0
        return None if count > MAX_COUNTED_VALUES else count

    def merge(self, other: _Profile) -> _Profile:
        """The profile of the rows of two files (of the same header)."""
        order = ("unknown", "int", "float", "string")
        for column in self.columns:
            if column not in other.kind:
                continue
            mine, theirs = self.kind[column], other.kind[column]
            kinds = (mine, theirs)
            if "string" in kinds and "int" in kinds or "float" in kinds and "string" in kinds:
                self.partial.add(column)  # the numbers of one file were not kept as text
            self.kind[column] = max(mine, theirs, key=order.index)
            self.present[column] += other.present[column]
            self.sums[column] = [a + b for a, b in zip(self.sums[column], other.sums[column])]
            if self.values[column] is None or other.values[column] is None:
                self.values[column] = None
            else:
                self.values[column] += other.values[column]
            if self.integers[column] is None or other.integers[column] is None:
                self.integers[column] = None
            else:
                self.integers[column] += other.integers[column]
        self.partial |= other.partial
        self.not_finite |= other.not_finite
        self.rows += other.rows
        return self


def _finite32(floats) -> bool:
    """Every value finite, and finite once stored as float32."""
    import numpy as np

    return bool(np.isfinite(floats).all()) and (not len(floats) or float(np.abs(floats).max()) <= FLOAT32_MAX)


def _not_finite(values) -> bool:
    """Label values that are all numbers, some not finite in float32 (text labels: False)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(values[:1000], pa.float64())  # text labels fail here, cheaply
        floats = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return not _finite32(floats)


def _float_cell(cell: str) -> float | None:
    """A cell as a number, the way the checks and ExampleGen read one, or None for text."""
    try:
        return float(cell.strip())
    except ValueError:
        return None


def _non_empty(values, trim: bool):
    """The cells of a string column that hold a value (trimmed when `trim`, as ExampleGen does)."""
    import pyarrow.compute as pc

    if trim:
        values = pc.utf8_trim_whitespace(values)
    empty = pc.equal(values, "")
    return values.filter(pc.invert(empty)) if pc.any(empty).as_py() else values


def _numbers(values, kind: str):
    """("int" or "float", the values as numbers) when every cell parses (int tried first while
    the column has been integers so far), else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, target in (("int", pa.int64()), ("float", pa.float64())):
        if name == "int" and kind not in ("unknown", "int"):
            continue
        try:  # a failing cast still parses every value: a sample first makes most failures cheap
            pc.cast(values[:1000], target)
            return name, pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _column_plan(spec: PipelineSpec, profile: _Profile, files: list[str], findings: Findings) -> list[str]:
    """The plan's per-column lines (added to `findings.plan`) and the refusal of
    ID-like text columns: the same rule and message as Batching's (features.is_id_like,
    id_like_message), here on all the rows of the data files, before any work."""
    import math

    from components.common.features import (
        categorical_encoding,
        id_like_message,
        is_id_like,
        is_numeric_id,
        numeric_encoding,
    )

    curated = _curated_columns(spec)
    lines, id_like, numeric_ids = [], [], []
    int_domains = _curated_columns(spec, ints=True)
    for column in profile.columns:
        kind, present = profile.kind[column], profile.present[column]
        if kind == "unknown":
            lines.append(f"  {cut(column)}: no value in any row; not used")
        elif kind in ("int", "float"):
            n, total, squares = profile.sums[column]
            mean = total / n
            std = math.sqrt(max(squares / n - mean * mean, 0.0)) or 1.0
            counted = profile.integers_of(column) if kind == "int" and column not in int_domains else None
            why = is_numeric_id(counted[0], present, counted[1], counted[2]) if counted else None
            if why:  # Batching's rule (features.is_numeric_id), on all the rows
                numeric_ids.append((column, counted[0], present, why))
                continue
            lines.append(f"  {cut(column)}: " + numeric_encoding(mean, std, profile.rows - present,
                                                            counted[0] if counted else None, present))
        else:
            unique = profile.distinct(column)
            if column in curated:
                lines.append(f"  {cut(column)}: categorical, one-hot over the {curated[column]:,} values of "
                             "the schema's domain + 1 slot for missing or unseen ones")
            elif unique is None and is_id_like(MAX_COUNTED_VALUES, present):
                id_like.append((column, MAX_COUNTED_VALUES, present))
            elif unique is None:
                lines.append(f"  {cut(column)}: text with more than {MAX_COUNTED_VALUES:,} distinct values; "
                             + categorical_encoding(spec.batching.max_vocabulary, MAX_COUNTED_VALUES + 1))
            elif is_id_like(unique, present) and column not in profile.partial:
                id_like.append((column, unique, present))
            else:
                lines.append(f"  {cut(column)}: "
                             + categorical_encoding(min(unique, spec.batching.max_vocabulary), unique)
                             + (" (some cells are numbers)" if column in profile.partial else ""))
    lines += [f"  {cut(column)}: excluded (data.exclude)" for column in spec.data.exclude]
    findings.plan.extend(lines)
    if id_like or numeric_ids:
        where = files[0] if len(files) == 1 else f"data.path {spec.data.path} ({len(files)} files)"
        message = id_like_message(id_like, spec.data.exclude, numbers=numeric_ids)
        return [f"data file {where}: " + message.replace("Add them to data.exclude",
                                                          "Add them to data.exclude in the spec")]
    return []


def _curated_columns(spec: PipelineSpec, ints: bool = False) -> dict[str, int]:
    """Text columns that a curated schema (schema.path) gives a domain of values: never ID-like
    (`ints`: the integer columns it gives an int_domain, with 0: never identifiers)."""
    if not spec.schema_.path:
        return {}
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        text = io.read_text(spec.schema_.path, limit=MAX_SCHEMA_BYTES)
        schema = text_format.Parse(text, schema_pb2.Schema())
    except Exception:  # noqa: BLE001 (schema_problems reports it)
        return {}
    if ints:
        return {f.name: 0 for f in schema.feature if f.HasField("int_domain")}
    domains = {d.name: len(d.value) for d in schema.string_domain}
    return {f.name: len(f.string_domain.value) if f.HasField("string_domain") else domains[f.domain]
            for f in schema.feature if f.HasField("string_domain") or f.domain in domains}


MAX_LINE_BYTES = 1 << 20  # a CSV line (a row) longer than this is refused: a data file, not a blob
_BLOCK_BYTES = 1 << 20  # the line-by-line check reads this much at a time
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


class _LineProblem(Exception):
    """A line of a data file that cannot be read: too long, or not in the spec's encoding."""


def _text_lines(path: str, encoding: str):
    """The lines of a data file, decoded, each with its line break (\\n, \\r\\n or \\r, as
    Python's csv module reads them), read a block at a time: memory stays at one block and one
    line, whatever the file's size. Raises _LineProblem, naming the line, for a line over
    MAX_LINE_BYTES or bytes that are not `encoding` text."""
    import codecs

    ascii_based = encoding != "utf-16"  # a line break is the byte 0x0a/0x0d, never inside a character
    breaks = _LINE_BREAK_BYTES if ascii_based else _LINE_BREAK
    decoder = None if ascii_based else codecs.getincrementaldecoder("utf-16")()
    number, pending = 0, b"" if ascii_based else ""
    with io.open_stream(path) as f:
        while True:
            block = f.read(_BLOCK_BYTES)
            if decoder is not None:
                try:
                    block = decoder.decode(block, final=not block)
                except UnicodeDecodeError:
                    raise _LineProblem(f"not {encoding} text: bytes that do not decode after line {number}; "
                                       "save the file as UTF-8, or set data.encoding to the encoding it was "
                                       "written in") from None
            text = pending + block
            cut = 0
            for found in breaks.finditer(text):
                if found.end() == len(text) and text[-1:] in ("\r", b"\r") and block:
                    break  # a \r at the end of a block: its \n may start the next one
                number += 1
                _bounded(found.end() - cut, number)
                yield number, _decoded(text[cut:found.end()], number, encoding)
                cut = found.end()
            pending = text[cut:]
            _bounded(len(pending), number + 1)
            if not block:
                break
    if pending:
        yield number + 1, _decoded(pending, number + 1, encoding)


def _bounded(length: int, number: int) -> None:
    if length > MAX_LINE_BYTES:
        raise _LineProblem(f"line {number} is longer than {MAX_LINE_BYTES:,} bytes (at least {length:,}); a "
                           f"row of a CSV file is at most {MAX_LINE_BYTES:,} bytes: is it a CSV file? split "
                           "or remove that line")


def _decoded(line, number: int, encoding: str) -> str:
    if isinstance(line, str):
        return line.lstrip("\ufeff") if number == 1 else line
    try:
        return line.decode("utf-8-sig" if encoding == "utf-8" and number == 1 else encoding)
    except UnicodeDecodeError as error:
        raise _LineProblem(f"not {encoding} text: byte 0x{line[error.start]:02x} at line {number} (column "
                           f"{error.start + 1}); save the file as UTF-8, or set data.encoding (e.g. latin-1 "
                           "or cp1252) to the encoding it was written in") from None


MAX_FAST_FIELDS = 100_000  # Arrow 10's CSV reader crashes (SIGSEGV) on a row of ~320,000 fields


class _TooWide(ValueError):
    """A line that Arrow must not parse: over MAX_LINE_BYTES or MAX_FAST_FIELDS delimiters."""


class _Guard(pyio.RawIOBase):
    """The bytes of `stream` as Arrow reads them, each chunk scanned first (numpy, no second read
    of the file): a physical line longer than MAX_LINE_BYTES or with more than MAX_FAST_FIELDS
    delimiters raises _TooWide, so the fast path gives up before Arrow parses it and the
    line-by-line check names the line. (Delimiters inside quotes are counted too: a false alarm
    only costs the slow path.) A NUL byte (when `nul`: ASCII-based encodings) sets `nul_seen`
    (Arrow would keep it inside a value, a new category): the fast path reads on, so that the
    line-by-line check then names the NUL bytes and the numbers that are not finite at once."""

    def __init__(self, stream, delimiter: str, nul: bool = True):
        self._stream, self._delimiter, self._nul = stream, ord(delimiter), nul
        self.nul_seen = False
        self._length = self._fields = 0  # of the line that the previous chunk left open

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        import numpy as np

        n = self._stream.readinto(buffer)
        if not n:
            return n
        chunk = np.frombuffer(buffer, np.uint8, count=n)
        if self._nul and not chunk.all():
            self.nul_seen = True  # Arrow reads on: the numbers' checks see every row
        ends = np.flatnonzero((chunk == 10) | (chunk == 13))
        starts = np.concatenate(([0], ends + 1))
        fields = np.add.reduceat(chunk == self._delimiter, starts[starts < n]) if len(starts) else np.zeros(1)
        lengths = np.diff(np.concatenate((starts, [n])))[:len(fields)]
        fields, lengths = fields.astype(np.int64), lengths.astype(np.int64)
        fields[0] += self._fields
        lengths[0] += self._length
        if fields.max() > MAX_FAST_FIELDS or lengths.max() > MAX_LINE_BYTES:
            raise _TooWide("a line too wide for Arrow")
        open_line = starts[-1] < n  # the chunk does not end with a line break
        self._fields = int(fields[-1]) if open_line else 0
        self._length = int(lengths[-1]) if open_line else 0
        return n


def _csv_line_by_line(spec: PipelineSpec, path: str, suspects: set[str] = frozenset()
                      ) -> tuple[list[str], list[str] | None, list[str], int]:
    """The slow path of `_one_csv`, for files Arrow cannot read: Python's csv module over the
    file's lines, streamed (`_text_lines`), so that each problem names its line. Memory is one
    block, one line and the label's distinct values, not the file. The cells of the `suspects`
    columns are checked to be finite float32 numbers; NUL bytes are named with their column."""
    name = Path(path).name
    cells = _Cells(suspects)
    reader = csv.reader(cells.marked(_text_lines(path, spec.data.encoding)), delimiter=spec.data.delimiter)
    try:
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as error:
            return [f"data file {path}, line 1: not a CSV header ({error})"], None, [], 0
        if not "".join(header).strip() and not any("".join(row).strip() for row in reader):
            return [f"data file {path} is empty; expected a CSV header line and rows"], None, [], 0
        if cells.nul and any(_NUL_MARK in h for h in header):
            return [(f"data file {path}, line 1: the header holds a NUL byte (0x00), which is no text: a "
                     "binary file, or one padded with zeros? remove those bytes")], None, [], 0
        return _csv_rows(spec, path, name, reader, header, cells)
    except _LineProblem as problem:
        return [f"data file {path}: {problem}"], None, [], 0


def _csv_rows(spec: PipelineSpec, path: str, name: str, reader, header: list[str], cells: _Cells):
    problems = []
    if len(header) == 1 and spec.data.delimiter == ",":
        other = next((d for d in OTHER_DELIMITERS if d in header[0]), None)
        if other:
            shown = "\\t" if other == "\t" else other
            return ([(f"data file {path}: the header is one column {header[0][:60]!r}; the file looks "
                      f"{shown!r}-delimited: set data.delimiter: {shown!r} in the spec")], None, [], 0)
    for key, names in (("data.label", [spec.data.label]), ("data.exclude", spec.data.exclude)):
        for column in names:
            if column not in header:
                problems.append(f"key {key!r}: column {column!r} is not in {name}; "
                                + _columns(header, column))
    if problems:
        return problems, header, [], 0
    label_at = header.index(spec.data.label)
    cells.start(header, spec.data.label)
    # line numbers: the first few of each kind, and how many (memory does not grow with the file)
    ragged, repeated, no_label = _Lines(), _Lines(), _Lines()
    values, labelled, rows = {}, 0, 0
    try:
        previous = reader.line_num
        for row in reader:
            line, first_line, previous = reader.line_num, previous + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows += 1
            if row == header:
                repeated.add(line)
            elif len(row) != len(header) and line > first_line:
                problems.append(f"data file {path}, line {first_line}: a quote opened on this line is not "
                                f"closed before line {line} (an unbalanced quote); fix the quoting")
                break
            elif len(row) != len(header):
                ragged.add(line, len(row))
            elif cells.bad(row, line):
                continue
            elif not row[label_at].strip() or row[label_at].strip() in ("NA", "NaN", "nan", "null"):
                no_label.add(line)
            else:
                values[row[label_at].strip()] = None
                labelled += 1
    except csv.Error as error:
        return [f"data file {path}, line {reader.line_num}: {error} (an unbalanced quote?)"], header, [], 0
    if rows == 0:
        problems.append(f"data file {path} has a header but no rows")
    problems += cells.problems(path)
    if repeated:
        problems.append(f"data file {path}: the header is repeated at line {repeated} (files joined "
                        "with their headers?); remove those lines")
    if ragged:
        line, fields = ragged.first
        problems.append(f"data file {path}: line {line} has {fields} field(s), the header has {len(header)}"
                        + (f" ({ragged.count} such lines: {ragged})" if ragged.count > 1 else "")
                        + "; a truncated or ragged row: fix or remove it")
    # Rows without a label are never dropped silently: data.drop_unlabeled opts into it (and a
    # curated schema that requires the label stops them unless the label is exempt).
    if no_label and _unlabeled_is_a_problem(spec):
        fix = ("remove them, or list the label under validation.exempt_features (the curated schema requires "
               "it) and set data.drop_unlabeled: true to train without them" if spec.schema_.path else
               "fill them in or remove them, or set data.drop_unlabeled: true to train and evaluate without "
               "them (the plan, the summary and the report then say how many rows each split lost)")
        problems.append(f"data file {path}: {no_label.count} row(s) have no value in the label column "
                        f"{spec.data.label!r} (line {no_label}); {fix}")
    return problems, header, list(values), labelled


_NUL_MARK = "\U0010fffe"  # a NUL byte of a line, for Python's csv module (3.10 refuses NUL)
_MISSING_LABEL = ("", "NA", "NaN", "nan", "null")  # a label cell that means "no label" (never a number)


class _Cells:
    """Cells the line-by-line check refuses, by column: NUL bytes (any column), and numbers that
    are not finite in float32 (nan, inf, 1e308) in the `suspects` columns, which the fast path
    found to be numeric columns (or a numeric label) holding such numbers."""

    def __init__(self, suspects):
        self.suspects, self.nul = set(suspects), False
        self.found: dict[tuple[str, str], _Lines] = {}  # (kind, column) -> lines
        self.columns: list[tuple[int, str]] = []
        self.label = ""

    def marked(self, lines):
        """The lines' text for the csv module, a NUL byte replaced by _NUL_MARK."""
        for _, line in lines:
            if "\x00" in line:
                self.nul = True
                line = line.replace("\x00", _NUL_MARK)
            yield line

    def start(self, header: list[str], label: str) -> None:
        self.columns = [(i, c) for i, c in enumerate(header) if c in self.suspects]
        self.header, self.label = header, label

    def bad(self, row: list[str], line: int) -> bool:
        """Record the row's refused cells; True when it has any."""
        found = False
        if self.nul:
            for i, cell in enumerate(row):
                if _NUL_MARK in cell:
                    self._add("nul", self.header[i], line, cell.replace(_NUL_MARK, "\x00"))
                    found = True
        for i, column in self.columns:
            if column == self.label and row[i].strip() in _MISSING_LABEL:
                continue
            number = _float_cell(row[i])
            if number is not None and not (math.isfinite(number) and abs(number) <= FLOAT32_MAX):
                self._add("number", column, line, row[i].strip())
                found = True
        return found

    def _add(self, kind: str, column: str, line: int, value: str) -> None:
        if (kind, column) in self.found or len(self.found) < MAX_LISTED_LINES:
            self.found.setdefault((kind, column), _Lines()).add(line, value)

    def problems(self, path: str) -> list[str]:
        listed = []
        for (kind, column), lines in self.found.items():
            value = lines.first[1]
            where = (f"data file {path}: column {cut(column, 64)!r}"
                     + (" (the label)" if column == self.label else "")
                     + f", line {lines}" + (f" ({lines.count:,} cells)" if lines.count > 1 else ""))
            if kind == "nul":
                listed.append(f"{where}: a NUL byte (0x00) in a value ({cut(value, 40)!r}); NUL is no text "
                              "character (a binary file, or one padded with zeros after a crash?) and would "
                              "become part of a new category: remove those bytes")
            else:
                listed.append(f"{where}: {cut(value, 40)!r} is not a finite number in float32, the type of "
                              f"the examples (at most ±{FLOAT32_MAX:.4g}; no nan or inf): it would turn the "
                              "column's mean and the loss into nan. An empty cell is a missing value ('nan' "
                              "text is read as a number, as TFX's CsvExampleGen reads it, not as missing): "
                              "empty the cell, fix or rescale the value, or list the column under "
                              "data.exclude")
        return listed


class _Lines:
    """Line numbers of one kind of problem: the first MAX_LISTED_LINES and the count."""

    def __init__(self):
        self.numbers, self.count, self.first = [], 0, None

    def add(self, line: int, detail=None) -> None:
        if self.first is None:
            self.first = (line, detail)
        if len(self.numbers) < MAX_LISTED_LINES:
            self.numbers.append(line)
        self.count += 1

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        shown = ", ".join(str(n) for n in self.numbers)
        return shown + (f" and {self.count - len(self.numbers)} more" if self.count > len(self.numbers)
                        else "")


def _columns(header: list[str], asked: str | None = None) -> str:
    """The header, for a message, only when it looks like one: a one-column first line may be any
    text file's (a secret's) first line, and is not shown. With `asked` (a column the spec names),
    the closest column as "did you mean"."""
    if len(header) < 2:
        return "its first line is one column (not shown); is it a CSV file with a header line?"
    hint = did_you_mean(asked, header) if asked is not None else ""
    listed = ", ".join(cut(h, 64) for h in header[:MAX_LISTED_COLUMNS])
    more = f" and {len(header) - MAX_LISTED_COLUMNS:,} more" if len(header) > MAX_LISTED_COLUMNS else ""
    return f"its columns are: {listed}{more}{hint}"


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:MAX_LISTED_LINES])
    return shown + (f" and {len(numbers) - MAX_LISTED_LINES} more" if len(numbers) > MAX_LISTED_LINES else "")


def _label_problems(spec: PipelineSpec, values: list[str], rows: int, findings: Findings) -> list[str]:
    """What the label's distinct `values` (in `rows` labelled rows) say: the task (the rules of
    features.infer_task, which Batching applies again to the train split), the class count
    against output_units, the metrics."""
    from components.common.features import PlanError, infer_task

    kind = _kind(values)
    trainer = spec.trainer
    problems = []
    count, low, high = len(values), None, None
    if kind == "int":
        low, high = min(int(v) for v in values), max(int(v) for v in values)
        count = high - low + 1
    try:
        task, why = infer_task(spec.data.label, kind, count, rows, trainer.task, trainer.loss,
                               where="rows of the data", low=low, high=high)
    except PlanError as error:
        message = str(error)
        if trainer.task == "regression" and kind == "string":
            example = next(v for v in values if _kind([v]) == "string")
            message = message.replace("holds text;", f"holds text such as {example[:40]!r};")
        return [message]
    shown = sorted(values, key=int) if kind == "int" else sorted(values)
    findings.task = (task, why)
    decided, compared = trainer.for_task(task), spec.evaluator.for_task(task)
    findings.plan[:0] = [f"task: {task} ({why})"] + (
        [f"classes ({len(values)}): {', '.join(map(cut, shown[:20]))}{', ...' if len(values) > 20 else ''}"]
        if task == "classification" else []) + [
        (f"model: loss {decided.loss}, output activation {decided.model.output_activation}, metrics "
         f"{', '.join(decided.metrics)}; the Evaluator compares {compared.compare_metric or 'nothing'} "
         "with the serving model")]
    if task == "classification":
        classes = len(set(values))
        if classes < 2:
            problems.append(f"key 'data.label': the label {spec.data.label!r} has {classes} distinct value "
                            f"({cut(values[0], 40)!r}) in the data; classification needs at least 2 classes")
        problem = combination_problem(task, trainer.for_task(task).loss, trainer.model, n_classes=classes)
        if problem:
            problems.append(f"key 'trainer.model.output_units': {problem}")
    wrong = REGRESSION_METRICS if task == "classification" else CLASSIFICATION_METRICS
    applicable = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    named = list(spec.evaluator.thresholds) + ([] if spec.evaluator.metrics == "auto"
                                               else list(spec.evaluator.metrics))
    for metric in named:
        if metric in wrong:
            problems.append(f"key 'evaluator.thresholds': metric {metric!r} does not apply to {task} (the "
                            f"label {spec.data.label!r} holds {kind} values); use "
                            f"{', '.join(applicable)}")
    return problems


def _kind(values: list[str]) -> str:
    def parses(cast) -> bool:
        try:
            for v in values:
                cast(v)
        except ValueError:
            return False
        return True

    return "int" if parses(int) else "float" if parses(float) else "string"


def parquet_problems(spec: PipelineSpec, files: list[str]) -> list[str]:
    """Each Parquet file's footer (its metadata and schema, a few KB at the end of the file) is
    read before any work: a file that is not Parquet (a CSV file under data.format: parquet), or
    one without the label or an excluded column, is named here, not deep in ExampleGen."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    problems = []
    for path in files:
        name = Path(path).name
        try:
            metadata = pq.ParquetFile(pa.BufferReader(_parquet_footer(path))).metadata
            columns = metadata.schema.to_arrow_schema().names
            if metadata.num_rows == 0:
                problems.append(f"data file {path} is a Parquet file with no rows")
        except (pa.ArrowException, OSError, ValueError) as error:
            kind = "a CSV file?" if name.lower().endswith((".csv", ".txt", ".tsv")) else "another format?"
            problems.append(f"data file {path}: not a Parquet file ({_short(error)}; {kind}); data.format is "
                            "'parquet', so every file data.path and data.pattern match must be Parquet: set "
                            "data.format: csv (or tfrecord) to what the files are, or narrow data.pattern "
                            "(e.g. '*.parquet')")
            continue
        for key, names in (("data.label", [spec.data.label]), ("data.exclude", spec.data.exclude)):
            for column in names:
                if column not in columns:
                    problems.append(f"key {key!r}: column {column!r} is not in {name}; "
                                    + _columns(columns, column))
        problems += columns_bound_problems(spec, columns, path)
    return problems


def _parquet_footer(path: str) -> bytes:
    """The footer of a Parquet file as a file of its own ("PAR1" + footer + its length + "PAR1"):
    only its last bytes are read, local or on an object store."""
    size = io.size(path)
    if size < 12:
        raise ValueError(f"{size} bytes, too short")
    with io.open_file(path, "rb") as f:
        f.seek(size - 8)
        tail = f.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1":
            raise ValueError("it does not end with the Parquet magic bytes PAR1")
        if length > size - 12 or length > 64 << 20:
            raise ValueError(f"its footer length {length:,} does not fit the file")
        f.seek(size - 8 - length)
        return b"PAR1" + f.read(length) + tail


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


MAX_SCHEMA_BYTES = 16 << 20  # a schema.pbtxt of 100,000 features is about 10 MB


def schema_problems(path: str) -> list[str]:
    """The schema file must be a TFDV schema in text format. The message never quotes the file
    (schema.path may name any file: a secret's first token must not reach the console), only
    where the parse stopped."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    fix = "write it with `tfx-yaml schema freeze`, or remove schema.path to infer the schema"
    try:
        text_format.Parse(io.read_text(path, limit=MAX_SCHEMA_BYTES), schema_pb2.Schema())
    except io.TooLarge:
        return [(f"key 'schema.path': {path} is larger than {MAX_SCHEMA_BYTES:,} bytes, the bound on a "
                 f"schema file (read by content, not by the size it reports); is it the right file? {fix}")]
    except OSError as error:
        return [f"key 'schema.path': {path} cannot be read ({_short(error)}); {fix}"]
    except text_format.ParseError as error:
        where = f"line {error.GetLine()}, column {error.GetColumn()}" if error.GetLine() else "its start"
        return [(f"key 'schema.path': {path} is not a TFDV schema in text format (it does not parse at "
                 f"{where}; its content is not shown); {fix}")]
    except UnicodeDecodeError:
        return [f"key 'schema.path': {path} is not a TFDV schema in text format (not UTF-8 text); {fix}"]
    return []


def irregular_files(spec: PipelineSpec, files: list[str]) -> list[str]:
    """Data files that are no regular file (a FIFO, a device, a socket), named with what they are,
    before anything opens them: reading a FIFO blocks until a writer comes, /dev/zero never ends."""
    found = [(path, kind) for path in files if (kind := io.not_a_regular_file(path))]
    named = any(p == spec.data.path for p, _ in found)
    fix = ("point data.path at a regular file or a folder of them" if named
           else "remove it from the data folder, or narrow data.pattern to the data files")
    return [f"key 'data.path': {path} is {kind}, not a regular file (reading it would block or never end); "
            f"{fix}" for path, kind in found[:MAX_LISTED_LINES]] + (
        [f"key 'data.path': and {len(found) - MAX_LISTED_LINES} more such file(s)"]
        if len(found) > MAX_LISTED_LINES else [])


def outside_data_path(base: str, files: list[str]) -> list[str]:
    """Data files whose real path (links resolved) is not inside data.path: a link in the data
    folder to a file elsewhere (a secret, /proc/self/environ) is refused with its path, before
    anything reads it, and never shows what it points at."""
    import os

    if io.is_remote(base):  # object stores have no links
        return []
    real_base = os.path.realpath(base)  # local-only: links exist only on a local disk (checked above)
    real_files = [os.path.realpath(f) for f in files]  # local-only: the same local files
    outside = [f for f, real in zip(files, real_files) if os.path.commonpath([real_base, real]) != real_base]
    if not outside:
        return []
    return [f"key 'data.path': {path} leads outside {base} (a symbolic link, or a link in its path); data "
            "files are read only inside data.path: copy the file into the folder, or point data.path at its "
            "real folder"
            for path in outside[:MAX_LISTED_LINES]] + (
        [f"key 'data.path': and {len(outside) - MAX_LISTED_LINES} more such file(s)"]
        if len(outside) > MAX_LISTED_LINES else [])


# -- Beam options: an allowlist -----------------------------------------------------------------
# The runners this project supports (Beam's names, lower case, without "runner"); Beam matches
# --runner case-insensitively with or without the "Runner" suffix, and imports any dotted name.
BEAM_RUNNERS = {"direct": "DirectRunner", "bundlebaseddirect": "BundleBasedDirectRunner",
                "switchingdirect": "SwitchingDirectRunner", "dataflow": "DataflowRunner",
                "flink": "FlinkRunner", "spark": "SparkRunner", "portable": "PortableRunner"}
# Beam's option groups whose documented flags are accepted (minus BEAM_REFUSED below).
BEAM_OPTION_GROUPS = ("StandardOptions", "TypeOptions", "DirectOptions", "GoogleCloudOptions",
                      "WorkerOptions", "DebugOptions", "ProfilingOptions", "PortableOptions",
                      "JobServerOptions", "FlinkRunnerOptions", "SparkRunnerOptions", "S3Options",
                      "HadoopFileSystemOptions", "AzureOptions")
_RUNS_CODE = ("Beam installs or stages it for its workers (pip, setup.py), which runs code the spec chooses; "
              "put dependencies in the container image instead (kubeflow.image, the Dockerfile, or "
              "--sdk_container_image on Dataflow)")
_CREDENTIAL = ("a credential in a Beam option is copied into the report, reports/*.spec.yaml, run.log and "
               "the compiled Kubeflow file; remove it: Beam reads credentials from the environment "
               "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
               "GOOGLE_APPLICATION_CREDENTIALS, AZURE_*), and on Kubeflow from a Kubernetes secret "
               "(kubeflow.object_store.credentials_secret)")
_RUNS_PROGRAM = ("it makes Beam start a program or jar that the spec names on this machine; use Beam's own "
                 "job server, or a remote one with --job_endpoint=HOST:PORT")
_NOT_RUN = ("the pipeline would not run (only be written out), so no stage would produce its outputs; "
            "remove it")
BEAM_REFUSED = {
    **dict.fromkeys(("setup_file", "requirements_file", "requirements_cache",
                     "requirements_cache_only_sources",
                     "extra_package", "extra_packages", "sdk_location", "files_to_stage", "beam_plugin",
                     "beam_plugins", "prebuild_sdk_container_engine", "prebuild_sdk_container_base_image",
                     "docker_registry_push_url", "cloud_build_machine_type"), _RUNS_CODE),
    "pickle_library": ("it chooses how Beam pickles and unpickles the pipeline's functions (unpickling runs "
                       "code); this project uses Beam's default pickler: remove it"),
    "save_main_session": ("it pickles this process's main module for the workers (unpickling runs code); "
                          "this project's functions are importable: remove it"),
    "on_success_matcher": ("it is a pickled object that Beam unpickles (runs code); it is for Beam's "
                           "tests: remove it"),
    **dict.fromkeys(("s3_access_key_id", "s3_secret_access_key", "s3_session_token",
                     "azure_connection_string", "gbek"), _CREDENTIAL),
    **dict.fromkeys(("job_server_java_launcher", "job_server_jvm_properties", "job_server_jvm_property",
                     "flink_job_server_jar", "spark_job_server_jar", "maven_repository_url", "beam_services",
                     "prism_location"), _RUNS_PROGRAM),
    "dataflow_endpoint": ("it sends the job, with this machine's Google credentials, to the server it names; "
                          "remove it (Dataflow's own endpoint is used; choose the region with --region)"),
    **dict.fromkeys(("template_location", "dry_run", "output_executable_path", "dataflow_job_file"),
                    _NOT_RUN),
    "streaming": "TFX stages are batch pipelines; remove it",
}
_CREDENTIAL_WORDS = ("secret", "password", "passwd", "token", "access_key", "connection_string", "credential",
                     "api_key", "private_key")
# environment_type: only a container (DOCKER) or a worker pool someone else runs (EXTERNAL). PROCESS,
# SUBPROCESS_SDK and the like run environment_config as a command (Beam's local job service uses a shell).
BEAM_ENVIRONMENTS = {"docker": "DOCKER", "beam:env:docker:v1": "DOCKER", "external": "EXTERNAL",
                     "beam:env:external:v1": "EXTERNAL"}
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")  # a registry/image[:tag][@digest]
_ADDRESS = re.compile(r"^[A-Za-z0-9._\[\]:-]{1,253}:[0-9]{1,5}$")  # host:port
_ENVIRONMENT_OPTIONS = {"docker_container_image": _IMAGE, "external_service_address": _ADDRESS}


def _beam_flags() -> dict[str, bool]:
    """{flag without '--': takes a value} of the accepted option groups, as Beam's parser spells them."""
    import argparse

    from apache_beam.options import pipeline_options

    flags: dict[str, bool] = {}
    for group in BEAM_OPTION_GROUPS:
        parser = argparse.ArgumentParser(add_help=False)
        getattr(pipeline_options, group)._add_argparse_args(parser)
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    flags[flag[2:]] = action.nargs != 0
    return flags


def beam_problems(args: list[str]) -> list[str]:
    """Beam arguments by allowlist: the supported runners and their documented flags (by flag name,
    as `--worker_machine_type`, not Beam's dest `machine_type`). Refused, each with its reason:
    options that make Beam install, stage, unpickle or start code the spec chooses, environments
    that run a command (anything but DOCKER and EXTERNAL), an in-process portable job service
    (`--job_endpoint=embed`), credentials, the DaskRunner (it skipped writes), and unknown flags
    (Beam would ignore a typo silently)."""
    key = "key 'runtime.beam_pipeline_args'"
    flags = _beam_flags()
    problems, values = [], {}
    for arg in args:
        if not arg.startswith("--") or arg == "--":
            problems.append(f"{key}: {arg!r} is not a --flag=value argument")
            continue
        flag, has_value, value = arg[2:].partition("=")
        name = flag.replace("-", "_")
        if name in BEAM_REFUSED or any(word in name.lower() for word in _CREDENTIAL_WORDS):
            reason = BEAM_REFUSED.get(name, _CREDENTIAL)
            problems.append(f"{key}: --{flag} is refused: {reason}")
            continue
        if flag not in flags:
            spelled = next((f for f in flags if f.replace("-", "_") == name), None)
            if spelled:
                problems.append(f"{key}: Beam spells it --{spelled}, not --{flag} (Beam would ignore it)")
            else:
                problems.append(f"{key}: Beam has no option --{flag} that this project accepts"
                                + did_you_mean(flag, sorted(flags)).replace("'", "'--", 1))
            continue
        if flags[flag] and not has_value:
            problems.append(f"{key}: --{flag} needs a value; write it as --{flag}=VALUE in one argument")
            continue
        values.setdefault(name, []).append(value)
    problems += _beam_runner_problems(key, values)
    return problems


def _beam_runner_problems(key: str, values: dict[str, list[str]]) -> list[str]:
    problems = []
    runner = (values.get("runner") or ["DirectRunner"])[-1]
    base = runner.strip().lower()
    base = base.removesuffix("runner")
    supported = ", ".join(BEAM_RUNNERS.values())
    if base == "dask":
        problems.append(f"{key}: --runner={runner} is refused: Beam's DaskRunner ran ExampleGen and "
                        "StatisticsGen and then silently skipped Batching's writes (no output, no error); "
                        f"use one of: {supported}")
    elif "." in runner:
        problems.append(f"{key}: --runner={runner} is refused: Beam imports a dotted runner name as a module "
                        f"(code the spec chooses); use one of: {supported}")
    elif base not in BEAM_RUNNERS:
        problems.append(f"{key}: --runner={runner} is not supported; expected one of: {supported}")
    endpoint = (values.get("job_endpoint") or [None])[-1]
    if endpoint is not None and endpoint.strip().lower() == "embed":
        problems.append(f"{key}: --job_endpoint=embed is refused: it starts Beam's job service inside this "
                        "process, which runs the SDK environment's command on this machine; give a remote "
                        "job service as --job_endpoint=HOST:PORT")
    elif base == "portable" and not endpoint:
        problems.append(f"{key}: --runner={runner} needs --job_endpoint=HOST:PORT, a job service (Flink, "
                        "Spark) running elsewhere")
    types = values.get("environment_type") or []
    for kind in types:
        if kind.strip().lower() not in BEAM_ENVIRONMENTS:
            problems.append(f"{key}: --environment_type={kind} is refused: only DOCKER and EXTERNAL are "
                            "accepted; other environments (PROCESS, SUBPROCESS_SDK, LOOPBACK) run a command "
                            "or this process's code on the workers' host; use DOCKER with an image, or "
                            "EXTERNAL with a worker pool's HOST:PORT")
    kind = BEAM_ENVIRONMENTS.get((types or ["docker"])[-1].strip().lower())
    for config in values.get("environment_config") or []:
        pattern = _IMAGE if kind == "DOCKER" else _ADDRESS
        if kind and not pattern.match(config):
            problems.append(f"{key}: --environment_config={config[:80]!r} is refused: with environment_type "
                            f"{kind} it must be " + ("a container image (registry/name:tag or @sha256:digest)"
                                                     if kind == "DOCKER" else "a worker pool's HOST:PORT"))
    for option in (values.get("environment_option") or []) + (values.get("environment_options") or []):
        name, _, value = option.partition("=")
        pattern = _ENVIRONMENT_OPTIONS.get(name.strip())
        if pattern is None:
            problems.append(f"{key}: --environment_option {name[:60]!r} is refused: only "
                            f"{', '.join(_ENVIRONMENT_OPTIONS)} are accepted (others, such as "
                            "process_command, run a command)")
        elif not pattern.match(value.strip()):
            problems.append(f"{key}: --environment_option {name}={value[:80]!r} is not "
                            + ("a container image" if pattern is _IMAGE else "a HOST:PORT"))
    return problems
