# syntax=docker/dockerfile:1
# domaintune REST server, CPU only: `domaintune serve /model` on port 8000, as a non-root user,
# with the model directory (or ONNX export directory) mounted read-only at /model.
#
#   docker build -t domaintune .
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/models/tickets:/model:ro" domaintune
#
# Extra arguments go to `domaintune serve`, e.g. `... domaintune --api-key-env DOMAINTUNE_API_KEY`
# (with `-e DOMAINTUNE_API_KEY=...`). An app instead of the core server:
#   docker run ... --entrypoint support-bot domaintune serve /model --host 0.0.0.0 --port 8000
# Podman: `podman build --format docker ...` (the OCI format drops HEALTHCHECK).
#
# Build arguments:
#   BASE            the Python 3.11 base image (default python:3.11-slim; on machines that cannot
#                   pull images, scripts/container-base.sh builds one from Debian packages)
#   TORCH_SPEC      the torch requirement, pinned as the Makefile pins it
#   TORCH_PIP_ARGS  pip arguments for torch only; the default takes the CPU build from the
#                   PyTorch index (an open `torch` from PyPI is a multi-GB CUDA build)
#   PIP_ARGS        pip arguments for every install (e.g. --index-url of a PyPI mirror)
# Build secret (optional): `--secret id=pip_cert,src=CA_BUNDLE` for a TLS-intercepting proxy.
# Wheels staged in container/wheels/ (scripts/container-image.sh) are found by pip.

ARG BASE=python:3.11-slim
# One stage: the base has no compilers or caches to leave behind, and a second stage would copy
# the 2.2 GB venv once more (twice the disk, and a minute to hash it on every cached rebuild).
FROM ${BASE}
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
ARG PIP_ARGS=""
LABEL org.opencontainers.image.title="domaintune" \
      org.opencontainers.image.description="domaintune REST server (CPU): domaintune serve /model" \
      org.opencontainers.image.licenses="Apache-2.0"

# OpenMP for LightGBM (the recommender's ranker; the base of container-base.sh has it already),
# the non-root user the server runs as, and the mount point of the model
RUN if ! ldconfig -p | grep -q 'libgomp\.so\.1'; then \
        apt-get update && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 10001 domaintune \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/domaintune \
        --shell /usr/sbin/nologin domaintune \
    && mkdir /model

# pip's settings for the build only (ARGs are in the environment of RUN, not in the image)
ARG PIP_NO_CACHE_DIR=1
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_ROOT_USER_ACTION=ignore
ARG PIP_FIND_LINKS=/container/wheels
ENV PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

# torch first, on its own layer (the largest, and the one that needs the CPU build); its C++
# headers and test binaries serve only C++ extension builds (~145 MB)
RUN --mount=type=bind,source=container,target=/container \
    --mount=type=secret,id=pip_cert \
    if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip install $PIP_ARGS $TORCH_PIP_ARGS "$TORCH_SPEC" \
    && python -c "import torch; assert not torch.version.cuda, 'expected a CPU torch, found CUDA ' + torch.version.cuda" \
    && rm -rf /opt/venv/lib/python3.11/site-packages/torch/include \
              /opt/venv/lib/python3.11/site-packages/torch/test

# the dependencies, read from pyproject.toml: this layer is rebuilt only when it changes.
# seqeval is an sdist whose setup_requires fetches the newest setuptools_scm as an egg without
# that one's own dependency (vcs-versioning): it is built against a pip-installed setuptools_scm.
COPY pyproject.toml /tmp/src/
RUN --mount=type=bind,source=container,target=/container \
    --mount=type=secret,id=pip_cert \
    if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install $PIP_ARGS setuptools_scm \
    && pip install $PIP_ARGS --no-build-isolation "$(grep '^seqeval' /tmp/requirements.txt)" \
    && pip uninstall -y setuptools_scm vcs-versioning \
    && pip install $PIP_ARGS -r /tmp/requirements.txt \
    && python -c "import torch; assert not torch.version.cuda, 'a dependency replaced the CPU torch'" \
    && rm /tmp/requirements.txt

# the package itself (the core and the three apps) on small layers of its own: a code change
# rebuilds only these, with the dependencies as they are
COPY README.md /tmp/src/
COPY shared /tmp/src/shared
COPY apps /tmp/src/apps
RUN --mount=type=secret,id=pip_cert \
    if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip install $PIP_ARGS --no-deps /tmp/src \
    && pip check \
    && rm -rf /tmp/src

ENV PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_VERBOSITY=error \
    GRADIO_ANALYTICS_ENABLED=False
USER domaintune
WORKDIR /home/domaintune
# the model: -v DIR:/model:ro (no VOLUME instruction: it would mount an empty anonymous volume
# when none is given, and the server would then fail on an empty directory instead of saying so)
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# exec form: the server is PID 1 and receives SIGTERM (`docker stop`) itself, drains in-flight
# requests and exits 0; add `--init` to `docker run` for a reaper of stray child processes.
STOPSIGNAL SIGTERM
ENTRYPOINT ["domaintune", "serve", "/model", "--host", "0.0.0.0", "--port", "8000"]
CMD []
