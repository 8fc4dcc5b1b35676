"""Everything a run checks before it starts, in one place: `preflight` is what `run` (the local
runner, `tfx-yaml run`, `pipelines.run`) does before compiling and what `check` (`tfx-yaml check`,
`pipelines.check`) does instead of running. Nothing is written; the compiler
(pipelines/build/compiler.py) only compiles what passed."""

from __future__ import annotations

import os
import re

from components.common import io
from pipelines.build import checks, spans
from pipelines.spec import PipelineSpec, SpecError
from pipelines.spec.loader import is_uri


def preflight(spec: PipelineSpec, paths) -> checks.Findings:
    """The files the spec names and what they hold (data, schema, label, task, Beam arguments), the
    run root and a local destination writable, the ML Metadata store reachable. Raises SpecError
    (every problem of the spec and its files at once) or MetadataError; returns what was inferred
    from the data (the plan's lines: the task and why, each column; the task for the compiler)."""
    findings = check_inputs(spec)
    check_writable(spec, paths)
    paths.store.check()
    return findings


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_writable(spec, paths) -> None:
    """The run root and a local push destination must be writable folders: found before any work."""
    from components.common import io

    problems = []
    for key, path in (("runtime.root (or --root)", paths.root), ("pusher.destination", paths.destination)):
        if _CONTROL.search(path):  # --root is no key of the spec: the loader did not see it
            problems.append(f"key {key!r}: {path!r} holds a control character (a newline, CR, ESC, any C0 or "
                            "C1 code); a path with control characters could print forged lines on the "
                            "console and in the logs: remove it")
            continue
        if io.is_remote(path):
            continue
        problem = _unwritable(path)
        if problem:
            problems.append(f"key {key!r}: {path} {problem}")
    if problems:
        raise SpecError(spec.source, problems)


def _unwritable(path: str) -> str:
    """Why a folder cannot be created or written, or ""."""
    existing = path
    while not os.path.exists(existing):  # local-only: the closest existing parent of a local folder
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):  # local-only
        return f"cannot be a folder: {existing} is a file; choose another path"
    writable = os.access(existing, os.W_OK)  # local-only: a local folder (remote paths are skipped above)
    if existing.startswith(("/proc", "/sys", "/dev")) or not writable:
        return f"is not writable ({existing} is read-only for this user); choose a writable folder"
    return ""


def input_base_and_pattern(spec: PipelineSpec) -> tuple[str, str]:
    """ExampleGen's input base and file pattern. A local data.path may be one file; on an object
    store data.path is a folder (a prefix), so compiling never needs to reach the store."""
    path = spec.data.path
    if not is_uri(path) and io.isfile(path):
        return os.path.dirname(path), os.path.basename(path)
    default = "*.csv" if spec.data.format == "csv" else "*"
    return path, spec.data.pattern or default


def check_inputs(spec: PipelineSpec, remote: bool = True) -> checks.Findings:
    """Problems with the files the spec points at and with what they hold, as one SpecError
    listing them all (see pipelines/build/checks.py). Remote data (gs://, s3://) is checked too,
    unless `remote` is False (compiling for a cluster whose store this machine may not reach).
    Returns what the label's values and the columns say (empty where the data was not read)."""
    findings = checks.Findings()
    problems = checks.beam_problems(list(spec.runtime.beam_pipeline_args))
    if spec.schema_.path and (remote or not is_uri(spec.schema_.path)):
        if not io.exists(spec.schema_.path) or io.isdir(spec.schema_.path):
            problems.append(f"key 'schema.path': {spec.schema_.path} does not exist; "
                            "expected a schema.pbtxt, "
                            "or remove schema.path to infer the schema")
        elif kind := io.not_a_regular_file(spec.schema_.path):
            problems.append(f"key 'schema.path': {spec.schema_.path} is {kind}, not a regular file (reading "
                            "it would block or never end); expected a schema.pbtxt, or remove schema.path to "
                            "infer the schema")
        else:
            problems += checks.schema_problems(spec.schema_.path)
    if remote or not is_uri(spec.data.path):
        base, pattern = input_base_and_pattern(spec)
        patterns = list(spec.data.split_patterns.values()) if spec.data.split_patterns else [pattern]
        files = sorted({f for p in patterns for f in spans.data_files(base, p)})
        escaped = checks.outside_data_path(base, files)  # before anything reads them
        irregular = checks.irregular_files(spec, files)  # a FIFO or a device: never opened
        if escaped or irregular:
            problems += escaped + irregular
        elif not io.isdir(base):
            problems.append(f"key 'data.path': {spec.data.path} does not exist; "
                            "expected a directory or file of data")
        elif not files or not all(spans.data_files(base, p) for p in patterns):
            empty = [p for p in patterns if not spans.data_files(base, p)]
            problems.append(f"key 'data.path': no files match {', '.join(map(repr, empty))} under {base}")
        elif spec.data.format == "csv":
            problems += checks.csv_problems(spec, spans.latest_span(files, patterns), findings)
        elif spec.data.format == "parquet":  # every file's footer, before any work
            problems += checks.parquet_problems(spec, spans.latest_span(files, patterns))
    if problems:
        raise SpecError(spec.source, problems)
    return findings
