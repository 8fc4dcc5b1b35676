"""Load a pipeline YAML file into a `PipelineSpec`, with errors written for the person who wrote it.

Every error names the file, the key path (with its line), the bad value and what is allowed, and
suggests the closest allowed name for a typo. Nothing is written anywhere while loading.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipelines.spec.models import PipelineSpec


class SpecError(ValueError):
    """A pipeline spec that cannot be used; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the pipeline spec:\n{listing}")


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline YAML file; relative data and schema paths are resolved
    against the file's directory."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), [f"no such file; expected a pipeline YAML file at {path.resolve()}"])
    text = path.read_text(encoding="utf-8")  # local-only: the spec is a file on this machine
    return parse_spec(text, source=str(path), base_dir=path.resolve().parent)


def parse_spec(text: str, source: str = "<string>", base_dir: Path | None = None) -> PipelineSpec:
    """Validate YAML text; `source` names it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(source, [f"not valid YAML: {error}"]) from None
    if not isinstance(raw, dict):
        raise SpecError(source, [f"the top level must be a mapping of sections, got {type(raw).__name__}"])
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(source, [_describe(e, node) for e in error.errors()]) from None
    if base_dir is not None:
        spec = _resolve_paths(spec, base_dir)
    return spec


def _resolve_paths(spec: PipelineSpec, base_dir: Path) -> PipelineSpec:
    """Local paths are relative to the YAML file; URIs (gs://, s3://, ...) stay as they are."""
    if not is_uri(spec.data.path):
        spec.data.path = str((base_dir / spec.data.path).resolve())
    if spec.schema_.path and not is_uri(spec.schema_.path):
        spec.schema_.path = str((base_dir / spec.schema_.path).resolve())
    return spec


def is_uri(path: str) -> bool:
    return "://" in path


def _describe(error: dict[str, Any], node: yaml.Node | None) -> str:
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(node, loc)
    where = f"key {key!r}" + (f" (line {line})" if line else "")
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = _close_match(str(loc[-1]), allowed)
        return f"{where}: unknown key; allowed here: {', '.join(allowed)}{hint}"
    if kind == "missing":
        return f"{where}: required, but missing"
    if kind in ("literal_error", "enum"):
        allowed = _literal_values(error)
        hint = _close_match(str(value), allowed)
        return f"{where}: {value!r} is not allowed; expected one of: {', '.join(allowed)}{hint}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message} (got {value!r})" if not isinstance(value, dict) else f"{where}: {message}"


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the member type to the location of errors inside a union, e.g.
    # ('validation', 'fail_on', "literal['any']"); users never wrote those.
    return isinstance(part, str) and ("[" in part or part in ("list", "str", "dict", "int"))


def _literal_values(error: dict[str, Any]) -> list[str]:
    expected = error.get("ctx", {}).get("expected", "")
    return [v.strip().strip("'\"") for v in expected.replace(" or ", ", ").split(",") if v.strip()]


def _close_match(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _allowed_keys(loc: list[Any]) -> list[str]:
    model: Any = PipelineSpec
    for part in loc:
        model = _field_model(model, part)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_model(model: Any, part: Any) -> Any:
    """The pydantic model class found under `part` of `model`, looking through Optional,
    list and dict annotations."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    if part not in fields:
        return None
    return _model_in(fields[part].annotation)


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                break
            key_node, node = match[0]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
