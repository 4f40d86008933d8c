# Component image for Kubeflow Pipelines (every step of `mtl compile --target kubeflow` runs in it): the
# project, its locked dependencies and the KFP v2 executor protos. Build from the repository root:
#   docker build -t <registry>/tfx-mtl:0.1.0 .   then set orchestration.image (or pass --image) to that tag.
# Python 3.10 + glibc 2.36 (bookworm): what TFX 1.16 and its ml-metadata wheels need.
FROM python:3.10.13-slim-bookworm

# Keras 2 (tf_keras) for the TFX Keras path: must be set before TensorFlow is first imported.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (cached layer): exactly the lock `make install` uses, plus kfp-pipeline-spec (the
# KubeflowV2 executor entrypoint reads its protos), pinned as in requirements-test.lock.
COPY requirements.lock ./
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache -r requirements.lock kfp-pipeline-spec==0.2.2

# The project (its packages are imported by the components: components.transform.preprocessing_fn,
# trainer.run.run_fn, components.gates), plus the configs and curated schemas that relative config paths name.
COPY setup.py README.md ./
COPY pipeline ./pipeline
COPY components ./components
COPY trainer ./trainer
COPY serving ./serving
COPY configs ./configs
COPY schema ./schema
RUN uv pip install --system --no-cache --no-deps . \
 && python -c "import pipeline, components.transform, trainer.run, serving.contract"

# No ENTRYPOINT: the compiled spec gives each step its command (TFX's kubeflow_v2_run_executor).
