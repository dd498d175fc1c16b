#!/usr/bin/env bash
# Benchmarks automated over HTTP, each figure beside the physical limit
# measured in the same run, then prints a summary with the goals:
#   - GET /ping >= 30,000 req/s; reads (GET /v1/jobs, GET /v1/executions/{id})
#     >= 20,000 req/s; p50/p99 (wrk -c64, -t1 and -t2; beside: the same wrk
#     against `http_bench hello`, a static responder, raw epoll and Beast);
#   - >= 5,000 accepted durable submits/s (wrk POST, -c32 and -c64);
#   - submit -> start p50 <= 2 ms, p99 <= 10 ms (http_bench submit-start;
#     beside: HTTP round trip + fdatasync + posix_spawn);
#   - SSE: a job writing 10 MB/s followed by 1,000 followers (lag, complete
#     logs, job slowed?; beside: the same bytes from a minimal sender to
#     1,000 loopback sockets, `http_bench fanout`), and
#     the largest follower count / rate kept within 50 ms.
# Builds nothing: build first with
#   cmake --preset dev -B build/dev && cmake --build build/dev --target automated_bin http_bench
# Usage: bench/run_http_benchmarks.sh [build_dir] [--quick] [--only PART]
#   --quick: 3 s per wrk run and fewer SSE points (about 3 minutes instead of 7).
#   --only PART: one part only: reads, latency, submits or sse.
# State dirs go under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp (a real
# disk, not tmpfs: submits are durable). Everything started is stopped and
# removed at exit.
set -euo pipefail

build_dir=build/dev
quick=0
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only=${2:?--only needs a part}; shift ;;
    *) build_dir="$1" ;;
  esac
  shift
done
case "$only" in
  ""|reads|latency|submits|sse) ;;
  *) echo "--only: unknown part \"$only\" (reads, latency, submits, sse)" >&2; exit 2 ;;
esac
want() { [[ -z $only || $only == "$1" ]]; }
automated="$build_dir/bin/automated"
hb="$build_dir/bench/http_bench"
[[ -x "$automated" ]] || { echo "no $automated: build automated_bin first" >&2; exit 1; }
[[ -x "$hb" ]] || { echo "no $hb: build http_bench first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
automated=$(realpath "$automated")
hb=$(realpath "$hb")

dur=8; sse_seconds=5
[[ $quick == 1 ]] && { dur=3; sse_seconds=3; }
base="${AUTOMATE_BENCH_DIR:-${TMPDIR:-/var/tmp}}"
work=$(mktemp -d "$base/automate_http_bench.XXXXXX")
results="$work/results.txt"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # wait_port PORT: until something answers GET /ping
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/ping" && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2; exit 1
}

# A fresh daemon with its own state dir and admin token, jobs `true` and
# `echo` applied. Sets $port, $token, $dpid. Extra arguments go to automated.
start_daemon() {
  local name=$1; shift
  local state="$work/$name"
  token=$("$automated" --state-dir "$state" token create --name bench --role admin 2>/dev/null)
  port=$(free_port)
  "$automated" --state-dir "$state" --listen "127.0.0.1:$port" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  dpid=$!
  pids+=("$dpid")
  wait_port "$port"
  for job in '"true"' '"echo","x"'; do
    local jname; jname=$(echo "$job" | cut -d'"' -f2)
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $token" \
      -d "{\"executor\":{\"local\":{\"command\":[$job]}}}" "http://127.0.0.1:$port/v1/jobs/$jname"
  done
  echo "-- daemon $name: $automated --listen 127.0.0.1:$port $* (pid $dpid)"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_hello() {  # start_hello LABEL ARGS...: sets $hport, $hpid
  local label=$1; shift
  hport=$(free_port)
  "$hb" hello --port "$hport" "$@" >"$work/hello-$label.out" 2>&1 &
  hpid=$!
  pids+=("$hpid")
  wait_port "$hport"
}

cat >"$work/wrk.lua" <<'LUA'
-- GET (or POST {} with WRK_METHOD=POST), with the bench token from
-- AUTOMATE_TOKEN when set; prints one RESULT line. ok = 2xx/3xx answers.
local token = os.getenv("AUTOMATE_TOKEN") or ""
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
if os.getenv("WRK_METHOD") == "POST" then
  wrk.method = "POST"
  wrk.body = "{}"
  wrk.headers["Content-Type"] = "application/json"
end
local label = os.getenv("WRK_LABEL") or "wrk"
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local ok = summary.requests - e.status - e.read - e.write - e.timeout
  io.write(string.format("RESULT wrk label=%s requests=%d ok=%d rps=%.0f ok_rps=%.0f p50_ms=%.3f " ..
    "p99_ms=%.3f max_ms=%.3f status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    label, summary.requests, ok, summary.requests / secs, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
LUA

run_wrk() {  # run_wrk LABEL THREADS CONNS URL [TOKEN] [METHOD]
  local label=$1 t=$2 c=$3 url=$4 tok=${5:-} method=${6:-GET}
  AUTOMATE_TOKEN="$tok" WRK_METHOD="$method" WRK_LABEL="$label" \
    wrk -t"$t" -c"$c" -d"${dur}s" --timeout 10s -s "$work/wrk.lua" "$url" | grep '^RESULT' | tee -a "$results"
}
metric_201() {  # accepted submits so far, from the daemon's /metrics
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/automate_http_requests_total\{route="POST \/v1\/jobs\/\{name\}\/executions",code="201"\}/ {print $NF; f=1} END {if (!f) print 0}'
}

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "state dirs: $work ($(df -T "$work" | awk 'NR==2 {print $2}'))"
echo "wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $dur s per run, -c64"

if want reads; then
echo "== requests/s: static responders (the limit) and automated, wrk -c64"
start_daemon reads
for t in 1 2; do
  start_hello epoll --threads 2
  run_wrk "hello-epoll-t$t" "$t" 64 "http://127.0.0.1:$hport/ping"
  stop_pid "$hpid"
  start_hello beast --threads 2 --beast
  run_wrk "hello-beast-t$t" "$t" 64 "http://127.0.0.1:$hport/ping"
  stop_pid "$hpid"
  start_hello offload --threads 2 --beast --offload
  run_wrk "hello-offload-t$t" "$t" 64 "http://127.0.0.1:$hport/ping"
  stop_pid "$hpid"
  run_wrk "ping-t$t" "$t" 64 "http://127.0.0.1:$port/ping"
  run_wrk "jobs-t$t" "$t" 64 "http://127.0.0.1:$port/v1/jobs" "$token"
  exec_id=$(curl -sf -X POST -H "Authorization: Bearer $token" -d '{}' "http://127.0.0.1:$port/v1/jobs/echo/executions" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/executions/$exec_id?wait=10s"
  run_wrk "exec-t$t" "$t" 64 "http://127.0.0.1:$port/v1/executions/$exec_id" "$token"
done
stop_pid "$dpid"

fi
if want latency; then
echo "== submit -> start, one at a time on an idle daemon (200 submits of [\"true\"])"
start_daemon latency
start_hello epoll --threads 2
"$hb" submit-start --port "$port" --token "$token" --job true --count 200 --dir "$work" --hello-port "$hport" |
  tee -a "$results"
stop_pid "$hpid"
stop_pid "$dpid"

fi
if want submits; then
echo "== durable submits/s: POST /v1/jobs/true/executions, wrk"
for mr in 16 1; do
  for c in 32 64; do
    start_daemon "submit-mr$mr-c$c" --max-running "$mr"
    before=$(metric_201)
    run_wrk "submit-mr$mr-c$c" 1 "$c" "http://127.0.0.1:$port/v1/jobs/true/executions" "$token" POST
    after=$(metric_201)
    echo "RESULT accepted label=submit-mr$mr-c$c accepted_201=$((after - before)) seconds=$dur" | tee -a "$results"
    stop_pid "$dpid"
  done
done
start_hello epoll --threads 2
run_wrk "hello-epoll-post" 1 64 "http://127.0.0.1:$hport/v1/jobs/true/executions" "" POST
stop_pid "$hpid"

fi
if want sse; then
echo "== SSE fan-out: the loopback limit (two sender threads, one receiver thread)"
"$hb" fanout --conns 1 --seconds 3 | tee -a "$results"
"$hb" fanout --conns 1000 --seconds 3 | tee -a "$results"

echo "== SSE fan-out: a job writing 64 KiB lines at RATE, N followers (follow=true); beside each,"
echo "   the same traffic through a minimal fan-out to N loopback sockets (a 64 KiB chunk is an ~87.5 KB event)"
start_daemon sse
sse() {  # sse FOLLOWERS RATE [WRITE]: the daemon, then the limit with the same traffic
  local n=$1 rate=$2 write=${3:-65536}
  "$hb" sse --port "$port" --token "$token" --dir "$work" --followers "$n" --rate "$rate" \
    --seconds "$sse_seconds" --timeout 20 --write "$write" | tee -a "$results" ||
    echo "RESULT error sse followers=$n rate=$rate" | tee -a "$results"
  if [[ $n -gt 0 ]]; then
    local ev; ev=$(python3 -c "print(((($write + 2) // 3) * 4 + 130))")
    "$hb" fanout --conns "$n" --seconds "$sse_seconds" --timeout 20 --write "$ev" \
      --rate "$(python3 -c "print($rate * $ev / $write)")" | tee -a "$results"
  fi
}
sse 0 10e6
sse 1000 10e6
if [[ $quick == 1 ]]; then
  counts="30 100 300"; rates="1e6 0.3e6"
else
  counts="10 30 100 200 300"; rates="3e6 1e6 0.3e6"
fi
for n in $counts; do sse "$n" 10e6; done
for r in $rates; do sse 1000 "$r"; done
# 4 KiB lines: 16x as many events, each 1/16 the size (a shorter burst).
for r in $rates; do sse 1000 "$r" 4096; done
stop_pid "$dpid"

fi
echo "== summary (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$results" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    parts = line.split()
    if not parts or parts[0] != "RESULT":
        continue
    d = {"kind": parts[1]}
    for p in parts[2:]:
        if "=" in p:
            k, v = p.split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    rows.append(d)
wrk = {r["label"]: r for r in rows if r["kind"] == "wrk"}
def best(prefix):
    c = [r for l, r in wrk.items() if l.startswith(prefix)]
    return max(c, key=lambda r: r["ok_rps"]) if c else None
def met(ok):
    return "MET" if ok else "NOT MET"
print("requests/s, wrk -c64 (best of -t1/-t2; p50/p99 of that run):")
limit = best("hello-epoll-t")
for name, prefix, goal in (("static hello, raw epoll (limit)", "hello-epoll-t", None),
                           ("static hello, Beast", "hello-beast-t", None),
                           ("static hello, Beast + pool hop", "hello-offload-t", None),
                           ("GET /ping", "ping-t", 30000),
                           ("GET /v1/jobs", "jobs-t", 20000),
                           ("GET /v1/executions/{id}", "exec-t", 20000)):
    r = best(prefix)
    if not r:
        continue
    g = f"goal {goal:,}: {met(r['ok_rps'] >= goal)}" if goal else ""
    print(f"  {name:34s} {r['ok_rps']:8,.0f}/s ({r['ok_rps'] / limit['ok_rps']:4.0%} of limit)  "
          f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  [{r['label']}]  {g}")
ss = next((r for r in rows if r["kind"] == "submit_start"), None)
fl = next((r for r in rows if r["kind"] == "floor"), None)
if ss:
    print(f"submit -> start (n={ss['n']:.0f}): p50 {ss['start_p50_ms']:.2f} ms, p99 {ss['start_p99_ms']:.2f} ms  "
          f"goal p50 <= 2, p99 <= 10: {met(ss['start_p50_ms'] <= 2 and ss['start_p99_ms'] <= 10)}")
    print(f"  POST answered: p50 {ss['post_p50_ms']:.2f} ms, p99 {ss['post_p99_ms']:.2f} ms; "
          f"createTime -> start p50 {ss['create_to_start_p50_ms']:.2f} ms")
if fl:
    floor = fl["http_rtt_p50_ms"] + fl["fdatasync_p50_ms"] + fl["spawn_p50_ms"]
    print(f"  floor (p50s): HTTP round trip {fl['http_rtt_p50_ms']:.3f} + fdatasync {fl['fdatasync_p50_ms']:.3f} "
          f"+ posix_spawn {fl['spawn_p50_ms']:.3f} = {floor:.2f} ms (fdatasync p99 {fl['fdatasync_p99_ms']:.2f})")
acc = {r["label"]: r for r in rows if r["kind"] == "accepted"}
sub = [r for l, r in wrk.items() if l.startswith("submit-")]
if sub:
    b = max(sub, key=lambda r: r["ok_rps"])
    print("durable submits/s (201 answers per second of wrk):")
    for r in sorted(sub, key=lambda r: r["label"]):
        a = acc.get(r["label"], {})
        print(f"  {r['label']:20s} {r['ok_rps']:7,.0f}/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"non-2xx {r['status_errors']:.0f}  (/metrics: {a.get('accepted_201', 0):,.0f} 201s)")
    hp = wrk.get("hello-epoll-post")
    if hp:
        print(f"  static hello, POST (HTTP limit)  {hp['ok_rps']:7,.0f}/s")
    if fl:
        print(f"  one fdatasync per submit, none grouped (disk limit without group commit): "
              f"{1000 / fl['fdatasync_p50_ms']:7,.0f}/s")
    print(f"  best {b['ok_rps']:,.0f}/s  goal 5,000: {met(b['ok_rps'] >= 5000)}")
fan = [r for r in rows if r["kind"] == "fanout"]
for r in fan:
    if r["rate_mbs"] == 0:
        print(f"loopback limit, 2 sender threads -> {r['conns']:.0f} sockets: {r['total_mbs']:,.0f} MB/s "
              f"({r['per_conn_mbs_p50']:.2f} MB/s each)")
sse = [r for r in rows if r["kind"] == "sse"]
def keeps(r):
    return r["complete"] == r["followers"] and r.get("worst_follower_p99_ms", 1e9) <= 50
if sse:
    print("SSE (rate = the job's log bytes/s; lag = receive - event time; keeps up = all complete and "
          "every follower's p99 <= 50 ms):")
    fan_paced = [r for r in fan if r["rate_mbs"] > 0]
    for r in sse:
        line = (f"  {r['followers']:5.0f} x {r['rate_mbs']:5.2f} MB/s, {r['write']:5.0f} B lines: "
                f"complete {r['complete']:4.0f}, lag p50 {r['lag_p50_ms']:8.1f} p99 {r['lag_p99_ms']:8.1f} "
                f"worst follower p99 {r['worst_follower_p99_ms']:8.1f} ms; job {r.get('job_rate_mbs', float('nan')):5.2f} MB/s "
                f"(late max {r.get('job_late_max_ms', float('nan')):5.1f} ms)" + ("  KEEPS UP" if r["followers"] and keeps(r) else ""))
        print(line)
        lim = next((x for x in fan_paced if x["conns"] == r["followers"]
                    and abs(x["rate_mbs"] * r["write"] / x["write"] - r["rate_mbs"]) < 0.01 * r["rate_mbs"]), None)
        if lim:
            print(f"        limit (minimal fan-out, same bytes): {lim['total_mbs']:6,.0f} MB/s, "
                  f"complete {lim['complete']:4.0f}, lag p50 {lim['lag_p50_ms']:8.1f} p99 {lim['lag_p99_ms']:8.1f} "
                  f"worst p99 {lim['worst_conn_p99_ms']:8.1f} ms" +
                  ("  keeps up" if lim["complete"] == lim["conns"] and lim["worst_conn_p99_ms"] <= 50 else ""))
    goal = next((r for r in sse if r["followers"] == 1000 and r["rate_mbs"] == 10), None)
    alone = next((r for r in sse if r["followers"] == 0), None)
    if goal:
        print(f"  goal 1,000 x 10 MB/s within 50 ms, all complete: {met(keeps(goal))}")
        if alone:
            print(f"  job alone {alone.get('job_rate_mbs')} MB/s (late max {alone.get('job_late_max_ms')} ms); "
                  f"with 1,000 followers {goal.get('job_rate_mbs')} MB/s (late max {goal.get('job_late_max_ms')} ms)")
    at10 = [r for r in sse if r["rate_mbs"] == 10 and r["followers"] > 0 and keeps(r)]
    print("  largest follower count kept up at 10 MB/s: " +
          (f"{max(r['followers'] for r in at10):.0f}" if at10 else "none of those tried"))
    for w in sorted({r["write"] for r in sse}):
        at1k = [r for r in sse if r["followers"] == 1000 and r["write"] == w and keeps(r)]
        print(f"  largest rate kept up with 1,000 followers ({w:.0f} B lines): " +
              (f"{max(r['rate_mbs'] for r in at1k):.2f} MB/s" if at1k else "none of those tried"))
PY
