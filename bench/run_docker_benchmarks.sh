#!/usr/bin/env bash
# The docker executor's benchmarks (issue 4) in one go: container executions
# per second and log MB/s through the engine (docker_bench), beside the same
# containers driven by raw Engine API calls (docker_bench's baselines) and a
# shell loop of `podman run --rm` (bench/run_podman_loop.sh), all in the same
# run, then a summary with automate's per-execution overhead.
#
# Builds nothing: build first with
#   cmake --preset dev -B build/dev && ninja -C build/dev docker_bench
# Usage: bench/run_docker_benchmarks.sh [build_dir] [--quick]
#   build_dir  default build/dev
#   --quick    one repetition of each benchmark instead of three, and a
#              shorter podman loop (about 1 minute instead of 2.5)
# The daemon: if DOCKER_HOST points at the socket of a running
# tests/docker/podman-service.sh DIR, that service is used (and left running);
# another DOCKER_HOST is used for docker_bench only (the podman loop needs a
# podman-service.sh DIR and is skipped). Otherwise a Podman service is started
# in a temporary dir and stopped, and the dir removed, at exit.
# Engine state dirs go under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
service=$here/../tests/docker/podman-service.sh
build_dir=build/dev
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) build_dir="$arg" ;;
  esac
done
bench=$build_dir/bench/docker_bench
[[ -x "$bench" ]] || { echo "no $bench: build it first (ninja -C $build_dir docker_bench)" >&2; exit 1; }

if [[ $quick == 1 ]]; then reps=1; loop_n=15; else reps=3; loop_n=30; fi

out=$(mktemp -d "${TMPDIR:-/tmp}/automate_docker_bench.XXXXXX")
started_dir=""
cleanup() {
  if [[ -n "$started_dir" ]]; then
    "$service" stop "$started_dir" >/dev/null 2>&1 || true
    rm -rf "$started_dir"
  fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman_dir=""
if [[ -n "${DOCKER_HOST:-}" ]]; then
  sock=${DOCKER_HOST#unix://}
  if [[ "$DOCKER_HOST" == unix://* && "$(basename "$sock")" == podman.sock &&
        -f "$(dirname "$sock")/env.sh" ]] && "$service" status "$(dirname "$sock")"; then
    podman_dir=$(dirname "$sock")
    echo "using the running Podman service in $podman_dir"
  else
    echo "using DOCKER_HOST=$DOCKER_HOST (not a podman-service.sh dir: the podman loop is skipped)"
  fi
else
  # Short: the socket path (and conmon's under it) must fit a unix socket.
  started_dir=$(mktemp -d /tmp/adb.XXXXXX)
  line=$("$service" start "$started_dir" | tail -1)
  export DOCKER_HOST=${line#DOCKER_HOST=}
  podman_dir=$started_dir
fi

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r)"
echo "podman: $(podman --version 2>/dev/null | awk '{print $3}')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -n "$podman_dir" ]]; then
  echo "== bench/run_podman_loop.sh (N=$loop_n, 20 MB outputs)"
  BENCH_OUTPUT_BYTES=20000000 BENCH_OUTPUT_REPS=2 \
    "$here/run_podman_loop.sh" "$podman_dir" "$loop_n" | tee "$out/loop.txt"
else
  : > "$out/loop.txt"
fi

echo "== docker_bench (repetitions $reps, randomly interleaved)"
"$bench" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out/docker.json" --benchmark_out_format=json | tee "$out/docker.txt"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== summary"
python3 - "$out/docker.json" "$out/loop.txt" <<'PY'
import json, sys
from collections import defaultdict
doc = json.load(open(sys.argv[1]))
loop = {}
for line in open(sys.argv[2]):
    if ":" in line and not line.startswith("#"):
        key, value = line.split(":", 1)
        try:
            loop[key.strip()] = float(value.split()[0])
        except (ValueError, IndexError):
            pass
runs = defaultdict(list)  # run_name -> the repetitions' entries
for b in doc["benchmarks"]:
    if b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
        runs[b["run_name"]].append(b)
def find(prefix):
    for name, entries in runs.items():
        if name.startswith(prefix):
            return entries
    return []
def mean(prefix, key):
    values = [e[key] for e in find(prefix) if key in e]
    return sum(values) / len(values) if values else None
def spread(prefix, key, scale=1.0, fmt="{:.0f}"):
    values = sorted(e[key] * scale for e in find(prefix) if key in e)
    if len(values) < 2:
        return ""
    return " (runs " + "-".join(fmt.format(v) for v in (values[0], values[-1])) + ")"

eng = mean("BM_DockerExecutionsThroughEngine/concurrent:1/", "ms_per_exec")
api = mean("BM_DockerApiBaseline/concurrent:1/calls:0/", "ms_per_exec")
same = mean("BM_DockerApiBaseline/concurrent:1/calls:1/", "ms_per_exec")
if eng is None or api is None:
    print("missing results: see the benchmark output above")
    sys.exit(1)
def pct(a, b):
    return (a - b) / b * 100
print(f"per execution, one at a time (`true`, network none; mean of {len(find('BM_DockerApiBaseline/concurrent:1/calls:0/'))} runs):")
print(f"  automate (submit -> final, durable)     {eng:7.1f} ms{spread('BM_DockerExecutionsThroughEngine/concurrent:1/', 'ms_per_exec')}")
print(f"  raw API create/start/wait/delete        {api:7.1f} ms{spread('BM_DockerApiBaseline/concurrent:1/calls:0/', 'ms_per_exec')}")
if same is not None:
    print(f"  raw API, the executor's calls (+ logs)  {same:7.1f} ms{spread('BM_DockerApiBaseline/concurrent:1/calls:1/', 'ms_per_exec')}")
if "podman_run_true_mean" in loop:
    print(f"  podman run --rm, shell loop             {loop['podman_run_true_mean']:7.1f} ms")
if "api_create_start_wait_delete_mean" in loop:
    print(f"  curl create/start/wait/delete loop      {loop['api_create_start_wait_delete_mean']:7.1f} ms")
over = pct(eng, api)
print(f"overhead vs the raw API: {eng - api:+.1f} ms = {over:+.1f}%  (goal < 10%: {'MET' if over < 10 else 'NOT MET'})")
if same is not None:
    print(f"overhead vs the same calls made raw: {eng - same:+.1f} ms = {pct(eng, same):+.1f}%")
if "podman_run_true_mean" in loop:
    print(f"vs podman run --rm: {pct(eng, loop['podman_run_true_mean']):+.1f}%")

phases = ["submit_ms", "dispatch_ms", "attempt_ms", "final_ms"]
values = [mean("BM_DockerExecutionsThroughEngine/concurrent:1/", k) for k in phases]
if all(v is not None for v in values):
    print("automate, where the time goes (ms): " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in zip(phases, values)))
for calls in (0, 1):
    keys = ["create_ms", "start_ms", "logs_ms", "wait_ms", "delete_ms"]
    vals = [(k, mean(f"BM_DockerApiBaseline/concurrent:1/calls:{calls}/", k)) for k in keys]
    print(f"raw API calls:{calls}, per call (ms): " +
          ", ".join(f"{k[:-3]} {v:.1f}" for k, v in vals if v is not None))

e4 = mean("BM_DockerExecutionsThroughEngine/concurrent:4/", "items_per_second")
a4 = mean("BM_DockerApiBaseline/concurrent:4/", "items_per_second")
e1 = mean("BM_DockerExecutionsThroughEngine/concurrent:1/", "items_per_second")
a1 = mean("BM_DockerApiBaseline/concurrent:1/calls:0/", "items_per_second")
print(f"executions/s, 1 at a time: automate {e1:.2f}, raw API {a1:.2f}")
if e4 and a4:
    print(f"executions/s, 4 at a time: automate {e4:.2f}, raw API {a4:.2f} ({e4 / a4:.0%} of raw)")
if "podman_run_true_per_s" in loop:
    print(f"podman run --rm loop: {loop['podman_run_true_per_s']:.2f}/s")

for lines, what in ((0, "20 MB, no newlines (tr)"), (1, "20 MB of 100-byte lines")):
    el = mean(f"BM_DockerLogThroughEngine/lines:{lines}/", "bytes_per_second")
    al = mean(f"BM_DockerLogApiBaseline/lines:{lines}/", "bytes_per_second")
    if el and al:
        print(f"log {what}: automate {el / 1e6:.1f} MB/s stored, raw API follow {al / 1e6:.1f} MB/s "
              f"({el / al:.0%} of raw)")
if "podman_run_output_throughput" in loop:
    print(f"podman run, 20 MB (tr) to /dev/null: {loop['podman_run_output_throughput']:.1f} MB/s; "
          f"curl logs?follow loop: {loop.get('api_logs_follow_throughput', float('nan')):.1f} MB/s")
PY
