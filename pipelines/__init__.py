"""Declarative TFX pipelines: one YAML file to a trained, evaluated and pushed model."""
