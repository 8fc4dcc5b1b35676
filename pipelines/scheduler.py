"""Retrain on a schedule on this machine: the documented entry point (the scheduler itself is
pipelines/local/scheduler.py; `tfx-yaml schedule` is the same).

    python pipelines/scheduler.py --config my.yaml [--cron "0 3 * * *"] [--on-new-span]
    python pipelines/scheduler.py --help
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: imports resolve against the repository, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipelines.local.scheduler import main

if __name__ == "__main__":
    sys.exit(main())
