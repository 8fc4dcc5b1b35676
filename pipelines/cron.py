"""Five-field cron expressions (minute hour day-of-month month day-of-week), as cron reads them:
`*`, numbers, lists `1,15`, ranges `1-5` and steps `*/10`, `0-30/5`. Day-of-week 0 and 7 are Sunday.
"""

from __future__ import annotations

import datetime as dt

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


class CronError(ValueError):
    pass


def parse(expression: str) -> list[set[int]]:
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"cron expression {expression!r} has {len(parts)} fields; expected 5: "
                        "minute hour day-of-month month day-of-week (e.g. '0 3 * * *')")
    return [_field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS)]


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(v) for v in base.split("-", 1))
        else:
            start = end = int(base) if base.isdigit() else -1
        if not (low <= start <= end <= high) or (step and not step.isdigit()):
            raise CronError(f"cron {name} field {text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, int(step) if step else 1))
    if name == "day of week" and 7 in values:
        values.add(0)
    return values


def matches(fields: list[set[int]], moment: dt.datetime) -> bool:
    minute, hour, day, month, weekday = fields
    cron_weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0
    day_ok = moment.day in day and cron_weekday in weekday
    if len(day) < 31 and len(weekday) < 8:  # both restricted: cron fires on either
        day_ok = moment.day in day or cron_weekday in weekday
    return moment.minute in minute and moment.hour in hour and moment.month in month and day_ok


def next_time(expression: str, after: dt.datetime) -> dt.datetime:
    """The first whole minute strictly after `after` that the expression matches."""
    fields = parse(expression)
    moment = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if matches(fields, moment):
            return moment
        moment += dt.timedelta(minutes=1)
    raise CronError(f"cron expression {expression!r} never fires")
