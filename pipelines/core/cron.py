"""Five-field cron expressions (minute hour day-of-month month day-of-week), as cron reads them:
`*`, numbers, lists `1,15`, ranges `1-5` and steps `*/10`, `0-30/5`. Day-of-week 0 and 7 are Sunday.

The syntax is checked strictly here (numbers only, ranges in order, steps from 1 up to the
field's span), so that the scheduler here and Kubeflow's cron read an expression the same way;
when it fires comes from croniter, which also finds expressions that never fire ("0 0 31 2 *":
February has no 31st), refused when the spec loads rather than when the scheduler first looks.
"""

from __future__ import annotations

import datetime as dt

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
EXAMPLE = "e.g. '0 3 * * *' (03:00 every day) or '*/15 * * * *' (every 15 minutes)"


class CronError(ValueError):
    pass


def parse(expression: str) -> list[set[int]]:
    """The values of each field; CronError (saying which field, what is allowed and an example)
    for bad syntax, values out of range, a zero or oversized step, or an expression that never
    fires."""
    if not isinstance(expression, str):
        raise CronError(f"cron expression {expression!r} is not text; expected 5 fields, {EXAMPLE}")
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"cron expression {expression!r} has {len(parts)} fields; expected 5: "
                        f"minute hour day-of-month month day-of-week ({EXAMPLE})")
    fields = [_field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS)]
    _first_fire(expression, dt.datetime(2000, 1, 1))  # never fires: refused here
    return fields


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = (int(first), int(last)) if first.isdigit() and last.isdigit() else (-1, -1)
        else:
            start = end = int(base) if base.isdigit() else -1
        if not (low <= start <= end <= high):
            raise CronError(f"cron {name} field {text!r} is out of range {low}-{high} (numbers, lists 1,15, "
                            f"ranges 1-5 in order, steps */10; {EXAMPLE})")
        if slash and not (step.isdigit() and 1 <= int(step) <= high - low + 1):
            raise CronError(f"cron {name} field {text!r}: the step {step!r} must be a whole number from 1 to "
                            f"{high - low + 1} (*/0 would never advance); for example */5")
        values.update(range(start, end + 1, int(step) if slash else 1))
    if name == "day of week" and 7 in values:
        values.add(0)
    return values


def _first_fire(expression: str, after: dt.datetime) -> dt.datetime:
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    try:
        return croniter(expression, after, day_or=True).get_next(dt.datetime)
    except CroniterBadDateError:
        raise CronError(f"cron expression {expression!r} never fires: no date matches its day of month, "
                        "month and day of week together (e.g. the 31st of February or of a 30-day month); "
                        f"choose a date that exists ({EXAMPLE})") from None
    except (CroniterBadCronError, ValueError) as error:
        raise CronError(f"cron expression {expression!r} is not valid ({error}); {EXAMPLE}") from None


def matches(fields: list[set[int]], moment: dt.datetime) -> bool:
    minute, hour, day, month, weekday = fields
    cron_weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0
    day_ok = moment.day in day and cron_weekday in weekday
    if len(day) < 31 and len(weekday) < 8:  # both restricted: cron fires on either
        day_ok = moment.day in day or cron_weekday in weekday
    return moment.minute in minute and moment.hour in hour and moment.month in month and day_ok


def next_time(expression: str, after: dt.datetime) -> dt.datetime:
    """The first whole minute strictly after `after` that the expression matches."""
    parse(expression)
    return _first_fire(expression, after.replace(second=0, microsecond=0))
