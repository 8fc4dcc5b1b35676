# The component image of the compiled Kubeflow pipeline: TFX 1.16's base image plus this project.
#   docker build -t registry.example.com/tfx-yaml-pipelines:0.1.0 .
# and set kubeflow.image in the pipeline YAML to that tag. Each task runs
#   python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...
# which imports this project's executors (components.*) and artifact types (components.Batches).
FROM tensorflow/tfx:1.16.0

WORKDIR /pipeline
COPY scripts/constraints.txt scripts/constraints.txt
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY components components
COPY schemas schemas
RUN python -m pip install --no-cache-dir -c scripts/constraints.txt . \
 && python -c "import components; components.Batches"
ENV PYTHONUNBUFFERED=1
