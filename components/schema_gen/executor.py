"""The pipeline schema: the serving model's, else inferred by TFX's own SchemaGen executor."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx.components.schema_gen import executor as tfx_schema_gen

from components.common import io, serving_dir
from components.common.configs import DestinationConfig
from components.common.keys import CONFIG_KEY, SCHEMA_KEY, SERVING_DIGEST_KEY, STATISTICS_KEY

SCHEMA_FILE = "schema.pbtxt"  # TFX's name, in the Schema artifact and in a pushed model's assets.extra


def serving_schema(destination: str) -> str | None:
    """The schema kept with the serving version (the newest that loads), if there is one."""
    serving = serving_dir.latest_version_path(destination) if destination else None
    path = io.join(serving, serving_dir.SCHEMA_FILE) if serving else None
    return path if path and io.exists(path) else None


class Executor(tfx_schema_gen.Executor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = DestinationConfig.model_validate_json(exec_properties[CONFIG_KEY])
        schema = output_dict[SCHEMA_KEY][0]
        # what serves as the run's start keyed this stage's cache: read exactly that (or stop)
        serving, kept, _ = serving_dir.reference(cfg.destination, serving_dir.SCHEMA_FILE,
                                                 exec_properties.get(SERVING_DIGEST_KEY) or "")
        if kept is not None:
            io.write_bytes(io.join(schema.uri, SCHEMA_FILE), kept)
            source = f"kept with the serving model: {io.join(serving, serving_dir.SCHEMA_FILE)}"
        else:
            super().Do(input_dict, output_dict, {"infer_feature_shape": True, "exclude_splits": "[]"})
            presence_floors(io.join(schema.uri, SCHEMA_FILE), input_dict[STATISTICS_KEY][0])
            source = ("inferred from this run's statistics (" + (
                f"the serving model {serving} keeps no schema)" if serving else "no model serves yet)"))
        schema.set_string_custom_property("schema_source", source)
        logging.info("SchemaGen: schema %s", source)


# A column with empty cells in the data a schema is inferred from must keep at least this share of
# its rows with a value (TFDV's inference asks it for a value in one row: min_count 1).
PRESENCE_KEPT = 0.5


def presence_floors(schema_path: str, statistics) -> None:
    """TFDV's inferred schema asks a column present in every row to stay so (min_fraction 1.0),
    and one with empty cells (counted as missing by StatisticsGen) only for one value in all. Give
    the latter a floor, PRESENCE_KEPT of the smallest share of rows that had it in a split
    (rounded down to 0.01), so that a column that empties out in new data (90 % empty after
    10 %) stops the run at the anomaly gate as a complete one does."""
    import math

    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import artifact_utils

    shares: dict[str, float] = {}
    for split in artifact_utils.decode_split_names(statistics.split_names):
        for dataset in stats_artifact_utils.load_statistics(statistics, split).proto().datasets:
            for feature in dataset.features:
                kind = "num_stats" if feature.HasField("num_stats") else "string_stats"
                common = getattr(feature, kind).common_stats
                rows = common.num_missing + common.num_non_missing
                name = feature.path.step[-1] if feature.path.step else feature.name
                if rows:
                    shares[name] = min(shares.get(name, 1.0), common.num_non_missing / rows)
    schema = text_format.Parse(io.read_text(schema_path), schema_pb2.Schema())
    for feature in schema.feature:
        if feature.presence.HasField("min_fraction") or feature.name not in shares:
            continue
        floor = math.floor(shares[feature.name] * PRESENCE_KEPT * 100) / 100
        if floor > 0:
            feature.presence.min_fraction = floor
    io.write_text(schema_path, text_format.MessageToString(schema))
