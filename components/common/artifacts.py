"""Artifact types of this project's components (recorded in ML Metadata like TFX's own)."""

from __future__ import annotations

from tfx.types.artifact import Artifact


class Batches(Artifact):
    """Shuffled, preprocessed mini-batches written by the Batching stage, one folder per split
    (`Split-train/`, `Split-eval/`), with the feature plan (`plan.json`) that made them."""

    # KFP v2 records a custom type by its import path "<module>.<Class>" (see components/__init__.py)
    # and allows no PROPERTIES on it (custom properties are fine).
    TYPE_NAME = "components.Batches"


class DataGateResult(Artifact):
    """The verdict of the anomaly gate: `report.txt` and `verdict.json`; it exists only when
    the data passed, so that batching and training depend on it."""

    TYPE_NAME = "components.DataGateResult"


class ServingState(Artifact):
    """What served at the push destination when the run read it: `serving_state.json` (versions,
    their fingerprints and files, the rollback record, a digest of it all)."""

    TYPE_NAME = "components.ServingState"
