"""Exit codes and RunResult: what one run did, as the runners return it and the API hands it on."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@dataclasses.dataclass
class RunResult:
    """What one run did. `status`: "succeeded", "unchanged" (the last successful run covers it:
    nothing ran; its figures are that run's), "failed" (exit 1) or "bad_input" (exit 2: the spec or
    the files it names; nothing ran)."""

    status: str
    exit_code: int
    run_id: str | None = None
    root: str | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    baseline_metrics: dict[str, float] | None = None
    blessed: bool | None = None
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)
    pushed_to: str | None = None  # the version folder this run pushed, None when nothing was pushed
    pushed_version: int | None = None
    report: str | None = None  # the HTML report's path
    error: str | None = None  # why it failed, as printed

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @classmethod
    def of_summary(cls, status: str, summary: Any, root: str | None, report: str | None) -> RunResult:
        """From a pipelines.runs.summary.RunSummary (None: a run with nothing recorded)."""
        if summary is None:
            return cls(status=status, exit_code=EXIT_OK, root=root, report=report)
        pushed = summary.pushed_to or None
        if pushed and summary.executions.get("Pusher") == "CACHED":
            pushed = None  # nothing new: the push was an earlier run's
        version = os.path.basename(pushed) if pushed else ""
        return cls(status=status, exit_code=EXIT_OK, run_id=summary.run_id, root=root,
                   metrics=dict(summary.metrics),
                   baseline_metrics=dict(summary.baseline_metrics) if summary.baseline_metrics else None,
                   blessed=summary.blessed, reasons=dict(summary.reasons), pushed_to=pushed,
                   pushed_version=int(version) if version.isdigit() else None, report=report)
