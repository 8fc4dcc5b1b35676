"""Run a pipeline YAML on this machine: the documented entry point (the runner itself is
pipelines/local/runner.py; `tfx-yaml run` and `pipelines.run()` are the same run).

    python pipelines/local_runner.py                      # the bundled penguin pipeline
    python pipelines/local_runner.py --config my.yaml     # yours
    python pipelines/local_runner.py --help               # --root, --quiet, --log-level, --version
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: imports resolve against the repository, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipelines.local.runner import exit_now, main

if __name__ == "__main__":
    exit_now(main())
