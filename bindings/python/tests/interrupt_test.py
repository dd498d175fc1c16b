"""Ctrl-C: SIGINT interrupts wait() and logs(follow=True) with
KeyboardInterrupt within a wait slice; the execution goes on and a following
logs() works. A script interrupted in wait() exits promptly, and the engine
it embedded stops its running job on the way out."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import local_job, unique_name, wait_for


def sigint_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.fixture(autouse=True)
def sigint_raises():
    """Python's own SIGINT handler, even if this process was started with
    SIGINT ignored (as a background job of a non-interactive shell is)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def default_sigint():  # In the child, before exec: python3 then installs its handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_interrupts_wait_then_logs_work(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo begin; exec sleep 60"))
    ex = backend.run(name)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sigint_after(0.3)
        ex.wait()
    assert time.monotonic() - t0 < 1.5, "interrupted within a wait slice"
    assert not ex.refresh().done, "the execution goes on"
    # A following logs() works: read the first line live, then Ctrl-C the follow.
    stream = ex.logs(follow=True)
    assert next(stream).data == b"begin\n"
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sigint_after(0.3)
        for _ in stream:
            pass
    assert time.monotonic() - t0 < 1.5
    assert next(ex.logs().lines()) == "begin", "and logs() still works after that"
    ex.cancel()
    assert ex.wait(timeout=30).state == "cancelled"


SCRIPT = textwrap.dedent("""
    import sys, automate
    engine = automate.Engine(sys.argv[1])
    engine.apply({"name": "sleeper",
                  "executor": {"local": {"command": ["sleep", sys.argv[2]]}}})
    execution = engine.run("sleeper")
    print("waiting", flush=True)
    if sys.argv[3] == "wait":
        execution.wait()
    else:
        for record in execution.logs(follow=True):
            pass
""")


def sleep_pids(marker):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize("mode", ["wait", "follow"])
def test_ctrl_c_in_a_script(tmp_path, mode):
    marker = f"{time.time() % 1000 + 100:.6f}"  # sleep's unique argument
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "state"), marker, mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ, preexec_fn=default_sigint)
    try:
        assert proc.stdout.readline() == "waiting\n", proc.stderr.read()
        wait_for(lambda: sleep_pids(marker), what="the job's process")
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    # Closing the engine at exit stopped the job's process.
    wait_for(lambda: not sleep_pids(marker), timeout=10, what="the job's process to stop")
