"""The command of every task container on Kubeflow:

    python -m components.common.container_entrypoint <TFX module> <its arguments...>

It does three things around TFX's own entry point (the executor runner, or ExampleGen's driver):

1. registers the object-store file systems in the process before TFX starts (tensorflow-io's
   s3://, through components.common.io), so that TFX's own executors (ExampleGen, StatisticsGen,
   SchemaGen, ExampleValidator) read and write s3:// artifacts as ours do;
2. keeps TFX from packaging itself for a DirectRunner (components.common.beam): the container
   has TFX installed;
3. ends the process with the module's own exit code once its output is flushed. tensorflow-io
   0.37.1's S3 client aborts at interpreter shutdown ("pure virtual method called", exit 134,
   tensorflow/io#2039), which would fail a task that did all its work.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m components.common.container_entrypoint MODULE [ARGS...]", file=sys.stderr)
        return 2
    import components.common.io  # noqa: F401  (registers s3://)
    from components.common.beam import use_installed_tfx_on_direct_runner

    use_installed_tfx_on_direct_runner()

    module, sys.argv = argv[0], argv
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 (reported like Python would, then the exit code)
        import traceback

        traceback.print_exc()
        code = 1
    return code


if __name__ == "__main__":
    exit_code = main(sys.argv[1:])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
