#!/usr/bin/python3
"""The Python side of the Python bindings benchmark: the same calls as
bench/python_bench.cc, through `import automate` (bench/run_python_benchmarks.sh
runs both, alternately, and prints the overhead per call).

One round, on a fresh state dir:
  submit_wait    N x engine.run("trivial").wait()   (Submit + Wait of ["true"]),
                 timed per block of 10 calls in a bare loop, as every submit+wait
                 here and on the C++ side (percentiles: of blocks, per call)
  submit_wait_interleaved
                 N x the same from C++ (a benchmark hook in the extension calling
                 Engine::Submit and Engine::Wait on the same engine, in a C++
                 loop), N x that hook called for one call at a time from a Python
                 loop ("cpp_from_python"), and N x from Python, in alternating
                 blocks of 10 calls, in this one process
  submit_wait_outside
                 the same two ways (C++ loop, Python), timing only what is spent
                 outside libautomate's Engine calls: the engine is wrapped in a
                 layer that sums the time inside them (_bench_inside_ns), so the
                 engine's own time, which moves by far more than the binding's
                 from call to call, drops out. The binding's overhead per call
                 (timed per block of 10: its p50/p90 are of blocks, per call).
  timeline       the same calls' steps, from the wrapped engine's marks (when
                 Submit was entered, when Wait returned) and each execution's
                 record (create, start, end times): create->start (the commit
                 the caller leads, the dispatcher, the spawn), start->end (the
                 process, its exit seen), end->wait (the final state's commit,
                 the caller woken), wait->next submit (the caller between two
                 calls: all of it the binding's and the loop's). Means, us.
  get_job        M x engine.job("trivial")          (a store read; no process)
  get_execution  M x execution.refresh()            (a store read; no process)

Prints one JSON object per op, like the C++ side ("side": "python").
Usage: PYTHONPATH=build/dev/python bench/python_bench.py [--n 1000] [--m 20000] [--warmup 50]
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import automate
from automate import _automate  # type: ignore[attr-defined]  # the benchmark hook


def base_dir():
    for var in ("AUTOMATE_BENCH_DIR", "TMPDIR"):
        if os.environ.get(var):
            return os.environ[var]
    return "/var/tmp"


def timed(n, call):
    ns = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        call()
        ns.append(clock() - t0)
    return ns


def outside(engine, block):
    """Runs block() and returns the nanoseconds it spent outside the engine."""
    inside = _automate._bench_inside_ns(engine)
    t0 = time.perf_counter_ns()
    block()
    wall = time.perf_counter_ns() - t0
    return wall - (_automate._bench_inside_ns(engine) - inside)


def micros(when):
    return round(when.timestamp() * 1e6)


def timeline(engine, marks, side):
    """One JSON row: the mean of each step of `marks`' submit+waits (us)."""
    steps = {"create_start_us": [], "start_end_us": [], "end_wait_us": [], "wait_next_submit_us": []}
    for i, (exec_id, submit_ns, wait_ns, _) in enumerate(marks):
        ex = engine.execution(exec_id)
        create, start, end = micros(ex.create_time), micros(ex.start_time), micros(ex.end_time)
        steps["create_start_us"].append(start - create)
        steps["start_end_us"].append(end - start)
        steps["end_wait_us"].append(wait_ns / 1e3 - end)
        if i + 1 < len(marks) and marks[i + 1][3] == marks[i][3]:  # The same block.
            steps["wait_next_submit_us"].append((marks[i + 1][1] - wait_ns) / 1e3)
    row = {"side": side, "op": "timeline", "n": len(marks)}
    row.update({k: sum(v) / len(v) for k, v in steps.items()})
    print(json.dumps(row), flush=True)


def report(op, ns, side="python", calls_per_sample=1):
    ordered = sorted(ns)
    n = len(ns) * calls_per_sample
    print(json.dumps({"side": side, "op": op, "n": n, "seconds": sum(ns) / 1e9,
                      "p50_us": ordered[len(ns) // 2] / 1e3 / calls_per_sample,
                      "p90_us": ordered[len(ns) * 9 // 10] / 1e3 / calls_per_sample}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--m", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="python_bench_py.", dir=base_dir())
    try:
        with automate.Engine(state) as engine:  # poll_interval 20 ms, max_running 16
            engine.apply({"name": "trivial", "executor": {"local": {"command": ["true"]}}})
            last = []
            floor_call = _automate._bench_submit_wait_one

            # Each way is timed per block of 10 calls made in a bare loop,
            # the state checked after the block, untimed, so that both sides
            # are timed alike: timing every call from Python would put the
            # harness's own work (a function call, two clock reads, a list
            # append, a state check) on the Python side only, as the C++
            # side times its calls in C++. Percentiles are of blocks, per
            # call.
            def python_10():
                t0 = time.perf_counter_ns()
                for _ in range(10):
                    execution = engine.run("trivial").wait()
                ns = time.perf_counter_ns() - t0
                if execution.state != "succeeded":
                    raise SystemExit(f"a run did not succeed: {execution!r}")
                last[:] = [execution]
                return ns

            def cpp_10():  # Timed the same way, the hook's 10 calls in one.
                t0 = time.perf_counter_ns()
                _automate._bench_submit_wait(engine, "trivial", 10)
                return time.perf_counter_ns() - t0

            def cpp_from_python_10():
                t0 = time.perf_counter_ns()
                for _ in range(10):
                    floor_call(engine, "trivial")
                return time.perf_counter_ns() - t0

            for _ in range(max(1, args.warmup // 10)):
                python_10()
            report("submit_wait", [python_10() for _ in range(args.n // 10)], calls_per_sample=10)
            # The same N calls from C++ (a hook in the extension that calls
            # Engine::Submit and Wait on this engine, 10 in a C++ loop), from
            # a Python loop calling a hook that makes one submit+wait per
            # call (what returning to the interpreter between calls costs,
            # without any of the binding's objects), and from Python, in
            # blocks of 10 taken in turns (the order reversed every other
            # turn): all three see the same machine moment.
            ways = [("cpp", cpp_10), ("cpp_from_python", cpp_from_python_10), ("python", python_10)]
            blocks = {side: [] for side, _ in ways}
            for turn in range(args.n // 10):
                for side, way in ways if turn % 2 == 0 else ways[::-1]:
                    blocks[side].append(way())
            for side, ns in blocks.items():
                report("submit_wait_interleaved", ns, side=side, calls_per_sample=10)
            # Store reads, before the engine is wrapped below (as the C++
            # side's are not).
            report("get_job", timed(args.m, lambda: engine.job("trivial")))
            report("get_execution", timed(args.m, last[0].refresh))
            # The time spent outside libautomate's Engine per call: the
            # engine is wrapped in a layer that sums the time inside its
            # calls (Submit, every Wait slice, ...), so the engine's own
            # time, which moves by hundreds of microseconds from call to
            # call on a shared machine, drops out. C++: the hook's loop;
            # Python: a bare loop. The same blocks of 10 as above: their clock
            # reads (and Python's state check after the block) count as
            # outside the engine, well under 0.1 us per call.
            _automate._bench_inside_ns(engine)  # Wraps the engine.
            _automate._bench_timeline(engine)  # Drops the marks so far.
            out = {"cpp": [], "python": []}
            marks = {"cpp": [], "python": []}
            cpp_and_python = [ways[0], ways[-1]]
            for block in range(args.n // 10):  # The order reversed every other block.
                for side, way in cpp_and_python if block % 2 == 0 else cpp_and_python[::-1]:
                    out[side].append(outside(engine, way))
                    marks[side] += [m + (block,) for m in _automate._bench_timeline(engine)]
            report("submit_wait_outside", out["cpp"], side="cpp", calls_per_sample=10)
            report("submit_wait_outside", out["python"], calls_per_sample=10)
            timeline(engine, marks["cpp"], "cpp")
            timeline(engine, marks["python"], "python")
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
