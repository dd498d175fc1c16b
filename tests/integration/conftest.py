"""Fixtures for the end-to-end tests of the `automate` binary.

Environment:
  AUTOMATE_BIN         the binary (default: build/dev/bin/automate under the repo)
  AUTOMATE_SOURCE_DIR  the repo root (default: the parent of tests/)

Every test gets its own state dir under tmp_path; at the end the fixture stops
every process whose command line mentions the test's tmp_path (the background
engine and the job scripts, which embed tmp_path), so nothing leaks.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from polling import wait_for  # noqa: F401  (the tests import it from here)

REPO = Path(os.environ.get("AUTOMATE_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN = os.environ.get("AUTOMATE_BIN") or str(REPO / "build" / "dev" / "bin" / "automate")

FINAL_STATES = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
DEFAULT_TIMEOUT = 30


def read_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def pids_matching(*needles, environ=None):
    """Live pids (not ours) whose command line contains every needle, or (if
    environ is given) whose environment contains it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        args = read_cmdline(entry)
        if not args:
            continue
        line = " ".join(args)
        hit = all(n in line for n in needles)
        if not hit and environ is not None:
            hit = environ in read_environ(entry)
        if hit and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def lock_holders(path):
    """Pids holding a flock on path, from /proc/locks."""
    try:
        st = os.stat(path)
    except OSError:
        return set()
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if "->" in parts:  # a waiter
                continue
            if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == ident:
                holders.add(int(parts[4]))
    return holders


def stop_pids(pids, sig=signal.SIGTERM, timeout=5.0):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    left = [p for p in pids if pid_alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


class Cli:
    """Runs the automate binary against one state dir."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.state_dir = tmp_path / "state"
        self.env = dict(os.environ)
        self.env.pop("AUTOMATE_STATE_DIR", None)
        # Local mode, whatever the developer's own CLI config says.
        self.env.pop("AUTOMATE_SERVER", None)
        self.env.pop("AUTOMATE_TOKEN", None)
        self.env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
        self.env["USER"] = "pytest"
        # Jobs get this in their env (see job_yaml in test_cli.py), so that
        # their children can be found and stopped at teardown.
        self.tag = f"AUTOMATE_IT_TAG={tmp_path}"
        self.popens = []

    def argv(self, args, state_dir=True):
        args = [str(a) for a in args]
        return [BIN] + (["--state-dir", str(self.state_dir)] if state_dir else []) + args

    def __call__(self, *args, input=None, timeout=DEFAULT_TIMEOUT, state_dir=True, env=None):
        """Runs a command to its end; returns the CompletedProcess (text)."""
        return subprocess.run(self.argv(args, state_dir), input=input, capture_output=True,
                              text=True, timeout=timeout, env=env or self.env,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args, **kwargs):
        r = self(*args, **kwargs)
        assert r.returncode == 0, f"automate {args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def popen(self, *args, **kwargs):
        """Starts a command in the background; it is killed at teardown if still running."""
        p = subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, env=self.env, **kwargs)
        self.popens.append(p)
        return p

    def job_file(self, name, text):
        path = self.tmp / name
        path.write_text(text)
        return path

    def apply(self, text, name="job.yaml"):
        return self.ok("apply", "-f", self.job_file(name, text))

    def status(self, exec_id):
        return json.loads(self.ok("status", exec_id, "-o", "json").stdout)

    def wait_final(self, exec_id, timeout=20.0):
        def final():
            s = self.status(exec_id)
            return s if s.get("state") in FINAL_STATES else None
        return wait_for(final, timeout, what=f"execution {exec_id} to end")

    def wait_state(self, exec_id, state, timeout=15.0):
        return wait_for(lambda: self.status(exec_id).get("state") == state, timeout,
                        what=f"execution {exec_id} to be {state}")

    def history(self):
        return json.loads(self.ok("history", "-o", "json").stdout)

    def logs(self, exec_id):
        return self.ok("logs", exec_id)

    def engine_pids(self):
        """Engine processes of this state dir: `automate ... --state-dir D engine ...`."""
        pids = []
        for pid in pids_matching(str(self.state_dir)):
            args = read_cmdline(pid) or []
            if "engine" in args and str(self.state_dir) in args:
                pids.append(pid)
        return pids

    def cleanup(self):
        for p in self.popens:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=5)
            except Exception:
                pass
        # Engines first (SIGTERM: they shut down cleanly), then anything left
        # that mentions this test's directory (job scripts embed tmp_path).
        left = stop_pids(self.engine_pids())
        stop_pids(pids_matching(str(self.tmp), environ=self.tag), sig=signal.SIGKILL)
        return left


@pytest.fixture
def cli(tmp_path):
    assert os.access(BIN, os.X_OK), f"automate binary not found: {BIN} (set AUTOMATE_BIN)"
    c = Cli(tmp_path)
    yield c
    left = c.cleanup()
    assert not left, f"engine processes did not stop on SIGTERM: {left}"


# A skipped test is a failure (tests/integration/skips.py).
from skips import *  # noqa: E402,F401,F403
