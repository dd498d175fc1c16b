"""A real `automated` for the end-to-end tests: started on a free loopback
port with its own state dir, with an admin token, stopped at the end.

Environment:
  AUTOMATED_BIN  the daemon (default: build/dev/bin/automated under the repo)
"""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(os.environ.get("AUTOMATE_SOURCE_DIR") or Path(__file__).resolve().parents[2])
AUTOMATED_BIN = os.environ.get("AUTOMATED_BIN") or str(REPO / "build" / "dev" / "bin" / "automated")


class Daemon:
    """One automated process. `url` is http://127.0.0.1:PORT."""

    def __init__(self, state_dir, extra_args=(), env=None):
        self.state_dir = Path(state_dir)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ if env is None else env)
        self.proc = None
        self.url = None
        self.log_path = self.state_dir / "automated.out"

    def token(self, name, role, groups=()):
        """Creates a token with `automated token create`; returns its secret."""
        args = [AUTOMATED_BIN, "--state-dir", str(self.state_dir), "token", "create",
                "--name", name, "--role", role]
        if groups:
            args += ["--groups", ",".join(groups)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, env=self.env)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def start(self, port=0, timeout=20):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        listen = f"127.0.0.1:{port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [AUTOMATED_BIN, "--state-dir", str(self.state_dir), "--listen", listen] + self.extra_args,
            stdout=subprocess.PIPE, stderr=log, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            text = line.decode().strip()
            if text.startswith("automated: listening on "):
                self.url = text.split()[-1]
                break
        if self.url is None:
            self.stop()
            raise AssertionError(
                f"automated did not start (last line {line!r}); stderr:\n{self.log_path.read_text()}")
        return self

    def get(self, path, token=None, timeout=10):
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the daemon; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc.stdout.close()
        self.proc = None
        return code
