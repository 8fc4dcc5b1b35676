"""The declarative layer: the typed model of a pipeline YAML file and its loader."""

from pipelines.spec.loader import SpecError, as_spec, load_spec, parse_spec
from pipelines.spec.models import PipelineSpec

__all__ = ["PipelineSpec", "SpecError", "as_spec", "load_spec", "parse_spec"]
