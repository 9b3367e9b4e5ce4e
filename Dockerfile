# syntax=docker/dockerfile:1
# The archive's CUDA-capable image. Users build it (`make docker-build`) and run it
# (`make docker-run`) with Docker or podman (ENGINE=...). `make image-test` builds it here
# with podman from a locally bootstrapped Debian base and runs `make quick` inside it.
#
# CUDA: the pinned torch wheel carries the CUDA 13 runtime libraries (the nvidia-*
# pins in requirements.lock); the host's driver comes in through the NVIDIA Container
# Toolkit (`docker run --gpus all`, podman: `--device nvidia.com/gpu=all`). Debian
# bookworm + Python 3.11 match the machines the archive is developed and tested on.
#
# BASE: the official image, its tag kept for readability and pinned by digest for users
# who pull it (the digest of the linux/amd64 index as public digest-pinned Dockerfiles
# record it; these machines cannot reach a registry to re-check it). `make image-test`
# passes a locally built base instead; `synaudio doctor` prints the image's Python
# against the lock's.
ARG BASE=docker.io/library/python:3.11.7-slim-bookworm@sha256:d11b9bd5e49ea7401753d78f4d3b56f3aec952b85b49bcae88981f0452818e0b
FROM ${BASE}

# The user the container runs as; `make docker-build` passes your own ids so files
# written to the mounted checkout stay yours (and DVC's git library, which ignores
# git's safe.directory, sees a repository owned by the running user).
ARG UID=1000
ARG GID=1000

# HOME: a container run as another UID than the build's has no home directory, and the
# caches of pip, DVC, MLflow and matplotlib need a writable one; the install step leaves
# nothing there (what the build wrote as root under /tmp/.config would be unreadable).
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

# Install through the same target as the README, from the same lock, at the path the
# checkout is mounted at when the image runs: `make`'s install stamps name the lock's
# content and the checkout's path, so a run with an unchanged lock and pyproject installs
# nothing, and the editable install already points at the mounted sources.
WORKDIR /workspace
COPY Makefile pyproject.toml requirements.lock README.md ./
COPY src ./src
# Package access behind a proxy or a private index: pass your pip configuration and CA
# bundle as build secrets (README, "Docker"); they are mounted for this step only and
# never stored in the image. Without them pip uses PyPI directly.
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=cacert \
    if [ -f /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
 && if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
 && make install \
 && rm -rf /var/lib/apt/lists/* \
 && find /tmp -mindepth 1 -delete \
 && if [ "${UID}" != 0 ]; then \
      groupadd --gid "${GID}" synaudio \
      && useradd --uid "${UID}" --gid "${GID}" --create-home synaudio \
      && chown -R "${UID}:${GID}" /opt/venv; \
    fi

# At run time the checkout is mounted at /workspace (over the copy above); HOME=/tmp keeps
# the caches writable for whichever UID the container runs as.
USER ${UID}:${GID}
CMD ["make", "all"]
