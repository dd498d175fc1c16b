#!/usr/bin/env bash
# Whole-process baselines for the Docker executor, against the Podman store and
# service made by tests/docker/podman-service.sh:
#   1. `podman run --rm --network none IMAGE true`, N times in a shell loop
#   2. `podman run` producing ~10 MB of stdout to /dev/null (MB/s)
#   3. the Engine API's own cost, with curl over the socket: create (NetworkMode
#      none) -> start -> wait -> delete for `true`, N times
#   4. the Engine API's log stream: ~10 MB through GET /containers/{id}/logs?follow=1
#
# usage: bench/run_podman_loop.sh DIR [N]     (N defaults to 50)
# DIR is the directory given to `tests/docker/podman-service.sh start DIR`; the
# service is started here if it is not running. Prints `name: value unit` lines.
set -euo pipefail

DIR=${1:?usage: $0 DIR [N]}
N=${2:-50}
BYTES=${BENCH_OUTPUT_BYTES:-10000000}
REPS=${BENCH_OUTPUT_REPS:-3}
IMAGE=localhost/busybox:latest
here=$(cd "$(dirname "$0")" && pwd)
service=$here/../tests/docker/podman-service.sh

"$service" start "$DIR" >/dev/null
DIR=$(cd "$DIR" && pwd)
# shellcheck disable=SC1091
source "$DIR/env.sh"   # CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, DOCKER_HOST, PODMAN_ARGS
SOCK=${DOCKER_HOST#unix://}

now_ns() { date +%s%N; }
report() { echo "$1: $2 $3"; }
# div A B [scale]
fdiv() { awk -v s="${3:-3}" "BEGIN { printf \"%.*f\", s, ($1) / ($2) }"; }
api() { curl -sf --unix-socket "$SOCK" "$@"; }
json_id() { sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p'; }

echo "# podman $(podman --version | awk '{print $3}'), N=$N, $(nproc) cores" >&2

# 1. podman run loop ---------------------------------------------------------------
podman "${PODMAN_ARGS[@]}" run --rm --network none "$IMAGE" true   # warm-up
t0=$(now_ns)
for ((i = 0; i < N; i++)); do
  podman "${PODMAN_ARGS[@]}" run --rm --network none "$IMAGE" true
done
t1=$(now_ns)
el=$((t1 - t0))
report podman_run_true_per_s "$(fdiv "$N" "$el/1e9" 2)" runs/s
report podman_run_true_mean "$(fdiv "$el/1e6" "$N" 1)" ms

# 2. podman run with ~10 MB of stdout ---------------------------------------------
t0=$(now_ns)
for ((i = 0; i < REPS; i++)); do
  podman "${PODMAN_ARGS[@]}" run --rm --network none "$IMAGE" \
    sh -c "head -c $BYTES /dev/zero | tr '\\0' a" >/dev/null
done
t1=$(now_ns)
el=$((t1 - t0))
report podman_run_output_throughput "$(fdiv "$BYTES*$REPS/1e6" "$el/1e9" 1)" MB/s
report podman_run_output_mean "$(fdiv "$el/1e6" "$REPS" 1)" ms

# 3. Engine API create -> start -> wait -> delete ---------------------------------
body='{"Image":"'$IMAGE'","Cmd":["true"],"Labels":{"automate.execution":"bench"},"HostConfig":{"NetworkMode":"none"}}'
one_api_run() {
  local id
  id=$(api -X POST -H 'Content-Type: application/json' -d "$1" http://d/v1.41/containers/create | json_id)
  [[ -n "$id" ]] || { echo "create failed" >&2; exit 1; }
  api -X POST "http://d/v1.41/containers/$id/start" >/dev/null
  api -X POST "http://d/v1.41/containers/$id/wait" >/dev/null
  api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
}
one_api_run "$body"   # warm-up
t0=$(now_ns)
for ((i = 0; i < N; i++)); do one_api_run "$body"; done
t1=$(now_ns)
el=$((t1 - t0))
report api_create_start_wait_delete_mean "$(fdiv "$el/1e6" "$N" 1)" ms
report api_create_start_wait_delete_per_s "$(fdiv "$N" "$el/1e9" 2)" runs/s

# Per-step means (curl's own time_total for each request).
steps=$(for ((i = 0; i < N && i < 20; i++)); do
  out=$(api -X POST -H 'Content-Type: application/json' -d "$body" -w '\n%{time_total}' \
        http://d/v1.41/containers/create)
  id=$(head -1 <<<"$out" | json_id)
  printf 'create %s\n' "$(tail -1 <<<"$out")"
  printf 'start %s\n' "$(api -o /dev/null -w '%{time_total}' -X POST "http://d/v1.41/containers/$id/start")"
  printf 'wait %s\n' "$(api -o /dev/null -w '%{time_total}' -X POST "http://d/v1.41/containers/$id/wait")"
  printf 'delete %s\n' "$(api -o /dev/null -w '%{time_total}' -X DELETE "http://d/v1.41/containers/$id?force=1")"
done)
for s in create start wait delete; do
  report "api_${s}_mean" "$(awk -v s="$s" '$1 == s { t += $2; n++ } END { printf "%.1f", n ? 1000 * t / n : 0 }' <<<"$steps")" ms
done

# 4. Engine API log stream of ~10 MB -------------------------------------------------
lbody='{"Image":"'$IMAGE'","Cmd":["sh","-c","head -c '$BYTES' /dev/zero | tr \"\\\\0\" a"],"Labels":{"automate.execution":"bench"},"HostConfig":{"NetworkMode":"none"}}'
total=0
t0=$(now_ns)
for ((i = 0; i < REPS; i++)); do
  id=$(api -X POST -H 'Content-Type: application/json' -d "$lbody" http://d/v1.41/containers/create | json_id)
  api -X POST "http://d/v1.41/containers/$id/start" >/dev/null
  got=$(api "http://d/v1.41/containers/$id/logs?follow=1&stdout=1&stderr=1" | wc -c)
  total=$((total + got))
  api -X POST "http://d/v1.41/containers/$id/wait" >/dev/null
  api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
done
t1=$(now_ns)
el=$((t1 - t0))
report api_logs_follow_throughput "$(fdiv "$BYTES*$REPS/1e6" "$el/1e9" 1)" MB/s
report api_logs_follow_bytes_per_run "$((total / REPS))" bytes
