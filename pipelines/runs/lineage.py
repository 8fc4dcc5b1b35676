"""Lineage from ML Metadata: which data span trained each pushed model version.

PushedModel <- Pusher <- Model <- Trainer <- Batches <- Batching <- Examples (span)
"""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2

from components.common import keys
from pipelines.runs.metadata import Store, as_store
from pipelines.runs.summary import pipeline_context

_INPUT, _OUTPUT = metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.OUTPUT


def pushed_versions(metadata: Store | str, pipeline: str | None = None) -> list[dict]:
    """Every push of the pipeline named `pipeline` (of every pipeline when None) recorded in the
    store: version, destination, and the span of the training data."""
    store = as_store(metadata).connect()
    return pushed_versions_in(store, pipeline) if store is not None else []


def pushed_versions_in(store, pipeline: str | None = None) -> list[dict]:
    """pushed_versions() of an open store."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    found = []
    for pushed in artifacts_of(store, "PushedModel", pipeline):
        props = pushed.custom_properties
        if keys.PUSHED not in props or props[keys.PUSHED].int_value != 1:
            continue
        examples = _upstream(store, types, pushed.id, ["Model", "components.Batches", "Examples"])
        spanned = examples and "span" in examples.custom_properties
        span = examples.custom_properties["span"].int_value if spanned else None
        found.append({"version": props[keys.PUSHED_VERSION].int_value,
                      "destination": props[keys.PUSHED_DESTINATION].string_value, "span": span,
                      "examples": examples.uri if examples else None})
    return sorted(found, key=lambda p: p["version"])


def _upstream(store, types: dict, artifact_id: int, chain: list[str]):
    """Follow producer executions' inputs along `chain` of artifact type names."""
    artifact = None
    for type_name in chain:
        producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                     if e.type == _OUTPUT]
        if not producers:
            return None
        inputs = [e.artifact_id for e in store.get_events_by_execution_ids(producers[:1]) if e.type == _INPUT]
        matches = [a for a in store.get_artifacts_by_id(inputs) if types[a.type_id] == type_name]
        if not matches:
            return None
        artifact = matches[0]
        artifact_id = artifact.id
    return artifact


def artifacts_of(store, type_name: str, pipeline: str | None = None) -> list:
    """The artifacts of type `type_name` that the pipeline named `pipeline` recorded (every
    pipeline's when None): TFX attributes each output to its pipeline's context."""
    if pipeline is None:
        return list(store.get_artifacts_by_type(type_name))
    context = pipeline_context(store, pipeline)
    if context is None:
        return []
    type_ids = {t.id for t in store.get_artifact_types() if t.name == type_name}
    return [a for a in store.get_artifacts_by_context(context.id) if a.type_id in type_ids]


def newest_schema(metadata: Store, pipeline: str | None = None) -> str | None:
    """The schema file of the newest Schema artifact that the pipeline named `pipeline` made (a
    store may hold several pipelines); None when there is none."""
    from components.common import io  # deferred: the file layer imports TFX (seconds)

    store = metadata.connect()
    if store is None:
        return None
    for artifact in sorted(artifacts_of(store, "Schema", pipeline), key=lambda a: a.create_time_since_epoch,
                           reverse=True):
        path = io.join(artifact.uri, "schema.pbtxt")
        if io.exists(path):
            return path
    return None
