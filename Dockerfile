# The archive's CUDA-capable image. Users build it (`make docker-build`) and run it
# (`make docker-run`); CI cannot: these machines have no Docker engine, so the tests
# lint this file with hadolint and check its structure instead.
#
# CUDA: the pinned torch wheel carries the CUDA 13 runtime libraries (the nvidia-*
# pins in requirements.lock); the host's driver comes in through the NVIDIA Container
# Toolkit (`docker run --gpus all`). Debian bookworm + Python 3.11.7 match the
# machines the archive is developed and tested on.
FROM python:3.11.7-slim-bookworm

# The user the container runs as; `make docker-build` passes your own ids so files
# written to the mounted checkout stay yours (and DVC's git library, which ignores
# git's safe.directory, sees a repository owned by the running user).
ARG UID=1000
ARG GID=1000

# HOME: a container run as another UID than the build's has no home directory, and the
# caches of pip, DVC, MLflow and matplotlib need a writable one.
ENV NVIDIA_VISIBLE_DEVICES=all \
    HOME=/tmp \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    VENV=/opt/venv \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLFLOW_DISABLE_TELEMETRY=true

# Only what `make` itself needs; `make install` adds the archive's Debian packages.
# The base image's tag pins the Debian release; its point updates move package
# versions, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*

# Install through the same target as the README, from the same lock.
WORKDIR /opt/synaudio
COPY Makefile pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN make install \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid "${GID}" synaudio \
 && useradd --uid "${UID}" --gid "${GID}" --create-home synaudio \
 && chown -R "${UID}:${GID}" /opt/venv

# At run time the checkout is mounted at /workspace; `make` finds the venv's stamps
# (nothing to reinstall) and points the editable install at the mounted sources.
USER ${UID}:${GID}
WORKDIR /workspace
CMD ["make", "all"]
