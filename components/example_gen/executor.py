"""The CSV reader of this project's ExampleGen, on Apache Arrow inside the Beam pipeline: each file
is read by Arrow's CSV reader in large columnar blocks (typed in C++, not cell by cell in Python)
and turned into serialized tf.Examples by tfx_bsl's RecordBatchToExamples, so the same transform
runs on DirectRunner here and on Dataflow, Flink or Spark (`runtime.beam_pipeline_args`).

The examples are those of TFX's CsvExampleGen, byte for byte: a column is INT when every non-empty
cell is an integer, FLOAT when every one is a number, else STRING (tfx_bsl's rule, decided over
all files before any example is written); an empty cell is an empty value list of the column's
type, a column without any value an empty feature. `data.delimiter` and `data.encoding` are
honoured, a UTF-8 byte-order mark and CRLF line ends are accepted, and quoted fields may span lines.
"""

from __future__ import annotations

import csv
import io as pyio
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx_bsl.coders import example_coder

from components.common import io
from components.common.progress import CountRows

BLOCK_BYTES = 16 << 20  # Arrow reads (and Beam passes on) blocks of about this many bytes
INT, FLOAT, STRING, UNKNOWN = "int", "float", "string", "unknown"  # a column's type, as tfx_bsl's
_ARROW = {INT: pa.int64(), FLOAT: pa.float32(), STRING: pa.binary()}


def read_header(path: str, delimiter: str, encoding: str) -> list[str]:
    """The column names on the first line (without a byte-order mark)."""
    with io.open_file(path, "rb") as f:
        first = f.readline()
    text = first.decode("utf-8-sig" if encoding == "utf-8" else encoding).lstrip("\ufeff")
    return next(csv.reader(pyio.StringIO(text), delimiter=delimiter), [])


def _blocks(path: str, columns: list[str], delimiter: str, encoding: str) -> Iterable[pa.RecordBatch]:
    """The rows of one CSV file after its header, every cell a string or null (empty)."""
    read = pa_csv.ReadOptions(column_names=columns, skip_rows=1, block_size=BLOCK_BYTES,
                              encoding="utf8" if encoding == "utf-8" else encoding)
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert = pa_csv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=True,
                                    quoted_strings_can_be_null=True, null_values=[""])
    with beam.io.filesystems.FileSystems.open(path) as f:
        try:
            yield from pa_csv.open_csv(f, read_options=read, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as error:
            raise ValueError(f"CSV file {path}: {error}") from None


def _column_type(array: pa.Array) -> str:
    """INT, FLOAT or STRING for the non-empty cells of a string column; UNKNOWN when all empty."""
    values = array.drop_null()
    if len(values) == 0:
        return UNKNOWN
    for kind, target in ((INT, pa.int64()), (FLOAT, pa.float64())):
        try:
            pc.cast(pc.utf8_trim_whitespace(values), target)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return STRING


def merge_types(a: str, b: str) -> str:
    """The type of a column whose cells were `a` in some blocks and `b` in others."""
    order = (UNKNOWN, INT, FLOAT, STRING)
    return max(a, b, key=order.index)


class _InferTypes(beam.DoFn):
    """Per file: the type of each column over all its blocks."""

    def __init__(self, columns: list[str], delimiter: str, encoding: str):
        self._columns, self._delimiter, self._encoding = columns, delimiter, encoding

    def process(self, path: str) -> Iterable[list[str]]:
        types = [UNKNOWN] * len(self._columns)
        for block in _blocks(path, self._columns, self._delimiter, self._encoding):
            types = [merge_types(t, _column_type(block.column(i))) if t != STRING else t
                     for i, t in enumerate(types)]
        yield types


def _merge_all(per_file: Iterable[list[str]]) -> list[str]:
    merged = None
    for types in per_file:
        merged = types if merged is None else [merge_types(a, b) for a, b in zip(merged, types)]
    return merged or []


class _ReadExamples(beam.DoFn):
    """Per file: blocks of serialized tf.Examples, typed as decided for all files."""

    def __init__(self, columns: list[str], delimiter: str, encoding: str):
        self._columns, self._delimiter, self._encoding = columns, delimiter, encoding

    def process(self, path: str, types: list[str]) -> Iterable[list[bytes]]:
        order = sorted(range(len(self._columns)), key=lambda i: self._columns[i])  # protobuf map order
        for block in _blocks(path, self._columns, self._delimiter, self._encoding):
            block = _skip_blank_lines(block)
            if block.num_rows:
                yield to_examples(block, [self._columns[i] for i in order], [types[i] for i in order],
                                  [block.column(i) for i in order])


def _skip_blank_lines(block: pa.RecordBatch) -> pa.RecordBatch:
    """Arrow reads a blank line of a one-column file as an empty row; tfx_bsl skips blank lines."""
    if block.num_columns != 1:
        return block
    return block.filter(block.column(0).is_valid())


def to_examples(block: pa.RecordBatch, names: list[str], types: list[str], columns: list[pa.Array]) -> list[bytes]:
    """One block of string columns -> serialized tf.Examples, as TFX's CsvExampleGen writes them."""
    lists = []
    for kind, column in zip(types, columns):
        if kind == UNKNOWN:  # no value anywhere: an empty feature, as TFX writes it
            lists.append(pa.nulls(len(column), pa.list_(pa.binary())))
            continue
        values = column.drop_null()
        values = pc.cast(pc.utf8_trim_whitespace(values) if kind != STRING else values, _ARROW[kind]) \
            if kind != STRING else values.cast(pa.binary())
        present = pc.cast(column.is_valid(), pa.int32())
        offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(present)])
        lists.append(pa.ListArray.from_arrays(offsets, values))
    records = example_coder.RecordBatchToExamples(pa.RecordBatch.from_arrays(lists, names))
    # protobuf's canonical bytes (features sorted by name): ExampleGen assigns splits by a hash of
    # them, as it does for CsvExampleGen's examples, so each example lands in the same split
    parse = tf.train.Example.FromString
    return [parse(r).SerializeToString(deterministic=True) for r in records]


class CsvToExample(beam.PTransform):
    """CSV files of one split -> serialized tf.Examples (one ExampleGen input split)."""

    def __init__(self, exec_properties: dict[str, Any], split_pattern: str):
        super().__init__()
        options = json.loads(exec_properties.get("csv_options") or "{}")
        self._delimiter = options.get("delimiter", ",")
        self._encoding = options.get("encoding", "utf-8")
        self._pattern = io.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)

    def expand(self, pipeline):
        files = sorted(fileio.glob(self._pattern))
        if not files:
            raise RuntimeError(f"no data files match {self._pattern}")
        columns = read_header(files[0], self._delimiter, self._encoding)
        for path in files[1:]:
            if read_header(path, self._delimiter, self._encoding) != columns:
                raise RuntimeError(f"{path} has another header than {files[0]}; files of one split need the same columns")
        args = (columns, self._delimiter, self._encoding)
        types = (pipeline
                 | "FilesToType" >> beam.Create(files)
                 | "InferTypes" >> beam.ParDo(_InferTypes(*args))
                 | "MergeTypes" >> beam.CombineGlobally(_merge_all))
        return (pipeline
                | "Files" >> beam.Create(files)
                | "Reshuffle" >> beam.Reshuffle()  # files to workers
                | "Read" >> beam.ParDo(_ReadExamples(*args), types=beam.pvalue.AsSingleton(types))
                | "Progress" >> beam.ParDo(CountRows("ExampleGen", batched=True))
                | "Examples" >> beam.FlatMap(lambda block: block))


class Executor(tfx_csv.Executor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        return CsvToExample
