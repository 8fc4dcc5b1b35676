"""This package's version."""

from __future__ import annotations

import os
import re


def package_version() -> str:
    """This package's version: pyproject.toml's beside the sources, else the installed one's."""
    pyproject = os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml")
    if os.path.isfile(pyproject):  # local-only: the source tree
        with open(pyproject, encoding="utf-8") as f:  # local-only
            found = re.search(r'(?m)^version\s*=\s*"([^"]+)"', f.read())
        if found:
            return found.group(1)
    from importlib.metadata import version  # deferred: only an installed wheel needs it

    return version("tfx-yaml-pipelines")
