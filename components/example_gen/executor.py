"""The CSV reader of this project's ExampleGen: TFX's CSV-to-tf.Example conversion (tfx_bsl's
column type inference and cell parsing) on lines decoded with the spec's encoding, split with its
delimiter, with a UTF-8 byte-order mark removed from the header."""

from __future__ import annotations

import csv
import io as pyio
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx_bsl.coders import csv_decoder

from components.common import io
from components.common.progress import CountRows


def read_header(path: str, delimiter: str, encoding: str) -> list[str]:
    """The column names on the first line (without a byte-order mark)."""
    with io.open_file(path, "rb") as f:
        first = f.readline()
    text = first.decode("utf-8-sig" if encoding == "utf-8" else encoding).lstrip("\ufeff")
    return next(csv.reader(pyio.StringIO(text), delimiter=delimiter), [])


class _ReadCsvRecords(beam.DoFn):
    """Records of one CSV file after its header, decoded; quoted fields may span lines."""

    def __init__(self, encoding: str):
        self._encoding = encoding

    def process(self, path: str) -> Iterable[str]:
        with beam.io.filesystems.FileSystems.open(path) as f:
            _ = f.readline()  # the header
            buffer = tfx_csv._CsvLineBuffer()  # noqa: SLF001 (TFX's own multi-line record buffer)
            for line in f:
                buffer.write(line.decode(self._encoding))
                if buffer.is_complete_line():
                    yield buffer.read().rstrip("\r\n")
            if not buffer.is_empty():
                raise ValueError(f"CSV file {path} ends inside a quoted field (unbalanced quotes)")


class CsvToExample(beam.PTransform):
    """CSV files of one split -> tf.Examples (one ExampleGen input split)."""

    def __init__(self, exec_properties: dict[str, Any], split_pattern: str):
        super().__init__()
        options = json.loads(exec_properties.get("csv_options") or "{}")
        self._delimiter = options.get("delimiter", ",")
        self._encoding = options.get("encoding", "utf-8")
        self._pattern = io.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)

    def expand(self, pipeline):
        files = sorted(fileio.glob(self._pattern))
        if not files:
            raise RuntimeError(f"no data files match {self._pattern}")
        columns = read_header(files[0], self._delimiter, self._encoding)
        for path in files[1:]:
            if read_header(path, self._delimiter, self._encoding) != columns:
                raise RuntimeError(f"{path} has another header than {files[0]}; files of one split need the same columns")
        lines = (pipeline
                 | "Files" >> beam.Create(files)
                 | "Read" >> beam.ParDo(_ReadCsvRecords(self._encoding))
                 | "Progress" >> beam.ParDo(CountRows("ExampleGen"))
                 | "Parse" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=self._delimiter))
                 | "Cells" >> beam.Keys())
        column_infos = beam.pvalue.AsSingleton(
            lines | "InferTypes" >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(columns, skip_blank_lines=True)))
        return lines | "ToExample" >> beam.ParDo(tfx_csv._ParsedCsvToTfExample(), column_infos)  # noqa: SLF001


class Executor(tfx_csv.Executor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        return CsvToExample
