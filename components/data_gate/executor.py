"""The anomaly gate's work: collect the anomalies that matter and fail with a report."""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.components.base import base_executor
from tfx.types import standard_artifact_utils

from components.common import io, payloads, serving_dir
from components.common.configs import DataGateConfig
from components.common.keys import (
    ANOMALIES_KEY,
    CONFIG_KEY,
    RESULT_KEY,
    SCHEMA_KEY,
    SERVING_DIGEST_KEY,
    STATISTICS_KEY,
)


class DataValidationError(RuntimeError):
    """The data has anomalies that stop the run; the message is the report for the user."""


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        config = DataGateConfig.model_validate_json(exec_properties[CONFIG_KEY])
        anomalies = input_dict[ANOMALIES_KEY]
        splits = standard_artifact_utils.decode_split_names(anomalies[0].split_names)
        findings = drift_findings(input_dict[STATISTICS_KEY][0], input_dict[SCHEMA_KEY][0], config,
                                  exec_properties.get(SERVING_DIGEST_KEY) or "")
        for split in splits:
            path = io.join(standard_artifact_utils.get_split_uri(anomalies, split), "SchemaDiff.pb")
            findings += blocking_anomalies(anomalies_pb2.Anomalies.FromString(io.read_bytes(path)), split,
                                           config)
        result_uri = output_dict[RESULT_KEY][0].uri
        report = format_report(findings)
        payloads.write_verdict(result_uri, not findings, findings, report)
        if findings:
            raise DataValidationError(report)


DRIFT_KINDS = ("COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH")


def drift_findings(statistics, schema_artifact, config: DataGateConfig, expected: str = "") -> list[dict]:
    """Drift of this run's train split from the train split that trained the serving model, with
    TFDV's comparators: L-infinity distance for categorical features, Jensen-Shannon divergence
    for numeric ones. Nothing to compare with (no model serves yet, or drift: null): none. A model
    serves but its statistics are missing or unreadable: the run stops (fails closed), naming the
    file and the fixes. `expected`: the statistics' digest when the run started (see
    serving_dir.reference)."""
    drift = config.drift
    if not drift:
        return []
    reference, data, _ = serving_dir.reference(config.destination, serving_dir.STATISTICS_FILE, expected)
    if reference is None:
        return []
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = io.join(reference, serving_dir.STATISTICS_FILE)
    previous = None
    if data is not None:
        try:
            previous = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
        except Exception:  # noqa: BLE001 (DecodeError and kin: unreadable, said below)
            previous = None
    if previous is None or not previous.datasets:
        state = "is missing" if data is None else f"cannot be read ({len(data)} bytes, not statistics)"
        version = reference.rstrip("/").rsplit("/", 1)[-1]
        raise serving_dir.ServingError(
            f"The drift check compares this run's data with the data that trained the serving model, and "
            f"that model's statistics {path} {state}. Nothing was trained or pushed. Restore the file "
            f"(each push writes it), or withdraw that version (tfx-yaml rollback --version {version}, or "
            "remove it) so that the version before it is compared, or turn the drift check off with "
            "`validation: {drift: null}` in the pipeline YAML.")
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_artifact.uri))
    skip = set(config.exempt_features) | set(config.exclude)
    for feature in schema.feature:
        if feature.name in skip:
            continue
        if feature.type == schema_pb2.BYTES:
            feature.drift_comparator.infinity_norm.threshold = drift.categorical_l_infinity
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = drift.numeric_jensen_shannon
    current = stats_artifact_utils.load_statistics(statistics, "train").proto()
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
    found = blocking_anomalies(anomalies, f"train vs the data of serving model {reference}", config)
    return [f for f in found if f["kind"] in DRIFT_KINDS]


def blocking_anomalies(anomalies: anomalies_pb2.Anomalies, split: str, config: DataGateConfig) -> list[dict]:
    """The anomalies of one split that stop the run, as plain dicts."""
    fail_on = config.fail_on
    exempt = set(config.exempt_features)
    found = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        if feature in exempt:
            continue
        for reason in info.reason:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            if fail_on == "any" or kind in fail_on:
                found.append({"split": split, "feature": feature, "kind": kind,
                              "summary": reason.short_description, "detail": reason.description})
    dataset = anomalies.dataset_anomaly_info
    for reason in dataset.reason:
        kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
        if fail_on == "any" or kind in fail_on:
            found.append({"split": split, "feature": "(dataset)", "kind": kind,
                          "summary": reason.short_description, "detail": reason.description})
    return found


def format_report(findings: list[dict]) -> str:
    if not findings:
        return "Data validation passed: no anomalies that stop the run.\n"
    lines = [(f"Data validation failed: {len(findings)} anomal{'y' if len(findings) == 1 else 'ies'} "
              "stop the run before training. Nothing was trained or pushed.")]
    for f in findings:
        lines.append(f"  - [{f['split']}] feature {f['feature']!r}: {f['summary']} ({f['kind']})")
        lines.append(f"      {f['detail']}")
    lines.append("Fix the data, or update the schema if the change is expected (tfx-yaml schema freeze "
                 "writes the schema in use to a file for curation), or list the feature under "
                 "validation.exempt_features / narrow validation.fail_on / raise validation.drift's "
                 "thresholds in the pipeline YAML.")
    return "\n".join(lines) + "\n"
