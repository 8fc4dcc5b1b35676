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

import bisect
import csv
import hashlib
import io as pyio
import itertools
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx.components.util import examples_utils
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
    # protobuf's canonical bytes (features sorted by name): ExampleGen assigns splits by a hash of
    # them, as it does for CsvExampleGen's examples, so each example lands in the same split.
    # tfx_bsl writes the features in its own order, so each column is encoded alone and the map
    # entries are joined in name order (`names` is sorted).
    entries = [[_map_entry(r) for r in example_coder.RecordBatchToExamples(pa.RecordBatch.from_arrays([a], [n]))]
               for a, n in zip(lists, names)]
    records = [_example(parts) for parts in zip(*entries)]
    known = [c for kind, c in zip(types, columns) if kind != UNKNOWN]
    if any(c.null_count for c in known):  # an empty value list: protobuf's canonical bytes differ
        complete = known[0].is_valid()
        for column in known[1:]:
            complete = pc.and_(complete, column.is_valid())
        parse = tf.train.Example.FromString
        for row in pc.indices_nonzero(pc.invert(complete)).to_pylist():
            records[row] = parse(records[row]).SerializeToString(deterministic=True)
    return records


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _map_entry(one_feature_example: bytes) -> bytes:
    """From a serialized Example with one feature, the Features field holding its map entry:
    drop the Example's own tag (1 byte) and length (a varint)."""
    size = len(one_feature_example) - 1
    skip = 1 + (1 if size - 1 < 0x80 else 2 if size - 2 < 0x4000 else 3 if size - 3 < 0x200000 else 4)
    return one_feature_example[skip:]


def _example(entries: tuple[bytes, ...]) -> bytes:
    body = b"".join(entries)
    return b"\n" + _varint(len(body)) + body


def split_of(record: bytes, buckets: list[int]) -> int:
    """The output split of a serialized example, exactly as TFX's ExampleGen assigns it: a
    sha256 of the canonical bytes into hash buckets (base_example_gen_executor._PartitionFn)."""
    return bisect.bisect(buckets, int(hashlib.sha256(record).hexdigest(), 16) % buckets[-1])


class _WriteBlocks(beam.DoFn):
    """Per file: its examples, block by block, into gzip TFRecord files of each output split (one
    file per block and split, named by the input file and block number: a retried bundle rewrites
    the same files). No Python object per row goes through Beam."""

    def __init__(self, columns: list[str], delimiter: str, encoding: str, targets: list[str], buckets: list[int]):
        self._reader = _ReadExamples(columns, delimiter, encoding)
        self._targets, self._buckets = targets, buckets

    def process(self, indexed: tuple[int, str], types: list[str]) -> Iterable[int]:
        number, path = indexed
        for block_number, records in enumerate(self._reader.process(path, types)):
            if len(self._targets) == 1:
                parts = [records]
            else:
                parts = [[] for _ in self._targets]
                for record in records:
                    parts[split_of(record, self._buckets)].append(record)
            for target, part in zip(self._targets, parts):
                if part:
                    name = io.join(target, f"data_tfrecord-{number:05d}-{block_number:05d}.gz")
                    with tf.io.TFRecordWriter(name, tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
                        for record in part:
                            writer.write(record)
            yield records  # for the progress count


class CsvToExample(beam.PTransform):
    """CSV files of one split -> serialized tf.Examples (one ExampleGen input split)."""

    def __init__(self, exec_properties: dict[str, Any], split_pattern: str):
        super().__init__()
        options = json.loads(exec_properties.get("csv_options") or "{}")
        self._delimiter = options.get("delimiter", ",")
        self._encoding = options.get("encoding", "utf-8")
        self._pattern = io.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)

    def files_and_columns(self) -> tuple[list[str], list[str]]:
        files = sorted(fileio.glob(self._pattern))
        if not files:
            raise RuntimeError(f"no data files match {self._pattern}")
        columns = read_header(files[0], self._delimiter, self._encoding)
        for path in files[1:]:
            if read_header(path, self._delimiter, self._encoding) != columns:
                raise RuntimeError(f"{path} has another header than {files[0]}; files of one split need the same columns")
        return files, columns

    def expand(self, pipeline):
        files, columns = self.files_and_columns()
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


class WriteCsvSplits(beam.PTransform):
    """CSV files -> gzip TFRecord files of tf.Examples under each output split's folder."""

    def __init__(self, exec_properties: dict[str, Any], pattern: str, targets: list[str], buckets: list[int]):
        super().__init__()
        self._reader = CsvToExample(exec_properties, pattern)
        self._targets, self._buckets = targets, buckets

    def expand(self, pipeline):
        files, columns = self._reader.files_and_columns()
        args = (columns, self._reader._delimiter, self._reader._encoding)  # noqa: SLF001
        types = (pipeline
                 | "FilesToType" >> beam.Create(files)
                 | "InferTypes" >> beam.ParDo(_InferTypes(*args))
                 | "MergeTypes" >> beam.CombineGlobally(_merge_all))
        return (pipeline
                | "Files" >> beam.Create(list(enumerate(files)))
                | "Reshuffle" >> beam.Reshuffle()  # files to workers
                | "Write" >> beam.ParDo(_WriteBlocks(*args, self._targets, self._buckets),
                                        types=beam.pvalue.AsSingleton(types))
                | "Progress" >> beam.ParDo(CountRows("ExampleGen", what="rows written", batched=True)))


class Executor(tfx_csv.Executor):
    """TFX's ExampleGen executor (split names, payload and file format on the artifact) with the
    examples written block by block (WriteCsvSplits) instead of one Beam element per row."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        return CsvToExample

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples[0].split_names = artifact_utils.encode_split_names(names)
        targets = [artifact_utils.get_split_uri(examples, name) for name in names]
        for target in targets:
            io.makedirs(target)
        with self._make_beam_pipeline() as pipeline:
            if output_config.split_config.splits:  # one input split, hashed into the output splits
                buckets = list(itertools.accumulate(s.hash_buckets for s in output_config.split_config.splits))
                _ = pipeline | "Write" >> WriteCsvSplits(exec_properties, input_config.splits[0].pattern, targets,
                                                         buckets)
            else:  # pre-split input: each input split is an output split
                for split in input_config.splits:
                    target = artifact_utils.get_split_uri(examples, split.name)
                    _ = pipeline | f"Write[{split.name}]" >> WriteCsvSplits(exec_properties, split.pattern,
                                                                           [target], [1])
        for target in targets:  # an empty split still has a (empty) file, as Beam's writer leaves one
            if not io.glob(io.join(target, "*")):
                with tf.io.TFRecordWriter(io.join(target, "data_tfrecord-00000-00000.gz"), "GZIP"):
                    pass
        for artifact in examples:
            examples_utils.set_payload_format(artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
            examples_utils.set_file_format(artifact, write_split.to_file_format_str(
                example_gen_pb2.FORMAT_TFRECORDS_GZIP))
