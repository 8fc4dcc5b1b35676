"""The Batching stage's work, on Beam.

Per split: read the serialized examples, decode them with the schema (tfx_bsl, a block at a
time), encode them with the feature plan (impute and standardize numbers, categories as their
vocabulary index: one float32 column per feature), shuffle them globally and write fixed-size
mini-batches as TFRecords of `{x, y, n}` tf.Examples, x and y as raw little-endian float32
bytes (`parse_batch`). The Trainer expands categories to one-hot (FeaturePlan.expand).

The global shuffle is a distributed sort on a seeded hash of each example's encoded values:
examples go into
key-range buckets, each bucket is sorted, bucket sizes give every example its global rank, and
rank // batch_size is its batch. The order is the same on any runner and any number of workers,
and batches have exactly batch_size examples (but the last).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifact_utils
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from components.common import io
from components.common.examples import BLOCK, ReadRecordBlocks
from components.common.progress import CountRows
from components.common.features import FeaturePlan, build_plan
from components.common.io import CONFIG_KEY

PLAN_FILE = "plan.json"
COUNTS_FILE = "counts.json"
SCHEMA_FILE = "schema.pbtxt"
STATISTICS_FILE = "train_statistics.pb"
SPLITS = ("train", "eval")
SHUFFLE_DIR = "_shuffle"  # the external sort's temporary files, under each split's folder
_BUCKET_TARGET = 65536  # examples per shuffle bucket
_READ_BLOCK = 65536  # records per Beam element (decoded in pieces of examples.BLOCK)


class DegenerateDataError(ValueError):
    """The data cannot train or evaluate a model (for example an empty split)."""


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        config = json.loads(exec_properties[CONFIG_KEY])
        schema = io_utils.SchemaReader().read(
            io_utils.get_only_uri_in_dir(input_dict["schema"][0].uri))
        stats = stats_artifact_utils.load_statistics(input_dict["statistics"][0], "train").proto()
        rows = {split: stats_artifact_utils.load_statistics(input_dict["statistics"][0], split).proto()
                .datasets[0].num_examples for split in SPLITS}
        batches = output_dict["batches"][0]
        # Kept with the model (see serving_dir.SCHEMA_FILE): the pipeline's schema and drift reference.
        io.write_text(io.join(batches.uri, SCHEMA_FILE), text_format.MessageToString(schema))
        io.write_bytes(io.join(batches.uri, STATISTICS_FILE), stats.SerializeToString())
        plan = build_plan(schema, stats.datasets[0], config["label"], config.get("exclude", []),
                          config.get("task", "auto"))
        io.write_text(io.join(batches.uri, PLAN_FILE), plan.to_json())
        sizes = {"train": config["batch_size"], "eval": config["eval_batch_size"]}
        with self._make_beam_pipeline() as pipeline:
            for split in SPLITS:
                source = standard_artifact_utils.get_split_uri(input_dict["examples"], split)
                target = io.join(batches.uri, f"Split-{split}")
                _ = pipeline | f"Batches[{split}]" >> WriteBatches(
                    io.join(source, "*"), target, plan, schema.SerializeToString(),
                    sizes[split], config["shuffle_seed"],
                    drop_remainder=config.get("drop_remainder", False) and split == "train", rows_hint=rows[split])
        counts = {}
        for split in SPLITS:
            examples = int(io.read_text(io.join(batches.uri, f"Split-{split}", "count.txt")).strip() or 0)
            drop = config.get("drop_remainder", False) and split == "train"
            counts[split] = {"examples": examples,
                             "batches": examples // sizes[split] if drop else -(-examples // sizes[split])}
            batches.set_int_custom_property(f"num_examples_{split}", examples)
        empty = [split for split in SPLITS if counts[split]["examples"] == 0]
        if empty:
            raise DegenerateDataError(
                f"the {' and '.join(empty)} split(s) got no labelled rows (train: {counts['train']['examples']}, "
                f"eval: {counts['eval']['examples']} rows with a label); nothing can be trained or evaluated. "
                "Add rows, change data.splits (train:eval weights), or check that the label column is filled")
        io.write_json(io.join(batches.uri, COUNTS_FILE), counts)
        batches.set_string_custom_property("task", plan.task)


class WriteBatches(beam.PTransform):
    """Serialized tf.Examples matching `pattern` -> shuffled mini-batches under `target`.

    Works on blocks, never one Python object per row: files are read in blocks of records, each
    block is decoded and encoded into one float32 matrix (numpy), and its rows' shuffle keys are
    computed. The global shuffle is an external sort by key: a block's rows, ordered by key-range
    bucket (`rows_hint`, the split's size from the statistics, sets how many buckets), are written
    to one file under `target`/_shuffle, and only references to each bucket's part of the file go
    through Beam's GroupByKey (the DirectRunner holds a GroupByKey's whole input in memory, twice:
    the rows themselves would make memory grow with the data). Each bucket is then read, sorted,
    and the mini-batches are cut from the global order: a batch within one bucket is written from
    there; only the few that straddle two buckets are grouped again. The _shuffle files are
    removed once the batches are written."""

    def __init__(self, pattern: str, target: str, plan: FeaturePlan, schema: bytes,
                 batch_size: int, seed: int, drop_remainder: bool, rows_hint: int = 0):
        super().__init__()
        self.pattern, self.target, self.plan, self.schema = pattern, target, plan, schema
        self.batch_size, self.seed, self.drop_remainder = batch_size, seed, drop_remainder
        self.bits = _bits(rows_hint)

    def expand(self, pipeline):
        pieces = (
            pipeline
            | "Files" >> beam.Create(sorted(io.glob(self.pattern)))
            | "Read" >> beam.ParDo(ReadRecordBlocks(_READ_BLOCK))
            | "Progress" >> beam.ParDo(CountRows("Batching", batched=True))
            | "Encode" >> beam.ParDo(_EncodeRows(self.plan.to_json(), self.schema, self.seed))
            | "Spill" >> beam.ParDo(_Spill(io.join(self.target, SHUFFLE_DIR), self.bits))
        )
        sizes = (pieces
                 | "PieceSizes" >> beam.Map(lambda piece: (piece[0], piece[1][2] - piece[1][1]))
                 | "BucketSizes" >> beam.CombinePerKey(sum))
        cut = (
            pieces
            | "GroupBucket" >> beam.GroupByKey()
            | "SortBucket" >> beam.Map(_sort_bucket, columns=self.plan.columns + 1, seed=self.seed)
            | "Cut" >> beam.ParDo(_Cut(self.target, self.batch_size, self.drop_remainder),
                                  sizes=beam.pvalue.AsDict(sizes)).with_outputs(_Cut.STRADDLING, main="written")
        )
        straddling = (cut[_Cut.STRADDLING]
                      | "GroupBatch" >> beam.GroupByKey()
                      | "Assemble" >> beam.FlatMap(_assemble, batch_size=self.batch_size,
                                                   drop_remainder=self.drop_remainder)
                      | "AllStraddling" >> beam.combiners.ToList()
                      | "Write" >> beam.Map(_write_straddling, io.join(self.target, "batches-straddling.tfrecord")))
        _ = (pipeline
             | "AfterWrite" >> beam.Create([io.join(self.target, SHUFFLE_DIR)])
             | "RemoveShuffleFiles" >> beam.Map(_remove, written=beam.pvalue.AsList(cut.written),
                                                straddling=beam.pvalue.AsList(straddling)))
        _ = (sizes
             | "Sizes" >> beam.Values()
             | "Count" >> beam.CombineGlobally(sum)
             | "CountText" >> beam.Map(str)
             | "WriteCount" >> beam.io.WriteToText(io.join(self.target, "count.txt"), shard_name_template=""))
        return pipeline


def shuffle_keys(rows: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit key per row from the seed and the row's content (its encoded float32 values, in
    the plan's feature order): the same on every runner and every run. Serialized tf.Examples are
    not a stable key: their bytes may differ from one ExampleGen run to the next for the same data.
    SplitMix64's mixing function over each value's bits, all rows at once."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32).astype(np.uint64)
    keys = np.full(len(rows), _mix(np.array([seed & (2**64 - 1)], dtype=np.uint64))[0], dtype=np.uint64)
    for column in range(bits.shape[1]):
        keys = _mix(keys ^ (bits[:, column] + np.uint64(column * 0x9E3779B97F4A7C15 % 2**64)))
    return keys


def _mix(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class _EncodeRows(beam.DoFn):
    """A block of records -> (shuffle keys, rows): the labelled rows as one float32 matrix, the
    label in the last column."""

    def __init__(self, plan_json: str, schema: bytes, seed: int):
        self._plan_json, self._schema, self._seed = plan_json, schema, seed

    def setup(self):
        self._plan = FeaturePlan.from_json(self._plan_json)
        self._decoder = example_coder.ExamplesToRecordBatchDecoder(self._schema)

    def process(self, records: list[bytes]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        pieces = [self._encode(records[i:i + BLOCK]) for i in range(0, len(records), BLOCK)]
        rows = np.concatenate(pieces) if pieces else np.zeros((0, self._plan.columns + 1), np.float32)
        yield shuffle_keys(rows, self._seed), rows

    def _encode(self, records: list[bytes]) -> np.ndarray:
        x, y, keep = self._plan.encode(self._decoder.DecodeBatch(records))
        dropped = int((~keep).sum())
        if dropped:
            beam.metrics.Metrics.counter("batching", "examples_without_label").inc(dropped)
        return np.concatenate([x, y[:, None]], axis=1)[keep].astype(np.float32)


def _bits(count: int) -> int:
    """log2 of the number of key-range buckets: about _BUCKET_TARGET rows each."""
    return max(0, (max(1, -(-count // _BUCKET_TARGET)) - 1).bit_length())


class _Spill(beam.DoFn):
    """(keys, rows) of a block -> one file of its rows ordered by bucket (raw little-endian float32,
    named by a hash of the block's keys: a retried bundle rewrites the same file), and one
    (bucket, (file, first row, end row)) reference per bucket the block has rows in."""

    def __init__(self, folder: str, bits: int):
        self._folder, self._bits = folder, bits

    def process(self, block: tuple[np.ndarray, np.ndarray]):
        keys, rows = block
        if not len(keys):
            return
        bucket = keys >> np.uint64(64 - self._bits) if self._bits else np.zeros(len(keys), dtype=np.uint64)
        order = np.argsort(bucket, kind="stable")
        bucket, rows = bucket[order], rows[order]
        path = io.join(self._folder, hashlib.blake2b(keys.tobytes(), digest_size=16).hexdigest() + ".f32")
        io.write_bytes(path, np.ascontiguousarray(rows, dtype="<f4").tobytes())
        edges = np.flatnonzero(np.diff(bucket)) + 1
        for start, end in zip(np.r_[0, edges], np.r_[edges, len(bucket)]):
            yield int(bucket[start]), (path, int(start), int(end))


def _read_rows(path: str, start: int, end: int, columns: int) -> np.ndarray:
    row_bytes = columns * 4
    with io.open_file(path, "rb") as f:
        f.seek(start * row_bytes)
        return np.frombuffer(f.read((end - start) * row_bytes), dtype="<f4").reshape(-1, columns)


def _sort_bucket(bucket, columns: int, seed: int):
    """(bucket, its rows read back and sorted by shuffle key, computed again from their content)."""
    index, pieces = bucket
    rows = np.concatenate([_read_rows(*piece, columns) for piece in sorted(pieces)])
    return index, rows[np.argsort(shuffle_keys(rows, seed), kind="stable")]


def _remove(folder: str, written: list, straddling: list) -> None:
    """Runs once all batches are written (`written` and `straddling`, the writers' outputs, are
    its side inputs)."""
    if io.exists(folder):
        io.rmtree(folder)


class _Cut(beam.DoFn):
    """A sorted bucket -> its mini-batches: those wholly in the bucket written to the bucket's own
    TFRecord file (main output: its path), the parts of a batch that straddles two buckets as
    (batch number, (first global rank, rows))."""

    STRADDLING = "straddling"

    def __init__(self, target: str, batch_size: int, drop_remainder: bool):
        self._target, self._batch_size, self._drop_remainder = target, batch_size, drop_remainder

    def process(self, bucket, sizes: dict[int, int]):
        index, rows = bucket
        size, total = self._batch_size, sum(sizes.values())
        offset = sum(n for other, n in sizes.items() if other < index)
        whole, start = [], 0
        while start < len(rows):
            rank = offset + start
            end = min(len(rows), start + size - rank % size)
            part = rows[start:end]
            if rank % size == 0 and (len(part) == size or rank + len(part) == total):  # a whole batch
                if len(part) == size or not self._drop_remainder:
                    whole.append(serialize_batch(part[:, :-1], part[:, -1]))
            else:
                yield beam.pvalue.TaggedOutput(self.STRADDLING, (rank // size, (rank, part)))
            start = end
        if whole:
            path = io.join(self._target, f"batches-bucket-{index:05d}.tfrecord")
            with tf.io.TFRecordWriter(path) as writer:
                for record in whole:
                    writer.write(record)
            yield path


def _assemble(batch, batch_size: int, drop_remainder: bool) -> Iterable[tuple[int, bytes]]:
    number, pieces = batch
    rows = np.concatenate([rows for _, rows in sorted(pieces, key=lambda p: p[0])])
    if drop_remainder and len(rows) < batch_size:
        return
    yield number, serialize_batch(rows[:, :-1], rows[:, -1])


def _write_straddling(batches: list[tuple[int, bytes]], path: str) -> list[str]:
    """The straddling batches (one or two per bucket) into one file, in batch order; no file when
    there are none (an empty upload is an error on S3, which Beam's own writer would make)."""
    if not batches:
        return []
    with tf.io.TFRecordWriter(path) as writer:
        for _, record in sorted(batches):
            writer.write(record)
    return [path]


def serialize_batch(x: np.ndarray, y: np.ndarray) -> bytes:
    """A mini-batch as a tf.Example: x [n, columns] and y [n] as raw little-endian float32."""
    feature = {
        "x": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(x, "<f4").tobytes()])),
        "y": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(y, "<f4").tobytes()])),
        "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(y)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_batch(record: bytes, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """`serialize_batch`'s inverse, in numpy: (x [n, columns], y [n])."""
    feature = tf.train.Example.FromString(record).features.feature
    x = np.frombuffer(feature["x"].bytes_list.value[0], "<f4").reshape(-1, columns)
    return x, np.frombuffer(feature["y"].bytes_list.value[0], "<f4")
