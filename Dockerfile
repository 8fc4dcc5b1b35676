# The component image of the compiled Kubeflow pipeline: TFX 1.16's base image plus this project.
#   docker build -t registry.example.com/tfx-yaml-pipelines:0.1.0 .
# and set kubeflow.image in the pipeline YAML to that tag (the default is
# tfx-yaml-pipelines:<this package's version>, never :latest). Each task runs
#   python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...
# which imports this project's executors (components.*) and artifact types (components.Batches).
# The wheel's dependencies include TensorFlow Decision Forests 1.9.2 and YDF 0.9.0
# (trainer.model.type: gradient_boosted_trees); the build checks that TF-DF's inference op library
# loads against the image's TensorFlow (a mismatch fails here, not in the first tree run).
#
# The base image must be pinned by digest, so that a rebuild gets the same bytes (a tag can be
# moved to another image). Its digest could not be looked up where this file was written (no
# registry access), so it is a build argument; pin it when building:
#   docker buildx imagetools inspect tensorflow/tfx:1.16.0   # or: crane digest tensorflow/tfx:1.16.0
#   docker build --build-arg BASE_IMAGE=tensorflow/tfx:1.16.0@sha256:<digest> -t ... .
# and replace the default below with that digest once it is known.
ARG BASE_IMAGE=tensorflow/tfx:1.16.0
FROM ${BASE_IMAGE}

WORKDIR /pipeline
COPY scripts/constraints.txt scripts/constraints.txt
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY components components
COPY schemas schemas
RUN python -m pip install --no-cache-dir -c scripts/constraints.txt . \
 && python -c "import components; components.Batches" \
 && python -c "from components.common import forest_ops; assert forest_ops.register()" \
 && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin pipeline
ENV PYTHONUNBUFFERED=1
# Tasks run as an unprivileged user (numeric, so Kubernetes' runAsNonRoot can check it): the code
# and the installed packages are root's and read-only to it; it writes only to its home and /tmp.
USER 10001:10001
