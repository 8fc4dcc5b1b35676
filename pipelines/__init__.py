"""Declarative TFX pipelines: one YAML file to a trained, evaluated and pushed model."""

from pipelines.api import (
    RunResult,
    check,
    compile,
    freeze_schema,
    history,
    report,
    rollback,
    run,
    version,
)

__all__ = ["RunResult", "check", "compile", "freeze_schema", "history", "report", "rollback", "run",
           "version"]
