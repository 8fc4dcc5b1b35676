"""Load a pipeline YAML file into a `PipelineSpec`, with errors written for the person who wrote it.

Every error names the file, the key path (with its line), the bad value and what is allowed, and
suggests the closest allowed name for a typo. Nothing is written anywhere while loading.

Hostile input is refused in one line before it can cost much: a spec that is no regular file (a
FIFO would block, /dev/zero never end), files over 1 MiB (read by content, not by the size the file
system reports), text that is not UTF-8, nesting deeper than 50 levels, YAML aliases that expand to
more than 100,000 values, duplicate keys (YAML would keep the last one silently), and control
characters (a newline, a carriage return, any C0 or C1 code) in a path, which would let a spec
print forged lines on the console and in logs. A problem is at most MAX_PROBLEM_CHARS characters.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipelines.core.uris import is_remote, local_path
from pipelines.spec.models import PATTERN_RULES, URI_SCHEMES, WORK_BOUNDS, PipelineSpec, did_you_mean

MAX_SPEC_BYTES = 1 << 20
MAX_DEPTH = 50
MAX_VALUES = 100_000
MAX_PROBLEM_CHARS = 2000  # one problem's line, cut after this many characters with "… (N chars)"
# The spec's keys that hold paths (and file patterns): no control characters in their values.
PATH_KEYS = ("path", "pattern", "split_patterns", "destination", "root", "pipeline_root")


class SpecError(ValueError):
    """A pipeline spec that cannot be used; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems = [_cut_problem(p) for p in problems]
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the pipeline spec:\n{listing}")


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline YAML file; relative data and schema paths are resolved
    against the file's directory."""
    path = Path(path)
    data = _read_spec(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise SpecError(str(path),
                        [(f"not UTF-8 text: byte 0x{data[error.start]:02x} at line {line}; save the "
                                     "file as UTF-8")]) from None
    spec = parse_spec(text, source=str(path), base_dir=path.resolve().parent)
    spec._source = str(path)
    return spec


def _read_spec(path: Path) -> bytes:
    """The spec's bytes: a regular file (checked before it is opened), at most MAX_SPEC_BYTES read."""
    import os
    import stat

    try:
        found = os.stat(path)  # links followed
    except OSError:
        missing = f"no such file; expected a pipeline YAML file at {path.resolve()}"
        raise SpecError(str(path), [missing]) from None
    if not stat.S_ISREG(found.st_mode):
        kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                 (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISSOCK, "a socket"))
        kind = next((k for test, k in kinds if test(found.st_mode)), "not a regular file")
        raise SpecError(str(path), [(f"{path} is {kind}, not a regular file (reading it would block or never "
                                     "end); expected a pipeline YAML file")])
    data = b""
    if found.st_size <= MAX_SPEC_BYTES:
        with open(path, "rb") as f:  # local-only: the spec is a file on this machine
            data = f.read(MAX_SPEC_BYTES + 1)  # by content: /proc files report a size of 0
    if found.st_size > MAX_SPEC_BYTES or len(data) > MAX_SPEC_BYTES:
        size = f"{found.st_size / 2**20:.1f} MiB" if found.st_size > MAX_SPEC_BYTES else "more than 1 MiB"
        problem = f"the file is {size}; a pipeline spec is at most 1 MiB (is this the right file?)"
        raise SpecError(str(path), [problem])
    return data


def _cut_problem(problem: str) -> str:
    if len(problem) <= MAX_PROBLEM_CHARS:
        return problem
    return f"{problem[:MAX_PROBLEM_CHARS]}… ({len(problem):,} chars)"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with a bound on nesting (its composer recurses)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1}); a pipeline "
                               "spec is a few levels of sections")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(Exception):
    """Input refused before it is built into Python values."""


def parse_spec(text: str, source: str = "<string>", base_dir: Path | None = None) -> PipelineSpec:
    """Validate YAML text; `source` names it in errors."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node)
        raw = loader.construct_document(node) if node is not None else None
    except _Refused as refusal:
        raise SpecError(source, [str(refusal)]) from None
    except yaml.MarkedYAMLError as error:
        raise SpecError(source, [_yaml_problem(error)]) from None
    except yaml.YAMLError as error:
        raise SpecError(source, [f"not valid YAML: {error}"]) from None
    finally:
        loader.dispose()
    if raw is None:
        raise SpecError(source, [("the file is empty; expected a mapping with at least `name` and `data` "
                                  "(see pipelines/penguin/pipeline.yaml)")])
    if not isinstance(raw, dict):
        raise SpecError(source, [(f"the top level must be a mapping of sections (name, data, trainer, ...), "
                                  f"not {_kind(raw)}")])
    controls = _control_characters(raw, node)
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(e, node) for e in error.errors()] + _cross_field_problems(raw, error, node)
        raise SpecError(source, list(dict.fromkeys(controls + problems))) from None
    if controls:
        raise SpecError(source, controls)
    if base_dir is not None:
        spec = _resolve_paths(spec, base_dir)
    spec._source = source
    return spec


def _cross_field_problems(raw: dict, error: ValidationError, node: yaml.Node) -> list[str]:
    """The problems that only the checks comparing fields find (a section's model validator: a
    loss against the task, a tuner objective against the metrics, ...). Pydantic runs those only
    once every field they belong to is valid; so that one pass reports everything, the spec is
    validated again with each invalid value left out (its default in its place). A problem found
    then is reported unless its message names a left-out key or that key's default, which it may
    depend on (it then shows once that value is fixed, never as a false alarm). A check across
    sections (the whole spec's) still waits for a section's own cross-field problem to be fixed."""
    import copy

    trimmed, left_out = copy.deepcopy(raw), []
    for problem in error.errors():
        loc = [part for part in problem["loc"] if not _is_union_tag(part)]
        if problem["type"] == "missing" or (problem["type"] == "value_error" and _allowed_keys(loc)):
            continue  # nothing to leave out: a missing key, or a section's own cross-field problem
        removed = _remove_innermost_key(trimmed, loc)
        if removed is not None:
            left_out.append(removed)
    if not left_out:
        return []
    try:
        PipelineSpec.model_validate(trimmed)
    except ValidationError as second:
        words = {word for loc in left_out for word in (str(loc[-1]), _default_repr(loc)) if word}
        found = [_describe(e, node) for e in second.errors() if e["type"] == "value_error"]
        return [text for text in found
                if not any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) for word in words)]
    return []


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {"\n": "a newline (\\n)", "\r": "a carriage return (\\r)", "\t": "a tab (\\t)",
                  "\x00": "a NUL (\\x00)", "\x1b": "an escape (\\x1b)"}


def _control_characters(raw: Any, node: yaml.Node | None, loc: tuple = ()) -> list[str]:
    """Control characters in the values of PATH_KEYS (at any depth), one problem per key."""
    problems = []
    for key, value in raw.items() if isinstance(raw, dict) else ():
        inside = (*loc, key)
        if isinstance(value, dict):
            problems += _control_characters(value, node, inside)
        elif isinstance(value, str) and any(str(k) in PATH_KEYS for k in inside):
            found = _CONTROL.search(value)
            if found:
                problems.append(_control_problem(inside, node, value, found))
    return problems


def _control_problem(loc: tuple, node: yaml.Node | None, text: str, found: re.Match) -> str:
    key = ".".join(str(p) for p in loc)
    line = _line_of(node, list(loc))
    char = found.group()
    name = _CONTROL_NAMES.get(char, f"the control character U+{ord(char):04X}")
    return (f"key {key!r}" + (f" (line {line})" if line else "") + f": {_short(text)} holds {name} at "
            f"character {found.start() + 1}; a path with control characters could print forged lines on the "
            "console and in the logs: remove it")


def _remove_innermost_key(raw: dict, loc: list[Any]) -> list[Any] | None:
    """Remove the innermost mapping key on the path `loc` from `raw` (an invalid list element
    leaves out the whole list); returns the path of the removed key, or None when `loc` is not
    there (already left out with a key above it)."""
    node: Any = raw
    path: list[Any] = []
    innermost = None  # (mapping, key, path to the key)
    for part in loc:
        if isinstance(node, dict) and part in node:
            path = [*path, part]
            innermost, node = (node, part, path), node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path, node = [*path, part], node[part]
        else:
            return None
    if innermost is None:
        return None
    mapping, key, removed = innermost
    del mapping[key]
    return removed


def _default_repr(loc: list[Any]) -> str:
    """repr() of the default of the field at `loc` when it is text ("'adam'"), else ""."""
    fields = _allowed_fields(loc[:-1])
    field = fields.get(str(loc[-1])) if fields else None
    default = field.get_default(call_default_factory=True) if field is not None else None
    return repr(default) if isinstance(default, str) else ""


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    context = f" ({error.context})" if error.context else ""
    return f"not valid YAML{where}: {error.problem}{context}"


def _check_graph(root: yaml.Node) -> None:
    """Duplicate keys, and the size the document expands to through aliases (nodes are shared,
    so it is counted without expanding anything)."""
    sizes: dict[int, int] = {}
    order, stack, seen = [], [root], set()
    while stack:  # post-order without recursion
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        children = _children(node)
        stack.extend(children)
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in keys:
                        raise _Refused(f"key {key.value!r} appears twice in one mapping (lines "
                                       f"{keys[key.value]} and {key.start_mark.line + 1}); YAML would "
                                       "silently keep only the last one: remove or merge one of them")
                    keys[key.value] = key.start_mark.line + 1
    for node in reversed(order):
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in _children(node))
        if sizes[id(node)] > MAX_VALUES:
            raise _Refused(f"the YAML expands to more than {MAX_VALUES:,} values (aliases that refer to "
                           "aliases?); a pipeline spec is far smaller")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _resolve_paths(spec: PipelineSpec, base_dir: Path) -> PipelineSpec:
    """Local paths (file:// URIs as plain paths) are relative to the YAML file; remote URIs (gs://,
    s3://, ...) stay as they are."""
    if not is_uri(spec.data.path):
        spec.data.path = str((base_dir / local_path(spec.data.path)).resolve())
    if spec.schema_.path and not is_uri(spec.schema_.path):
        spec.schema_.path = str((base_dir / local_path(spec.schema_.path)).resolve())
    return spec


def is_uri(path: str) -> bool:
    """A remote URI (gs://, s3://, ...): the core's one rule, pipelines.core.uris.is_remote (a
    file:// URI is a local path)."""
    return is_remote(path)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(error: Mapping[str, Any], node: yaml.Node | None) -> str:
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    # Validators of a whole section name the field they refuse: "field.path: why".
    head, sep, rest = message.partition(": ")
    if kind == "value_error" and sep and all(p.isidentifier() for p in head.split(".")):
        named = head.split(".")  # a field validator's own field is already the last part of loc
        loc, message = (loc if loc[-len(named):] == named else loc + named), rest
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(node, loc)
    where = f"key {key!r}" + (f" (line {line})" if line else "")
    value = error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed)
        return f"{where}: unknown key; allowed here: {', '.join(allowed) or '(none)'}{hint}"
    if kind == "missing":
        return f"{where}: required, but missing"
    if kind in ("literal_error", "enum"):
        allowed = _literal_values(error)
        hint = did_you_mean(str(value), allowed)
        return f"{where}: {_short(value)} is not allowed; expected one of: {', '.join(allowed)}{hint}"
    if kind == "string_pattern_mismatch":
        rule = PATTERN_RULES.get(str(loc[-1]) if loc else "", "the expected form")
        return f"{where}: {_short(value)} does not follow the rule: {rule}"
    if kind in ("int_type", "float_type", "bool_type", "string_type", "list_type", "dict_type", "model_type"):
        expected = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false",
                    "string_type": "text", "list_type": "a list", "dict_type": "a mapping",
                    "model_type": "a mapping of its settings"}[kind]
        return f"{where}: expected {expected}, got {_kind(value)} {_short(value)}"
    if kind in ("less_than_equal", "less_than") and loc and str(loc[-1]) in WORK_BOUNDS:
        bound = error.get("ctx", {}).get("le", error.get("ctx", {}).get("lt"))
        return (f"{where}: {_short(value)} is too large; expected at most {bound}: "
                f"{WORK_BOUNDS[str(loc[-1])]}")
    if kind == "greater_than_equal" and loc and str(loc[-1]) in ("seed", "shuffle_seed"):
        return f"{where}: {_short(value)} is negative; {WORK_BOUNDS[str(loc[-1])]}"
    if kind == "finite_number":
        return f"{where}: expected a finite number, got {_short(value)}"
    if isinstance(value, (dict, list)) or "got" in message:
        return f"{where}: {message}"
    return f"{where}: {message} (got {_short(value)})"


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the member type to the location of errors inside a union, e.g.
    # ('validation', 'fail_on', "literal['any']"); users never wrote those.
    return isinstance(part, str) and ("[" in part or part in ("list", "str", "dict", "int", "float", "bool"))


def _literal_values(error: Mapping[str, Any]) -> list[str]:
    expected = error.get("ctx", {}).get("expected", "")
    return [v.strip().strip("'\"") for v in expected.replace(" or ", ", ").split(",") if v.strip()]


def _allowed_keys(loc: list[Any]) -> list[str]:
    """The keys allowed in the mapping at `loc` (a section, or the value of a dict entry)."""
    return list(_allowed_fields(loc))


def _allowed_fields(loc: list[Any]) -> dict[str, Any]:
    """The fields (key -> pydantic FieldInfo) of the mapping at `loc`, or {} when it is no section."""
    annotation: Any = PipelineSpec
    skip_key = False
    for part in loc:
        if skip_key:  # a key of a dict-valued field (a metric, a component id): its value's model
            skip_key = False
            continue
        model = _model_in(annotation)
        if model is None:
            return {}
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        if part not in fields:
            return {}
        annotation = fields[part].annotation
        skip_key = _is_dict(annotation)
    model = _model_in(annotation)
    if model is None:
        return {}
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def _is_dict(annotation: Any) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    return any(_is_dict(arg) for arg in typing.get_args(annotation))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and args:
        args = args[1:]
    for arg in args:
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


def as_spec(spec_or_path: PipelineSpec | str | Path) -> PipelineSpec:
    """A PipelineSpec as given, or loaded from a path (SpecError when it is not a valid spec)."""
    if isinstance(spec_or_path, PipelineSpec):
        return spec_or_path
    if isinstance(spec_or_path, (str, Path)):
        return load_spec(spec_or_path)
    raise TypeError("expected a PipelineSpec or the path of a pipeline YAML, got "
                    f"{type(spec_or_path).__name__}")


__all__ = ["URI_SCHEMES", "SpecError", "as_spec", "is_uri", "load_spec", "parse_spec"]
