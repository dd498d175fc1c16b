"""End-to-end tests of the `automate` CLI in remote mode: the same commands
against a real `automated` (tests/integration/daemon.py), compared with the
same commands in local mode, plus what only remote mode has (the config file,
tokens and roles, reconnecting `logs -f`).

Needs the daemon: AUTOMATED_BIN (default build/dev/bin/automated). A missing
daemon fails these tests; nothing is skipped.

Run: AUTOMATED_BIN=... /usr/bin/python3 -m pytest -q tests/integration/test_remote_cli.py
"""

import difflib
import json
import os
import urllib.error
import urllib.request
import re
import select
import signal
import stat
import time

import pytest

from conftest import BIN, REPO, Cli, pid_alive, pids_matching, stop_pids, wait_for
from daemon import AUTOMATED_BIN, Daemon

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

# The admin token is named like the CLI's $USER (conftest sets USER=pytest),
# so that `requestedBy` (the token's name remotely, $USER locally) matches.
ADMIN = "pytest"


# ---------------------------------------------------------------------------
# Fixtures and helpers


def isolated_env(env, tmp_path):
    """No server settings from the developer's environment or config file."""
    env = dict(env)
    for name in ("AUTOMATE_SERVER", "AUTOMATE_TOKEN", "AUTOMATE_CA_FILE"):
        env.pop(name, None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


class RemoteCli(Cli):
    """The CLI pointed at a daemon through AUTOMATE_SERVER / AUTOMATE_TOKEN.
    (--state-dir is still passed by Cli.argv; remote mode ignores it.)"""

    def __init__(self, tmp_path, daemon, token):
        super().__init__(tmp_path)
        self.daemon = daemon
        self.env = isolated_env(self.env, tmp_path)
        self.env["AUTOMATE_SERVER"] = daemon.url
        self.env["AUTOMATE_TOKEN"] = token

    def with_token(self, token):
        return dict(self.env, AUTOMATE_TOKEN=token)


class Servers:
    """Daemons of one test; all stopped at teardown. start() fails the test
    (it does not skip it) when the daemon binary is missing."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.daemons = []

    def start(self, name="server", port=0, tokens=(("operator", "operator"), ("viewer", "viewer"))):
        assert os.access(AUTOMATED_BIN, os.X_OK), (
            f"automated binary not found: {AUTOMATED_BIN} (build target automated_bin, "
            "or set AUTOMATED_BIN)")
        d = Daemon(self.tmp / name)
        d.tokens = {}
        if port == 0:  # A fresh state dir: make its tokens before it runs.
            d.tokens[ADMIN] = d.token(ADMIN, "admin")
            for token_name, role in tokens:
                d.tokens[token_name] = d.token(token_name, role)
        self.daemons.append(d)
        return d.start(port=port)

    def restart(self, old, port):
        """A new daemon process on the old one's state dir and port."""
        d = Daemon(old.state_dir)
        d.tokens = old.tokens
        self.daemons.append(d)
        return d.start(port=port)

    def cleanup(self):
        for d in self.daemons:
            d.stop()


@pytest.fixture
def servers(tmp_path):
    s = Servers(tmp_path)
    yield s
    s.cleanup()
    # Job processes the daemons started (their env carries the test's tag).
    stop_pids(pids_matching(str(tmp_path), environ=f"AUTOMATE_IT_TAG={tmp_path}"),
              sig=signal.SIGKILL)


@pytest.fixture
def remote(tmp_path, servers):
    d = servers.start()
    c = RemoteCli(tmp_path / "remote", d, d.tokens[ADMIN])
    c.tmp.mkdir(parents=True, exist_ok=True)
    c.tag = f"AUTOMATE_IT_TAG={tmp_path}"
    yield c
    c.cleanup()


@pytest.fixture
def local(tmp_path):
    assert os.access(BIN, os.X_OK), f"automate binary not found: {BIN} (set AUTOMATE_BIN)"
    c = Cli(tmp_path / "local")
    c.tmp.mkdir(parents=True, exist_ok=True)
    c.env = isolated_env(c.env, tmp_path)
    c.tag = f"AUTOMATE_IT_TAG={tmp_path}"
    yield c
    left = c.cleanup()
    assert not left, f"engine processes did not stop on SIGTERM: {left}"


def job_yaml(name, command, tmp, extra=""):
    """A job document whose env carries the test's tag (one text for both
    modes, so that their outputs compare)."""
    return (f"name: {name}\nexecutor:\n  local:\n    command: {json.dumps(command)}\n"
            f"    env: {{AUTOMATE_IT_TAG: {json.dumps(str(tmp))}}}\n" + extra)


def write_job(tmp_path, name, command, extra=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(job_yaml(name, command, tmp_path, extra))
    return path


# Normalisation of what legitimately differs between two runs: ids, times,
# durations, column widths; and the trigger's source, which the daemon sets
# to "api" (local runs have none).
ULID_ANY = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
DURATION = re.compile(r"(?<![\w.])(\d+ms|\d+\.\d+s|\d+m\d\ds|\d+h\d\dm)(?!\w)")
VOLATILE = {"id", "createTime", "startTime", "endTime", "updateTime", "nextAttemptTime",
            "externalId"}


def norm_text(text):
    text = ULID_ANY.sub("<ID>", text)
    text = ISO_TIME.sub("<TS>", text)
    text = LOCAL_TIME.sub("<TIME>", text)
    text = DURATION.sub("<DUR>", text)
    text = text.replace("manual:api", "manual")
    return "\n".join(re.sub(r" {2,}", "  ", line).rstrip() for line in text.split("\n"))


def norm_json(value):
    if isinstance(value, list):
        return [norm_json(v) for v in value]
    if isinstance(value, dict):
        out = {}
        is_execution = "jobVersion" in value
        for k, v in value.items():
            if k in VOLATILE or (is_execution and k == "version"):
                continue  # An execution's store record version counts its writes.
            if k == "trigger" and isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk != "source"}
            out[k] = norm_json(v)
        return out
    return value


class Transcript:
    """Runs commands on one CLI and records what a user sees, normalised."""

    def __init__(self, cli):
        self.cli = cli
        self.steps = []

    def __call__(self, *args, input=None, as_json=False, as_yaml=False, timeout=60):
        r = self.cli(*args, input=input, timeout=timeout)
        if as_json and r.returncode == 0:
            stdout = norm_json(json.loads(r.stdout))
        elif as_yaml:
            # The order of a map's keys (labels, env, args) is protobuf's hash
            # order, which differs from one process to the next even locally;
            # compare the lines, not their order.
            stdout = sorted(norm_text(r.stdout).splitlines())
        else:
            stdout = norm_text(r.stdout)
        self.steps.append({"args": norm_text(" ".join(str(a) for a in args)),
                           "rc": r.returncode, "stdout": stdout, "stderr": norm_text(r.stderr)})
        return r


def run_both(local, remote, scenario):
    """The same scenario in both modes; every step must look the same."""
    transcripts = []
    for cli in (local, remote):
        t = Transcript(cli)
        scenario(t, cli)
        transcripts.append(t)
    lt, rt = transcripts
    assert [s["args"] for s in lt.steps] == [s["args"] for s in rt.steps]
    for a, b in zip(lt.steps, rt.steps):
        if a == b:
            continue
        diff = []
        for key in ("rc", "stdout", "stderr"):
            if a[key] != b[key]:
                left = a[key] if isinstance(a[key], str) else json.dumps(a[key], indent=1, sort_keys=True)
                right = b[key] if isinstance(b[key], str) else json.dumps(b[key], indent=1, sort_keys=True)
                diff.append(f"--- {key}:\n" + "\n".join(difflib.unified_diff(
                    str(left).splitlines(), str(right).splitlines(), "local", "remote", lineterm="")))
        pytest.fail(f"local and remote differ at `automate {a['args']}`:\n" + "\n".join(diff))
    return lt, rt


def api(d, method, path, token, body=None):
    """One request to the daemon; returns (status, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(d.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, (json.loads(raw) if raw else None)


def exec_id_from(r):
    m = re.search(r"execution (\S+)", r.stderr)
    assert m, r.stderr
    return m.group(1)


# ---------------------------------------------------------------------------
# The same commands, the same output


GREET = """\
name: greet
description: Print a greeting
labels: {team: qa}
executor:
  local:
    command: echo "Hello, $WHO from $PLACE!"; echo "to stderr" >&2
    env: {AUTOMATE_IT_TAG: "%s"}
params:
  - name: WHO
    description: who to greet
    required: true
    pattern: "[A-Za-z]+"
  - name: PLACE
    description: where from
    default: Paris
timeout: 10s
retry: {max_attempts: 2, initial_backoff: 1s}
"""


def test_jobs_same_as_local(local, remote, tmp_path):
    greet = tmp_path / "greet.yaml"
    greet.write_text(GREET % tmp_path)
    examples = [REPO / "examples/jobs/maintenance.yaml", REPO / "examples/jobs/system-info.json"]

    def scenario(t, cli):
        assert t("apply", "-f", greet).stdout == "job greet created (version 1)\n"
        assert t("apply", "-f", greet).stdout == "job greet unchanged (version 1)\n"
        t("apply", "-f", examples[0], "-f", examples[1])
        t("list")
        t("list", "-o", "json", as_json=True)
        t("list", "-o", "yaml", as_yaml=True)
        t("describe", "greet")
        t("describe", "greet", "-o", "json", as_json=True)
        greet.write_text((GREET % tmp_path).replace("Paris", "Rome"))
        assert t("apply", "-f", greet).stdout == "job greet updated (version 2)\n"
        t("describe", "greet")
        t("describe", "greet", "--job-version", "1")
        t("describe", "greet", "--job-version", "7")
        greet.write_text(GREET % tmp_path)
        # A bad job file is refused by the CLI before anything is sent.
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: Bad_Name\nexecutor: {local: {command: x}}\n")
        assert t("apply", "-f", bad).returncode == 4

    run_both(local, remote, scenario)


def test_runs_and_logs_same_as_local(local, remote, tmp_path):
    greet = tmp_path / "greet.yaml"
    greet.write_text(GREET % tmp_path)
    fails = write_job(tmp_path, "fails", "echo before; exit 3")
    lines = write_job(tmp_path, "lines",
                      "for i in $(seq 1 50); do echo line $i; done; echo err-line >&2; echo last")
    killed = write_job(tmp_path, "killed", "echo before; kill -TERM $$")

    def scenario(t, cli):
        for path in (greet, fails, lines, killed):
            t("apply", "-f", path)
        r = t("run", "greet", "WHO=Ada", "--follow")
        assert r.returncode == 0 and r.stdout == "Hello, Ada from Paris!\n", r.stderr
        assert r.stderr.startswith("execution ") and "to stderr\n" in r.stderr
        r = t("run", "greet", "WHO=Bob", "PLACE=Oslo", "--wait")
        assert r.returncode == 0 and r.stdout.endswith(" succeeded\n"), r.stderr
        t("run", "greet", "WHO=Cy", "--wait", "-o", "json", as_json=True)
        # (YAML of an execution has its volatile fields unquoted: checked, not compared.)
        r = cli("run", "greet", "WHO=Cy", "--wait", "-o", "yaml")
        assert r.returncode == 0 and re.search(r"^state: SUCCEEDED$", r.stdout, re.M), r.stdout
        # Bad arguments: the engine's messages, verbatim, and its exit codes.
        assert t("run", "greet").returncode == 4
        assert t("run", "greet", "WHO=Ada 1", "--follow").returncode == 4
        assert t("run", "greet", "WHO=Ada", "FOO=1", "--wait").returncode == 4
        assert t("run", "greet", "WHO").returncode == 2
        # The job's exit status becomes the CLI's.
        assert t("run", "fails", "--follow").returncode == 3
        assert t("run", "fails", "--wait").returncode == 3
        assert t("run", "killed", "--follow").returncode == 143

        r = t("run", "lines")
        exec_id = r.stdout.strip()
        assert ULID.match(exec_id), r.stdout
        cli.wait_final(exec_id)
        r = t("logs", exec_id)
        assert r.stdout.startswith("line 1\nline 2\n") and r.stdout.endswith("line 50\nlast\n")
        assert r.stderr == "err-line\n"
        t("logs", exec_id, "--offset", "9")
        t("logs", exec_id, "-f")
        t("logs", exec_id, "--offset", "100000")
        t("status", exec_id)
        t("status", exec_id, "-o", "json", as_json=True)
        t("history")
        t("history", "-o", "json", as_json=True)
        t("history", "greet", "--state", "succeeded")
        t("history", "greet", "--limit", "2", "-o", "json", as_json=True)
        t("history", "fails", "--state", "failed", "-o", "json", as_json=True)
        t("history", "lines", "--state", "running", "-o", "json", as_json=True)

    run_both(local, remote, scenario)


def test_cancel_same_as_local(local, remote, tmp_path):
    long = write_job(tmp_path, "long", "echo started; exec sleep 60")

    def scenario(t, cli):
        t("apply", "-f", long)
        exec_id = t("run", "long").stdout.strip()
        cli.wait_state(exec_id, "RUNNING")
        wait_for(lambda: "started" in cli.logs(exec_id).stdout, what="the job to start")
        r = t("cancel", exec_id)
        assert r.returncode == 0 and r.stdout == f"cancel requested for {exec_id}\n", r.stderr
        assert cli.wait_final(exec_id)["state"] == "CANCELLED"
        t("status", exec_id)
        assert t("cancel", exec_id).returncode == 5  # Already final.
        # --follow of a run that is cancelled from elsewhere: 130.
        p = cli.popen("run", "long", "--follow")
        ready, _, _ = select.select([p.stdout], [], [], 20)
        assert ready and os.read(p.stdout.fileno(), 1 << 16) == b"started\n"
        # Live output can come before the RUNNING state is committed.
        running = wait_for(
            lambda: json.loads(cli.ok("history", "long", "--state", "running", "-o", "json").stdout),
            what="the run to be recorded as running")
        t("cancel", running[0]["id"])
        out, err = p.communicate(timeout=30)
        assert p.returncode == 130, err
        assert out == ""  # (the first line was read above)

    run_both(local, remote, scenario)


SECRET = "hunter2-Xy9"


def test_secrets_same_as_local(local, remote, tmp_path):
    sec = write_job(tmp_path, "sec", 'echo "token=$TOKEN"; echo "len=${#TOKEN}"', "secrets: [TOKEN]\n")

    def scenario(t, cli):
        t("apply", "-f", sec)
        assert t("run", "sec").returncode == 5  # The secret is missing.
        assert t("secret", "set", "TOKEN", input=SECRET + "\n").stdout == "secret TOKEN set\n"
        t("secret", "list")
        t("secret", "list", "-o", "json", as_json=True)
        t("secret", "list", "-o", "yaml", as_yaml=True)
        r = t("run", "sec", "--follow")
        assert r.returncode == 0 and r.stdout == f"token=****\nlen={len(SECRET)}\n", r.stderr
        assert t("secret", "set", "EMPTY", input="").returncode == 4
        assert t("secret", "rm", "TOKEN").stdout == "secret TOKEN removed\n"
        assert t("secret", "rm", "TOKEN").returncode == 3
        t("secret", "list", "-o", "json", as_json=True)

    lt, rt = run_both(local, remote, scenario)
    for step in rt.steps:
        assert SECRET not in json.dumps(step)


@pytest.mark.parametrize("args", [
    ["describe", "nope"], ["run", "nope"], ["run", "nope", "--follow"], ["status", "NOPE"],
    ["cancel", "NOPE"], ["logs", "NOPE"], ["logs", "-f", "NOPE"], ["history", "nope"],
    ["secret", "rm", "NOPE"],
], ids=lambda a: " ".join(a))
def test_not_found_exit_3(local, remote, args):
    results = []
    for cli in (local, remote):
        r = cli(*args)
        assert r.returncode == 3, f"rc={r.returncode} stderr={r.stderr!r}"
        assert r.stderr.startswith("automate: ") and "not found" in r.stderr
        assert r.stdout == ""
        results.append(r.stderr)
    assert results[0] == results[1], "the server's message is the engine's"


# ---------------------------------------------------------------------------
# Remote only: where the server comes from


def test_config_set_server_writes_private_file(tmp_path, servers):
    d = servers.start()
    token = d.tokens[ADMIN]
    env = isolated_env(dict(os.environ, USER="pytest"), tmp_path)
    cfg_dir = tmp_path / "xdg" / "automate"
    cfg = cfg_dir / "config.yaml"

    def automate(*args, extra_env=None, input=None):
        return Cli(tmp_path)(*args, state_dir=False, input=input, env=dict(env, **(extra_env or {})))

    r = automate("config", "show")
    assert r.returncode == 0 and re.search(r"^Server:\s+- \(local mode", r.stdout, re.M), r.stdout

    r = automate("config", "set-server", d.url, "--token", token)
    assert r.returncode == 0, r.stderr
    assert token not in r.stdout + r.stderr
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cfg_dir).st_mode) == 0o700
    assert not [p for p in cfg_dir.iterdir() if p.name != "config.yaml"], "no temporary left"
    text = cfg.read_text()
    assert d.url in text and token in text

    r = automate("config", "show")
    assert r.returncode == 0, r.stderr
    assert token not in r.stdout + r.stderr
    assert re.search(rf"^Server:\s+{re.escape(d.url)} \(from the config file\)$", r.stdout, re.M)
    assert re.search(r"^Token:\s+set \(from the config file\)$", r.stdout, re.M), r.stdout
    shown = json.loads(automate("config", "show", "-o", "json").stdout)
    assert shown["server"] == d.url and shown["tokenSet"] is True and token not in json.dumps(shown)

    # The file is used: the job lands on the server.
    job = write_job(tmp_path, "cfg", "echo via-config")
    assert automate("apply", "-f", job).returncode == 0
    r = automate("run", "cfg", "--follow")
    assert r.returncode == 0 and r.stdout == "via-config\n", r.stderr
    assert d.get("/v1/jobs/cfg", token=token)[0] == 200
    assert not pids_matching(str(tmp_path / "state"), "engine"), "no local engine in remote mode"

    # env > file, flag > env.
    r = automate("list", extra_env={"AUTOMATE_SERVER": "http://127.0.0.1:9"})
    assert r.returncode == 1 and "cannot reach the server at http://127.0.0.1:9" in r.stderr
    r = automate("--server", d.url, "list", extra_env={"AUTOMATE_SERVER": "http://127.0.0.1:9"})
    assert r.returncode == 0 and "cfg" in r.stdout, r.stderr
    other = d.url.replace("127.0.0.1", "localhost")  # The same daemon, named otherwise.
    r = automate("--server", other, "list")
    assert r.returncode == 1 and "no token is set" in r.stderr, (
        "the file's token is not sent to a server named elsewhere")
    r = automate("--server", other, "--token", token, "list",
                 extra_env={"AUTOMATE_SERVER": "http://127.0.0.1:9"})
    assert r.returncode == 0 and "cfg" in r.stdout, r.stderr
    r = automate("list", extra_env={"AUTOMATE_TOKEN": "atk_wrong"})
    assert r.returncode != 0 and "AUTOMATE_TOKEN" in r.stderr
    # --server "" is local mode, whatever the file says.
    r = automate("--server", "", "--state-dir", tmp_path / "state", "list")
    assert r.returncode == 0 and "cfg" not in r.stdout, r.stderr
    # Local-only commands say so.
    r = automate("engine")
    assert r.returncode == 2 and "server is configured" in r.stderr

    # set-server again without --token keeps it for the same server, drops it for another.
    assert automate("config", "set-server", d.url).returncode == 0
    assert token in cfg.read_text()
    assert automate("config", "set-server", "http://127.0.0.1:9").returncode == 0
    assert token not in cfg.read_text()
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    # A bad URL writes nothing.
    before = cfg.read_text()
    r = automate("config", "set-server", "ftp://x")
    assert r.returncode == 4 and "not an http or https URL" in r.stderr
    assert cfg.read_text() == before

    # Without XDG_CONFIG_HOME: ~/.config/automate/config.yaml.
    home_env = dict(env, HOME=str(tmp_path / "home"))
    home_env.pop("XDG_CONFIG_HOME")
    r = Cli(tmp_path)("config", "set-server", d.url, "--token", token, state_dir=False, env=home_env)
    assert r.returncode == 0, r.stderr
    home_cfg = tmp_path / "home" / ".config" / "automate" / "config.yaml"
    assert stat.S_IMODE(os.stat(home_cfg).st_mode) == 0o600


def test_bad_token_and_roles(remote, tmp_path):
    d = remote.daemon
    job = write_job(tmp_path, "guarded", "echo ran")
    remote.ok("apply", "-f", job)

    for bad in ("atk_not_a_real_token", ""):
        r = remote("list", env=remote.with_token(bad))
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("automate: "), r.stderr
        hint = "no token is set" if not bad else "the server refused the token from AUTOMATE_TOKEN"
        assert hint in r.stderr and "AUTOMATE_TOKEN" in r.stderr, r.stderr
        if bad:
            assert bad not in r.stderr + r.stdout, "the token is never printed"
    r = remote("--token", "atk_not_a_real_token", "list")
    assert "refused the token from --token" in r.stderr and "atk_not_a_real_token" not in r.stderr

    # A viewer reads but does not run: the server's message, verbatim; exit 1.
    viewer_token = d.tokens["viewer"]
    viewer = remote.with_token(viewer_token)
    assert remote("list", env=viewer).returncode == 0
    forbidden = {
        "run": api(d, "POST", "/v1/jobs/guarded/executions", viewer_token, {}),
        "secret": api(d, "GET", "/v1/secrets", viewer_token),
        "apply": api(d, "PUT", "/v1/jobs/guarded", viewer_token,
                     {"executor": {"local": {"command": ["true"]}}}),
    }
    for what, (status, body) in forbidden.items():
        assert status == 403, (what, status, body)
    for args in (["run", "guarded"], ["run", "guarded", "--follow"], ["secret", "list"],
                 ["apply", "-f", job]):
        r = remote(*args, env=viewer)
        assert r.returncode == 1, f"{args}: rc={r.returncode} {r.stderr!r}"
        assert r.stdout == ""
        assert r.stderr == f"automate: {forbidden[args[0]][1]['message']}\n", r.stderr
    # An operator runs and cancels, but manages no secrets.
    operator = remote.with_token(d.tokens["operator"])
    r = remote("run", "guarded", "--follow", env=operator)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    r = remote("secret", "set", "X", input="v\n", env=operator)
    assert r.returncode == 1 and r.stderr.startswith("automate: ")
    # Conflict and invalid keep their exit codes.
    r = remote("run", "guarded", "--wait")
    assert r.returncode == 0, r.stderr
    exec_id = exec_id_from(r)
    assert remote("cancel", exec_id).returncode == 5
    assert remote("history", "--state", "bogus").returncode == 4


def test_unreachable_server(tmp_path, local):
    env = dict(local.env, AUTOMATE_SERVER="http://127.0.0.1:9", AUTOMATE_TOKEN="atk_x")
    t0 = time.monotonic()
    for args in (["list"], ["logs", "-f", "X"], ["run", "x", "--wait"]):
        r = local(*args, env=env)
        assert r.returncode == 1, r.stderr
        assert "cannot reach the server at http://127.0.0.1:9" in r.stderr
        assert "atk_x" not in r.stderr
    assert time.monotonic() - t0 < 10, "a refused connection fails fast"


# ---------------------------------------------------------------------------
# logs -f across a daemon killed and restarted


def test_logs_follow_resumes_after_daemon_sigkill(remote, servers, tmp_path):
    d = remote.daemon
    port = int(d.url.rsplit(":", 1)[1])
    marker = tmp_path / "marker"
    script = (f"if [ -e {marker} ]; then echo second attempt; "
              "for j in $(seq 1 200); do echo tail $j; done; echo err-end >&2; exit 0; fi; "
              f"touch {marker}; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.02; done")
    remote.ok("apply", "-f", write_job(tmp_path, "resume", script,
                                       "retry: {max_attempts: 2, initial_backoff: 100ms}\n"))
    exec_id = remote.ok("run", "resume").stdout.strip()
    remote.wait_state(exec_id, "RUNNING")

    follower = remote.popen("logs", "-f", exec_id)
    ready, _, _ = select.select([follower.stdout], [], [], 20)
    assert ready, "the follower printed nothing"
    # Raw reads: communicate() below reads the pipe itself, past any buffer.
    first = os.read(follower.stdout.fileno(), 1 << 16).decode()
    assert first.startswith("line 1\n")
    wait_for(lambda: "line 30\n" in remote.logs(exec_id).stdout, what="thirty lines")

    d.stop(sig=signal.SIGKILL)  # Mid-follow, mid-job.
    assert follower.poll() is None, "logs -f waits for the server to come back"
    d2 = servers.restart(d, port)
    remote.daemon = d2

    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    s = remote.wait_final(exec_id, timeout=30)
    assert s["state"] == "SUCCEEDED", s
    assert "engine restarted" in s["attempts"][0].get("error", ""), s["attempts"][0]
    full = remote.logs(exec_id)
    got = first + out
    assert got == full.stdout, "no duplicate and no missing byte across the restart"
    numbers = [int(x) for x in re.findall(r"^line (\d+)$", got, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 30
    assert got.endswith("second attempt\n" + "".join(f"tail {j}\n" for j in range(1, 201)))
    assert err == full.stderr and err.endswith("err-end\n")


def test_run_follow_and_wait_over_http_stream_live(remote, tmp_path):
    """--follow prints lines while the job runs, not only at its end."""
    go = tmp_path / "go"
    remote.ok("apply", "-f", write_job(
        tmp_path, "stream", f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo last"))
    p = remote.popen("run", "stream", "--follow")
    ready, _, _ = select.select([p.stdout], [], [], 20)
    assert ready, "no output within 20s"
    assert os.read(p.stdout.fileno(), 1 << 16) == b"first\n"
    assert p.poll() is None
    go.touch()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == "last\n"
    assert not remote.engine_pids(), "remote mode starts no local engine"
