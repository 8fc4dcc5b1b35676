"""Batch predictions with a pushed version: `tfx-yaml predict` and `pipelines.predict(...)`.

    tfx-yaml predict --config X.yaml --data PATH --output FILE [--root DIR] [--version N]
                     [--keep COLS] [--skip-bad-rows]

Scores a file or a folder of files (CSV with the spec's `data.delimiter` and `data.encoding`,
Parquet, or TFRecord of tf.Examples, GZIP or not; the format from the extension, else the spec's
`data.format`) with the version serving now, or `--version N`, through its `serving_default`
signature on serialized tf.Examples (the path TF Serving takes). Rows are encoded by ExampleGen's
own encoder (components/example_gen/wire.py) with the column types of the version's schema
(`assets.extra/schema.pbtxt`), so a row's bytes are those training and the Evaluator saw.

It runs on Beam with `runtime.beam_pipeline_args`: each file is read in blocks (a block is one
element: about 8 MB of CSV, or 65,536 rows), encoded, scored by Beam's RunInference (a model
handler that calls the signature on the whole block, in chunks of 8,192), and written as a
numbered part (an Arrow IPC file); the parts are then joined in input order into the output (CSV
or Parquet, by its extension) under a temporary name, renamed into place when complete (a second
run replaces it). Blocks are encoded and their statistics gathered 2 blocks ahead in threads
while the signature scores the current one (TensorFlow's call keeps one core busy, the encoding
the other): same bytes, in the same order, as one thread gives.

Output columns: `row` (the CSV line number, or the Parquet row / TFRecord record number, from
1), then the `--keep` columns (default: none), then `predicted_class` and one
`probability_<class>` per class, or `prediction` for regression.

A row the model cannot take (a cell that does not parse as the schema's INT or FLOAT) stops the
run with the file, line, column and value, unless `--skip-bad-rows` (then counted and left out).
CSV line numbers assume no line breaks inside quoted cells.

The input is compared with the version's training statistics (`train_statistics.pb`) with TFDV:
its schema anomalies and the drift comparators (L-infinity for categorical features, Jensen-
Shannon divergence for numeric ones, with the spec's `validation.drift` thresholds). The
statistics cover every row: each block's typed columns (as StatisticsGen sees them, an empty
cell missing) go to TFDV's in-memory generators inside a Beam CombineFn, whose accumulators merge
as TFDV's own combiners do (TFDV's Beam graph cost ~20x more per row here). Findings are printed
and written to a short HTML page next to the output (`<output>.drift.html`); they never stop the
scoring.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

BLOCK_BYTES = 8 << 20  # CSV bytes per block
BLOCK_ROWS = 65_536  # Parquet and TFRecord rows per block
CHUNK = 8192  # examples per call of the signature
AHEAD = 2  # blocks encoded ahead of the one being scored, in as many threads
FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".tfrecord": "tfrecord", ".gz": "tfrecord", ".tfrecords": "tfrecord"}


class PredictError(ValueError):
    """Bad input for predict: the message names the file, the line and the fix."""


def command(spec, args: argparse.Namespace) -> int:
    keep = [c.strip() for c in args.keep.split(",") if c.strip()] if args.keep else []
    try:
        result = predict(spec, args.data, args.output, root=args.root, version=args.version, keep=keep,
                         skip_bad_rows=args.skip_bad_rows, drift_report=args.drift_report)
    except PredictError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if result else EXIT_FAILED


def predict(spec, data: str, output: str, root: str | None = None, version: int | None = None,
            keep: list[str] | None = None, skip_bad_rows: bool = False, out: Any = None,
            drift_report: str | None = None) -> dict:
    """Score `data` into `output` (see the module's docstring); returns what happened: version,
    rows, bad_rows, output, drift (findings), anomalies, drift_report, seconds."""
    from pipelines.after_push import version_dir

    out = out or sys.stdout
    imports = _import_stack()
    started = time.perf_counter()
    try:
        folder = version_dir(spec, root, version)
    except ValueError as error:
        raise PredictError(str(error)) from None
    files, kind = _inputs(spec, data)
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in (".csv", ".parquet"):
        raise PredictError(f"--output {output}: name a .csv or .parquet file")
    model = _Model.of(folder)
    missing = [c for c in keep or [] if kind != "tfrecord" and c not in _columns_of(files[0], kind, spec)]
    if missing:
        raise PredictError(f"--keep: column(s) {', '.join(missing)} are not in {files[0]}")
    print(f"predict: {len(files)} {kind} file(s) from {data} with {folder}", file=out, flush=True)
    work = _work_dir(output)
    try:
        counts = _run_beam(spec, model, files, kind, keep or [], skip_bad_rows, work, out)
        rows = _join_parts(work, output, suffix)
        findings, anomalies = _drift(spec, model, os.path.join(work, "statistics.pb"))
    finally:
        _remove(work)
    report = drift_report or output + ".drift.html"
    _write_drift_page(report, findings, anomalies, model, data, counts["rows"])
    for line in _drift_lines(findings, anomalies, counts["rows"], spec):
        print(line, file=out, flush=True)
    seconds = time.perf_counter() - started
    bad = f", {counts['bad']} bad row(s) skipped" if counts["bad"] else ""
    print(f"predicted {rows:,} rows in {seconds:.1f}s{bad}: {output}", file=out, flush=True)
    print(f"drift report: {report}", file=out, flush=True)
    return {"version": model.version, "rows": rows, "bad_rows": counts["bad"], "output": output,
            "drift": findings, "anomalies": anomalies, "drift_report": report, "seconds": seconds,
            "import_seconds": imports}


def _import_stack() -> float:
    """Seconds to import what predict runs on (TensorFlow, TFDV, tfx-bsl's decoder), before its
    clock starts: `seconds` (and the "predicted N rows in S s" line) is the work on the rows and
    the fixed costs of Beam and the model's load, not a first import of the ML stack."""
    started = time.perf_counter()
    import tensorflow  # noqa: F401
    import tensorflow_data_validation  # noqa: F401
    from tfx_bsl.coders import example_coder  # noqa: F401

    return time.perf_counter() - started


class _Model:
    """What predict needs of a version: its path, number, feature types, task and classes."""

    def __init__(self, path: str, plan: dict, kinds: dict[str, str], schema_text: str):
        self.path, self.plan, self.kinds, self.schema_text = path, plan, kinds, schema_text
        self.version = int(os.path.basename(path.rstrip("/")))

    @classmethod
    def of(cls, folder: str) -> _Model:
        import json

        from components.common import io, serving_dir
        from components.example_gen.wire import FLOAT, INT, STRING

        plan = json.loads(io.read_text(io.join(folder, serving_dir.PLAN_FILE)))
        schema_path = io.join(folder, serving_dir.SCHEMA_FILE)
        if not io.exists(schema_path):
            raise PredictError(f"{folder} has no {serving_dir.SCHEMA_FILE}: it was pushed by an older "
                               "version of this package; push a new version to score with it")
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        text = io.read_text(schema_path)
        schema = text_format.Parse(text, schema_pb2.Schema())
        names = {schema_pb2.INT: INT, schema_pb2.FLOAT: FLOAT, schema_pb2.BYTES: STRING}
        kinds = {f.name: names[f.type] for f in schema.feature if f.type in names}
        return cls(folder, plan, kinds, text)

    @property
    def classification(self) -> bool:
        return self.plan.get("task") == "classification"


def _inputs(spec, data: str) -> tuple[list[str], str]:
    from components.common import io

    if io.is_remote(data):
        raise PredictError(f"--data {data}: predict reads local files (Arrow's readers); copy the data to "
                           "this machine first")
    if not io.exists(data):
        raise PredictError(f"--data {data}: no such file or folder")
    files = sorted(io.join(data, n) for n in io.listdir(data) if not n.startswith((".", "_"))) \
        if io.isdir(data) else [data]
    files = [f for f in files if io.isfile(f)]
    if not files:
        raise PredictError(f"--data {data}: the folder has no files")
    kinds = {FORMATS.get(os.path.splitext(f)[1].lower(), spec.data.format) for f in files}
    if len(kinds) > 1:
        raise PredictError(f"--data {data}: mixed formats ({', '.join(sorted(kinds))}); give one format "
                           "per run")
    return files, kinds.pop()


def _columns_of(path: str, kind: str, spec) -> list[str]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return _header(path, spec.data.delimiter, spec.data.encoding)


def _header(path: str, delimiter: str, encoding: str) -> list[str]:
    """The CSV's column names, as ExampleGen's read_header reads them (its module imports TFX's
    components, TFMA among them: 2-4 s of imports that predict does not need)."""
    import csv
    import io as pyio

    from components.common import io

    return next(csv.reader(pyio.StringIO(io.first_line(path, encoding)), delimiter=delimiter), [])


def _work_dir(output: str) -> str:
    import uuid

    from components.common import io

    folder = os.path.dirname(os.path.abspath(output))
    io.makedirs(folder)
    work = os.path.join(folder, f".{os.path.basename(output)}.parts-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    io.makedirs(work)
    return work


def _remove(path: str) -> None:
    from components.common import io

    io.rmtree(path)


# -- the Beam pipeline -------------------------------------------------------------------------

def _run_beam(spec, model: _Model, files: list[str], kind: str, keep: list[str], skip_bad_rows: bool,
              work: str, out) -> dict:
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    reader = _ReadBlocks(model.kinds, kind, keep, skip_bad_rows, spec.data.delimiter, spec.data.encoding)
    options = PipelineOptions(list(spec.runtime.beam_pipeline_args))
    with beam.Pipeline(options=options) as pipeline:
        blocks = (pipeline | "Files" >> beam.Create(list(enumerate(files)))
                  | "Read" >> beam.ParDo(reader))
        scored = blocks | "Score" >> RunInference(_SignatureHandler(model.path, model.classification))
        counts = scored | "Write" >> beam.ParDo(_WritePart(work, model.plan.get("classes") or []))
        _ = (counts | "Sum" >> beam.CombineGlobally(_sum_counts)
             | "Counts" >> beam.Map(_write_counts, os.path.join(work, "counts.json")))
        _ = (blocks | "Columns" >> beam.Map(lambda block: block["stats"])
             | "Statistics" >> beam.CombineGlobally(_Statistics())
             | "WriteStatistics" >> beam.Map(_write_statistics, os.path.join(work, "statistics.pb")))
    from components.common import io

    counts = io.read_json(os.path.join(work, "counts.json"))
    print(f"predict: scored {counts['rows']:,} rows", file=out, flush=True)
    return counts


def _sum_counts(values) -> dict:
    total = {"rows": 0, "bad": 0}
    for value in values:
        for key in total:
            total[key] += value.get(key, 0)
    return total


def _write_counts(counts: dict, path: str) -> None:
    from components.common import io

    io.write_json(path, counts)


class _ReadBlocks(beam.DoFn):
    """Per file: blocks of rows as {file, block, first, records (serialized tf.Examples), kept
    (an Arrow table: row + --keep columns), bad (rows skipped), stats (the block's typed columns
    as TFDV's RecordBatch)}."""

    def __init__(self, kinds: dict[str, str], kind: str, keep: list[str], skip_bad_rows: bool,
                 delimiter: str, encoding: str):
        super().__init__()
        self.kinds, self.kind, self.keep, self.skip = kinds, kind, keep, skip_bad_rows
        self.delimiter, self.encoding = delimiter, encoding

    def setup(self):
        import threading

        self._local = threading.local()  # a _Statistics per thread: TFDV's generators are not shared

    def process(self, element):
        index, path = element
        jobs = {"csv": self._csv, "parquet": self._parquet, "tfrecord": self._tfrecord}[self.kind](path)
        for number, block in enumerate(_ahead(jobs, self._ready)):
            block["file"], block["block"], block["path"] = index, number, path
            yield block

    def _ready(self, job) -> dict:
        """A block read (`job`: its encoding) with its partial statistics in place of its typed
        columns."""
        block = job()
        if getattr(self._local, "statistics", None) is None:
            self._local.statistics = _Statistics()
        block["stats"] = self._local.statistics.partial(block["stats"])
        return block

    def _csv(self, path: str):
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        columns = _header(path, self.delimiter, self.encoding)
        read = pa_csv.ReadOptions(column_names=columns, skip_rows=1, block_size=BLOCK_BYTES,
                                  encoding="utf8" if self.encoding == "utf-8" else self.encoding)
        parse = pa_csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
        convert = pa_csv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                        strings_can_be_null=True, quoted_strings_can_be_null=True,
                                        null_values=[""])
        line = 2
        try:
            # local-only: Arrow's own reader of a local file (remote data: not supported by predict)
            for batch in pa_csv.open_csv(path, read_options=read, parse_options=parse,
                                         convert_options=convert):
                if batch.num_rows:
                    yield functools.partial(self._encode, path, line, "line", pa.Table.from_batches([batch]))
                    line += batch.num_rows
        except pa.ArrowInvalid as error:
            raise PredictError(f"CSV file {path}: {error}") from None

    def _parquet(self, path: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        row = 1
        # local-only: Arrow's reader of a local file
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BLOCK_ROWS):
            table = pa.Table.from_batches([batch])
            strings = pa.table({name: table[name] if pa.types.is_string(table[name].type)
                                else table[name].cast(pa.string()) for name in table.column_names})
            yield functools.partial(self._encode, path, row, "row", strings)
            row += batch.num_rows

    def _tfrecord(self, path: str):
        import tensorflow as tf

        compression = "GZIP" if path.endswith(".gz") else ""
        row = 1
        for batch in tf.data.TFRecordDataset(path, compression_type=compression).batch(BLOCK_ROWS):
            records = list(batch.numpy())
            yield functools.partial(self._examples, records, row)
            row += len(records)

    def _examples(self, records: list[bytes], row: int) -> dict:
        import pyarrow as pa

        kept = {"row": pa.array(range(row, row + len(records)), pa.int64())}
        if self.keep:
            kept.update(_first_values(records, self.keep))
        return {"records": records, "kept": pa.table(kept), "bad": 0, "stats": _decoded(records),
                "bytes": sum(map(len, records))}

    def _encode(self, path: str, first: int, unit: str, table) -> dict:
        """A block of cells (strings, null when empty) as serialized examples with the schema's
        types; rows whose cells do not parse are an error, or skipped and counted."""
        import numpy as np
        import pyarrow as pa

        from components.example_gen import wire

        names = sorted(n for n in table.column_names if n in self.kinds)
        kinds = [self.kinds[n] for n in names]
        cells = [table[n].combine_chunks() for n in names]
        rows = pa.array(np.arange(first, first + table.num_rows), pa.int64())
        try:
            values = wire.typed_values(kinds, cells)
            bad = 0
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a cell that does not parse: find it
            broken = self._broken(path, first, unit, names, kinds, cells)
            keep = pa.array(~broken)
            table, rows = table.filter(keep), rows.filter(keep)
            cells = [column.filter(keep) for column in cells]
            values, bad = wire.typed_values(kinds, cells), int(broken.sum())
        serialized = wire.serialize_values(names, kinds, values) if table.num_rows else None
        records = wire.record_list(serialized) if serialized is not None else []
        kept = pa.table({"row": rows, **{c: table[c].combine_chunks() for c in self.keep}})
        return {"records": records, "kept": kept, "bad": bad, "stats": _typed_batch(names, values),
                "bytes": serialized.nbytes if serialized is not None else 0}

    def _broken(self, path: str, first: int, unit: str, names: list[str], kinds: list[str], cells: list):
        """The rows with a cell that does not parse as its column's type; PredictError at the
        first unless --skip-bad-rows."""
        import numpy as np

        from components.example_gen import wire

        broken = np.zeros(len(cells[0]), dtype=bool)
        for name, kind, column in zip(names, kinds, cells):
            if kind not in (wire.INT, wire.FLOAT):
                continue
            bad = _unparsable(column, kind)
            if bad.any() and not self.skip:
                at = int(np.flatnonzero(bad)[0])
                raise PredictError(
                    f"{path}: {unit} {first + at}: column {name!r} holds {column[at].as_py()!r}, not "
                    f"{'an integer' if kind == wire.INT else 'a number'} as the model's schema says; fix "
                    "or remove the row, or pass --skip-bad-rows to skip (and count) such rows")
            broken |= bad
        return broken


def _typed_batch(names: list[str], values: list):
    """Typed columns as the RecordBatch StatisticsGen gives TFDV: one-value lists, an empty cell
    missing (components/common/columns.py, components/statistics_gen/counts.py)."""
    import pyarrow as pa

    from components.common.columns import _as_lists
    from components.statistics_gen.counts import empty_as_missing

    return empty_as_missing(pa.RecordBatch.from_arrays([_as_lists(v) for v in values], names=names))


def _decoded(records: list[bytes]):
    """Serialized examples as TFDV's RecordBatch (tfx_bsl's decoder), an empty list missing."""
    from tfx_bsl.coders import example_coder

    from components.statistics_gen.counts import empty_as_missing

    return empty_as_missing(example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records))


def _ahead(jobs, run, depth: int = AHEAD):
    """`run(job)` of each job in input order, `depth` jobs ahead in threads: while this thread
    scores and writes block k (TensorFlow's call, without the GIL), blocks k+1.. are encoded and
    their statistics gathered (Arrow, numpy and TFDV's generators, mostly without the GIL), so on
    2 cores they overlap. The jobs are read here in order (Arrow's reader, its own threads). At most
    `depth` blocks more in memory (about 8 MB of CSV each): peak memory stays flat in the rows.
    A job's error is raised in input order (the first bad row is the first named)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(depth, thread_name_prefix="predict-encode") as pool:
        for job in jobs:
            pending.append(pool.submit(run, job))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Statistics(beam.CombineFn):
    """TFDV's statistics of RecordBatches with its in-memory generators (StatisticsGen's in-process
    path): each batch's partial statistics (`partial`, in the reader), merged as TFDV's combiners
    merge them."""

    def _generators(self):
        if getattr(self, "_cached", None) is None:
            from tensorflow_data_validation.statistics import stats_impl
            from tensorflow_data_validation.statistics.stats_options import StatsOptions

            self._options = StatsOptions()
            self._cached = stats_impl.get_generators(self._options, in_memory=True)
        return self._cached

    def create_accumulator(self):
        return None

    def partial(self, batch):
        """The partial statistics (one accumulator per generator) of one RecordBatch."""
        from tensorflow_data_validation.statistics import stats_impl

        generators = self._generators()
        return stats_impl.generate_partial_statistics_in_memory(batch, self._options, generators)

    def add_input(self, accumulator, more):
        return more if accumulator is None else self._merge(accumulator, more)

    def _merge(self, a, b):
        return [generator.merge_accumulators([x, y]) for generator, x, y in zip(self._generators(), a, b)]

    def merge_accumulators(self, accumulators):
        merged = None
        for accumulator in accumulators:
            if accumulator is not None:
                merged = accumulator if merged is None else self._merge(merged, accumulator)
        return merged

    def extract_output(self, accumulator):
        import pyarrow as pa
        from tensorflow_data_validation.statistics import stats_impl

        generators = self._generators()
        if accumulator is None:
            accumulator = stats_impl.generate_partial_statistics_in_memory(
                pa.RecordBatch.from_arrays([], []), self._options, generators)
        return stats_impl.extract_statistics_output(accumulator, generators).SerializeToString()


def _write_statistics(data: bytes, path: str) -> None:
    from components.common import io

    io.write_bytes(path, data)


def _unparsable(column, kind: str):
    """Which non-empty cells of a string column do not parse as `kind` (INT or FLOAT)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from components.example_gen import wire

    try:
        wire.values_of(column, kind)
        return np.zeros(len(column), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    number = (r"^[+-]?[0-9]+$" if kind == wire.INT else
              r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)$")
    ok = pc.match_substring_regex(pc.utf8_trim_whitespace(column), number, ignore_case=True)
    return (column.is_valid().to_numpy(zero_copy_only=False)
            & ~ok.fill_null(True).to_numpy(zero_copy_only=False))


def _first_values(records: list[bytes], names: list[str]) -> dict:
    """The first value of each of `names` in serialized examples (null where absent)."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    found = {}
    for name in names:
        index = batch.schema.get_field_index(name)
        if index < 0:
            found[name] = pa.nulls(len(records))
            continue
        found[name] = pa.array([v[0] if v else None for v in batch.column(index).to_pylist()])
    return found


class _SignatureHandler(ModelHandler):
    """Beam's RunInference model handler: the version's `serving_default`, called on a whole
    block of serialized examples (one element = one block), in chunks of CHUNK."""

    def __init__(self, path: str, classification: bool):
        super().__init__()
        self.path, self.classification = path, classification

    def load_model(self):
        from components.pusher.serving_check import load_saved_model

        return load_saved_model(self.path).signatures["serving_default"]

    def run_inference(self, batch, model, inference_args=None):
        import numpy as np
        import tensorflow as tf

        key = "probabilities" if self.classification else "prediction"
        for block in batch:
            records = block["records"]
            outputs = [model(examples=tf.constant(records[i:i + CHUNK]))[key].numpy()
                       for i in range(0, len(records), CHUNK)]
            found = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
            yield PredictionResult({k: v for k, v in block.items() if k not in ("records", "stats")}, found)

    def get_num_bytes(self, batch) -> int:
        """The serialized examples' bytes (Beam's default pickles the whole batch to count them:
        1.5 s per 1M rows)."""
        return sum(block["bytes"] for block in batch)

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}


class _WritePart(beam.DoFn):
    """Each scored block as a numbered part (an uncompressed Arrow IPC file: written and read back
    at memory speed, where Parquet's encoding cost ~1 s per 1M rows twice); yields its counts."""

    def __init__(self, work: str, classes: list[str]):
        super().__init__()
        self.work, self.classes = work, classes
        self.started, self.rows = None, 0

    def setup(self):
        self.started = time.perf_counter()

    def process(self, result):
        import numpy as np
        import pyarrow as pa

        block, outputs = result.example, result.inference
        table = block["kept"]
        if self.classes:
            names = np.array(self.classes, dtype=object)
            table = table.append_column("predicted_class", pa.array(
                names[outputs.argmax(axis=1)] if len(outputs) else [], pa.string()))
            for i, name in enumerate(self.classes):
                table = table.append_column(f"probability_{name}", pa.array(outputs[:, i], pa.float32()))
        else:
            table = table.append_column("prediction", pa.array(outputs.reshape(-1), pa.float32()))
        part = os.path.join(self.work, f"part-{block['file']:06d}-{block['block']:08d}.arrow")
        # local-only: a part in the local work folder, joined after
        with pa.OSFile(part, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:  # local-only
            writer.write_table(table)
        self.rows += table.num_rows
        seconds = max(time.perf_counter() - self.started, 1e-9)
        print(f"predict: {self.rows:,} rows scored ({self.rows / seconds:,.0f} rows/s)", flush=True)
        yield {"rows": table.num_rows, "bad": block["bad"]}


def _join_parts(work: str, output: str, suffix: str) -> int:
    """The parts in input order into `output`, under a temporary name renamed when complete."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from components.common import io

    parts = sorted(n for n in io.listdir(work) if n.startswith("part-"))
    folder, name = os.path.dirname(os.path.abspath(output)), os.path.basename(output)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    rows, writer = 0, None
    try:
        for name in parts:
            with pa.OSFile(os.path.join(work, name)) as source:  # local-only: the work folder's parts
                table = pa.ipc.open_file(source).read_all()
            if writer is None:
                writer = (pq.ParquetWriter(tmp, table.schema) if suffix == ".parquet"
                          else pa_csv.CSVWriter(tmp, table.schema))
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            raise PredictError(f"no rows to score in the input of {output}")
    finally:
        if writer is not None:
            writer.close()
    io.rename(tmp, output, overwrite=True)
    return rows


# -- drift ---------------------------------------------------------------------------------------

def _drift(spec, model: _Model, statistics_path: str) -> tuple[list[dict], list[dict]]:
    """(drift findings, other schema anomalies) of the input against the version's
    training statistics and schema. The label and data.exclude are not compared."""
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

    from components.common import io, serving_dir
    from pipelines.spec.models import DriftSection

    train_path = io.join(model.path, serving_dir.STATISTICS_FILE)
    if not io.exists(statistics_path) or not io.exists(train_path):
        return [], [{"feature": "(dataset)", "kind": "NO_STATISTICS",
                     "summary": f"no training statistics in {model.path}: drift not measured"}]
    current = statistics_pb2.DatasetFeatureStatisticsList.FromString(io.read_bytes(statistics_path))
    train = statistics_pb2.DatasetFeatureStatisticsList.FromString(io.read_bytes(train_path))
    schema = text_format.Parse(model.schema_text, schema_pb2.Schema())
    drop = {model.plan.get("label")} | set(spec.data.exclude)
    kept = [f for f in schema.feature if f.name not in drop]
    del schema.feature[:]
    schema.feature.extend(kept)
    drift = spec.validation.drift or DriftSection()
    for feature in schema.feature:
        if feature.type == schema_pb2.BYTES:
            feature.drift_comparator.infinity_norm.threshold = drift.categorical_l_infinity
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = drift.numeric_jensen_shannon
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=train)
    kinds = {"COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"}
    findings, others = [], []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            if feature in drop:  # not scored: the label, excluded columns
                continue
            entry = {"feature": feature, "kind": kind, "summary": reason.short_description,
                     "detail": reason.description}
            (findings if kind in kinds else others).append(entry)
    return findings, others


def _drift_lines(findings: list[dict], anomalies: list[dict], rows: int, spec) -> list[str]:
    from pipelines.spec.models import DriftSection

    drift = spec.validation.drift or DriftSection()
    limits = (f"L-infinity > {drift.categorical_l_infinity} for categorical, Jensen-Shannon > "
              f"{drift.numeric_jensen_shannon} for numeric features, on {rows:,} rows")
    lines = [f"drift: {f['feature']}: {f['detail']}" for f in findings] or [f"drift: none ({limits})"]
    if findings:
        lines.append(f"drift: {len(findings)} feature(s) drifted from the training data ({limits})")
    lines += [f"schema: {a['feature']}: {a['kind']}: {a.get('detail') or a['summary']}" for a in anomalies]
    return lines


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Drift of {{ data }} against version {{ version }}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.bad{color:#a00}</style></head><body>
<h1>Drift of the scored data</h1>
<p>{{ data }} against the training statistics of <code>{{ path }}</code> (version {{ version }}),
on {{ rows }} rows.</p>
{% if findings %}<p class="bad" id="verdict">{{ findings|length }} feature(s) drifted.</p>
{% else %}<p id="verdict">No feature drifted beyond its threshold.</p>{% endif %}
<table id="drift"><tr><th>feature</th><th>kind</th><th>detail</th></tr>
{% for f in findings + anomalies %}<tr><td>{{ f.feature }}</td><td>{{ f.kind }}</td>
<td>{{ f.detail or f.summary }}</td></tr>{% endfor %}
</table></body></html>
"""


def _write_drift_page(path: str, findings: list[dict], anomalies: list[dict], model: _Model, data: str,
                      rows: int) -> None:
    import jinja2

    from components.common import io

    page = jinja2.Environment(autoescape=True).from_string(_PAGE).render(
        findings=findings, anomalies=anomalies, path=model.path, version=model.version, data=data,
        rows=f"{rows:,}")
    io.write_text(path, page)
