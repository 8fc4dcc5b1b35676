"""Declarative TFX pipelines: one YAML file to a trained, evaluated and pushed model."""

from pipelines.api import (
    RunResult,
    card,
    check,
    compile,
    freeze_schema,
    history,
    predict,
    report,
    rollback,
    run,
    version,
)

__all__ = ["RunResult", "card", "check", "compile", "freeze_schema", "history", "predict", "report",
           "rollback", "run", "version"]
