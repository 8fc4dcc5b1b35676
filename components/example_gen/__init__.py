"""ExampleGen for CSV files with a byte-order mark, another delimiter or encoding: see component.py."""
