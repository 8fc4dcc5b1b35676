"""The Batching stage on the penguin run's real examples: a seeded global shuffle into fixed-size
batches, and the same preprocessing in numpy (batches) and in the serving graph."""

from __future__ import annotations

import glob

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from components.batching.executor import (
    EncodeSplit,
    WriteBatches,
    WriteBlocks,
    encode_in_memory,
    write_blocks_in_memory,
)
from components.common.features import FeaturePlan, build_plan
from components.common.payloads import parse_batch
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(penguin_run):
    pipeline = penguin_run.root / "pipeline"
    examples = glob.glob(str(pipeline / "ExampleGen" / "examples" / "*" / "Split-train" / "*"))
    statistics = pipeline / "StatisticsGen" / "statistics"
    stats_file = glob.glob(str(statistics / "*" / "Split-train" / "FeatureStats.pb"))[0]
    with open(stats_file, "rb") as f:
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    schema = io_utils.SchemaReader().read(str(REPO / "schemas" / "penguin" / "schema.pbtxt"))
    plan = build_plan(schema, stats.datasets[0], "species", ["year"])
    records = [r.numpy() for r in tf.data.TFRecordDataset(examples, compression_type="GZIP")]
    return examples[0], schema, plan, records


def write(tmp_path, inputs, seed=42, batch_size=16, drop_remainder=False, rows_hint=0):
    pattern, schema, plan, _ = inputs
    target = tmp_path / f"seed{seed}-bs{batch_size}-{drop_remainder}-{rows_hint}"
    with beam.Pipeline() as pipeline:
        _ = pipeline | WriteBatches(pattern, str(target), plan, schema.SerializeToString(), batch_size, seed,
                                    drop_remainder, rows_hint=rows_hint)
    batches = [parse_batch(record.numpy(), plan.columns)
               for record in tf.data.TFRecordDataset(sorted(glob.glob(str(target / "batches-*"))))]
    return batches, int(open(target / "count.txt").read())


def rows(batches):
    return np.concatenate([np.concatenate([x, y[:, None]], axis=1) for x, y in batches])


def test_global_shuffle_is_seeded_and_batches_have_a_fixed_size(tmp_path, inputs):
    _, _, _, records = inputs
    first, count = write(tmp_path / "a", inputs)
    again, _ = write(tmp_path / "b", inputs)
    other, _ = write(tmp_path / "c", inputs, seed=7)
    assert count == len(records)  # every train example has a species
    sizes = sorted(len(y) for _, y in first)
    assert sizes[1:] == [16] * (len(sizes) - 1) and 1 <= sizes[0] <= 16
    assert sum(sizes) == count
    key = lambda table: table[np.lexsort(table.T)]
    ordered = lambda bs: rows(sorted(bs, key=lambda b: tuple(b[1])))
    np.testing.assert_array_equal(ordered(first), ordered(again))  # same seed, same batches
    assert not np.array_equal(ordered(first), ordered(other))  # another seed, other batches
    np.testing.assert_array_equal(key(rows(first)), key(rows(other)))  # ... of the same examples
    labels = rows(first)[:, -1]
    by_position = [labels[i:i + 16] for i in range(0, len(labels), 16)]
    assert any(len(set(chunk)) > 1 for chunk in by_position)  # species are mixed within batches


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_the_batches_do_not_depend_on_how_many_buckets_the_sort_used(tmp_path, inputs, drop_remainder):
    """Buckets are key ranges of one global order: with 8 buckets of ~30 rows, most batches of 16
    straddle two buckets and are joined again; they must be the very batches one bucket gives."""
    one, count = write(tmp_path, inputs, drop_remainder=drop_remainder)
    eight, _ = write(tmp_path, inputs, drop_remainder=drop_remainder, rows_hint=8 * 65536 - 1)
    by_first_row = lambda bs: sorted(bs, key=lambda b: tuple(b[0][0]))
    assert len(one) == len(eight) == (count // 16 if drop_remainder else -(-count // 16))
    for (x1, y1), (x8, y8) in zip(by_first_row(one), by_first_row(eight)):
        np.testing.assert_array_equal(x1, x8)
        np.testing.assert_array_equal(y1, y8)


def test_drop_remainder(tmp_path, inputs):
    batches, count = write(tmp_path, inputs, batch_size=50, drop_remainder=True)
    assert all(len(y) == 50 for _, y in batches) and len(batches) == count // 50


@pytest.mark.parametrize("rows_hint,drop_remainder",
                         [(0, False), (8 * 65536 - 1, False), (8 * 65536 - 1, True)])
def test_in_memory_batching_writes_the_beam_paths_files_byte_for_byte(tmp_path, inputs, rows_hint,
                                                                      drop_remainder):
    """Small data is batched without a Beam pipeline (Executor.IN_MEMORY_BYTES): the same DoFns on
    the same blocks must write the same files, straddling batches (8 buckets) and the validation
    carve included."""
    pattern, schema, plan, _ = inputs
    beam_root, memory_root = tmp_path / "beam", tmp_path / "memory"
    with beam.Pipeline() as pipeline:
        encoded = pipeline | EncodeSplit(pattern, plan, schema.SerializeToString(), 42,
                                         validation_fraction=0.2)
        for split in ("train", "validation"):
            _ = encoded[split] | f"Write[{split}]" >> WriteBlocks(str(beam_root / split), plan.columns, 16,
                                                                  42, drop_remainder, rows_hint=rows_hint)
    encoded, lost = encode_in_memory(pattern, plan, schema.SerializeToString(), 42, 0.2)
    assert lost == (0, 0)
    for split in ("train", "validation"):
        write_blocks_in_memory(encoded[split], str(memory_root / split), plan.columns, 16, 42, drop_remainder,
                               rows_hint=rows_hint)
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files(beam_root) == files(memory_root)
    assert any("straddling" in name for name in files(beam_root)) == bool(rows_hint)
    for name in files(beam_root):
        assert (beam_root / name).read_bytes() == (memory_root / name).read_bytes(), name


def test_numpy_batches_and_the_serving_graph_preprocess_alike(inputs):
    _, schema, plan, records = inputs
    decoded = example_coder.ExamplesToRecordBatchDecoder(schema.SerializeToString()).DecodeBatch(records)
    x_numpy, _, _ = plan.encode(decoded)
    assert x_numpy.shape == (len(records), plan.columns)
    features = tf.io.parse_example(tf.constant(records), plan.raw_feature_spec())
    x_tf = plan.transform(features, plan.lookup_tables()).numpy()
    np.testing.assert_allclose(plan.expand(tf.constant(x_numpy)).numpy(), x_tf, rtol=1e-5, atol=1e-6)
    assert x_tf.shape == (len(records), plan.width) and set(np.unique(x_tf[:, len(plan.numeric):])) == {0, 1}
    assert np.isnan(x_numpy).sum() == 0  # missing measurements were imputed
    assert FeaturePlan.from_json(plan.to_json()) == plan


def test_standardized_with_the_statistics_means(inputs):
    _, schema, plan, records = inputs
    decoded = example_coder.ExamplesToRecordBatchDecoder(schema.SerializeToString()).DecodeBatch(records)
    x, _, _ = plan.encode(decoded)
    numeric = x[:, : len(plan.numeric)]
    assert np.abs(numeric.mean(axis=0)).max() < 0.05  # mean 0 on the split the statistics came from
    assert np.abs(numeric.std(axis=0) - 1).max() < 0.05
    assert [f.name for f in plan.categorical] == ["island", "sex"]
    assert plan.classes == ["Adelie", "Chinstrap", "Gentoo"] and plan.width == 4 + 4 + 3
    assert plan.label == "species" and plan.task == "classification"


def _stats_and_schema(frame):
    import tensorflow_data_validation as tfdv

    stats = tfdv.generate_statistics_from_dataframe(frame, tfdv.StatsOptions(num_rank_histogram_buckets=1000))
    schema = tfdv.infer_schema(stats)
    for feature in schema.feature:  # no curated domains: vocabularies come from the statistics
        feature.ClearField("domain")
    del schema.string_domain[:]
    return stats.datasets[0], schema


def test_vocabulary_keeps_every_value_not_only_the_top_20():
    import pandas as pd

    frame = pd.DataFrame({"city": [f"city-{i % 50}" for i in range(500)], "y": ["a", "b"] * 250})
    stats, schema = _stats_and_schema(frame)
    plan = build_plan(schema, stats, "y", [])
    assert len(plan.categorical[0].vocabulary) == 50


def test_integer_classes_start_at_the_smallest_observed_label():
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(30, dtype=float), "y": [3, 4, 5] * 10})
    stats, schema = _stats_and_schema(frame)
    plan = build_plan(schema, stats, "y", [], task="classification")
    assert plan.classes == ["3", "4", "5"]  # not phantom classes 0, 1, 2


def test_first_values_of_list_columns_sliced_or_with_null_rows():
    """The value a row's feature has for encoding: its first, null for no value or a null row,
    whatever an Arrow slice or a null row leaves under the column (the fast path: one value in
    every row, as ExampleGen writes a CSV's)."""
    import pyarrow as pa

    from components.common.features import first_values

    values = pa.array([b"a", b"b", b"c", b"d"])
    null_second = pa.array([False, True, False, False])
    one_each = pa.ListArray.from_arrays(pa.array([0, 1, 2, 3, 4], pa.int32()), values)
    assert first_values(one_each, 4).to_pylist() == [b"a", b"b", b"c", b"d"]
    assert first_values(one_each.slice(1), 3).to_pylist() == [b"b", b"c", b"d"]
    assert first_values(pa.ListArray.from_arrays(pa.array([0, 1, 2, 3, 4], pa.int32()), values,
                                                 mask=null_second), 4).to_pylist() == [b"a", None, b"c", b"d"]
    ragged = pa.ListArray.from_arrays(pa.array([0, 1, 2, 2, 4], pa.int32()), values, mask=null_second)
    assert first_values(ragged, 4).to_pylist() == [b"a", None, None, b"c"]
    assert first_values(ragged.slice(2), 2).to_pylist() == [None, b"c"]
    assert first_values(None, 2).to_pylist() == [None, None]
