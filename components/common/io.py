"""Small file helpers shared by the executors."""

from __future__ import annotations

import json
import os
from typing import Any

# Executors of this project take their configuration as one JSON string parameter.
CONFIG_KEY = "config"


def write_json(path: str, value: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=float)
        f.write("\n")


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
