"""This project's Arrow-based CSV ExampleGen against TFX's own CsvExampleGen, both run by TFX on the
same files: the same examples (features, types, values) in the same splits; its wire-format
encoder against protobuf's own serializer; its StatisticsGen (block reads) against TFX's."""

from __future__ import annotations

import shutil

import pytest
from tfx.dsl.components.base import executor_spec

from components.statistics_gen import executor as statistics_executor
from components.statistics_gen.component import StatisticsGen
from tests.conftest import PENGUIN_CSV

pytestmark = [pytest.mark.e2e]


def run_both(data_dir, root) -> dict:
    """{(generator, split): sorted parsed examples} after one TFX run of both ExampleGens, and
    {("statistics", generator): statistics} of this project's examples by both StatisticsGens."""
    import tensorflow as tf
    from tfx.components import CsvExampleGen as TfxCsvExampleGen
    from tfx.components import StatisticsGen as TfxStatisticsGen
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.example_gen.component import CsvExampleGen

    theirs = TfxCsvExampleGen(input_base=str(data_dir)).with_id("tfx")
    ours = CsvExampleGen(input_base=str(data_dir), input_config=None, output_config=None, range_config=None,
                         csv_options="{}").with_id("ours")
    statistics = [TfxStatisticsGen(examples=ours.outputs["examples"]).with_id("tfx_statistics"),
                  StatisticsGen(examples=ours.outputs["examples"]).with_id("ours_statistics"),
                  BeamStatisticsGen(examples=ours.outputs["examples"]).with_id("beam_statistics")]
    LocalDagRunner().run(tfx_pipeline.Pipeline(
        pipeline_name="compare", pipeline_root=str(root), components=[theirs, ours, *statistics],
        enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(root / "metadata.sqlite"))))

    def parsed(record: bytes) -> str:
        example = tf.train.Example.FromString(record)
        return str(sorted((name, feature.WhichOneof("kind"),
                           list(getattr(feature, feature.WhichOneof("kind")).value)
                           if feature.WhichOneof("kind") else None)
                          for name, feature in example.features.feature.items()))

    found = {}
    for node in ("tfx", "ours"):
        for split in ("train", "eval"):
            files = [str(p) for p in (root / node / "examples").glob(f"*/Split-{split}/*")]
            records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
            found[node, split] = sorted(parsed(r) for r in records)
            if node == "ours":  # written in protobuf's canonical form (what the split hash is taken of)
                assert all(tf.train.Example.FromString(r).SerializeToString(deterministic=True) == r
                           for r in records)
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for node in ("tfx", "ours", "beam"):
        for split in ("train", "eval"):
            path = next((root / f"{node}_statistics" / "statistics").glob(f"*/Split-{split}/FeatureStats.pb"))
            parsed = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
            found["statistics", node, split] = parsed
    return found


class BeamOnlyExecutor(statistics_executor.Executor):
    IN_MEMORY_BYTES = -1  # the Beam path (block reads) whatever the data's size


class BeamStatisticsGen(StatisticsGen):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(BeamOnlyExecutor)


def test_same_examples_as_tfx_csv_example_gen(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PENGUIN_CSV, data / "penguins.csv")  # string labels, missing values, float-formatted ints
    # the cases a reader gets wrong: an int column with one float, an empty column, a quoted field
    # over two lines, a quoted delimiter, negative and exponent numbers, an all-int column
    (data / "edge.csv").write_text(
        'species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n'
        'Adelie,"Tor,gersen",39.1,18.7,181,3750,"ma\nle",2007\n'
        'Gentoo,Biscoe,-4.5e1,,217,5000,,2008\n'
        'Chinstrap,Dream,46.5,17.9,192,3500,female,2009\n', encoding="utf-8")
    found = run_both(data, tmp_path / "root")
    for split in ("train", "eval"):
        assert found["ours", split] == found["tfx", split], split
    assert_typed_columns_decode_alike(sorted((tmp_path / "root" / "ours" / "examples").glob("*/Split-*/*")))
    assert len(found["ours", "train"]) + len(found["ours", "eval"]) == 344 + 3
    from google.protobuf import json_format

    for split in ("train", "eval"):  # the same statistics in memory, and from blocks of records on Beam
        files = [str(p) for p in (tmp_path / "root" / "ours" / "examples").glob(f"*/Split-{split}/*")]
        theirs = json_format.MessageToDict(tfdv_of_absent_cells(files))
        for path in ("ours", "beam"):
            ours = found["statistics", path, split]
            assert_close(json_format.MessageToDict(without_distinct(ours, files)), theirs, f"{path} {split}")
            assert ours.datasets[0].num_examples == len(found["ours", split])
        # TFX's StatisticsGen counts an empty cell (an empty list) as present; ours as missing
        sex = {node: next(f.string_stats.common_stats for f in found["statistics", node, split].datasets[0]
                          .features if f.path.step[0] == "sex") for node in ("tfx", "ours")}
        assert sex["tfx"].num_missing == 0 and sex["ours"].num_missing > 0, sex
        assert sex["tfx"].num_non_missing == sex["ours"].num_non_missing + sex["ours"].num_missing


def tfdv_of_absent_cells(files: list[str]):
    """TFDV's statistics (its in-memory generators, TFX's defaults) of the examples in `files`
    with each empty feature (an empty cell) left out of its example, as a missing value is in
    TFX's data model: what StatisticsGen must make of the examples with empty lists."""
    import tensorflow as tf
    from tensorflow_data_validation.statistics import stats_impl
    from tensorflow_data_validation.statistics.stats_options import StatsOptions
    from tfx_bsl.coders import example_coder

    records = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        for name in [n for n, f in example.features.feature.items()
                     if not len(getattr(f, f.WhichOneof("kind")).value) if f.WhichOneof("kind")]:
            del example.features.feature[name]
        records.append(example.SerializeToString())
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    return stats_impl.generate_statistics_in_memory(batch, StatsOptions())


def without_distinct(statistics, files: list[str]):
    """`statistics` less the distinct count of each integer feature (counts.py), each checked
    against the examples' own distinct values first."""
    import tensorflow as tf

    from components.common.features import DISTINCT, distinct_values

    values: dict[str, set] = {}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        for name, f in tf.train.Example.FromString(record.numpy()).features.feature.items():
            if f.WhichOneof("kind") == "int64_list":
                values.setdefault(name, set()).update(f.int64_list.value)
    copy = type(statistics)()
    copy.CopyFrom(statistics)
    for feature in copy.datasets[0].features:
        if feature.type == feature.INT:
            assert distinct_values(feature) == len(values[feature.path.step[0]]), feature.path
        kept = [c for c in feature.custom_stats if c.name != DISTINCT]
        del feature.custom_stats[:]
        feature.custom_stats.extend(kept)
    return copy


def assert_typed_columns_decode_alike(files) -> None:
    """ExampleGen's typed columns of each examples file are the RecordBatch tfx_bsl's decoder
    makes of the file's records (what StatisticsGen and Batching read instead of decoding)."""
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    from components.common import columns

    assert files and columns.cached([str(f) for f in files])
    for path in files:
        records = [r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]
        expected = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
        got = columns.decoded(str(path))
        assert got.schema == expected.schema, path
        assert got.equals(expected), path


@pytest.mark.parametrize("longest", [30, 100])  # strings padded to a row width, or not (wire.STRING_PADDING)
def test_typed_columns_are_what_the_decoder_makes_of_the_examples(tmp_path, longest):
    """Every value type of the block encoder (64-bit and padded integers, tiny, negative-zero and
    large floats, empty, long and non-ASCII strings, empty cells), through wire.serialize_values
    and columns.write, against tfx_bsl's decoding of the serialized examples."""
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf

    from components.common import columns
    from components.example_gen import wire

    rng = np.random.default_rng(1)
    n = 500
    ints = [None if rng.random() < 0.1 else str(int(v)) for v in rng.integers(-2**63, 2**63 - 1, n)]
    ints[:5] = ["0", "-1", " 42 ", str(2**63 - 1), str(-2**63)]
    floats = [None if rng.random() < 0.1 else repr(float(v)) for v in rng.normal(size=n) * 1e3]
    floats[:3] = ["1e-40", "-0.0", "3.4e38"]
    strings = [None if rng.random() < 0.1 else "é" * int(rng.integers(0, longest)) for _ in range(n)]
    strings[:3] = ["", "x" * 20000 if longest > 30 else "x" * 60, "a,b"]
    assert (max(len(v.encode()) for v in strings if v) > wire.STRING_PADDING) == (longest > 30)
    names, kinds = ["b_int", "a_float", "é_str"], [wire.INT, wire.FLOAT, wire.STRING]
    values = wire.typed_values(kinds, [pa.array(v, pa.string()) for v in (ints, floats, strings)])
    path = tmp_path / "examples" / "Split-train" / "data_tfrecord-00000-00000.gz"
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for record in wire.serialize_values(names, kinds, values).to_pylist():
            writer.write(record)
    columns.write(str(path), names, values)
    assert_typed_columns_decode_alike([path])


def assert_close(ours, theirs, where: str) -> None:
    """Equal, but floats to 1e-12 relative (sums over other batches round otherwise in the last bit)."""
    assert type(ours) is type(theirs), where
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs), where
        for key in ours:
            assert_close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-12), where
    else:
        assert ours == theirs, where


@pytest.mark.parametrize("longest", [30, 100])
def test_wire_format_is_protobufs_canonical_serialization(longest):
    """Every encoding path of the block encoder: empty cells of each type, negative, zero, 64-bit
    and padded integers, floats, empty, long (multi-byte length) and non-ASCII strings and
    feature names, a column without any value; byte for byte against protobuf. Strings of at most
    60 bytes are padded to a row width, longer ones joined by Arrow (wire.STRING_PADDING)."""
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf

    from components.example_gen import wire

    rng = np.random.default_rng(0)
    n = 600
    ints = [None if rng.random() < 0.1 else str(int(v)) for v in rng.integers(-2**63, 2**63 - 1, n)]
    ints[:7] = ["0", "-1", "127", "128", " 42 ", str(2**63 - 1), str(-2**63)]
    floats = [None if rng.random() < 0.1 else repr(float(v)) for v in rng.normal(size=n) * 1e3]
    floats[:4] = ["1e-40", "-0.0", "3.4e38", "1.00000005960464478"]  # the last: float32(float(s)) is 1.0
    strings = [None if rng.random() < 0.1 else "é" * int(rng.integers(0, longest)) for _ in range(n)]
    strings[:3] = ["", "x" * 20000 if longest > 30 else "x" * 60, "a,b"]
    assert (max(len(v.encode()) for v in strings if v) > wire.STRING_PADDING) == (longest > 30)
    names, kinds = ["b_int", "a_float", "é_str", "zz_empty"], [wire.INT, wire.FLOAT, wire.STRING,
                                                               wire.UNKNOWN]
    columns = [pa.array(ints, pa.string()), pa.array(floats, pa.string()), pa.array(strings, pa.string()),
               pa.nulls(n, pa.string())]
    got = wire.serialize_examples(names, kinds, columns).to_pylist()
    for row in range(n):
        example = tf.train.Example()
        feature = example.features.feature
        feature["b_int"].int64_list.SetInParent()
        feature["a_float"].float_list.SetInParent()
        feature["é_str"].bytes_list.SetInParent()
        feature["zz_empty"].SetInParent()
        if ints[row] is not None:
            feature["b_int"].int64_list.value.append(int(ints[row]))
        if floats[row] is not None:
            feature["a_float"].float_list.value.append(np.float32(float(floats[row])))
        if strings[row] is not None:
            feature["é_str"].bytes_list.value.append(strings[row].encode())
        assert got[row] == example.SerializeToString(deterministic=True), row


def test_statistics_in_this_process_only_where_beam_would_run_there():
    """StatisticsGen skips Beam above its size bound only where Beam would run the pipeline in this
    process anyway; worker processes and distributed runners keep the Beam path."""
    from components.common.beam import runs_in_this_process

    assert runs_in_this_process([])
    assert runs_in_this_process(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert runs_in_this_process(["--runner=DirectRunner", "--direct_running_mode", "multi_threading"])
    assert not runs_in_this_process(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert not runs_in_this_process(["--runner=DataflowRunner", "--project=p"])
    assert not runs_in_this_process(["--runner", "FlinkRunner"])


def test_tfrecord_files_are_tensorflows(tmp_path):
    """ExampleGen frames its records itself (wire.tfrecords: no TFRecordWriter call per record):
    byte for byte what TensorFlow's writer writes, and its gzip files read back by tf.data."""
    import numpy as np
    import tensorflow as tf

    from components.example_gen import wire
    from components.example_gen.executor import gzip_tfrecords

    rng = np.random.default_rng(0)
    records = [bytes(rng.integers(0, 256, int(n), dtype=np.uint8)) for n in rng.integers(0, 400, 3000)]
    records += [b"x" * 70000, b""]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    assert bytes(wire.tfrecords(records)) == (tmp_path / "tf.tfrecord").read_bytes()
    for name, part in (("all.gz", records), ("none.gz", [])):
        (tmp_path / name).write_bytes(gzip_tfrecords(part))
        read = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / name), compression_type="GZIP")]
        assert read == part


def test_types_guessed_in_this_process_are_the_full_passes_even_when_a_later_file_widens_them(tmp_path):
    """In this process ExampleGen guesses the column types from the first block and checks every
    block as it encodes it; a later file with a float in an int column and text in a column
    that was empty so far makes it start again. The files written (names, examples byte for byte,
    typed columns) are those of the Beam pipeline, which types every column over all files first;
    nothing of the discarded attempt is left."""
    import apache_beam as beam
    from pyarrow import feather
    from tfx.types import standard_component_specs

    from components.example_gen.executor import WriteCsvSplits

    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"{i},,{i * 2},{i % 2}\n" for i in range(60))
    (data / "a.csv").write_text("count,note,size,label\n" + rows)
    (data / "b.csv").write_text("count,note,size,label\n3.5,big,7,1\n4,,8,0\n")
    properties = {standard_component_specs.INPUT_BASE_KEY: str(data), "csv_options": "{}"}

    def written(where: str, run) -> dict:
        targets = [str(tmp_path / where / "examples" / f"Split-{s}") for s in ("train", "eval")]
        for target in targets:
            (tmp_path / where / "examples" / target.rsplit("/", 1)[1]).mkdir(parents=True)
        run(WriteCsvSplits(properties, "*.csv", targets, [2, 3]))
        root = tmp_path / where / "examples"
        return {str(p.relative_to(root)): (feather.read_table(p) if p.suffix == ".arrow" else p.read_bytes())
                for p in root.rglob("*") if p.is_file()}

    def on_beam(write):
        with beam.Pipeline() as pipeline:
            _ = pipeline | write

    here, beam_files = written("here", lambda write: write.run_here()), written("beam", on_beam)
    assert sorted(here) == sorted(beam_files) and any(name.endswith(".arrow") for name in here)
    for name, content in here.items():
        same = content == beam_files[name] if isinstance(content, bytes) else content.equals(beam_files[name])
        assert same, name
    import tensorflow as tf

    files = [str(tmp_path / "here" / "examples" / n) for n in here if n.endswith(".gz")]
    records = [tf.train.Example.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert len(records) == 62
    assert all(e.features.feature["count"].HasField("float_list") for e in records)  # widened from INT
    assert all(e.features.feature["note"].HasField("bytes_list") for e in records)  # from no value
    assert all(e.features.feature["size"].HasField("int64_list") for e in records)  # guessed right
