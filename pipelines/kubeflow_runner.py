"""Compile a pipeline YAML for Kubeflow Pipelines v2 (or Vertex AI): the documented entry point
(the compiler additions are in pipelines/kubeflow/; `tfx-yaml compile` and `pipelines.compile()`
do the same).

    python pipelines/kubeflow_runner.py --config my.yaml --output pipeline.yaml [--strict]
    python pipelines/kubeflow_runner.py --help
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: imports resolve against the repository, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipelines.kubeflow.runner import main

if __name__ == "__main__":
    sys.exit(main())
