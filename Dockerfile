# datasetgan-pipeline: one image for the Prefect worker and the Dask scheduler and workers
# (docker-compose.yml). CPU only; torch is pinned exactly and taken from PyTorch's CPU index, so the
# image never pulls CUDA packages (see scripts/setup.sh for the same rule on a workstation).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATASETGAN_PROJECT_DIR=/opt/datasetgan \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /opt/datasetgan

# 1. torch (CPU wheel), before anything that depends on it.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"

# 2. the project and its pinned dependencies (prefect, prefect-dask, dask/distributed, h5py, ...).
#    Editable, so the flow files the deployments name (flows/*.py) are the package itself; it
#    installs as `datasetgan.*` only (no top-level models/storage/... on the path).
#    .dockerignore keeps the virtualenv, outputs, tests and caches out of the context.
COPY . .
RUN pip install -e . \
 && pip install --no-deps "lpips==0.1.4"

# Datasets, checkpoints and interpreters live on the shared volume mounted here.
VOLUME ["/data"]

CMD ["datasetgan", "--help"]
