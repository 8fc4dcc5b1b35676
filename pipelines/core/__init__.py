"""The core layer: what every other layer may use, importing nothing else of this project.

    results.py   exit codes and RunResult (what one run did)
    paths.py     RunPaths (where a local run writes) and the destination rule
    uris.py      the one rule for local paths and URIs (is_remote, local_path, join)
    version.py   this package's version
    cron.py      five-field cron expressions (the spec's check and the scheduler's clock)
    private.py   secrets kept out of what a run writes; files and folders for their owner only

Standard library only at import time (croniter and protobuf's text_encoding are imported where
they are used); import-linter's contracts in pyproject.toml keep it so.
"""
