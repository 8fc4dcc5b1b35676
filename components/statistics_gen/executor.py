"""TFX's StatisticsGen executor, with the examples read a block of records at a time.

TFX reads ExampleGen's files with Beam's ReadFromTFRecord (one Python element per record, parsed
in Python), batches the records again and decodes each batch to an Arrow RecordBatch for TFDV:
for 1M rows of 11 columns, about 12 of StatisticsGen's 17 seconds go to reading. Here each file
is read by tf.data in blocks (components.common.examples) and each block is decoded by the same
tfx_bsl decoder into one RecordBatch, which TFDV's GenerateStatistics takes as it takes TFX's.
Everything else is TFX's executor: splits, stats options, sample rates, the output files.

Where ExampleGen wrote its typed columns beside the examples (components/common/columns.py), the
blocks are read from there, not decoded: the same RecordBatches, without tfx_bsl's decoding.

In this process, without a Beam pipeline: when ExampleGen's files of all splits together are
under IN_MEMORY_BYTES, or whatever their size when Beam would run the pipeline in this process
anyway (a DirectRunner in its default in_memory mode; not multi_processing, not a distributed
runner), the statistics are TFDV's in-memory generators (those of `generate_statistics_in_memory`)
fed CHUNK_BYTES of rows at a time, their accumulators merged as Beam's combiners merge them, so
memory stays flat in the data's size. Building and running TFDV's Beam graph costs about 3 s for
penguin's 344 rows, and 19.5 s against 1 s for 1M rows (667k train rows from the typed columns:
TFDV's generators alone take 0.9 s; Beam's per-element work over 2048-row blocks is the rest).
`tests/test_example_gen.py` compares both paths with TFX's StatisticsGen;
components.common.beam.IN_MEMORY_ENV=-1 forces the Beam path (benchmarks/scale.py --beam-only).

On both paths TFDV gets each RecordBatch with an empty list (an empty cell) made missing, and one
more generator, the distinct values of each integer feature (components/statistics_gen/counts.py:
TFDV counts an empty list as present, and has no distinct count for numbers).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from tfx.components.statistics_gen import executor as tfx_statistics
from tfx.components.util import tfxio_utils
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils
from tfx_bsl.coders import example_coder
from tfx_bsl.tfxio import tf_example_record

from components.common import columns, io
from components.common.beam import in_memory_bytes, runs_in_this_process
from components.common.examples import BLOCK, ReadRecordBlocks
from components.statistics_gen.counts import IntegerDistinct, empty_as_missing


class ExampleBlocks(tf_example_record.TFExampleRecord):
    """tfx_bsl's TFXIO of tf.Example files, whose BeamSource reads blocks of records."""

    def BeamSource(self, batch_size: int | None = None) -> beam.PTransform:
        patterns = self._file_pattern if isinstance(self._file_pattern, list) else [self._file_pattern]
        files = sorted(path for pattern in patterns for path in io.glob(pattern))
        schema = self._GetSchemaForDecoding()
        decoder = _Decode(schema.SerializeToString() if schema is not None else None)

        @beam.ptransform_fn
        def read(pipeline):
            files_ = (pipeline
                      | "Files" >> beam.Create(files)
                      | "Reshuffle" >> beam.Reshuffle())  # files to workers
            if schema is None and columns.cached(files):  # ExampleGen's typed columns: no decoding
                return files_ | "ReadColumns" >> beam.FlatMap(lambda path: _decoded_blocks([path]))
            return (files_
                    | "ReadBlocks" >> beam.ParDo(ReadRecordBlocks())
                    | "Decode" >> beam.ParDo(decoder))

        return read()  # pylint: disable=no-value-for-parameter


class _Decode(beam.DoFn):
    def __init__(self, schema: bytes | None):
        self._schema = schema

    def setup(self):
        self._decoder = example_coder.ExamplesToRecordBatchDecoder(self._schema)

    def process(self, records: list[bytes]) -> Iterator[pa.RecordBatch]:
        yield self._decoder.DecodeBatch(records)


@contextlib.contextmanager
def _block_reads() -> Iterator[None]:
    """TFX's executor gets its data source from tfxio_utils.get_split_tfxio: for tf.Example files,
    hand it ExampleBlocks on the same files and schema instead."""
    original = tfxio_utils.get_split_tfxio

    def get_split_tfxio(*args, **kwargs):
        source = original(*args, **kwargs)
        if type(source) is tf_example_record.TFExampleRecord and not source.raw_record_column_name:
            return ExampleBlocks(source._file_pattern, schema=source._schema,
                                 telemetry_descriptors=source.telemetry_descriptors)
        return source

    tfxio_utils.get_split_tfxio = get_split_tfxio
    tfx_statistics.tfdv = _WithCounts(tfx_statistics.tfdv)
    try:
        yield
    finally:
        tfxio_utils.get_split_tfxio = original
        tfx_statistics.tfdv = tfx_statistics.tfdv.module


class _WithCounts:
    """TFDV's module as TFX's executor uses it, whose GenerateStatistics first makes empty lists
    missing and adds the distinct integers generator (counts.py); anything else is TFDV's."""

    def __init__(self, module):
        self.module = module

    def __getattr__(self, name: str):
        return getattr(self.module, name)

    def GenerateStatistics(self, options):  # TFDV's name
        options.generators = [*(options.generators or []), IntegerDistinct()]
        statistics = self.module.GenerateStatistics(options)

        @beam.ptransform_fn
        def generate(batches):
            return (batches
                    | "EmptyAsMissing" >> beam.Map(empty_as_missing)
                    | "GenerateStatistics" >> statistics)

        return generate()  # pylint: disable=no-value-for-parameter


class Executor(tfx_statistics.Executor):
    # serialized (gzip) examples of all splits; above it, the in-process path is still taken where
    # Beam would run the pipeline in this process anyway (`runs_in_this_process`: a DirectRunner
    # not in multi_processing mode), since its memory does not grow with the data either
    IN_MEMORY_BYTES = in_memory_bytes(64 << 20)  # components.common.beam.IN_MEMORY_ENV overrides
    CHUNK_BYTES = 64 << 20  # decoded rows handed to TFDV's generators at once

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(input_dict[standard_component_specs.EXAMPLES_KEY])
        splits = artifact_utils.decode_split_names(examples.split_names)
        files = {split: io.glob(io.join(artifact_utils.get_split_uri([examples], split), "*"))
                 for split in splits}
        size = sum(io.size(path) for paths in files.values() for path in paths)
        in_process = self.IN_MEMORY_BYTES >= 0 and (
            size <= self.IN_MEMORY_BYTES or runs_in_this_process(self._beam_pipeline_args))
        if in_process and not _beam_only(exec_properties) and not input_dict.get(
                standard_component_specs.SCHEMA_KEY):
            return self._in_memory(examples, files, output_dict, exec_properties)
        with _block_reads():
            super().Do(input_dict, output_dict, exec_properties)

    def _in_memory(self, examples, files: dict[str, list[str]], output_dict: dict[str, list],
                   exec_properties: dict[str, Any]) -> None:
        """TFX's outputs (split names, span, sample rates, one FeatureStats.pb per split) from
        TFDV's in-memory statistics of each split: its generators fed CHUNK_BYTES of rows at a
        time and their accumulators merged (as Beam's combiners do), one chunk for small splits."""
        from tensorflow_data_validation.statistics import stats_impl
        from tensorflow_data_validation.statistics.stats_options import StatsOptions

        options_json = exec_properties.get(standard_component_specs.STATS_OPTIONS_JSON_KEY)
        options = StatsOptions.from_json(options_json) if options_json else StatsOptions()
        options.generators = [*(options.generators or []), IntegerDistinct()]
        statistics = artifact_utils.get_single_instance(output_dict[standard_component_specs.STATISTICS_KEY])
        statistics.split_names = artifact_utils.encode_split_names(list(files))
        statistics.span = examples.span
        statistics.set_json_value_custom_property(
            tfx_statistics.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME,
            json_utils.dumps({split: options.sample_rate or 1.0 for split in files}))
        for split, paths in files.items():
            generators = stats_impl.get_generators(options, in_memory=True)
            partial = None
            for batch in _chunks(_decoded_blocks(paths), self.CHUNK_BYTES):
                batch = empty_as_missing(batch)
                more = stats_impl.generate_partial_statistics_in_memory(batch, options, generators)
                partial = more if partial is None else [generator.merge_accumulators([a, b])
                                                        for generator, a, b in zip(generators, partial, more)]
            if partial is None:  # no rows
                partial = stats_impl.generate_partial_statistics_in_memory(
                    pa.RecordBatch.from_arrays([], []), options, generators)
            result = stats_impl.extract_statistics_output(partial, generators)
            io.write_bytes(io.join(artifact_utils.get_split_uri([statistics], split),
                                   tfx_statistics.DEFAULT_FILE_NAME), result.SerializeToString())


def _chunks(blocks: Iterator[pa.RecordBatch], limit: int) -> Iterator[pa.RecordBatch]:
    """Blocks joined into RecordBatches of about `limit` bytes (the last one smaller)."""
    pending, size = [], 0
    for block in blocks:
        pending.append(block)
        size += block.nbytes
        if size >= limit:
            yield _joined(pending)
            pending, size = [], 0
    if pending:
        yield _joined(pending)


def _joined(blocks: list[pa.RecordBatch]) -> pa.RecordBatch:
    table = pa.Table.from_batches(blocks).combine_chunks()
    return table.to_batches()[0] if table.num_rows else blocks[0]


def _decoded_blocks(paths: list[str]) -> Iterator[pa.RecordBatch]:
    """The files' examples decoded (no schema), in blocks of examples.BLOCK rows: read from
    ExampleGen's typed columns when every file has them (components/common/columns.py), else
    decoded from the records."""
    if columns.cached(paths):
        for path in paths:
            batch = columns.decoded(path)
            yield from (batch.slice(start, BLOCK) for start in range(0, batch.num_rows, BLOCK))
        return
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    yield from (decoder.DecodeBatch(block) for path in paths for block in ReadRecordBlocks().process(path))


def _beam_only(exec_properties: dict[str, Any]) -> bool:
    """Options that only TFX's Beam path implements."""
    return bool(json_utils.loads(exec_properties.get(standard_component_specs.EXCLUDE_SPLITS_KEY) or "null")
                or json_utils.loads(exec_properties.get(standard_component_specs.SAMPLE_RATE_BY_SPLIT_KEY)
                                    or "null")
                or exec_properties.get(standard_component_specs.SHARDED_STATS_OUTPUT_KEY))
