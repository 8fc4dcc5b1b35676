"""Live progress of long stages: rows read and rows/s (ExampleGen, Batching), one line per epoch
(Trainer). Components log to the `tfx_yaml.progress` logger; the local runner shows those lines
once a stage has run for two seconds (shorter stages print nothing more than their start and end),
and every line also lands in run.log. On Kubeflow they are ordinary container log lines.
"""

from __future__ import annotations

import logging
import time

import apache_beam as beam

LOGGER_NAME = "tfx_yaml.progress"
PLAN_LOGGER_NAME = "tfx_yaml.plan"  # lines the runner always shows (what was inferred, what was dropped)
EVERY_SECONDS = 2.0  # at most one rows line per stage this often

_logger = logging.getLogger(LOGGER_NAME)


def say(message: str, *args) -> None:
    _logger.info(message, *args)


def tell(message: str, *args) -> None:
    """A line the user must see however short the stage (the plan: task, classes, encodings)."""
    logging.getLogger(PLAN_LOGGER_NAME).info(message, *args)


class CountRows(beam.DoFn):
    """Passes elements through and says how many rows went by, and how fast. `size` gives the
    rows of one element (1 for a record, len() for a batch)."""

    def __init__(self, stage: str, what: str = "rows read", batched: bool = False):
        self._stage, self._what, self._batched = stage, what, batched

    def setup(self):
        self._rows, self._started, self._last = 0, time.monotonic(), time.monotonic()

    def process(self, element):
        self._rows += len(element) if self._batched else 1
        now = time.monotonic()
        if now - self._last >= EVERY_SECONDS:
            self._last = now
            say("%s: %s %s (%s rows/s)", self._stage, f"{self._rows:,}", self._what,
                f"{self._rows / max(now - self._started, 1e-9):,.0f}")
        yield element
