"""Every Beam stage runs in separate SDK worker processes (issue 21, item 6): ExampleGen,
StatisticsGen (its Beam path) and Batching run on the penguin data once with Beam's default
in-process DirectRunner and once with `--direct_running_mode=multi_processing
--direct_num_workers=2` (the DoFns pickled to two worker processes over the Fn API, as Dataflow,
Flink and Spark run them), and write the same examples, statistics and batches."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from components.batching import executor as batching_executor
from tests.conftest import PENGUIN_CSV, REPO, write_spec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MODES = {"in_memory": ["--direct_running_mode=in_memory"],
         "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]}


def run_beam_stages(tmp_path: Path, mode: str) -> Path:
    """The spec's stages up to Batching through LocalDagRunner, in this process; StatisticsGen and
    Batching on their Beam paths (the penguin data is small enough for their in-memory ones)."""
    from tfx.dsl.compiler import constants
    from tfx.dsl.components.base import executor_spec
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils
    from tfx.orchestration.portable.tfx_runner import _make_pipeline_proto

    from components.common.beam import use_installed_tfx_on_direct_runner
    from pipelines.build.compiler import compile_pipeline, runtime_parameters
    from pipelines.runs.paths import RunPaths
    from pipelines.spec import load_spec
    from tests.test_example_gen import BeamOnlyExecutor

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(PENGUIN_CSV, data / "penguins.csv")
    args = ", ".join(f'"{arg}"' for arg in MODES[mode])
    spec = load_spec(write_spec(tmp_path, f"""
name: modes
data: {{path: {data}, label: species, exclude: [year]}}
schema: {{path: {REPO / "schemas" / "penguin" / "schema.pbtxt"}}}
batching: {{batch_size: 16, eval_batch_size: 64}}
runtime:
  beam_pipeline_args: [{args}]
""", name=f"{mode}.yaml"))
    root = tmp_path / mode
    root.mkdir()
    paths = RunPaths.of(spec, str(root))
    full = compile_pipeline(spec, paths)
    stages = {c.id: c for c in full.components}
    assert list(full.beam_pipeline_args) == MODES[mode]
    stages["StatisticsGen"].executor_spec = executor_spec.BeamExecutorSpec(BeamOnlyExecutor)
    stages["Batching"].executor_spec = executor_spec.BeamExecutorSpec(BeamOnlyBatching)
    keep = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate", "Batching"]
    for name in keep:  # the stages after Batching are not run
        stages[name]._downstream_nodes = {n for n in stages[name]._downstream_nodes if n.id in keep}
    use_installed_tfx_on_direct_runner()
    ir = _make_pipeline_proto(tfx_pipeline.Pipeline(
        pipeline_name=full.pipeline_info.pipeline_name, pipeline_root=full.pipeline_info.pipeline_root,
        components=[stages[name] for name in keep], enable_cache=False,
        metadata_connection_config=full.metadata_connection_config,
        beam_pipeline_args=list(full.beam_pipeline_args)))
    # the serving directory's digests, bound as the local runner binds them (pipelines/local/runner.py)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: f"modes-{mode}", **runtime_parameters(paths)})
    LocalDagRunner().run_with_ir(ir)
    return Path(full.pipeline_info.pipeline_root)


class BeamOnlyBatching(batching_executor.Executor):
    IN_MEMORY_BYTES = -1  # the Beam pipeline whatever the data's size


def outputs(pipeline_root: Path) -> dict:
    """The decoded content of ExampleGen's, StatisticsGen's and Batching's outputs, per split."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from components.batching.executor import PLAN_FILE
    from components.common.features import FeaturePlan
    from components.common.payloads import parse_batch

    found = {}
    for split in ("train", "eval"):
        examples = pipeline_root / "ExampleGen" / "examples"
        files = sorted(glob.glob(str(examples / "*" / f"Split-{split}" / "*")))
        records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        # the order of examples across files is not part of the design: compare them sorted
        found["examples", split] = sorted(json_format.MessageToJson(tf.train.Example.FromString(r),
                                                                    sort_keys=True) for r in records)
        statistics = pipeline_root / "StatisticsGen" / "statistics"
        stats = next(statistics.glob(f"*/Split-{split}/FeatureStats.pb"))
        found["statistics", split] = json_format.MessageToDict(
            statistics_pb2.DatasetFeatureStatisticsList.FromString(stats.read_bytes()))
        for dataset in found["statistics", split]["datasets"]:  # TFDV lists features in no set order
            dataset["features"].sort(key=lambda feature: json.dumps(feature["path"]))
    batches = next((pipeline_root / "Batching" / "batches").glob("*"))
    plan = FeaturePlan.from_json((batches / PLAN_FILE).read_text())
    found["plan"] = plan.to_json()
    for split in ("train", "validation", "eval"):
        folder = batches / f"Split-{split}"
        # the global shuffle's order is the design: batches in file order (bucket files, then the
        # straddling ones), and no _shuffle files left behind in either mode
        assert not (folder / "_shuffle").exists()
        files = sorted(str(p) for p in folder.glob("batches-*"))
        records = tf.data.TFRecordDataset(files)
        found["batches", split] = [parse_batch(r.numpy(), plan.columns) for r in records]
        found["count", split] = (folder / "count.txt").read_text()
    return found


def test_beam_stages_write_the_same_outputs_in_worker_processes(tmp_path):
    from tests.test_example_gen import assert_close

    results = {mode: outputs(run_beam_stages(tmp_path, mode)) for mode in MODES}
    local, workers = results["in_memory"], results["multi_processing"]
    assert sorted(map(str, local)) == sorted(map(str, workers))
    for split in ("train", "eval"):
        assert len(local["examples", split]) > 50
        assert local["examples", split] == workers["examples", split], split
        # floats to 1e-12 relative: TFDV's sums over bundles may round in another order
        assert_close(workers["statistics", split], local["statistics", split], f"statistics {split}")
    assert local["plan"] == workers["plan"]
    for split in ("train", "validation", "eval"):
        assert local["count", split] == workers["count", split]
        assert len(local["batches", split]) == len(workers["batches", split]) > 0, split
        for (x, y), (x2, y2) in zip(local["batches", split], workers["batches", split]):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
