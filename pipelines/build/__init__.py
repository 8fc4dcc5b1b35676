"""From a checked spec to a TFX pipeline: the pre-run checks (`checks.preflight`), the compiler and
the lean TFX imports. Knows nothing of where or how the pipeline runs."""
