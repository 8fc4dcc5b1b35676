"""The compiler: a `PipelineSpec` to a TFX pipeline (`tfx.orchestration.pipeline.Pipeline`).

    ExampleGen -> StatisticsGen -> ImportSchemaGen | SchemaGen -> ExampleValidator -> DataGate
      -> Batching -> Trainer -> ServingState -> Evaluator -> Pusher

Everything the runners need is decided here; runners only run (or compile) the result. Checks
that need the data or the schema file (the label is a column, the schema exists) happen here,
before anything runs or is written.
"""

from __future__ import annotations

import json

from pipelines.build.tfx_imports import lean_tfx_imports

lean_tfx_imports()  # before the first TFX component: not TFX's index of all of them, nor TFMA

from tfx.components.example_gen.import_example_gen.component import ImportExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.data_types import RuntimeParameter
from tfx.proto import example_gen_pb2, range_config_pb2

from components.batching.component import Batching
from components.common import configs, serving_dir
from components.common.configs import encode
from components.data_gate.component import DataGate
from components.evaluator.component import Evaluator
from components.example_gen.component import CsvExampleGen
from components.pusher.component import Pusher
from components.schema_gen.component import PipelineSchemaGen
from components.serving_state.component import ServingState
from components.statistics_gen.component import StatisticsGen
from components.trainer.component import Trainer
from pipelines.build import checks, spans
from pipelines.build.preflight import check_inputs, input_base_and_pattern
from pipelines.core.paths import RunPaths
from pipelines.spec import PipelineSpec
from pipelines.spec.models import KUBEFLOW_COMPONENTS, EvaluatorSection, TrainerSection

# Component ids, as they appear in ML Metadata and in the runner's progress lines.
STAGES = tuple(c for c in KUBEFLOW_COMPONENTS if c != "Tuner")  # the stages of a spec without a tuner section
# The runtime parameter a local runner binds to `serving_dir.state_digest(destination)`.
SERVING_DIGEST_PARAMETER = "serving_state_digest"
# The runtime parameters a local runner binds to `serving_dir.reference_digest` of the file that
# SchemaGen, the DataGate and warm start read from the serving version: each stage's cache key then
# holds what it reads, so a rollback or a removed version runs it again exactly when what it would
# read differs (equal content from another version keeps it, and all after it, cached).
SERVING_REFERENCES = {"serving_schema_digest": serving_dir.SCHEMA_FILE,
                      "serving_statistics_digest": serving_dir.STATISTICS_FILE,
                      "serving_weights_digest": serving_dir.WEIGHTS_FILE}


def runtime_parameters(paths: RunPaths) -> dict[str, str]:
    """The values of the compiled pipeline's runtime parameters, read now: call under the root's
    lock, just before the run, so that the stages that read the serving directory are cached only
    for the very same serving directory (ServingState) or the very file they read (SchemaGen, the
    DataGate, warm start)."""
    return {SERVING_DIGEST_PARAMETER: serving_dir.state_digest(paths.destination),
            **serving_dir.reference_digests(paths.destination, SERVING_REFERENCES)}


def _serving_reference(name: str, target: str, used: bool = True) -> RuntimeParameter | str:
    """A stage's `serving_digest` parameter: bound by the local runner; "" where the stage reads
    nothing from the serving directory, and on Kubeflow (filled there by a pre-cache-check driver
    when the task starts: `add_serving_drivers`)."""
    return RuntimeParameter(name=name, ptype=str) if used and target == "local" else ""


def serving_readers(spec: PipelineSpec) -> dict[str, str]:
    """The stages (by id) that read a file of the serving version, and which file."""
    readers = {}
    if not spec.schema_.path:
        readers["SchemaGen"] = serving_dir.SCHEMA_FILE
    if spec.validation.drift is not None:
        readers["DataGate"] = serving_dir.STATISTICS_FILE
    if spec.trainer.warm_start:
        readers["Trainer"] = serving_dir.WEIGHTS_FILE
    return readers


def add_serving_drivers(job: dict, spec: PipelineSpec) -> None:
    """In a compiled KFP job: give each stage of `serving_readers` a pre-cache-check driver
    (components/common/serving_driver.py) that sets its `serving_digest` parameter when the task
    starts, so that KFP's cache key holds what the stage will read from the serving version."""
    pipeline = job["pipelineSpec"]
    for name, file in serving_readers(spec).items():
        task = pipeline["root"]["dag"]["tasks"].get(name)
        if task is None:
            continue
        label = pipeline["components"][task["componentRef"]["name"]]["executorLabel"]
        container = pipeline["deploymentSpec"]["executors"][label]["container"]
        container["lifecycle"] = {"preCacheCheck": {
            "command": ["python", "-m", "components.common.serving_driver"],
            "args": ["--json_serialized_invocation_args", "{{$}}", "--file", file]}}


def compile_pipeline(spec: PipelineSpec, paths: RunPaths, target: str = "local",
                     findings: checks.Findings | None = None) -> tfx_pipeline.Pipeline:
    """The TFX pipeline of `spec`, for target "local" (SQLite ML Metadata under paths.root) or
    "kubeflow" (no metadata connection: Kubeflow has its own; what only Kubeflow needs, such as the
    Trainer's strategy and per-task resources, is added by pipelines/kubeflow/container.py).
    `findings`: what pipelines/build/preflight.py found checking this spec (checked here if None)."""
    if findings is None:
        findings = check_inputs(spec, remote=target == "local")
    example_gen = _example_gen(spec)
    import tensorflow_data_validation as tfdv

    statistics = StatisticsGen(  # vocabularies come from its rank histograms
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(num_rank_histogram_buckets=spec.batching.max_vocabulary))
    if spec.schema_.path:
        schema = ImportSchemaGen(schema_file=spec.schema_.path).with_id("SchemaGen")
    else:  # the serving model's schema once there is one; inferred only by the first run
        destination = encode(configs.DestinationConfig, {"destination": paths.destination})
        schema = PipelineSchemaGen(statistics=statistics.outputs["statistics"], config=destination,
                                   serving_digest=_serving_reference("serving_schema_digest", target)
                                   ).with_id("SchemaGen")
    validator = ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"])
    gate = DataGate(anomalies=validator.outputs["anomalies"], statistics=statistics.outputs["statistics"],
                    schema=schema.outputs["schema"],
                    config=encode(configs.DataGateConfig, {**spec.validation.model_dump(),
                                                           "destination": paths.destination,
                                                           "exclude": spec.data.exclude}),
                    serving_digest=_serving_reference("serving_statistics_digest", target,
                                                      "DataGate" in serving_readers(spec)))
    trainer_section, evaluator_section, task_reason = decided_sections(spec, findings)
    batching = Batching(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
        statistics=statistics.outputs["statistics"],
        config=encode(configs.BatchingConfig, {"label": spec.data.label, "exclude": spec.data.exclude,
                      "task": trainer_section.task, "task_reason": task_reason, "loss": trainer_section.loss,
                      "validation_fraction": spec.data.validation_fraction,
                      "drop_unlabeled": spec.data.drop_unlabeled, **spec.batching.model_dump()}))
    # After the DataGate (it stops the run on bad data), but not keyed by its result: Batching's
    # output follows from the examples, the schema and the statistics alone, so a DataGate that runs
    # again (what serves changed: a rollback, a push) does not run Batching and the Trainer again.
    batching.add_upstream_node(gate)
    trainer_config = trainer_section.model_dump() | {"batch_size": spec.batching.batch_size,
                                                     "drop_remainder": spec.batching.drop_remainder}
    # with warm_start it starts from the weights of the model serving there
    trainer_config["destination"] = paths.destination if spec.trainer.warm_start else None
    tuner = None
    if spec.tuner is not None:  # absent: no Tuner stage at all
        from components.tuner.component import Tuner

        tuner = Tuner(batches=batching.outputs["batches"],
                      config=encode(configs.TunerConfig,
                                    {"trainer": trainer_config, "tuner": spec.tuner.model_dump()}))
    trainer = Trainer(batches=batching.outputs["batches"],
                      config=encode(configs.TrainerConfig, trainer_config),
                      serving_digest=_serving_reference("serving_weights_digest", target,
                                                        "Trainer" in serving_readers(spec)),
                      hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None)
    # What serves at the destination is an input of the Evaluator and the Pusher (see
    # components/serving_state): read after training, so the comparison is with what serves then.
    # Locally its cache key is the destination's digest, bound by the runner under the root's lock.
    digest = RuntimeParameter(name=SERVING_DIGEST_PARAMETER, ptype=str) if target == "local" else ""
    serving = ServingState(config=encode(configs.DestinationConfig, {"destination": paths.destination}),
                           state_digest=digest)
    serving.add_upstream_node(trainer)
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        serving_state=serving.outputs["serving_state"],
        config=encode(configs.EvaluatorConfig, evaluator_section.model_dump()))
    pusher = Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        serving_state=serving.outputs["serving_state"],
        # the serving check's eval examples; the model card's metrics and training history
        examples=example_gen.outputs["examples"], evaluation=evaluator.outputs["evaluation"],
        model_run=trainer.outputs["model_run"],
        config=encode(configs.PusherConfig, {"destination": paths.destination,
                                             "keep_versions": spec.pusher.keep_versions,
                                             "name": spec.name,
                                             "model_card": spec.model_card.model_dump(),
                                             "model": _card_model(trainer_section)}))
    components = [example_gen, statistics, schema, validator, gate, batching, *([tuner] if tuner else []),
                  trainer,
                  serving, evaluator, pusher]
    return tfx_pipeline.Pipeline(
        pipeline_name=spec.name,
        pipeline_root=paths.pipeline_root,
        components=components,
        enable_cache=spec.runtime.enable_cache,
        metadata_connection_config=paths.store.config() if target == "local" else None,
        beam_pipeline_args=list(spec.runtime.beam_pipeline_args),
    )


def _card_model(trainer: TrainerSection) -> dict:
    """The trainer: section in the model card's words (components/pusher/model_card.py)."""
    model, optimizer = trainer.model.model_dump(), trainer.optimizer
    trees = {"num_trees", "max_depth", "shrinkage"}  # the other keys are the network's
    family = {"gradient_boosted_trees": trees, "linear": set(), "dnn": set(model) - trees - {"type"}}
    shown = family.get(model["type"], set(model))  # auto: every key (the Trainer's choice is in training)
    return {"architecture": ", ".join(f"{k}: {v}" for k, v in model.items()
                                      if v is not None and (k == "type" or k in shown)),
            "loss": trainer.loss, "optimizer": f"{optimizer.name} (learning rate {optimizer.learning_rate})"}


def decided_sections(spec: PipelineSpec,
                     findings: checks.Findings) -> tuple[TrainerSection, EvaluatorSection, str | None]:
    """The trainer and evaluator sections with every "auto" that follows the task decided
    (TrainerSection.for_task, EvaluatorSection.for_task), and why the task, when it was inferred
    here. The task: the one check_inputs inferred from the label's values (findings.task), else the
    spec's own. With neither (the data was not read: an object store, Parquet, TFRecord) they stay
    "auto", for Batching (features.infer_task), the Trainer, the Tuner and the Evaluator to decide
    with the same functions."""
    inferred = findings.task
    task = inferred[0] if inferred else spec.trainer.task
    if task == "auto":
        return spec.trainer, spec.evaluator, None
    reason = inferred[1] if inferred and spec.trainer.task == "auto" else None
    return spec.trainer.for_task(task), spec.evaluator.for_task(task), reason


def _json(value: dict) -> str:
    return json.dumps(value, sort_keys=True)


def _example_gen(spec: PipelineSpec):
    base, pattern = input_base_and_pattern(spec)
    if spec.data.split_patterns:  # already split: one input split each, no hashing
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=name, pattern=spec.data.split_patterns[name])
            for name in ("train", "eval")])
        output_config = None
        pattern = " ".join(spec.data.split_patterns.values())
    else:
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=spec.data.splits.train),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=spec.data.splits.eval),
        ]))
    range_config = None
    if spans.has_spans(pattern) and spec.data.span_window > 1:
        range_config = range_config_pb2.RangeConfig(
            rolling_range=range_config_pb2.RollingRange(num_spans=spec.data.span_window))
    if spec.data.format == "csv":
        return CsvExampleGen(input_base=base, input_config=input_config, output_config=output_config,
                             range_config=range_config, csv_options=_json(
                                 {"delimiter": spec.data.delimiter, "encoding": spec.data.encoding})
                             ).with_id("ExampleGen")
    if spec.data.format == "parquet":
        from tfx.components.example_gen.component import FileBasedExampleGen
        from tfx.components.example_gen.custom_executors import parquet_executor
        from tfx.dsl.components.base import executor_spec

        return FileBasedExampleGen(
            input_base=base, input_config=input_config, output_config=output_config,
            range_config=range_config,
            custom_executor_spec=executor_spec.BeamExecutorSpec(parquet_executor.Executor)).with_id("ExampleGen")
    return ImportExampleGen(
        input_base=base, input_config=input_config, output_config=output_config, range_config=range_config,
    ).with_id("ExampleGen")
