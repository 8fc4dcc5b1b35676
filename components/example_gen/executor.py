"""The CSV reader of this project's ExampleGen, on Apache Arrow inside the Beam pipeline: each file
is read by Arrow's CSV reader in large columnar blocks (typed in C++, not cell by cell in Python)
and turned into serialized tf.Examples a whole block at a time (`wire.py`: numpy and Arrow
kernels, no Python object per cell), so the same transform runs on DirectRunner here and on
Dataflow, Flink or Spark (`runtime.beam_pipeline_args`). Where Beam would run the pipeline in this
very process (a DirectRunner not in multi_processing mode), the same DoFns are called here
without building a Beam pipeline (`WriteCsvSplits.run_here`); TFX_YAML_IN_MEMORY_BYTES=-1 forces
Beam.

The examples are those of TFX's CsvExampleGen, byte for byte: a column is INT when every non-empty
cell is an integer, FLOAT when every one is a number, else STRING (tfx_bsl's rule, decided over
all files before any example is written); an empty cell is an empty value list of the column's
type, a column without any value an empty feature. `data.delimiter` and `data.encoding` are
honoured, a UTF-8 byte-order mark and CRLF line ends are accepted, and quoted fields may span lines.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import io as pyio
import itertools
import json
import zlib
from collections.abc import Iterable
from concurrent import futures
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.common import columns, io
from components.common.beam import in_memory_bytes, runs_in_this_process
from components.common.keys import CSV_OPTIONS_KEY
from components.common.progress import CountRows
from components.example_gen import wire
from components.example_gen.wire import FLOAT, INT, STRING, UNKNOWN

READ_BYTES = 1 << 20  # Arrow's CSV reader reads ahead some 20 blocks: small ones keep memory flat
BLOCK_BYTES = 16 << 20  # rows are converted and written in blocks of about this many bytes
# gzip as TFX writes examples. Deflated by Intel ISA-L (python-isal) where it is installed: at its
# level 1 as small as zlib's fastest level and five times as fast (19 MB of examples: 0.06 s
# against 0.34 s), any gzip reader reads it; zlib's level 1 otherwise (about a third larger than
# zlib's default level 6, and twice as fast).
try:
    from isal import isal_zlib as deflate
except ImportError:  # no wheel for this platform
    deflate = zlib
GZIP_LEVEL = 1
GZIP = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=GZIP_LEVEL)
WRITES_AHEAD = 2  # blocks encoded but not yet written, at most (each about BLOCK_BYTES of CSV)


def read_header(path: str, delimiter: str, encoding: str) -> list[str]:
    """The column names on the first line (without a byte-order mark)."""
    text = io.first_line(path, encoding)  # decoded as it is read: UTF-16's line break is 2 bytes
    return next(csv.reader(pyio.StringIO(text), delimiter=delimiter), [])


def _open(path: str, beam_filesystems: bool):
    """A CSV file for Arrow's reader. A local file is Arrow's own stream: its read-ahead threads
    need no GIL, so a reader dropped mid-file (a block that widens a guessed type) cannot
    deadlock with them, as it can on a Python file object. Remote files through Beam's file
    systems inside a Beam pipeline (their options come from it), else through the file layer."""
    if not io.is_remote(path):
        io.check_regular(path)  # a FIFO put there after the checks would block the read forever
        return pa.input_stream(path.removeprefix("file://"))  # local-only: Arrow's native reader
    # local-only: no local call here: Beam's file systems or the file layer, both gs:// and s3://
    return beam.io.filesystems.FileSystems.open(path) if beam_filesystems else io.open_stream(path)


def _blocks(path: str, columns: list[str], delimiter: str, encoding: str, beam_filesystems: bool = True
            ) -> Iterable[pa.RecordBatch]:
    """The rows of one CSV file after its header, every cell a string or null (empty)."""
    read = pa_csv.ReadOptions(column_names=columns, skip_rows=1, block_size=READ_BYTES,
                              encoding="utf8" if encoding == "utf-8" else encoding)
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert = pa_csv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=True,
                                    quoted_strings_can_be_null=True, null_values=[""])
    with _open(path, beam_filesystems) as f:  # local-only: _open picks the local or the remote reader
        pending, size = [], 0
        try:
            for batch in pa_csv.open_csv(f, read_options=read, parse_options=parse, convert_options=convert):
                pending.append(batch)
                size += batch.nbytes
                if size >= BLOCK_BYTES:
                    yield _concat(pending)
                    pending, size = [], 0
        except pa.ArrowInvalid as error:
            raise ValueError(f"CSV file {path}: {error}") from None
        if pending:
            yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0] if table.num_rows else batches[0]


def _column_type(array: pa.Array, at_least: str = UNKNOWN) -> str:
    """INT, FLOAT or STRING for the non-empty cells of a string column, UNKNOWN when all are
    empty; types narrower than `at_least` (the column's type in earlier blocks) are not tried."""
    values = array.drop_null()
    if len(values) == 0 or at_least == STRING:
        return at_least
    values = pc.utf8_trim_whitespace(values)
    for kind, target in ((INT, pa.int64()), (FLOAT, pa.float64())):
        if merge_types(kind, at_least) != kind:
            continue
        try:  # a failing cast still parses every value: a sample first makes most failures cheap
            pc.cast(values[:1000], target)
            pc.cast(values, target)
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

    def process(self, path: str, in_beam: bool = True) -> Iterable[list[str]]:
        types = [UNKNOWN] * len(self._columns)
        for block in _blocks(path, self._columns, self._delimiter, self._encoding, in_beam):
            types = [_column_type(block.column(i), t) for i, t in enumerate(types)]
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
        self.in_beam = True  # False: called in this process without a Beam pipeline (run_here)

    def process(self, path: str, types: list[str]) -> Iterable[list[bytes]]:
        for _, records in self.typed(path, types):
            yield wire.record_list(records)

    def typed(self, path: str, types: list[str], speculative: bool = False
              ) -> Iterable[tuple[list[pa.Array], pa.BinaryArray]]:
        """Per block: its typed columns (`wire.typed_values`) and its serialized examples.
        `speculative`: the types are a guess (`_speculated_values`); an empty list is filled
        with the guess from the first block with rows (of the first file: the list is shared)."""
        for block in _blocks(path, self._columns, self._delimiter, self._encoding, self.in_beam):
            block = _skip_blank_lines(block)
            if block.num_rows:
                if speculative and not types:
                    types[:] = [_column_type(column) for column in block.columns]
                values = (_speculated_values if speculative else wire.typed_values)(types, block.columns)
                yield values, wire.serialize_values(self._columns, types, values)


class _Widened(Exception):
    """A block holds a value that the guessed type of its column cannot."""


def _speculated_values(types: list[str], cells: list[pa.Array]) -> list[pa.Array]:
    """`wire.typed_values` of a block whose column types were guessed from the first block, or
    _Widened where a column's type over all blocks is wider than the guess: a value in a column
    with none so far, a cell that does not parse as the guessed INT or FLOAT (the casts that
    encode the values are the test: the same casts as `_column_type`'s). A guess can only be too
    narrow, never too wide, so a run without _Widened has exactly the types of the full pass."""
    if any(kind == UNKNOWN and column.null_count < len(column) for kind, column in zip(types, cells)):
        raise _Widened
    try:
        return wire.typed_values(types, cells)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Widened from None


def _skip_blank_lines(block: pa.RecordBatch) -> pa.RecordBatch:
    """Arrow reads a blank line of a one-column file as an empty row; tfx_bsl skips blank lines."""
    if block.num_columns != 1:
        return block
    return block.filter(block.column(0).is_valid())


def splits_of(records: pa.BinaryArray | list[bytes], buckets: list[int]) -> np.ndarray:
    """The output split of each serialized example, exactly as TFX's ExampleGen assigns it: a
    sha256 of the canonical bytes, read as a big-endian integer, into hash buckets
    (base_example_gen_executor._PartitionFn). The modulo is taken in numpy, 64 bits at a time."""
    total = np.uint64(buckets[-1])
    sha256 = hashlib.sha256
    words = np.frombuffer(b"".join([sha256(r).digest() for r in wire.record_list(records)]),
                          dtype=">u8").reshape(-1, 4)
    step = np.uint64(pow(2, 64, int(total)))  # (r * 2^64 + w) mod total, for r < total < 2^32
    remainder = np.zeros(len(records), dtype=np.uint64)
    for k in range(4):
        remainder = (remainder * step + words[:, k].astype(np.uint64) % total) % total
    return np.searchsorted(buckets, remainder.astype(np.int64), side="right")


def gzip_tfrecords(records: pa.BinaryArray | list[bytes], crcs: np.ndarray | None = None) -> bytes:
    """A gzip TFRecord file of `records` (wire.tfrecords, compressed at GZIP's level): what
    tf.io.TFRecordWriter(path, GZIP) writes, less its Python call per record."""
    packer = deflate.compressobj(GZIP_LEVEL, deflate.DEFLATED, 16 + deflate.MAX_WBITS)  # gzip framing
    return packer.compress(wire.tfrecords(records, crcs)) + packer.flush()


class _WriteBlocks(beam.DoFn):
    """Per file: its examples, block by block, into gzip TFRecord files of each output split (one
    file per block and split, named by the input file and block number: a retried bundle rewrites
    the same files), and the same rows' typed columns beside them (components/common/columns.py;
    none when a column has no value at all). No Python object per row goes through Beam.

    A block's files are framed, compressed and written on a second thread while this one parses
    and encodes the next block (deflate and Arrow's writer release the GIL: at 1M rows about a
    fifth of the stage), at most WRITES_AHEAD blocks behind; all are written before `process`
    returns, so a bundle's files are complete when it ends."""

    def __init__(self, columns: list[str], delimiter: str, encoding: str, targets: list[str],
                 buckets: list[int]):
        self._reader = _ReadExamples(columns, delimiter, encoding)
        self._targets, self._buckets = targets, buckets

    def process(self, indexed: tuple[int, str], types: list[str], speculative: bool = False) -> Iterable[int]:
        number, path = indexed
        pending: collections.deque = collections.deque()
        with futures.ThreadPoolExecutor(1, thread_name_prefix="ExampleGen-write") as writer:
            for block_number, (values, records) in enumerate(self._reader.typed(path, types, speculative)):
                listed = wire.record_list(records)  # once for the split hashes and the CRCs
                split = splits_of(listed, self._buckets) if len(self._targets) > 1 else None
                crcs = wire.masked_crcs(listed)
                for index, target in enumerate(self._targets):
                    rows = None if split is None else np.flatnonzero(split == index)
                    if rows is None or len(rows):
                        name = io.join(target, f"data_tfrecord-{number:05d}-{block_number:05d}.gz")
                        pending.append(writer.submit(self._write, name, records, crcs, rows,
                                                     None if UNKNOWN in types else values))
                while len(pending) > WRITES_AHEAD * len(self._targets):
                    pending.popleft().result()
                yield records  # for the progress count
            while pending:
                pending.popleft().result()

    def _write(self, name: str, records: pa.BinaryArray, crcs: np.ndarray, rows: np.ndarray | None,
               values: list[pa.Array] | None) -> None:
        """The `rows` of a block (None: all) into file `name`, their typed `values` beside it."""
        if rows is not None:
            records, crcs = records.take(rows), crcs[rows]
            values = values and [v.take(rows) for v in values]
        io.write_bytes(name, gzip_tfrecords(records, crcs))
        if values is not None:
            columns.write(name, self._reader._columns, values)


class CsvToExample(beam.PTransform):
    """CSV files of one split -> serialized tf.Examples (one ExampleGen input split)."""

    def __init__(self, exec_properties: dict[str, Any], split_pattern: str):
        super().__init__()
        options = json.loads(exec_properties.get(CSV_OPTIONS_KEY) or "{}")
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
                raise RuntimeError(f"{path} has another header than {files[0]}; files of one split need the "
                                   "same columns")
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

    def run_here(self) -> None:
        """What `expand`'s pipeline does, done in this process without building a Beam pipeline
        (where a DirectRunner would run it in this process too, one file after the other): the
        same DoFns, the same files, the same examples. Beam's fixed cost (about a second) goes,
        and, for local files, so does the pass that types the columns before any is written: the
        types are guessed from the first block and checked on every block as it is encoded; a
        block that proves a guess too narrow (`_Widened`) discards what was written and starts
        again with the full pass's types."""
        files, columns = self._reader.files_and_columns()
        args = (columns, self._reader._delimiter, self._reader._encoding)
        if not any(io.is_remote(path) for path in files):  # local files: a dropped reader is safe
            try:
                return self._write_here(files, args, [], speculative=True)
            except _Widened:
                self._discard_written()
        infer = _InferTypes(*args)
        types = _merge_all(types for path in files for types in infer.process(path, in_beam=False))
        self._write_here(files, args, types)

    def _write_here(self, files: list[str], args: tuple, types: list[str], speculative: bool = False) -> None:
        writer, count = _WriteBlocks(*args, self._targets, self._buckets), CountRows(
            "ExampleGen", what="rows written", batched=True)
        writer._reader.in_beam = False
        count.setup()
        for indexed in enumerate(files):
            for records in writer.process(indexed, types, speculative):
                collections.deque(count.process(records), maxlen=0)

    def _discard_written(self) -> None:
        """Remove the examples and typed columns written so far (this execution's own folders)."""
        for target in self._targets:
            io.rmtree(target)
            io.rmtree(columns.path_for(io.join(target, "x.gz")).rsplit("/", 1)[0])
            io.makedirs(target)

    def expand(self, pipeline):
        files, columns = self._reader.files_and_columns()
        args = (columns, self._reader._delimiter, self._reader._encoding)
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

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return CsvToExample

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples[0].split_names = artifact_utils.encode_split_names(names)
        targets = [artifact_utils.get_split_uri(examples, name) for name in names]
        for target in targets:
            io.makedirs(target)
        if output_config.split_config.splits:  # one input split, hashed into the output splits
            buckets = list(itertools.accumulate(s.hash_buckets for s in output_config.split_config.splits))
            pattern = input_config.splits[0].pattern
            writes = {"Write": WriteCsvSplits(exec_properties, pattern, targets, buckets)}
        else:  # pre-split input: each input split is an output split
            writes = {f"Write[{split.name}]": WriteCsvSplits(
                exec_properties, split.pattern, [artifact_utils.get_split_uri(examples, split.name)], [1])
                for split in input_config.splits}
        if in_memory_bytes(0) >= 0 and runs_in_this_process(self._beam_pipeline_args):
            for write in writes.values():
                write.run_here()
        else:
            with self._make_beam_pipeline() as pipeline:
                for label, write in writes.items():
                    _ = pipeline | label >> write
        for target in targets:  # an empty split still has a (empty) file, as Beam's writer leaves one
            if not io.glob(io.join(target, "*")):
                with tf.io.TFRecordWriter(io.join(target, "data_tfrecord-00000-00000.gz"), GZIP):
                    pass
        for artifact in examples:
            examples_utils.set_payload_format(artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
            examples_utils.set_file_format(artifact, write_split.to_file_format_str(
                example_gen_pb2.FORMAT_TFRECORDS_GZIP))
