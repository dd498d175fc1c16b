#!/bin/bash
# Trivial-job throughput against the raw spawn limit, in interleaved rounds:
# each round measures both 2-thread raw spawn loops and the engine configs
# right after one another, so that a round's ratio compares figures taken
# under the same load. The limit of a round is the higher of the two raw
# loops (plain, and with the engine's spawn attributes and pipes); the
# median against the plain loop alone (the issue's baseline) is shown too.
#
#   bench/run_throughput_rounds.sh BUILD_DIR [ROUNDS]   (default 5 rounds)
set -euo pipefail
bench_dir=${1:?usage: $0 BUILD_DIR [ROUNDS]}/bench
rounds=${2:-5}
[[ -x "$bench_dir/engine_bench" ]] || { echo "no $bench_dir/engine_bench: build it first" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
filter='BM_RawSpawn/like_engine:[01]/real_time/threads:2$|BM_EngineTrivialJobs/max_running:(16|64)/submitters:(2|16)/batch:1/|BM_EngineTrivialJobs/max_running:(4|16)/submitters:1/batch:100/'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  "$bench_dir/engine_bench" --benchmark_filter="$filter" --benchmark_min_time=1 \
    --benchmark_format=json > "$out/round$r.json" 2>/dev/null
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
table = {}
for r in range(1, rounds + 1):
    runs = {b["name"]: b for b in json.load(open(f"{out}/round{r}.json"))["benchmarks"]}
    limit = max(b["items_per_second"] for n, b in runs.items() if n.startswith("BM_RawSpawn"))
    plain = runs["BM_RawSpawn/like_engine:0/real_time/threads:2"]["items_per_second"]
    for n, b in runs.items():
        if n.startswith("BM_EngineTrivialJobs"):
            name = n.split("/iterations")[0].replace("BM_EngineTrivialJobs/", "")
            table.setdefault(name, []).append((b["items_per_second"], b["items_per_second"] / limit,
                                               b.get("self_cpu_us", 0), b["items_per_second"] / plain))
    table.setdefault("(limit: raw spawn, 2 threads)", []).append((limit, 1.0, 0, limit / plain))
print(f"{'config':<40} {'jobs/s per round':<{6 * rounds}} {'% of the round limit':<{5 * rounds}} "
      f"median  (of plain raw)  cpu/job")
for name, cells in table.items():
    rates = " ".join(f"{c[0]:5.0f}" for c in cells)
    ratios = " ".join(f"{c[1]:4.0%}" for c in cells)
    print(f"{name:<40} {rates:<{6 * rounds}} {ratios:<{5 * rounds}} {statistics.median(c[1] for c in cells):5.0%}"
          f"   {statistics.median(c[3] for c in cells):5.0%}        {statistics.median(c[2] for c in cells):5.0f} us")
PY
