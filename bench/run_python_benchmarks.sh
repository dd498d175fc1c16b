#!/usr/bin/env bash
# The Python bindings' overhead (issue #5): submit+wait of 1,000 trivial jobs
# (["true"]) through `import automate` and through the C++ API, in the same
# run, alternating C++ and Python rounds (fresh state dir each; which goes
# first alternates too) so that both see the same machine; plus 20,000 store reads each (GetJob, GetExecution),
# which spawn nothing and so show the per-call cost of the binding itself;
# plus submit_wait_interleaved: the C++ calls made in the Python process (a
# benchmark hook in the extension) in blocks of 10 taken in turns with the
# Python ones, which cancels the drift of a shared machine between rounds;
# plus submit_wait_outside: the same from the C++ loop and from a bare Python
# loop, timing only what is spent outside libautomate's Engine calls (the
# binding's overhead itself, without the engine's much larger jitter), and
# the same calls step by step (timeline: the engine's record times and when
# the caller entered Submit and got Wait's answer), so that the difference
# is split into the caller's own time between calls and the engine's steps.
# Builds nothing: build first with
#   ninja -C build/dev python_bench automate_python
# Usage: bench/run_python_benchmarks.sh [build_dir] [rounds]   (default build/dev 5)
# State dirs go under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/dev}
rounds=${2:-5}
cpp="$build_dir/bench/python_bench"
[[ -x "$cpp" ]] || { echo "no $cpp: build the target python_bench first" >&2; exit 1; }
ls "$build_dir"/python/automate/_automate*.so >/dev/null 2>&1 ||
  { echo "no $build_dir/python/automate: build the target automate_python first" >&2; exit 1; }

out=$(mktemp "${TMPDIR:-/tmp}/python_bench.XXXXXX")
trap 'rm -f "$out"' EXIT

echo "== machine"
echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg); $(/usr/bin/python3 --version)"

run_cpp() { "$cpp" | sed "s/^{/{\"round\": $1, /" | tee -a "$out"; }
run_python() {
  PYTHONPATH="$build_dir/python" /usr/bin/python3 bench/python_bench.py |
    sed "s/^{/{\"round\": $1, /" | tee -a "$out"
}
for ((round = 1; round <= rounds; round++)); do
  echo "== round $round/$rounds"
  # Which side goes first alternates, so that neither always inherits the
  # other's aftermath (a state dir being deleted, a journal commit).
  if ((round % 2)); then run_cpp $round; run_python $round; else run_python $round; run_cpp $round; fi
done

echo "== summary ($rounds rounds of each; us per call)"
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def get(side, op):
    return sorted((r for r in rows if r["side"] == side and r["op"] == op), key=lambda r: r["round"])
per_call = lambda r: r["seconds"] / r["n"] * 1e6
print("overhead = (Python time - C++ time) / calls, from the median round of each side;")
print("paired: the same per pair of rounds; p50: submit+waits timed per block of 10 (p50 of blocks, per call), reads per call\n")
print(f"{'op':<23} {'calls':>6} {'C++':>9} {'Python':>9} {'overhead':>9}   {'paired rounds (min..max)':<26} {'p50 C++':>8} {'p50 Py':>8} {'p50 diff':>8}")
for op in ("submit_wait", "submit_wait_interleaved", "submit_wait_outside", "get_job", "get_execution"):
    cpp, py = get("cpp", op), get("python", op)
    if not cpp or not py:
        continue
    c, p = statistics.median(map(per_call, cpp)), statistics.median(map(per_call, py))
    diffs = [per_call(b) - per_call(a) for a, b in zip(cpp, py)]
    c50, p50 = statistics.median(r["p50_us"] for r in cpp), statistics.median(r["p50_us"] for r in py)
    paired = f"{statistics.median(diffs):+.1f} ({min(diffs):+.1f}..{max(diffs):+.1f})"
    print(f"{op:<23} {cpp[0]['n']:>6} {c:9.1f} {p:9.1f} {p - c:+9.1f}   {paired:<26} {c50:8.1f} {p50:8.1f} {p50 - c50:+8.1f}")
steps = [("create_start_us", "create -> start (commit, dispatch, spawn)"),
         ("start_end_us", "start -> end (the process, its exit seen)"),
         ("end_wait_us", "end -> Wait returns (final commit, wake-up)"),
         ("wait_next_submit_us", "Wait returns -> next Submit (the caller)")]
cpp_t, py_t = get("cpp", "timeline"), get("python", "timeline")
if cpp_t and py_t:
    print("\nsubmit_wait_outside, step by step (us per submit+wait, median of the rounds' means):")
    total = 0.0
    for key, label in steps:
        c = statistics.median(r[key] for r in cpp_t)
        p = statistics.median(r[key] for r in py_t)
        diffs = [b[key] - a[key] for a, b in zip(cpp_t, py_t)]
        total += statistics.median(diffs)
        print(f"  {label:<44} C++ {c:7.1f}  Python {p:7.1f}  paired {statistics.median(diffs):+6.1f} "
              f"({min(diffs):+.1f}..{max(diffs):+.1f})")
    print(f"  {'sum of the paired medians':<44} {total:+.1f}")
mid = get("cpp_from_python", "submit_wait_interleaved")
if mid:
    cpp = get("cpp", "submit_wait_interleaved")
    py = get("python", "submit_wait_interleaved")
    m = statistics.median(map(per_call, mid))
    print(f"\nsubmit_wait_interleaved, split: C++ loop {statistics.median(map(per_call, cpp)):.1f}; "
          f"the same C++ call made from a Python loop {m:.1f} "
          f"({m - statistics.median(map(per_call, cpp)):+.1f}: returning to the interpreter between calls); "
          f"engine.run().wait() {statistics.median(map(per_call, py)):.1f} "
          f"({statistics.median(map(per_call, py)) - m:+.1f}: the binding's objects and wait slices)")
PY
