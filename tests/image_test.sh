#!/usr/bin/env bash
# The user's `docker build` / `docker run` path, end to end, with podman (these machines run
# no Docker engine; Debian's podman runs daemonless): build the image through
# `make docker-build` from a locally bootstrapped Debian base (no registry pull), then
# `make docker-run TARGET=quick` on a fresh clone of HEAD mounted at /workspace, networking
# off, as an unprivileged UID; check the quick run's report, run the scale-out tests that
# need the image's own servers and processes (the MLflow server on PostgreSQL + S3, DDP
# training over two processes) inside it, and check that a second run with an unchanged
# lock installs nothing.
#
# The engine settings these machines need (vfs storage, chroot isolation, runc, no default
# ulimits) and their package access (pip configuration, CA bundle, local wheel indexes)
# are passed here, never written into the Dockerfile or the Makefile's defaults.
#
#     bash tests/image_test.sh   (make image-test; IMAGE_TEST_DIR=<dir> for its storage,
#                                IMAGE_TEST_KEEP=1 to keep the image and the clone after it)
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=${IMAGE_TEST_DIR:-/var/tmp/synaudio-image-test}
base=localhost/synaudio-test-base:bookworm
image=localhost/synaudio:image-test
user=4242:4242 # not the build's default UID, not root: HOME and caches must still be writable
started=$(date +%s)
say() { echo "image-test [$(($(date +%s) - started)) s]: $*"; }

missing=$(for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || echo "$tool"; done)
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing$(printf ' %s' $missing); install them with: sudo apt-get install -y podman runc debootstrap" >&2
    exit 1
  fi
  say "installing podman, runc, debootstrap (Debian)"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    podman runc debootstrap >/dev/null
fi

mkdir -p "$work"
# crun's default rlimits and cgroups are refused on these machines; runc without them works
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
engine="podman --storage-driver vfs --root $work/storage --runroot $work/run"
# vfs copies the whole tree for every layer: one run leaves ~37 GB of storage, which once
# left CI's next step without disk. Remove it on exit (logs stay); IMAGE_TEST_KEEP=1 keeps it.
cleanup() {
  [ "${IMAGE_TEST_KEEP:-0}" = 1 ] && return
  rm -rf "$work/storage" "$work/run" "$work/clone"
  say "removed the image storage and the clone from $work (IMAGE_TEST_KEEP=1 keeps them)"
}
trap cleanup EXIT

if ! $engine image exists "$base"; then
  say "bootstrapping a Debian bookworm base (debootstrap, minbase) with Python 3.11"
  rm -rf "$work/rootfs" "$work/base-context" && mkdir -p "$work/base-context"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
  tar -C "$work/rootfs" -c . | $engine import - localhost/synaudio-test-debootstrap:bookworm >/dev/null
  rm -rf "$work/rootfs"
  printf '%s\n' 'FROM localhost/synaudio-test-debootstrap:bookworm' \
    'RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates && rm -rf /var/lib/apt/lists/*' \
    >"$work/base-context/Containerfile"
  $engine build -q --isolation chroot --network host --pull=never -t "$base" "$work/base-context" >/dev/null
fi

clone="$work/clone"
rm -rf "$clone" && git clone -q "$repo" "$clone"

# This machine's package access, as a user behind a private index would pass theirs: the
# merged pip configuration as a build secret (PIP_CONF), the CA bundle as another
# (CA_BUNDLE), and the local directories that configuration names mounted read-only.
pip_conf="$work/pip.conf"
{
  echo "[global]"
  python3 -m pip config list 2>/dev/null | sed -E "s/^(global|:env:)\.//; s/^([a-z-]+)='(.*)'$/\1 = \2/" \
    | grep -v -E '^(cert|disable-pip-version-check) ' | awk '!seen[$1]++' || true
} >"$pip_conf"
ca_bundle=$(python3 -m pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)
mounts=""
for path in $(grep -o -E '(file://)?/[^ ]+' "$pip_conf" | sed 's|^file://||'); do
  dir=$path && [ -d "$dir" ] || dir=$(dirname "$path")
  case "$dir" in /opt/* | /etc/xdg/*) dir=$(echo "$dir" | cut -d/ -f1-3) ;; esac
  [[ " $mounts " == *" -v $dir:$dir:ro "* ]] || mounts="$mounts -v $dir:$dir:ro"
done

$engine image prune -f >/dev/null # earlier builds' layers: vfs stores every layer in full
say "building the image through make docker-build (log: $work/build.log)"
make -C "$clone" --no-print-directory docker-build ENGINE="$engine" IMAGE="$image" BASE="$base" \
  RUN_USER=1000:1000 PIP_CONF="$pip_conf" CA_BUNDLE="$ca_bundle" \
  BUILD_OPTS="--isolation chroot --network host --pull=never$mounts" >"$work/build.log" 2>&1 ||
  {
    tail -20 "$work/build.log" >&2
    exit 1
  }
grep -q "^ok: python" "$work/build.log" # synaudio doctor ran inside the build
say "$(grep '^ok: python' "$work/build.log")"

chown -R "$user" "$clone"
run() {
  make -C "$clone" --no-print-directory docker-run ENGINE="$engine" IMAGE="$image" GPUS= RUN_USER="$user" \
    RUN_OPTS="--network none" TARGET="$1"
}
say "make quick inside the container, network off, as UID ${user%%:*} (log: $work/quick.log)"
run quick >"$work/quick.log" 2>&1 || {
  tail -30 "$work/quick.log" >&2
  exit 1
}
for page in index.html speech.html; do
  grep -q 'id="provenance-table"' "$clone/build/quick/reports/$page"
done
if grep "pip install" "$work/quick.log"; then
  echo "error: the run installed dependencies although the lock is the image's" >&2
  exit 1
fi
# issue 19's engines in the image: PostgreSQL, the S3 store and mlflow server, gloo DDP
for test in test_two_trainings_at_once_log_to_the_shared_server test_two_ddp_processes_train_one_model \
  test_a_killed_ddp_run_resumes_to_the_uninterrupted_weights; do
  say "inside the container: $test (log: $work/$test.log)"
  run "test TEST_WORKERS=0 PYTEST_ARGS=tests/test_scaleout.py::$test" >"$work/$test.log" 2>&1 || {
    tail -30 "$work/$test.log" >&2
    exit 1
  }
  grep -q "1 passed" "$work/$test.log"
done
second=$(run install 2>&1)
if grep "pip install" <<<"$second"; then
  echo "error: a second run with an unchanged lock installed dependencies" >&2
  exit 1
fi
say "second run with the same lock: make install ran no install command"
say "passed: image built, make quick and the scale-out tests green inside it with --network none, no install at run time"
