"""Pieces shared by this project's components: artifact types, the feature plan, file helpers."""
