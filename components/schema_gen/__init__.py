"""SchemaGen that holds a schema once a model serves: see component.py."""
