"""`{SPAN}` and `{VERSION}` in `data.pattern`, read as TFX's ExampleGen reads them: one rule for
the compiler (which files a run reads, and so which it checks) and the scheduler (has a new span
appeared). For example "span-{SPAN}/*.csv" matches "span-12/part-0.csv" as span 12."""

from __future__ import annotations

import re

from components.common import io

SPAN, VERSION = "{SPAN}", "{VERSION}"


def has_spans(pattern: str | None) -> bool:
    return SPAN in (pattern or "")


def glob_pattern(pattern: str) -> str:
    """The pattern as a glob: every span and version."""
    return pattern.replace(SPAN, "*").replace(VERSION, "*")


def span_regex(pattern: str) -> re.Pattern:
    """Matches the end of a path that `pattern` names; group 1 is the span number. `*` stays within
    one folder, as in a glob."""
    body = (re.escape(pattern).replace(re.escape(SPAN), r"(\d+)").replace(re.escape(VERSION), r"\d+")
            .replace(r"\*", "[^/]*"))
    return re.compile(rf"(?:^|/){body}$")


def span_of(path: str, pattern: str) -> int | None:
    match = span_regex(pattern).search(path)
    return int(match.group(1)) if match and has_spans(pattern) else None


def data_files(base: str, pattern: str) -> list[str]:
    """The files under `base` that `pattern` names, in every span."""
    return [f for f in io.glob(io.join(base, glob_pattern(pattern))) if not io.isdir(f)]


def spans(base: str, pattern: str | None) -> list[int]:
    """The span numbers present under `base`, oldest first (none without a {SPAN} pattern)."""
    if not has_spans(pattern):
        return []
    return sorted({s for f in data_files(base, pattern) if (s := span_of(f, pattern)) is not None})


def latest_span(files: list[str], patterns: list[str]) -> list[str]:
    """With a {SPAN} pattern ExampleGen reads the latest span: the files of that span (older spans
    may be long gone or fixed by a newer one). Without one, all `files`."""
    if not any(has_spans(p) for p in patterns):
        return files
    found = {}
    for path in files:
        numbers = [s for p in patterns if (s := span_of(path, p)) is not None]
        found[path] = numbers[0] if numbers else 0
    newest = max(found.values())
    return [f for f in files if found[f] == newest]
