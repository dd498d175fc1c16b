#!/usr/bin/python3
"""The Python side of the Python bindings benchmark: the same calls as
bench/python_bench.cc, through `import automate` (bench/run_python_benchmarks.sh
runs both, alternately, and prints the overhead per call).

One round, on a fresh state dir:
  submit_wait    N x engine.run("trivial").wait()   (Submit + Wait of ["true"])
  submit_wait_interleaved
                 N x the same from C++ (a benchmark hook in the extension calling
                 Engine::Submit and Engine::Wait on the same engine, in a C++
                 loop), N x that hook called for one call at a time from a Python
                 loop ("cpp_from_python"), and N x from Python, in alternating
                 blocks of 10 calls, in this one process
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


def report(op, ns, side="python"):
    ordered = sorted(ns)
    print(json.dumps({"side": side, "op": op, "n": len(ns), "seconds": sum(ns) / 1e9,
                      "p50_us": ordered[len(ns) // 2] / 1e3,
                      "p90_us": ordered[len(ns) * 9 // 10] / 1e3}), flush=True)


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

            def submit_wait():
                execution = engine.run("trivial").wait()
                if execution.state != "succeeded":
                    raise SystemExit(f"a run did not succeed: {execution!r}")
                last[:] = [execution]

            timed(args.warmup, submit_wait)
            report("submit_wait", timed(args.n, submit_wait))
            # The same N calls from C++ (a hook in the extension that calls
            # Engine::Submit and Wait on this engine, 10 in a C++ loop), from
            # a Python loop calling that hook for one call at a time (what
            # returning to the interpreter between calls costs, without any
            # of the binding's objects), and from Python, in blocks of 10
            # taken in turns: all three see the same machine moment.
            cpp, cpp_from_python, py = [], [], []
            one = lambda: _automate._bench_submit_wait(engine, "trivial", 1)  # noqa: E731
            for _ in range(args.n // 10):
                cpp += _automate._bench_submit_wait(engine, "trivial", 10)
                cpp_from_python += timed(10, one)
                py += timed(10, submit_wait)
            report("submit_wait_interleaved", cpp, side="cpp")
            report("submit_wait_interleaved", cpp_from_python, side="cpp_from_python")
            report("submit_wait_interleaved", py)
            report("get_job", timed(args.m, lambda: engine.job("trivial")))
            report("get_execution", timed(args.m, last[0].refresh))
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
