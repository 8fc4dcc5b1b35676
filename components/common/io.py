"""Small file helpers shared by the executors."""

from __future__ import annotations

import glob
import json
import os
from typing import Any

from tfx.types import standard_artifact_utils

# Executors of this project take their configuration as one JSON string parameter.
CONFIG_KEY = "config"


def split_files(artifacts: list, split: str) -> list[str]:
    """The data files of one split of an Examples (or Batches) artifact."""
    uri = standard_artifact_utils.get_split_uri(artifacts, split)
    files = sorted(f for f in glob.glob(os.path.join(uri, "*")) if os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"split {split!r} has no files under {uri}")
    return files


def write_json(path: str, value: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=float)
        f.write("\n")


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
