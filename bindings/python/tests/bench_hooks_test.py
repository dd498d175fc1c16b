"""bench/python_bench.py (issue 5's benchmark) runs against this build: its
hooks in the extension (_bench_submit_wait, _bench_submit_wait_one,
_bench_inside_ns, _bench_timeline) give numbers that add up, so the benchmark
cannot rot unnoticed. Tiny sizes: this checks the machinery, not speed."""

import json
import subprocess
import sys

import pytest

import automate

from conftest import REPO, isolated_env

SCRIPT = REPO / "bench" / "python_bench.py"


def test_python_bench_runs_and_its_figures_add_up(tmp_path):
    env = isolated_env(tmp_path)
    env["AUTOMATE_BENCH_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, str(SCRIPT), "--n", "20", "--m", "50", "--warmup", "2"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    ops = {(r["side"], r["op"]): r for r in rows}
    assert set(ops) == {
        ("python", "submit_wait"),
        ("cpp", "submit_wait_interleaved"), ("cpp_from_python", "submit_wait_interleaved"),
        ("python", "submit_wait_interleaved"),
        ("python", "get_job"), ("python", "get_execution"),
        ("cpp", "submit_wait_outside"), ("python", "submit_wait_outside"),
        ("cpp", "timeline"), ("python", "timeline"),
    }, result.stdout
    for (side, op), r in ops.items():
        if op == "timeline":
            assert r["n"] == 20, r
            # Every step of a submit+wait takes time, and the caller's own
            # time between two calls is far below a whole submit+wait.
            assert all(r[k] > 0 for k in ("create_start_us", "start_end_us", "end_wait_us",
                                          "wait_next_submit_us")), r
            assert r["wait_next_submit_us"] < r["create_start_us"] + r["start_end_us"], r
        else:
            assert r["n"] == (50 if op.startswith("get_") else 20), r
            assert r["seconds"] > 0 and 0 < r["p50_us"] <= r["p90_us"], r
    # Time outside the engine is a small part of a submit+wait.
    outside = ops[("python", "submit_wait_outside")]
    whole = ops[("python", "submit_wait_interleaved")]
    assert outside["seconds"] < whole["seconds"] / 2, (outside, whole)


def test_the_floor_hook_takes_only_an_engine(engine):
    # _bench_submit_wait_one reads its engine as run() does (EngineOf), which
    # checks the type itself: the hook is a plain function, with no method
    # descriptor to check it first.
    from automate import _automate
    with pytest.raises(TypeError, match="expected an automate.Engine or automate.Client, not object"):
        _automate._bench_submit_wait_one(object(), "x")
    with pytest.raises(automate.NotFound):
        _automate._bench_submit_wait_one(engine, "no-such-job")
