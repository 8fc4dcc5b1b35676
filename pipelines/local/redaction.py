"""Moved to pipelines/core/private.py (the report writes private files too, and pipelines/runs
imports no runner); this old import path re-exports it."""

from pipelines.core.private import (
    MASK,
    PRIVATE_DIR,
    PRIVATE_FILE,
    PrivateFileHandler,
    Redact,
    escaped_forms,
    open_private,
    private_dir,
    redact,
)

__all__ = ["MASK", "PRIVATE_DIR", "PRIVATE_FILE", "PrivateFileHandler", "Redact", "escaped_forms",
           "open_private", "private_dir", "redact"]
