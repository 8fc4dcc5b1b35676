"""The Batching stage's work, on Beam.

Per split: read the serialized examples, decode them with the schema (tfx_bsl, a block at a
time), encode them with the feature plan (impute and standardize numbers, categories as their
vocabulary index: one float32 column per feature), shuffle them globally and write fixed-size
mini-batches as TFRecords of `{x, y, n}` tf.Examples, x and y as raw little-endian float32
bytes (components/common/payloads.py: `serialize_batch`, `parse_batch`). The Trainer expands
categories to one-hot (FeaturePlan.expand).

The global shuffle is a distributed sort on a seeded hash of each example's encoded values:
examples go into
key-range buckets, each bucket is sorted, bucket sizes give every example its global rank, and
rank // batch_size is its batch. The order is the same on any runner and any number of workers,
and batches have exactly batch_size examples (but the last).

Small data stays small: when the encoded rows of all splits (rows x columns x 4 bytes, the rows
counted by StatisticsGen) are at most IN_MEMORY_BYTES, the same DoFns run in this process on numpy
arrays, without a Beam pipeline (`batch_in_memory`), and write the same files byte for byte:
building and running the Beam graph (3 splits, 2 GroupByKeys and side inputs each) cost a fixed
3 to 4 s, most of a penguin run's Batching. `tests/test_batching.py` compares both paths.

The rows are read from ExampleGen's typed columns where it wrote them (components/common/columns.py:
the RecordBatches the decoder would make, without decoding) and decoded from the records elsewhere.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from google.protobuf import text_format
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifact_utils
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from components.common import columns as typed_columns
from components.common import io, payloads, progress
from components.common.beam import in_memory_bytes
from components.common.configs import BatchingConfig
from components.common.examples import BLOCK, ReadRecordBlocks
from components.common.features import CLASSIFICATION, FeaturePlan, build_plan, first_values
from components.common.keys import BATCHES_KEY, CONFIG_KEY, EXAMPLES_KEY, SCHEMA_KEY, STATISTICS_KEY
from components.common.payloads import serialize_batch
from components.common.progress import CountRows

# the payload files of a Batches artifact (named in components/common/payloads.py)
PLAN_FILE, COUNTS_FILE = payloads.PLAN_FILE, payloads.COUNTS_FILE
SCHEMA_FILE, STATISTICS_FILE = payloads.BATCHES_SCHEMA_FILE, payloads.BATCHES_STATISTICS_FILE
SOURCES = ("train", "eval")  # ExampleGen's splits
# The batch folders: "validation" is carved from ExampleGen's train rows (VALIDATION_SALT, below)
# and is what every training decision watches; "eval" is the Evaluator's alone.
SPLITS = ("train", "validation", "eval")
# Seeds the hash that puts a train row into the validation split: fixed, so that the split does
# not move with batching.shuffle_seed; the hash is of the row's encoded values (as the shuffle's).
VALIDATION_SALT = 0x5EED_7A1D
LOST_FILE = "lost.txt"  # per source split: rows without a label, rows whose label is no known class
SHUFFLE_DIR = "_shuffle"  # the external sort's temporary files, under each split's folder
_BUCKET_TARGET = 65536  # examples per shuffle bucket
_READ_BLOCK = 65536  # records per Beam element (decoded in pieces of examples.BLOCK)


class DegenerateDataError(ValueError):
    """The data cannot train or evaluate a model (for example an empty split)."""


class DroppedRowsError(DegenerateDataError):
    """Rows would be left out of training or evaluation, and the spec did not opt into that."""


class Executor(base_beam_executor.BaseBeamExecutor):
    # encoded rows of all splits (float32, label included): 1M rows of 10 features are 44 MB, about
    # 0.2 GB of this process's memory at the peak (the rows, their sorted copy, the serialized
    # batches of one bucket); larger data goes through Beam, whose memory does not grow with it
    IN_MEMORY_BYTES = in_memory_bytes(64 << 20)  # components.common.beam.IN_MEMORY_ENV overrides

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        config = BatchingConfig.model_validate_json(exec_properties[CONFIG_KEY])
        schema = io_utils.SchemaReader().read(
            io_utils.get_only_uri_in_dir(input_dict[SCHEMA_KEY][0].uri))
        stats = stats_artifact_utils.load_statistics(input_dict[STATISTICS_KEY][0], "train").proto()
        rows = {split: stats_artifact_utils.load_statistics(input_dict[STATISTICS_KEY][0], split).proto()
                .datasets[0].num_examples for split in SOURCES}
        batches = output_dict[BATCHES_KEY][0]
        # Kept with the model (see serving_dir.SCHEMA_FILE): the pipeline's schema and drift reference.
        io.write_text(io.join(batches.uri, SCHEMA_FILE), text_format.MessageToString(schema))
        io.write_bytes(io.join(batches.uri, STATISTICS_FILE), stats.SerializeToString())
        plan = build_plan(schema, stats.datasets[0], config.label, config.exclude,
                          config.task, config.loss, config.task_reason)
        payloads.write_plan(batches.uri, plan.to_json())
        for line in plan.describe():
            progress.tell("plan: %s", line)
        fraction = config.validation_fraction
        sizes = {"train": config.batch_size, "validation": config.eval_batch_size,
                 "eval": config.eval_batch_size}
        drop = {split: config.drop_remainder and split == "train" for split in SPLITS}
        if sum(rows.values()) * (plan.columns + 1) * 4 <= self.IN_MEMORY_BYTES:
            batch_in_memory(input_dict[EXAMPLES_KEY], batches.uri, plan, schema.SerializeToString(),
                            config.shuffle_seed, fraction, sizes, drop, rows)
        else:
            self._batch_on_beam(input_dict[EXAMPLES_KEY], batches.uri, plan, schema.SerializeToString(),
                                config.shuffle_seed, fraction, sizes, drop, rows)
        self._finish(batches, plan, config, sizes, drop, rows)

    def _batch_on_beam(self, examples: list, target: str, plan: FeaturePlan, schema: bytes, seed: int,
                       fraction: float, sizes: dict[str, int], drop: dict[str, bool],
                       rows: dict[str, int]) -> None:
        with self._make_beam_pipeline() as pipeline:
            for source in SOURCES:
                uri = standard_artifact_utils.get_split_uri(examples, source)
                encoded = pipeline | f"Encode[{source}]" >> EncodeSplit(
                    io.join(uri, "*"), plan, schema, seed,
                    validation_fraction=fraction if source == "train" else 0.0)
                _ = encoded[EncodeSplit.LOST] | f"Lost[{source}]" >> _WriteLost(
                    io.join(target, f"Split-{source}", LOST_FILE))
                for split in _outputs(source):
                    _ = encoded[split] | f"Batches[{split}]" >> WriteBlocks(
                        io.join(target, f"Split-{split}"), plan.columns, sizes[split], seed,
                        drop_remainder=drop[split], rows_hint=_hint(rows, source, split, fraction))

    def _finish(self, batches, plan: FeaturePlan, config: BatchingConfig, sizes: dict[str, int],
                drop: dict[str, bool], rows: dict[str, int]) -> None:
        """The counts (from the splits' count and lost files), the checks on them, the summary lines."""
        fraction = config.validation_fraction
        counts = {}
        for split in SPLITS:
            examples = int(io.read_text(io.join(batches.uri, f"Split-{split}", "count.txt")).strip() or 0)
            counts[split] = {"examples": examples,
                             "batches": examples // sizes[split] if drop[split]
                             else -(-examples // sizes[split])}
            batches.set_int_custom_property(f"num_examples_{split}", examples)
        lost = {source: _read_lost(io.join(batches.uri, f"Split-{source}", LOST_FILE)) for source in SOURCES}
        counts["lost"] = lost
        counts["validation_fraction"] = fraction
        counts["drop_unlabeled"] = config.drop_unlabeled
        if any(sum(n.values()) for n in lost.values()):
            message = lost_rows_message(plan, lost, rows)
            if not config.drop_unlabeled:
                raise DroppedRowsError(
                    f"{message}. Training and evaluating without them would change what the model and its "
                    "metrics are about, silently: fill in or fix those labels, remove the rows, or set "
                    "data.drop_unlabeled: true to train and evaluate without them (the plan, the summary and "
                    "the report then say how many rows each split lost)")
            progress.tell("plan: %s; dropped (data.drop_unlabeled: true)", message)
        empty = [split for split in SPLITS if counts[split]["examples"] == 0]
        if empty:
            hint = (f"; the validation split is data.validation_fraction ({fraction:g}) of the train rows: "
                    "raise it or add rows" if "validation" in empty else "")
            raise DegenerateDataError(
                f"the {' and '.join(empty)} split(s) got no labelled rows (train: "
                f"{counts['train']['examples']}, validation: {counts['validation']['examples']}, eval: "
                f"{counts['eval']['examples']} rows with a label); nothing can be trained or evaluated. Add "
                "rows, change data.splits (train:eval weights), or check that the label column is "
                f"filled{hint}")
        payloads.write_counts(batches.uri, counts)
        progress.tell("plan: rows used: train %s, validation %s (data.validation_fraction %g of the train "
                      "rows: early stopping and every other training decision), eval %s (the Evaluator's "
                      "only)",
                      f"{counts['train']['examples']:,}", f"{counts['validation']['examples']:,}", fraction,
                      f"{counts['eval']['examples']:,}")
        batches.set_string_custom_property("task", plan.task)


def _outputs(source: str) -> tuple[str, ...]:
    """The batch folders an ExampleGen split feeds."""
    return ("train", "validation") if source == "train" else ("eval",)


def _hint(rows: dict[str, int], source: str, split: str, fraction: float) -> int:
    """About how many rows `split` gets (sets the number of shuffle buckets)."""
    return int(rows[source] * (fraction if split == "validation" else 1))


def batch_in_memory(examples: list, target: str, plan: FeaturePlan, schema: bytes, seed: int, fraction: float,
                    sizes: dict[str, int], drop: dict[str, bool], rows: dict[str, int]) -> None:
    """The Beam pipeline of `Executor._batch_on_beam`, in this process: the same DoFns on the same
    blocks, the same files (bucket files, the straddling batches' file, count.txt, lost.txt)."""
    for source in SOURCES:
        uri = standard_artifact_utils.get_split_uri(examples, source)
        encoded, lost = encode_in_memory(io.join(uri, "*"), plan, schema, seed,
                                         fraction if source == "train" else 0.0)
        io.write_text(io.join(target, f"Split-{source}", LOST_FILE), f"{lost[0]},{lost[1]}\n")
        for split in _outputs(source):
            write_blocks_in_memory(encoded[split], io.join(target, f"Split-{split}"), plan.columns,
                                   sizes[split], seed, drop[split], _hint(rows, source, split, fraction))


def encode_in_memory(pattern: str, plan: FeaturePlan, schema: bytes, seed: int, fraction: float = 0.0
                     ) -> tuple[dict[str, list[tuple[np.ndarray, np.ndarray]]], tuple[int, int]]:
    """`EncodeSplit` in this process: its blocks per output, and the (no label, unknown class) sums."""
    encoder, carve = _EncodeRows(plan.to_json(), schema, seed), _Carve(fraction)
    encoder.setup()
    outputs: dict[str, list] = {"train": [], "validation": []} if fraction else {"eval": []}
    lost = []
    files = sorted(io.glob(pattern))
    read = _ReadColumns(_READ_BLOCK) if use_columns(files, schema) else ReadRecordBlocks(_READ_BLOCK)
    for path in files:
        for records in read.process(path):
            for element in encoder.process(records):
                if isinstance(element, beam.pvalue.TaggedOutput):
                    lost.append(element.value)
                elif not fraction:
                    outputs["eval"].append(element)
                else:
                    for part in carve.process(element):
                        tagged = isinstance(part, beam.pvalue.TaggedOutput)
                        outputs[part.tag if tagged else "train"].append(part.value if tagged else part)
    return outputs, _sum_pairs(lost)


def write_blocks_in_memory(blocks: list[tuple[np.ndarray, np.ndarray]], target: str, columns: int,
                           batch_size: int, seed: int, drop_remainder: bool, rows_hint: int = 0) -> None:
    """`WriteBlocks` in this process: the same key-range buckets (a bucket's rows sorted by their
    shuffle key), the same batch files, without the _shuffle files."""
    bits = _bits(rows_hint)
    keys = np.concatenate([k for k, _ in blocks]) if blocks else np.zeros(0, np.uint64)
    rows = np.concatenate([r for _, r in blocks]) if blocks else np.zeros((0, columns + 1), np.float32)
    bucket = keys >> np.uint64(64 - bits) if bits else np.zeros(len(keys), dtype=np.uint64)
    numbers, counts = np.unique(bucket, return_counts=True)
    bucket_sizes = {int(b): int(n) for b, n in zip(numbers, counts)}
    order = np.argsort(bucket, kind="stable")
    starts = np.r_[0, np.cumsum(counts)]
    cut, straddling = _Cut(target, batch_size, drop_remainder), defaultdict(list)
    io.makedirs(target)
    for index, start, end in zip(numbers, starts[:-1], starts[1:]):
        for output in cut.process(_sort_rows(int(index), rows[order[start:end]], seed), bucket_sizes):
            if isinstance(output, beam.pvalue.TaggedOutput):
                number, piece = output.value
                straddling[number].append(piece)
    _write_straddling([batch for number, pieces in straddling.items()
                       for batch in _assemble((number, pieces), batch_size, drop_remainder)],
                      io.join(target, "batches-straddling.tfrecord"))
    io.write_text(io.join(target, "count.txt"), f"{len(rows)}\n")


def lost_rows_message(plan: FeaturePlan, lost: dict[str, dict[str, int]], rows: dict[str, int]) -> str:
    """'label 'y' is missing in 41 of 248 train rows and 18 of 133 eval rows; ...' (the counts)."""
    parts = []
    missing = [f"{lost[s]['no_label']:,} of {rows[s]:,} {s} rows" for s in SOURCES if lost[s]["no_label"]]
    if missing:
        parts.append(f"label {plan.label!r} is missing (empty, NA or NaN) in {' and '.join(missing)}")
    unknown = [f"{lost[s]['unknown_class']:,} {s} rows" for s in SOURCES if lost[s]["unknown_class"]]
    if unknown:
        shown = ", ".join(plan.classes[:10]) + (", ..." if len(plan.classes) > 10 else "")
        parts.append(f"{' and '.join(unknown)} have a label value that is none of the {len(plan.classes)} "
                     f"classes of the train split ({shown})")
    return "; ".join(parts)


def _read_lost(path: str) -> dict[str, int]:
    text = io.read_text(path).strip() if io.exists(path) else ""
    no_label, unknown = (int(v) for v in text.split(",")) if text else (0, 0)
    return {"no_label": no_label, "unknown_class": unknown}


class _WriteLost(beam.PTransform):
    """The per-block (no label, unknown class) counts -> one "no_label,unknown_class" line."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, counts):
        return (counts
                | "Sum" >> beam.CombineGlobally(_sum_pairs)
                | "Text" >> beam.Map(lambda pair: f"{pair[0]},{pair[1]}")
                | "Write" >> beam.io.WriteToText(self.path, shard_name_template=""))


def _sum_pairs(pairs) -> tuple[int, int]:
    total = [0, 0]
    for a, b in pairs:
        total[0] += int(a)
        total[1] += int(b)
    return total[0], total[1]


class EncodeSplit(beam.PTransform):
    """Serialized tf.Examples matching `pattern` -> encoded blocks (shuffle keys, rows: the
    labelled rows as float32, the label last), split into "train" and "validation" by a hash of
    each row's values (a `validation_fraction` of them, the same rows on every run and runner),
    or all of them under "eval" when `validation_fraction` is 0; and LOST, per block, how many rows
    had no label and how many a label that is no known class."""

    LOST = "lost"

    def __init__(self, pattern: str, plan: FeaturePlan, schema: bytes, seed: int,
                 validation_fraction: float = 0.0):
        super().__init__()
        self.pattern, self.plan, self.schema, self.seed = pattern, plan, schema, seed
        self.fraction = validation_fraction

    def expand(self, pipeline):
        files = sorted(io.glob(self.pattern))
        read = _ReadColumns(_READ_BLOCK) if use_columns(files, self.schema) else ReadRecordBlocks(_READ_BLOCK)
        encoded = (
            pipeline
            | "Files" >> beam.Create(files)
            | "Read" >> beam.ParDo(read)
            | "Progress" >> beam.ParDo(CountRows("Batching", batched=True))
            | "Encode" >> beam.ParDo(_EncodeRows(self.plan.to_json(), self.schema, self.seed)).with_outputs(
                self.LOST, main="rows")
        )
        if not self.fraction:
            return {"eval": encoded.rows, self.LOST: encoded[self.LOST]}
        parts = encoded.rows | "CarveValidation" >> beam.ParDo(_Carve(self.fraction)).with_outputs(
            "validation", main="train")
        return {"train": parts.train, "validation": parts.validation, self.LOST: encoded[self.LOST]}


def use_columns(files: list[str], schema: bytes) -> bool:
    """Whether to read ExampleGen's typed columns instead of decoding the records: every file has
    them, and they have the columns and types the schema's decoder would give."""
    if not typed_columns.cached(files):
        return False
    expected = example_coder.ExamplesToRecordBatchDecoder(schema).DecodeBatch([]).schema
    return typed_columns.matches(typed_columns.decoded(files[0]), expected)


class _ReadColumns(beam.DoFn):
    """One examples file -> its rows, decoded (ExampleGen's typed columns), in RecordBatches of up
    to `block` rows (as ReadRecordBlocks gives blocks of records)."""

    def __init__(self, block: int):
        self._block = block

    def process(self, path: str) -> Iterable[pa.RecordBatch]:
        batch = typed_columns.decoded(path)
        yield from (batch.slice(start, self._block) for start in range(0, batch.num_rows, self._block))


def in_validation(rows: np.ndarray, fraction: float) -> np.ndarray:
    """Which encoded rows (label last) belong to the validation split: a hash of the row's values
    below `fraction` of the 64-bit range. Identical rows land on the same side."""
    return shuffle_keys(rows, VALIDATION_SALT) < np.uint64(min(int(fraction * 2.0**64), 2**64 - 1))


class _Carve(beam.DoFn):
    def __init__(self, fraction: float):
        self._fraction = fraction

    def process(self, block):
        keys, rows = block
        chosen = in_validation(rows, self._fraction)
        if chosen.any():
            yield beam.pvalue.TaggedOutput("validation", (keys[chosen], rows[chosen]))
        if (~chosen).any():
            yield keys[~chosen], rows[~chosen]


class WriteBatches(beam.PTransform):
    """Serialized tf.Examples matching `pattern` -> shuffled mini-batches under `target` (all the
    rows with a usable label: `EncodeSplit` then `WriteBlocks`)."""

    def __init__(self, pattern: str, target: str, plan: FeaturePlan, schema: bytes,
                 batch_size: int, seed: int, drop_remainder: bool, rows_hint: int = 0):
        super().__init__()
        self.pattern, self.target, self.plan, self.schema = pattern, target, plan, schema
        self.batch_size, self.seed = batch_size, seed
        self.drop_remainder, self.rows_hint = drop_remainder, rows_hint

    def expand(self, pipeline):
        encoded = pipeline | "Encode" >> EncodeSplit(self.pattern, self.plan, self.schema, self.seed)
        return encoded["eval"] | "Write" >> WriteBlocks(self.target, self.plan.columns, self.batch_size,
                                                        self.seed, self.drop_remainder, self.rows_hint)


class WriteBlocks(beam.PTransform):
    """Encoded blocks (shuffle keys, rows; `EncodeSplit`) -> shuffled mini-batches under `target`.

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

    def __init__(self, target: str, columns: int, batch_size: int, seed: int, drop_remainder: bool,
                 rows_hint: int = 0):
        super().__init__()
        self.target, self.columns = target, columns
        self.batch_size, self.seed, self.drop_remainder = batch_size, seed, drop_remainder
        self.bits = _bits(rows_hint)

    def expand(self, blocks):
        pipeline = blocks.pipeline
        pieces = blocks | "Spill" >> beam.ParDo(_Spill(io.join(self.target, SHUFFLE_DIR), self.bits))
        sizes = (pieces
                 | "PieceSizes" >> beam.Map(lambda piece: (piece[0], piece[1][2] - piece[1][1]))
                 | "BucketSizes" >> beam.CombinePerKey(sum))
        cut = (
            pieces
            | "GroupBucket" >> beam.GroupByKey()
            | "SortBucket" >> beam.Map(_sort_bucket, columns=self.columns + 1, seed=self.seed)
            | "Cut" >> beam.ParDo(_Cut(self.target, self.batch_size, self.drop_remainder),
                                  sizes=beam.pvalue.AsDict(sizes)).with_outputs(_Cut.STRADDLING,
                                                                                main="written")
        )
        straddling = (cut[_Cut.STRADDLING]
                      | "GroupBatch" >> beam.GroupByKey()
                      | "Assemble" >> beam.FlatMap(_assemble, batch_size=self.batch_size,
                                                   drop_remainder=self.drop_remainder)
                      | "AllStraddling" >> beam.combiners.ToList()
                      | "Write" >> beam.Map(_write_straddling,
                                            io.join(self.target, "batches-straddling.tfrecord")))
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

    def process(self, records: list[bytes] | pa.RecordBatch) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """`records`: serialized examples, or the same rows decoded (`_ReadColumns`)."""
        self._lost = [0, 0]
        decoded = isinstance(records, pa.RecordBatch)
        pieces = [self._encode(records.slice(i, BLOCK) if decoded
                               else self._decoder.DecodeBatch(records[i:i + BLOCK]))
                  for i in range(0, len(records), BLOCK)]
        rows = np.concatenate(pieces) if pieces else np.zeros((0, self._plan.columns + 1), np.float32)
        yield beam.pvalue.TaggedOutput(EncodeSplit.LOST, tuple(self._lost))
        yield shuffle_keys(rows, self._seed), rows

    def _encode(self, batch: pa.RecordBatch) -> np.ndarray:
        x, y, keep = self._plan.encode(batch)
        if not keep.all():  # no label, or (classification) a label that is no known class
            label = batch.column(batch.schema.get_field_index(self._plan.label)) \
                if self._plan.label in batch.schema.names else None
            present = first_values(label, batch.num_rows).is_valid().to_numpy(zero_copy_only=False)
            if self._plan.task != CLASSIFICATION:
                present = np.zeros_like(present)  # a NaN label is no label either
            self._lost[0] += int((~keep & ~present).sum())
            self._lost[1] += int((~keep & present).sum())
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
    return _sort_rows(index, np.concatenate([_read_rows(*piece, columns) for piece in sorted(pieces)]), seed)


def _sort_rows(index: int, rows: np.ndarray, seed: int) -> tuple[int, np.ndarray]:
    """A bucket's rows in the global order (rows with equal keys are equal rows: their order is moot)."""
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
