#!/usr/bin/env bash
# Build a local base image equivalent to python:3.11-slim from Debian packages, for machines that
# reach Debian's mirror but no container registry (no image can be pulled there).
#
#   scripts/container-base.sh [TAG]        # default TAG: localhost/domaintune-base
#
# debootstrap --variant=minbase bookworm + Debian's python3 (3.11) with venv/ensurepip, imported
# as an image with `podman import` (or `docker import`). Nothing is done when TAG already exists
# (FORCE=1 rebuilds). Needs root (debootstrap chroots) and debootstrap (apt-get install debootstrap).
# Environment: RUNTIME (podman|docker, default: the first found), DEBIAN_MIRROR (default: the
# mirror this machine's apt uses, else http://deb.debian.org/debian), SUITE (default bookworm),
# WORKDIR (scratch space, default /var/tmp; the rootfs is ~250 MB and removed afterwards).
set -euo pipefail

TAG="${1:-localhost/domaintune-base}"
SUITE="${SUITE:-bookworm}"
RUNTIME="${RUNTIME:-$(command -v podman || command -v docker || true)}"

die() { echo "container-base: $*" >&2; exit 1; }

[ -n "$RUNTIME" ] || die "expected podman or docker on PATH, found neither; install one, e.g. apt-get install podman"
if [ -z "${FORCE:-}" ] && "$RUNTIME" image inspect "$TAG" >/dev/null 2>&1; then
    echo "container-base: $TAG exists (FORCE=1 rebuilds it)"
    exit 0
fi
command -v debootstrap >/dev/null || die "expected debootstrap, found none; install it: apt-get install debootstrap"
[ "$(id -u)" = 0 ] || die "expected to run as root (debootstrap chroots), found uid $(id -u); run it with sudo"

if [ -z "${DEBIAN_MIRROR:-}" ]; then
    # the first Debian archive URI that apt uses here (deb822 .sources or one-line .list files)
    DEBIAN_MIRROR="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')"
    [ -n "$DEBIAN_MIRROR" ] || DEBIAN_MIRROR="$(cat /etc/apt/sources.list 2>/dev/null \
        | awk '/^deb / && $2 ~ /debian\/?$/ {print $2; exit}')"
    DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

scratch="$(mktemp -d "${WORKDIR:-/var/tmp}/domaintune-base.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
rootfs="$scratch/rootfs"

echo "container-base: debootstrap $SUITE from $DEBIAN_MIRROR into $rootfs"
start=$(date +%s)
# python3-venv brings ensurepip's pip wheel; python-is-python3 gives `python` as in python:*-slim;
# libgomp1 is OpenMP, which LightGBM's wheel links against.
debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates,libgomp1 \
    "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$scratch/debootstrap.log" 2>&1 \
    || { tail -20 "$scratch/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

# slim it like the official images: no apt lists or caches, docs, man pages or locales
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
# the sources the image's apt uses (a later `apt-get update` in a Dockerfile)
echo "deb $DEBIAN_MIRROR $SUITE main" >"$rootfs/etc/apt/sources.list"

tar -C "$rootfs" --numeric-owner -c . | "$RUNTIME" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
echo "container-base: $TAG built in $(( $(date +%s) - start )) s ($("$RUNTIME" image inspect --format '{{.Size}}' "$TAG") bytes)"
"$RUNTIME" run --rm "$TAG" python --version \
    || echo "container-base: $TAG cannot run here yet; on our Debian VMs scripts/container-host.sh" \
            "configures podman for them" >&2
