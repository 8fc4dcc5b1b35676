"""This project's TFX custom components, one folder each (component.py + executor.py)."""
