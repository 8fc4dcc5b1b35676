"""Moved to pipelines/core/cron.py (the spec checks expressions too, and the spec imports no runner);
this old import path re-exports it."""

from pipelines.core.cron import EXAMPLE, FIELDS, CronError, matches, next_time, parse

__all__ = ["EXAMPLE", "FIELDS", "CronError", "matches", "next_time", "parse"]
