#!/usr/bin/env bash
# Build the domaintune image from the Dockerfile, with what this machine has:
#
#   scripts/container-image.sh [TAG]      # default TAG: localhost/domaintune:latest
#
# - the CPU torch wheel that pip finds on this machine (a find-links dir, e.g. /opt/wheels) is
#   staged into container/wheels/ (git-ignored; hard-linked when possible) and pinned exactly
#   (TORCH_SPEC=torch==VERSION+cpu); without one, the Dockerfile's default (PyTorch CPU index);
# - the CA bundle pip uses here (pip config `cert` / PIP_CERT) is passed as the build secret
#   pip_cert, for a TLS-intercepting proxy between the build and PyPI;
# - BASE (default: localhost/domaintune-base when that image exists, else python:3.11-slim).
# Environment: RUNTIME (podman|docker), BASE, TORCH_VERSION (default 2.13.0, as the Makefile),
# TORCH_SPEC / TORCH_PIP_ARGS (override the choice above), PIP (the pip to ask, default
# `python3 -m pip`), BUILD_ARGS (more arguments for `build`, e.g. --no-cache).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-localhost/domaintune:latest}"
RUNTIME="${RUNTIME:-$(command -v podman || command -v docker || true)}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PIP="${PIP:-python3 -m pip}"

die() { echo "container-image: $*" >&2; exit 1; }
[ -n "$RUNTIME" ] || die "expected podman or docker on PATH, found neither; install one, e.g. apt-get install podman"

if [ -z "${BASE:-}" ]; then
    if "$RUNTIME" image inspect localhost/domaintune-base >/dev/null 2>&1; then
        BASE=localhost/domaintune-base
    else
        BASE=python:3.11-slim
    fi
fi

args=(--build-arg "BASE=$BASE" -t "$TAG" -f Dockerfile)
# podman writes OCI images by default, and the OCI format has no HEALTHCHECK
case "$(basename "$RUNTIME")" in podman*) args+=(--format docker) ;; esac

if [ -z "${TORCH_SPEC:-}" ]; then
    # a CPU wheel in pip's find-links here (pip config / PIP_FIND_LINKS): stage it into the context
    for dir in $($PIP config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p") \
               ${PIP_FIND_LINKS:-}; do
        for wheel in "$dir"/torch-"$TORCH_VERSION"+cpu-cp311-cp311-*linux*_x86_64.whl; do
            [ -f "$wheel" ] || continue
            mkdir -p container/wheels
            name="$(basename "$wheel")"
            [ -f "container/wheels/$name" ] \
                || ln -f "$wheel" "container/wheels/$name" 2>/dev/null \
                || cp "$wheel" "container/wheels/$name"
            echo "container-image: torch from $wheel (staged in container/wheels/)"
            TORCH_SPEC="torch==$TORCH_VERSION+cpu"
            TORCH_PIP_ARGS="${TORCH_PIP_ARGS-}"
            break 2
        done
    done
fi
[ -n "${TORCH_SPEC:-}" ] && args+=(--build-arg "TORCH_SPEC=$TORCH_SPEC")
[ -n "${TORCH_PIP_ARGS+set}" ] && args+=(--build-arg "TORCH_PIP_ARGS=$TORCH_PIP_ARGS")

cert="${PIP_CERT:-$($PIP config get global.cert 2>/dev/null || true)}"
[ -n "$cert" ] && [ -f "$cert" ] && args+=(--secret "id=pip_cert,src=$cert")

echo "container-image: $RUNTIME build ${args[*]} ${BUILD_ARGS:-} ."
start=$(date +%s)
previous="$("$RUNTIME" image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
# shellcheck disable=SC2086  # BUILD_ARGS is a list of words
"$RUNTIME" build "${args[@]}" ${BUILD_ARGS:-} .
# the image this tag named before is now untagged: remove it (its shared layers stay)
if [ -n "$previous" ] && [ "$previous" != "$("$RUNTIME" image inspect --format '{{.Id}}' "$TAG")" ]; then
    "$RUNTIME" rmi "$previous" >/dev/null 2>&1 || true
fi
echo "container-image: $TAG built in $(( $(date +%s) - start )) s," \
     "$("$RUNTIME" image inspect --format '{{.Size}}' "$TAG") bytes"
