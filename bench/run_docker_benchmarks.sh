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
runs = defaultdict(list)  # run name -> its repetitions
errors = []
for b in doc["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration":
        continue
    if b.get("error_occurred"):
        errors.append(f"{b['run_name']}: {b.get('error_message', '')}")
        continue
    runs[b["run_name"]].append(b)
for e in errors:
    print("ERROR in", e)
def find(prefix):
    return [e for name, entries in runs.items() if name.startswith(prefix) for e in entries]
def mean(prefix, key):
    """Mean over repetitions, weighted by the executions counted in each."""
    entries = [e for e in find(prefix) if key in e]
    weights = [e.get("counted", 1) for e in entries]
    if not entries or sum(weights) == 0:
        return None
    return sum(e[key] * w for e, w in zip(entries, weights)) / sum(weights)
def total(prefix, key):
    return sum(e.get(key, 0) for e in find(prefix))
def spread(prefix, key, scale=1.0):
    values = sorted(e[key] * scale for e in find(prefix) if key in e and e.get("counted", 1) > 0)
    return f" (runs {values[0]:.0f}-{values[-1]:.0f})" if len(values) > 1 else ""
def pct(a, b):
    return (a - b) / b * 100

E1 = "BM_DockerExecutionsThroughEngine/concurrent:1/"
E4 = "BM_DockerExecutionsThroughEngine/concurrent:4/"
A0 = "BM_DockerApiBaseline/concurrent:1/log_read:0/"
A1 = "BM_DockerApiBaseline/concurrent:1/log_read:1/"
A4 = "BM_DockerApiBaseline/concurrent:4/"
eng, api, api_log = mean(E1, "ms_per_exec"), mean(A0, "ms_per_exec"), mean(A1, "ms_per_exec")
if eng is None or api is None:
    print("missing results: see the benchmark output above")
    sys.exit(1)
print(f"per execution of `true` (network none), one at a time, separate benchmarks; mean of {int(total(E1, 'counted'))} "
      f"through automate, {int(total(A0, 'counted'))} raw:")
print(f"  automate, submit -> final (durable)        {eng:7.1f} ms{spread(E1, 'ms_per_exec')}")
print(f"  raw API create/start/wait/delete           {api:7.1f} ms{spread(A0, 'ms_per_exec')}")
if api_log is not None:
    print(f"  raw API, the same + one log read           {api_log:7.1f} ms{spread(A1, 'ms_per_exec')}")
if "podman_run_true_mean" in loop:
    print(f"  podman run --rm, shell loop                {loop['podman_run_true_mean']:7.1f} ms")
if "api_create_start_wait_delete_mean" in loop:
    print(f"  curl create/start/wait/delete, shell loop  {loop['api_create_start_wait_delete_mean']:7.1f} ms")
over = pct(eng, api)
print(f"overhead vs the raw API: {eng - api:+.1f} ms = {over:+.1f}%  "
      f"(goal < 10%: {'MET' if over < 10 else 'NOT MET'})")
if api_log is not None:
    print(f"overhead vs the raw API with a log read: {eng - api_log:+.1f} ms = {pct(eng, api_log):+.1f}%")
if "podman_run_true_mean" in loop:
    print(f"vs podman run --rm: {eng - loop['podman_run_true_mean']:+.1f} ms = "
          f"{pct(eng, loop['podman_run_true_mean']):+.1f}%")
P = "BM_DockerOverheadInterleaved/"
pe, pr, pp = mean(P, "engine_ms"), mean(P, "raw_ms"), mean(P, "pattern_ms")
if pe and pr:
    diffs = ", ".join(f"{e['diff_p50_ms']:+.1f}" for e in find(P))
    po = pct(pe, pr)
    print(f"interleaved, {int(total(P, 'counted'))} rounds of (automate, raw create/start/wait/delete, "
          f"raw with the executor's calls) back to back:")
    print(f"  automate {pe:.1f} ms, raw {pr:.1f} ms: overhead {pe - pr:+.1f} ms = {po:+.1f}%  "
          f"(goal < 10%: {'MET' if po < 10 else 'NOT MET'}); median of the differences, per run: {diffs} ms")
    n = total(P, "counted")
    if n > 1:
        d_mean = sum(e["diff_mean_ms"] * e["counted"] for e in find(P)) / n
        var = (sum(e["diff_sumsq_ms2"] for e in find(P)) - n * d_mean ** 2) / (n - 1)
        half = 1.96 * (max(var, 0) / n) ** 0.5
        print(f"  engine - raw over all {int(n)} rounds: {d_mean:+.1f} ms, 95% interval "
              f"{d_mean - half:+.1f} to {d_mean + half:+.1f} ms = {pct(pr + d_mean - half, pr):+.1f}% "
              f"to {pct(pr + d_mean + half, pr):+.1f}% of raw")
    if pp:
        print(f"  raw with the executor's calls {pp:.1f} ms: the calls cost {pct(pp, pr):+.1f}% over the "
              f"minimal ones; automate's own code {pct(pe, pp):+.1f}% over them")
    print("  p50s (ms): automate " + ", ".join(f"{e['engine_p50_ms']:.0f}" for e in find(P)) +
          "; raw " + ", ".join(f"{e['raw_p50_ms']:.0f}" for e in find(P)) +
          "; executor's calls " + ", ".join(f"{e['pattern_p50_ms']:.0f}" for e in find(P)))
hung = total(E1, "hung") + total(E4, "hung") + total(P, "hung")
if hung:
    print(f"HUNG executions (not final after 10 s, left out above): {int(hung)}; "
          f"of them ended by a cancel: {int(total(E1, 'hung_cancel_ended') + total(E4, 'hung_cancel_ended'))}")
phases = ["submit_ms", "dispatch_ms", "attempt_ms", "final_ms"]
values = [mean(E1, k) for k in phases]
if all(v is not None for v in values):
    print("automate, where the time goes (ms): " +
          ", ".join(f"{k[:-3]} {v:.1f}" for k, v in zip(phases, values)))
for label, prefix in (("raw API", A0), ("raw API + log read", A1)):
    vals = [(k[:-3], mean(prefix, k)) for k in ("create_ms", "start_ms", "wait_ms", "logs_ms", "delete_ms")]
    print(f"{label}, per call (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in vals if v is not None))
e4, a4 = mean(E4, "ms_per_exec"), mean(A4, "ms_per_exec")
print(f"executions/s, 1 at a time: automate {1000 / eng:.2f}, raw API {1000 / api:.2f}")
if e4 and a4:
    print(f"executions/s, 4 at a time: automate {1000 / e4:.2f}, raw API {1000 / a4:.2f} "
          f"({a4 / e4:.0%} of raw)")
if "podman_run_true_per_s" in loop:
    print(f"podman run --rm, shell loop: {loop['podman_run_true_per_s']:.2f}/s")
for lines, what in ((0, "20 MB, no newline (tr)  "), (1, "20 MB of 100-byte lines ")):
    el = mean(f"BM_DockerLogThroughEngine/lines:{lines}/", "bytes_per_second")
    follow = mean(f"BM_DockerLogApiBaseline/lines:{lines}/read:0/", "bytes_per_second")
    after = mean(f"BM_DockerLogApiBaseline/lines:{lines}/read:1/", "bytes_per_second")
    lost = total(f"BM_DockerLogApiBaseline/lines:{lines}/read:0/", "lost_bytes")
    written = sum(e["iterations"] for e in find(f"BM_DockerLogApiBaseline/lines:{lines}/read:0/")) * 20
    if el and follow and after:
        print(f"log {what}: automate {el / 1e6:5.1f} MB/s stored; raw follow {follow / 1e6:5.1f} MB/s received"
              f"{f' (LOST {lost / 1e6:.1f} MB of {written} MB)' if lost else ''}; "
              f"raw read after exit {after / 1e6:5.1f} MB/s; automate = {el / after:.0%} of the "
              f"complete raw read")
if "podman_run_output_throughput" in loop:
    print(f"podman run, 20 MB (tr) to /dev/null: {loop['podman_run_output_throughput']:.1f} MB/s; "
          f"curl logs?follow loop: {loop.get('api_logs_follow_throughput', float('nan')):.1f} MB/s")
PY
