#!/usr/bin/env bash
# Runs the engine benchmarks and the whole-process baselines in one go, then
# prints a summary. Builds nothing: build first with
#   cmake --preset dev -B build/dev && ninja -C build/dev engine_bench store_bench logs_bench
# Usage: bench/run_benchmarks.sh [build_dir] [--all]
#   --all  also runs store_bench and logs_bench (adds about a minute).
# State dirs go under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp (a real
# disk, not tmpfs, for meaningful fsync numbers). Takes about 2 minutes.
set -euo pipefail

build_dir=build/dev
all=0
for arg in "$@"; do
  case "$arg" in
    --all) all=1 ;;
    *) build_dir="$arg" ;;
  esac
done
bench_dir="$build_dir/bench"
[[ -x "$bench_dir/engine_bench" ]] || { echo "no $bench_dir/engine_bench: build it first" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/automate_bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== engine_bench"
"$bench_dir/engine_bench" --benchmark_min_time=1 \
  --benchmark_out="$out/engine.json" --benchmark_out_format=json | tee "$out/engine.txt"

# Whole-process spawning of N `true`s by common tools, 2 at a time.
n=2000
rate() {  # rate <label> <command...>: runs it, prints items/s
  local label=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null
  t1=$(date +%s%N)
  awk -v l="$label" -v n="$n" -v ns=$((t1 - t0)) 'BEGIN { printf "%-28s %8.0f /s\n", l, n / (ns / 1e9) }'
}
echo "== whole-process spawn baselines ($n x true)"
{
  rate "xargs -P2 -n1 true" sh -c "seq $n | xargs -P2 -n1 true"
  rate "sh loop (1 at a time)" sh -c "i=0; while [ \$i -lt $n ]; do /bin/true; i=\$((i+1)); done"
  if command -v parallel >/dev/null 2>&1; then
    n=500 rate "parallel -j2 true (n=500)" sh -c "seq 500 | parallel -j2 true"
  else
    echo "parallel: not installed, skipped"
  fi
} | tee "$out/shell.txt"

if [[ $all == 1 ]]; then
  echo "== store_bench"
  "$bench_dir/store_bench"
  echo "== logs_bench"
  "$bench_dir/logs_bench"
fi

echo "== summary"
python3 - "$out/engine.json" <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
def get(prefix, key):
    for name, b in runs.items():
        if name.startswith(prefix) and key in b:
            return b[key]
    return None
raw2 = get("BM_RawSpawn/like_engine:0/real_time/threads:2", "items_per_second")
raw2e = get("BM_RawSpawn/like_engine:1/real_time/threads:2", "items_per_second")
print(f"raw posix_spawn+waitpid, 2 threads: {raw2:8.0f} jobs/s (with the engine's spawn attributes and pipes: {raw2e:.0f}/s)")
for what, single in (("one Submit() per job", True), ("SubmitBatch()       ", False)):
    best = max(((b["items_per_second"], n) for n, b in runs.items()
                if n.startswith("BM_EngineTrivialJobs") and "items_per_second" in b
                and ("/batch:1/" in n) == single), default=None)
    if best:
        print(f"engine, {what}, best: {best[0]:8.0f} jobs/s  ({best[0] / raw2:.0%} of raw; goal >= 70%)  [{best[1]}]")
mb = 1 << 20
for kind, goal in ((0, 300), (1, 100), (2, 100)):
    eng = get(f"BM_EngineLog/lines:{kind}/", "bytes_per_second")
    pipe = get(f"BM_PipeBaseline/lines:{kind}/", "bytes_per_second")
    disk = [b["bytes_per_second"] for n, b in runs.items()
            if n.startswith(f"BM_PipeBaseline/lines:{kind}/") and "to_file:1" in n]
    what = ("64 KiB writes       ", "100-byte lines      ", "1 write per 100 B ln")[kind]
    file = f"{disk[0] / 1e6:6.0f} MB/s" if disk else "   n/a"
    print(f"log {what}: engine {eng / 1e6:6.0f} MB/s; cat|pipe {pipe / 1e6:6.0f} MB/s; "
          f"cat|pipe>file+fsync {file}  (goal >= {goal} MB/s)")
s = runs.get("BM_SubmitToStart/iterations:1/real_time", {})
if s:
    print(f"submit call p50/p99:        {s['submit_p50_us'] / 1000:6.2f} / {s['submit_p99_us'] / 1000:6.2f} ms")
    print(f"submit -> start p50/p99:    {s['start_p50_us'] / 1000:6.2f} / {s['start_p99_us'] / 1000:6.2f} ms  (goal p50 < 1 ms)")
    print(f"submit -> first output p50/p99: {s['output_p50_us'] / 1000:6.2f} / {s['output_p99_us'] / 1000:6.2f} ms")
PY
cat "$out/shell.txt"
