"""CsvExampleGen: TFX's file-based ExampleGen (spans, splits, ML Metadata, caching, the Kubeflow
driver) with this project's CSV reader, which takes `data.delimiter` and `data.encoding` and
accepts a UTF-8 byte-order mark and CRLF line ends (TFX's own reader makes the mark part of the
first column's name)."""

from __future__ import annotations

from tfx.components.example_gen import utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ExecutionParameter
from tfx.types.standard_component_specs import FileBasedExampleGenSpec

from components.common import keys
from components.example_gen import executor

CSV_OPTIONS_KEY = keys.CSV_OPTIONS_KEY


class CsvExampleGenSpec(FileBasedExampleGenSpec):
    PARAMETERS = {**FileBasedExampleGenSpec.PARAMETERS,  # noqa: RUF012
                  CSV_OPTIONS_KEY: ExecutionParameter(type=str)}


class CsvExampleGen(FileBasedExampleGen):
    """Args: as FileBasedExampleGen, plus csv_options: JSON {"delimiter": ",", "encoding": "utf-8"}."""

    SPEC_CLASS = CsvExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, input_base: str, input_config, output_config, range_config, csv_options: str):
        input_config = input_config or utils.make_default_input_config()
        output_config = output_config or utils.make_default_output_config(input_config)  # pre-split: as is
        spec = CsvExampleGenSpec(
            input_base=input_base, input_config=input_config, output_config=output_config,
            range_config=range_config, output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP, csv_options=csv_options,
            examples=Channel(type=standard_artifacts.Examples))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
