"""This project's Arrow-based CSV ExampleGen against TFX's own CsvExampleGen, both run by TFX on the
same files: the same examples (features, types, values) in the same splits."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import PENGUIN_CSV

pytestmark = [pytest.mark.e2e]


def run_both(data_dir, root) -> dict:
    """{(generator, split): sorted parsed examples} after one TFX run of both ExampleGens."""
    import tensorflow as tf
    from tfx.components import CsvExampleGen as TfxCsvExampleGen
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.example_gen.component import CsvExampleGen

    theirs = TfxCsvExampleGen(input_base=str(data_dir)).with_id("tfx")
    ours = CsvExampleGen(input_base=str(data_dir), input_config=None, output_config=None, range_config=None,
                         csv_options="{}").with_id("ours")
    LocalDagRunner().run(tfx_pipeline.Pipeline(
        pipeline_name="compare", pipeline_root=str(root), components=[theirs, ours], enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(root / "metadata.sqlite"))))

    def parsed(record: bytes) -> str:
        example = tf.train.Example.FromString(record)
        return str(sorted((name, feature.WhichOneof("kind"), list(getattr(feature, feature.WhichOneof("kind")).value)
                           if feature.WhichOneof("kind") else None)
                          for name, feature in example.features.feature.items()))

    found = {}
    for node in ("tfx", "ours"):
        for split in ("train", "eval"):
            files = [str(p) for p in (root / node / "examples").glob(f"*/Split-{split}/*")]
            records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
            found[node, split] = sorted(parsed(r) for r in records)
            if node == "ours":  # written in protobuf's canonical form (what the split hash is taken of)
                assert all(tf.train.Example.FromString(r).SerializeToString(deterministic=True) == r for r in records)
    return found


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
    assert len(found["ours", "train"]) + len(found["ours", "eval"]) == 344 + 3
