"""The JSON Schema of the pipeline YAML, generated from the spec model into schemas/.

    python -m pipelines.spec.json_schema --write   # regenerate schemas/pipeline.schema.json

Editors use it for completion and checks; a test fails when the file is stale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.spec.models import PipelineSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "pipeline.schema.json"


def render() -> str:
    schema = PipelineSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "TFX YAML pipeline"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH}")
    args = parser.parse_args()
    if args.write:
        SCHEMA_PATH.write_text(render(), encoding="utf-8")  # local-only: a file of this repository
        print(f"wrote {SCHEMA_PATH}")
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
