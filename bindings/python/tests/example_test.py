"""examples/python/fan_out.py works on an embedded engine and on a server."""

import re
import subprocess
import sys

import pytest

from conftest import REPO, isolated_env

SCRIPT = REPO / "examples" / "python" / "fan_out.py"


def check_output(result):
    assert result.returncode == 1, result.stderr  # Two targets fail, on purpose.
    out = result.stdout
    rows = re.findall(r"^(host-\d\d)\s+(\w+)\s+(\S+)\s+\S+\s+(\d+)\s+([0-9A-Z]{26})$", out, re.M)
    assert len(rows) == 20, out
    failed = {r[0] for r in rows if r[1] == "failed"}
    assert failed == {"host-07", "host-14"}
    assert all(r[1] == "succeeded" and r[2] == "0" and r[3] == "1" for r in rows
               if r[0] not in failed)
    assert all(r[2] == "2" and r[3] == "2" for r in rows if r[0] in failed)
    assert "stderr: host-07: connection refused on port 22" in out
    assert "18 succeeded, 2 failed, 20 targets" in out


@pytest.mark.parametrize("where", ["engine", "server"])
def test_fan_out(where, tmp_path, daemon):
    env = isolated_env(tmp_path)
    args = [sys.executable, str(SCRIPT), "--concurrency", "5"]
    if where == "engine":
        args += ["--state-dir", str(tmp_path / "state")]
    else:
        args += ["--server", daemon.url, "--token", daemon.tokens["admin"]]  # It applies the job.
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    check_output(result)
