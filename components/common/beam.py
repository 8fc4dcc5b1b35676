"""TFX's Beam executors on a DirectRunner: no TFX source package per stage.

Whenever a stage has beam_pipeline_args, TFX's BaseBeamExecutor packages TFX itself for remote
Beam workers (`tfx.utils.dependency_utils.make_beam_dependency_flags`): it copies the installed
tfx package to a new temporary folder and runs `setup.py sdist` there, about 1.3 s per Beam stage
on this project's machine, and leaves 49 MB in /tmp each time, never removed (one penguin run:
seven stages, 340 MB; the test suite filled a CI disk). A DirectRunner runs in this process, or
in a Kubeflow task's container where TFX is installed, and uses no package. So, for a
DirectRunner only, the arguments are left as they are; any other runner (Dataflow, Flink, Spark)
still gets TFX's package, and the user's own `--setup_file`/`--extra_package` win as before.

`use_installed_tfx_on_direct_runner()` is called by the two entry points that run executors: the
local runner and the Kubeflow task container.
"""

from __future__ import annotations

import os

DIRECT_RUNNERS = {"", "direct", "directrunner", "switchingdirectrunner", "bundlebaseddirectrunner"}


def runner_of(beam_pipeline_args: list[str]) -> str:
    """The --runner of Beam arguments, lower case ('' when absent: Beam's DirectRunner)."""
    return flag_of(beam_pipeline_args, "--runner")


def flag_of(beam_pipeline_args: list[str], flag: str) -> str:
    """The last value of `flag` (--flag=value or --flag value), lower case ('' when absent)."""
    value = ""
    for i, arg in enumerate(beam_pipeline_args):
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(beam_pipeline_args):
            value = beam_pipeline_args[i + 1]
    return value.strip().lower()


def use_installed_tfx_on_direct_runner() -> None:
    from tfx.utils import dependency_utils

    original = getattr(dependency_utils.make_beam_dependency_flags, "original", None) \
        or dependency_utils.make_beam_dependency_flags

    def make_beam_dependency_flags(beam_pipeline_args: list[str]) -> list[str]:
        if runner_of(beam_pipeline_args) in DIRECT_RUNNERS:
            return list(beam_pipeline_args)
        return original(beam_pipeline_args)

    make_beam_dependency_flags.original = original  # type: ignore[attr-defined]  # what a test restores
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags


# StatisticsGen and Batching work in this process, without a Beam pipeline, on data up to a bound
# of bytes (each says of what), and ExampleGen wherever a DirectRunner would run in this process;
# this variable overrides the bounds (-1: always Beam, in all three), so that a benchmark can run
# one size both ways (benchmarks/scale.py --beam-only).
IN_MEMORY_ENV = "TFX_YAML_IN_MEMORY_BYTES"


def in_memory_bytes(default: int) -> int:
    value = os.environ.get(IN_MEMORY_ENV, "").strip()
    return int(value) if value else default


def runs_in_this_process(beam_pipeline_args: list[str]) -> bool:
    """Whether Beam would run a pipeline with these arguments in this very process: a DirectRunner
    in its in_memory (the default) or multi_threading mode, not in multi_processing mode (SDK
    worker processes) and not on a distributed runner."""
    return (runner_of(beam_pipeline_args) in DIRECT_RUNNERS
            and flag_of(beam_pipeline_args, "--direct_running_mode") != "multi_processing")
