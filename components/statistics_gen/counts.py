"""What TFDV's statistics do not count as this project needs: an empty cell as missing, and the
distinct values of an integer column.

Missing. ExampleGen writes an empty CSV cell as an empty `float_list {}` / `int64_list {}` /
`bytes_list {}`, as TFX's CsvExampleGen does, and tfx_bsl decodes it as an empty list; TFDV counts
a row whose list is empty as present (with zero values), so its num_missing stayed 0 for a column
of empty cells, the inferred schema could not ask for presence and the anomaly gate could not see
a column emptying. Here every RecordBatch is handed to TFDV with an empty list turned into a null
(`empty_as_missing`): TFDV then counts the row as missing, and every statistic derived from it
(num_missing, num_non_missing, min/avg/max_num_values, the values-per-row histogram, the inferred
presence and value count) agrees. A row with values is untouched. This differs from TFX, where an
empty list is a present feature with no values (in data from CSV files there is no other way to
write "no value", so here it is missing, whatever the input format).

Distinct integers. TFDV's numeric statistics have no count of distinct values; the feature plan
needs one to refuse an integer identifier (a row number, a sequential id: unique on every row
and numbered densely, features.is_numeric_id) and to name a column with many values.
`IntegerDistinct` adds it to every integer feature as the custom statistic DISTINCT (exact up to
SKETCH_BUCKETS distinct values, a KMV sketch of tfx_bsl within about 1 % beyond), in both of
StatisticsGen's paths. Cost, measured on this shared machine: 1M rows x 5 integer columns of 1,000
values 0.25 s; making empty lists missing, 1M rows x 11 columns 0.2-0.3 s with 1 % empty cells,
about 6 ms per column without any.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from tensorflow_data_validation.statistics.generators import stats_generator
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.features import DISTINCT, DISTINCT_EXACT

SKETCH_BUCKETS = DISTINCT_EXACT  # the sketch counts exactly up to this many distinct values


def empty_as_missing(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with every empty list (an empty cell) made null (missing), other rows untouched."""
    arrays, changed = [], False
    for column in batch.columns:
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) or not len(column):
            arrays.append(column)
            continue
        offsets = column.offsets.to_numpy()
        empty = offsets[1:] == offsets[:-1]
        if column.null_count:
            empty |= ~column.is_valid().to_numpy(zero_copy_only=False)
        if empty.sum() == column.null_count:  # no empty list that is not already null
            arrays.append(column)
            continue
        start, end = int(offsets[0]), int(offsets[-1])
        kind = pa.LargeListArray if pa.types.is_large_list(column.type) else pa.ListArray
        arrays.append(kind.from_arrays(pa.array(offsets - start), column.values.slice(start, end - start),
                                       mask=pa.array(empty)))
        changed = True
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema) if changed else batch


class IntegerDistinct(stats_generator.CombinerStatsGenerator):
    """The distinct values of each integer feature (custom statistic DISTINCT); TFDV merges its
    output into the feature's other statistics. Per feature, the distinct values themselves
    (Arrow's hash kernel) while there are at most SKETCH_BUCKETS of them (exact, and cheap for the
    usual numeric column), then a KMV sketch of tfx_bsl fed from there on (an identifier, an
    amount: within about 1 %)."""

    def __init__(self, name: str = "IntegerDistinct", schema: Any = None):
        super().__init__(name, schema)

    def create_accumulator(self) -> dict[str, Any]:
        return {}  # name -> distinct values (pa.Array) or a KmvSketch

    def add_input(self, accumulator: dict[str, Any], batch: pa.RecordBatch) -> dict[str, Any]:
        import pyarrow.compute as pc

        for name, column in zip(batch.schema.names, batch.columns):
            if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
                continue
            if not pa.types.is_integer(column.type.value_type):
                continue
            offsets = column.offsets.to_numpy()
            values = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
            accumulator[name] = _add(accumulator.get(name), pc.unique(values) if len(values) else values)
        return accumulator

    def merge_accumulators(self, accumulators) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for accumulator in accumulators:  # into new values or sketches: an input is not changed
            for name, found in accumulator.items():
                merged[name] = _add(merged.get(name), found, copy=name not in merged)
        return merged

    def extract_output(self, accumulator: dict[str, Any]) -> statistics_pb2.DatasetFeatureStatistics:
        result = statistics_pb2.DatasetFeatureStatistics()
        for name in sorted(accumulator):
            found = accumulator[name]
            feature = result.features.add()
            feature.path.step.append(name)
            count = len(found) if isinstance(found, pa.Array) else found.Estimate()
            feature.custom_stats.add(name=DISTINCT, num=float(count))
        return result


def _add(kept: Any, more: Any, copy: bool = False) -> Any:
    """Distinct values `kept` (None, a pa.Array of distinct values, or a KmvSketch) with `more`
    (the same kinds) added: values while at most SKETCH_BUCKETS, else a sketch. `copy`: `kept`
    may not be changed (a sketch of another accumulator)."""
    import pyarrow.compute as pc
    from tfx_bsl.sketches import KmvSketch

    if kept is None:
        if not isinstance(more, pa.Array) and copy:
            sketch = KmvSketch(SKETCH_BUCKETS)
            sketch.Merge(more)
            return sketch
        return more
    if isinstance(kept, pa.Array) and isinstance(more, pa.Array):
        joined = pc.unique(pa.chunked_array([kept, more.cast(kept.type)]))
        joined = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
        if len(joined) <= SKETCH_BUCKETS:
            return joined
        kept, more = joined, None
    if isinstance(kept, pa.Array):  # past SKETCH_BUCKETS values: a sketch from here on
        sketch = KmvSketch(SKETCH_BUCKETS)
        sketch.AddValues(kept)
        kept = sketch
    if isinstance(more, pa.Array):
        if len(more):
            kept.AddValues(more)
    elif more is not None:
        kept.Merge(more)
    return kept
