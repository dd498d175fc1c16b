"""Fixtures for the tests of the Python bindings (`import automate`).

Environment (ctest's python_bindings test sets all of them):
  PYTHONPATH           the build tree's package dir, e.g. build/dev/python
  AUTOMATE_BIN         the automate CLI (to compare messages; default build/dev/bin/automate)
  AUTOMATED_BIN        the daemon the Client tests talk to (default build/dev/bin/automated)
  AUTOMATE_SOURCE_DIR  the repo root (default: the parent of tests/)
  AUTOMATE_BINARY_DIR  the build dir (for the install test; default build/dev)

`backend` runs a test twice: on an embedded automate.Engine (its own state dir
under tmp_path) and on an automate.Client of a real automated (one daemon per
session, started by tests/integration/daemon.py on a free loopback port with
admin, operator and viewer tokens). Job names are unique per test, so tests
sharing the daemon never see each other's jobs.
"""

import itertools
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(os.environ.get("AUTOMATE_SOURCE_DIR") or Path(__file__).resolve().parents[3])
BUILD = Path(os.environ.get("AUTOMATE_BINARY_DIR") or REPO / "build" / "dev")
AUTOMATE_BIN = os.environ.get("AUTOMATE_BIN") or str(BUILD / "bin" / "automate")
os.environ.setdefault("AUTOMATED_BIN", str(BUILD / "bin" / "automated"))

sys.path.insert(0, str(REPO / "tests" / "integration"))
from daemon import AUTOMATED_BIN, Daemon  # noqa: E402  (tests/integration/daemon.py)
from polling import wait_for  # noqa: E402,F401  (tests/integration/polling.py)

try:
    import automate  # noqa: E402
except ImportError as e:  # A missing build is a failure, never a skip.
    raise ImportError(
        f"cannot import automate ({e}); build the target automate_python and run with "
        f"PYTHONPATH={BUILD / 'python'}") from e

_names = itertools.count()


def unique_name(base="job"):
    """A job name no other test uses (the daemon is shared)."""
    return f"{base}-{uuid.uuid4().hex[:6]}{next(_names)}"


def local_job(name, command, **fields):
    """A job spec dict with a local executor."""
    if isinstance(command, str):
        command = ["/bin/sh", "-c", command]
    spec = {"name": name, "executor": {"local": {"command": command}}}
    spec.update(fields)
    return spec


def vm_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def isolated_env(tmp_path):
    """Environment for CLI subprocesses: no server settings of the developer's."""
    env = dict(os.environ)
    for name in ("AUTOMATE_SERVER", "AUTOMATE_TOKEN", "AUTOMATE_STATE_DIR"):
        env.pop(name, None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    assert os.access(AUTOMATED_BIN, os.X_OK), (
        f"automated not found: {AUTOMATED_BIN} (build automated_bin or set AUTOMATED_BIN)")
    d = Daemon(tmp_path_factory.mktemp("daemon") / "state")
    d.tokens = {role: d.token(f"py-{role}", role) for role in ("admin", "operator", "viewer")}
    d.start()
    yield d
    code = d.stop()
    assert code == 0, f"automated exited with {code}: {d.log_path.read_text()[-2000:]}"


@pytest.fixture
def engine(tmp_path):
    e = automate.Engine(tmp_path / "state")
    yield e
    e.close()


@pytest.fixture
def client(daemon):
    c = automate.Client(daemon.url, daemon.tokens["admin"])
    yield c
    c.close()


@pytest.fixture(params=["engine", "client"])
def backend(request):
    """An Engine or a Client: the same tests run on both."""
    return request.getfixturevalue(request.param)


class CliRunner:
    """The automate CLI against the same place as `backend`: the Engine's
    state dir (local mode: the CLI is a client of the engine holding the
    lock) or the daemon (remote mode)."""

    def __init__(self, backend, tmp_path, daemon=None):
        self.env = isolated_env(tmp_path)
        if isinstance(backend, automate.Client):
            self.env["AUTOMATE_SERVER"] = backend.server
            self.env["AUTOMATE_TOKEN"] = daemon.tokens["admin"]
            self.prefix = [AUTOMATE_BIN]
        else:
            self.prefix = [AUTOMATE_BIN, "--state-dir", backend.state_dir]

    def __call__(self, *args, input=None, token=None):
        env = dict(self.env)
        if token is not None:
            env["AUTOMATE_TOKEN"] = token
        return subprocess.run(self.prefix + [str(a) for a in args], capture_output=True,
                              text=True, timeout=60, env=env, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture
def cli(backend, tmp_path, request):
    assert os.access(AUTOMATE_BIN, os.X_OK), f"automate not found: {AUTOMATE_BIN}"
    daemon = request.getfixturevalue("daemon") if isinstance(backend, automate.Client) else None
    return CliRunner(backend, tmp_path, daemon)


# A skipped test is a failure (tests/integration/skips.py).
from skips import *  # noqa: E402,F401,F403


def pytest_report_header(config):
    return f"automate {automate.__version__} from {Path(automate.__file__).parent}"
