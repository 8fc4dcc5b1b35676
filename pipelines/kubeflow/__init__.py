"""Kubeflow Pipelines v2 / Vertex AI: the compiler's additions (container image, env, secrets,
resources, caching) and the compile entry point."""
