"""Declarative TFX pipelines: one YAML file to a trained, evaluated and pushed model."""

from pipelines.api import RunResult, check, compile, run, version  # noqa: A004 (compile: the API's word)

__all__ = ["RunResult", "check", "compile", "run", "version"]
