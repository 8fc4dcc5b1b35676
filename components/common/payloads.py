"""The files inside this project's artifacts: each payload's name, its writer and its reader,
stated once and used by producers and readers alike (a renamed file fails loudly in tests, it
never blanks a report section).

Readers take local paths with the standard library (run summaries and the unchanged-run fast
path must not import TensorFlow) and other URIs through the file layer.
"""

from __future__ import annotations

import json
import os

BLESSING_FILE = "blessing.json"  # Evaluator -> ModelBlessing: the verdict, reasons, both models' metrics
METRICS_FILE = "metrics.json"  # Evaluator -> ModelEvaluation: every metric of the candidate and the baseline
SERVING_STATE_FILE = "serving_state.json"  # ServingState -> ServingState: what served at the destination


def _read_json(path: str):
    if "://" in path and not path.startswith("file://"):
        from components.common import io

        return io.read_json(path)
    with open(path, encoding="utf-8") as f:  # local-only
        return json.load(f)


def _exists(path: str) -> bool:
    if "://" in path and not path.startswith("file://"):
        from components.common import io

        return io.exists(path)
    return os.path.exists(path)  # local-only


def _join(uri: str, name: str) -> str:
    return f"{uri.rstrip('/')}/{name}" if "://" in uri else os.path.join(uri, name)


def _write_json(uri: str, name: str, value) -> None:
    from components.common import io

    io.write_json(io.join(uri, name), value)


def write_blessing(uri: str, verdict: dict) -> None:
    _write_json(uri, BLESSING_FILE, verdict)


def read_blessing(uri: str) -> dict | None:
    """The Evaluator's verdict in a ModelBlessing artifact; None when the artifact has none
    (an Evaluator that failed before writing it)."""
    path = _join(uri, BLESSING_FILE)
    return _read_json(path) if _exists(path) else None


def write_metrics(uri: str, metrics: dict) -> None:
    _write_json(uri, METRICS_FILE, metrics)


def read_metrics(uri: str) -> dict | None:
    path = _join(uri, METRICS_FILE)
    return _read_json(path) if _exists(path) else None


def write_serving_state(uri: str, state: dict) -> None:
    _write_json(uri, SERVING_STATE_FILE, state)


def read_serving_state(uri: str) -> dict:
    return _read_json(_join(uri, SERVING_STATE_FILE))
