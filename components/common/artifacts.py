"""Artifact types of this project's components (recorded in ML Metadata like TFX's own)."""

from __future__ import annotations

from tfx.types.artifact import Artifact, Property, PropertyType

SPLIT_NAMES = "split_names"


class Batches(Artifact):
    """Shuffled, preprocessed mini-batches written by the Batching stage, one folder per split
    (`Split-train/`, `Split-eval/`), with the feature plan (`plan.json`) that made them."""

    TYPE_NAME = "Batches"
    PROPERTIES = {SPLIT_NAMES: Property(type=PropertyType.STRING)}  # noqa: RUF012


class DataGateResult(Artifact):
    """The verdict of the anomaly gate: `report.txt` and `verdict.json`; it exists only when
    the data passed, so that batching and training depend on it."""

    TYPE_NAME = "DataGateResult"
