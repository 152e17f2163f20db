#!/usr/bin/env bash
# Make rootful podman run containers on a machine like our CI VMs (Debian bookworm, root, no
# container daemon, no registry access), then check it with one container:
#
#   scripts/container-host.sh [IMAGE]       # IMAGE to try, default localhost/domaintune-base
#
# 1. installs Debian's podman, runc and debootstrap where they are missing (apt-get);
# 2. builds IMAGE with scripts/container-base.sh when it is localhost/domaintune-base and missing;
# 3. if `podman run IMAGE true` fails the way it does on those VMs, writes the drop-in
#    /etc/containers/containers.conf.d/50-domaintune.conf:
#    - "setrlimit RLIMIT_NOFILE/NPROC: Operation not permitted": podman raises the containers'
#      open-file and process limits above the VM's hard limits, which needs CAP_SYS_RESOURCE
#      (not granted here): default_ulimits at the VM's own hard limits instead;
#    - "crun: cgroups in hybrid mode not supported": crun refuses cgroup v1+v2 hybrids:
#      runtime = "runc".
# Nothing is written where containers already run. Needs root. Docker users need none of this.
set -euo pipefail

IMAGE="${1:-localhost/domaintune-base}"
DROPIN=/etc/containers/containers.conf.d/50-domaintune.conf
die() { echo "container-host: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "expected root (apt-get, /etc/containers), found uid $(id -u)"
missing=""
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    command -v apt-get >/dev/null || die "expected$missing or apt-get to install them, found neither"
    echo "container-host: apt-get install$missing"
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! podman image inspect "$IMAGE" >/dev/null 2>&1; then
    [ "$IMAGE" = localhost/domaintune-base ] \
        || die "image $IMAGE is not here, so nothing can be tried; build it or pull it first"
    "$(dirname "$0")/container-base.sh" "$IMAGE"
fi

try() { podman run --rm "$IMAGE" true 2>&1; }
if out="$(try)"; then
    echo "container-host: podman runs containers ($(podman info --format '{{.Host.OCIRuntime.Name}}'))"
    exit 0
fi
echo "container-host: podman run fails: $out"
case "$out" in
    *setrlimit*|*"setting rlimit"*|*"cgroups in hybrid mode"*) ;;
    *) die "not a failure this script knows how to fix (see above)" ;;
esac

runtime=""
case "$out" in *"cgroups in hybrid mode"*) runtime=runc ;; esac
# conmon, which starts the runtime, may itself run under lower limits than this shell
nofile="$(ulimit -Hn)"
nproc="$(ulimit -Hu)"
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
mkdir -p "$(dirname "$DROPIN")"
{
    echo "# written by domaintune's scripts/container-host.sh: $out"
    echo "[containers]"
    echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    if [ -n "$runtime" ]; then echo "[engine]"; echo "runtime = \"$runtime\""; fi
} >"$DROPIN"
echo "container-host: wrote $DROPIN"
# crun's hybrid-cgroup refusal shows only once the rlimits pass: one more round if needed
if ! out="$(try)" && [ -z "$runtime" ] && [[ "$out" == *"cgroups in hybrid mode"* ]]; then
    printf '[engine]\nruntime = "runc"\n' >>"$DROPIN"
    echo "container-host: crun refuses this machine's hybrid cgroups: runtime = runc"
fi
out="$(try)" || die "podman run still fails: $out"
echo "container-host: podman runs containers now ($(podman info --format '{{.Host.OCIRuntime.Name}}'))"
