"""End-to-end tests of the `automate` CLI in local mode: real processes, a real
state dir per test, and the on-demand background engine.

Run: /usr/bin/python3 -m pytest -q tests/integration   (or ctest -R cli_integration)
"""

import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (BIN, FINAL_STATES, REPO, lock_holders, pid_alive, pids_matching,
                      read_cmdline, read_environ, wait_for)

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def job_yaml(name, command, extra="", tmp=None):
    """A job document. `command` is a shell script; with tmp, the job's env
    carries the test's tag so that leftover processes can be found."""
    env = f"\n    env: {{AUTOMATE_IT_TAG: {json.dumps(str(tmp))}}}" if tmp else ""
    return (f"name: {name}\nexecutor:\n  local:\n    command: {json.dumps(command)}{env}\n"
            + extra)


def apply_job(cli, name, command, extra=""):
    return cli.apply(job_yaml(name, command, extra, cli.tmp), name=f"{name}.yaml")


# ---------------------------------------------------------------------------
# Help and usage


HELP_COMMANDS = [[], ["apply"], ["list"], ["describe"], ["run"], ["logs"], ["status"],
                 ["cancel"], ["history"], ["secret"], ["secret", "set"], ["secret", "list"],
                 ["secret", "rm"], ["engine"]]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help(cli, command):
    r = cli(*command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage: automate" in r.stdout
    if command:
        assert f"automate {' '.join(command)}" in r.stdout


@pytest.mark.parametrize("args", [
    [],                                   # no command
    ["bogus"],                            # unknown command
    ["list", "--nope"],                   # unknown flag
    ["-o", "xml", "list"],                # bad output format
    ["apply"],                            # -f missing
    ["describe"],                         # JOB missing
    ["status"],                           # ID missing
    ["history", "--limit", "0"],          # out of range
    ["history", "--limit", "abc"],        # not a number
    ["secret"],                           # no secret subcommand
    ["engine", "--max-running", "0"],
], ids=lambda a: " ".join(a) or "none")
def test_bad_cli_flags_exit_2(cli, args):
    r = cli(*args)
    assert r.returncode == 2, f"rc={r.returncode} stderr={r.stderr!r}"
    assert r.stderr.strip(), "the error goes to stderr"
    assert r.stdout == ""


@pytest.mark.parametrize("args", [
    ["describe", "nope"], ["run", "nope"], ["run", "nope", "--follow"], ["status", "NOPE"],
    ["cancel", "NOPE"], ["logs", "NOPE"], ["history", "nope"], ["secret", "rm", "NOPE"],
], ids=lambda a: " ".join(a))
def test_not_found_exit_3(cli, args):
    r = cli(*args)
    assert r.returncode == 3, f"rc={r.returncode} stderr={r.stderr!r}"
    assert r.stderr.startswith("automate: ") and "not found" in r.stderr
    assert r.stdout == ""


# ---------------------------------------------------------------------------
# apply / list / describe

PARAM_JOB = """\
name: greet
description: Print a greeting
labels: {team: qa}
executor:
  local:
    command: echo "Hello, $WHO from $PLACE!"
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


def test_apply_list_describe(cli):
    path = cli.job_file("greet.yaml", PARAM_JOB)
    r = cli.ok("apply", "-f", path)
    assert r.stdout == "job greet created (version 1)\n"
    assert cli.ok("apply", "-f", path).stdout == "job greet unchanged (version 1)\n"

    table = cli.ok("list").stdout.splitlines()
    assert table[0].split() == ["NAME", "VERSION", "PARAMS", "EXECUTOR", "DESCRIPTION"]
    assert table[1].split()[:3] == ["greet", "1", "2"]
    assert "Print a greeting" in table[1]

    jobs = json.loads(cli.ok("list", "-o", "json").stdout)
    assert [j["spec"]["name"] for j in jobs] == ["greet"]
    assert int(jobs[0]["version"]) == 1
    yaml_out = cli.ok("list", "-o", "yaml").stdout
    assert re.search(r"^\s*(- )?\s*name: greet$", yaml_out, re.M), yaml_out

    d = cli.ok("describe", "greet").stdout
    assert re.search(r"^Name:\s+greet$", d, re.M)
    assert re.search(r"^Version:\s+1 ", d, re.M)
    assert re.search(r"^Description:\s+Print a greeting$", d, re.M)
    assert re.search(r"^Retry:\s+2 attempt\(s\)$", d, re.M)
    lines = d.split("Params:\n", 1)[1].splitlines()
    assert lines[0].split() == ["NAME", "REQUIRED", "DEFAULT", "DESCRIPTION"]
    assert lines[1].split(None, 3) == ["WHO", "yes", "-", "who to greet"]
    assert lines[2].split(None, 3) == ["PLACE", "no", "Paris", "where from"]

    job = json.loads(cli.ok("describe", "greet", "-o", "json").stdout)
    assert job["spec"]["params"][0]["name"] == "WHO"
    assert job["spec"]["params"][0]["required"] is True
    assert re.search(r"^version: 1$", cli.ok("describe", "greet", "-o", "yaml").stdout, re.M)

    # An update makes version 2; version 1 stays readable.
    cli.job_file("greet.yaml", PARAM_JOB.replace("Paris", "Rome"))
    assert cli.ok("apply", "-f", path).stdout == "job greet updated (version 2)\n"
    assert "Rome" in cli.ok("describe", "greet").stdout
    old = cli.ok("describe", "greet", "--job-version", "1").stdout
    assert "Paris" in old and "Rome" not in old


def test_apply_multi_document_and_json(cli):
    r = cli.ok("apply", "-f", REPO / "examples/jobs/maintenance.yaml",
               "-f", REPO / "examples/jobs/system-info.json")
    assert r.stdout.splitlines() == [
        "job disk-report created (version 1)", "job backup-sweep created (version 1)",
        "job chatty created (version 1)", "job system-info created (version 1)"]
    names = sorted(j["spec"]["name"] for j in json.loads(cli.ok("list", "-o", "json").stdout))
    assert names == ["backup-sweep", "chatty", "disk-report", "system-info"]


# Every kind of bad job file: (file name, content, [(line, "field: message"), ...]).
# Lines are 1-based; `None` means the message has no line ("file: message").
GOOD = "name: ok\nexecutor: {local: {command: \"true\"}}\n"
BAD_FILES = {
    "unknown-field": ("j.yaml", "name: a\nexecutor:\n  local:\n    command: [x]\n    comand: [x]\n",
                      [(5, "executor.local.comand: unknown field (expected one of command, "
                           "working_dir, env, inherit_env)")]),
    "unknown-top-field": ("j.yaml", GOOD + "nmae: b\n", [(3, "nmae: unknown field")]),
    "merge-key": ("j.yaml", "x: &x {priority: 1}\n", [(1, "x: unknown field")]),
    "duplicate-field": ("j.yaml", GOOD + "name: b\n", [(3, "name: duplicate field (also at line 1)")]),
    "wrong-type-int": ("j.yaml", GOOD + "priority: abc\n", [(3, "priority: must be a 32-bit integer")]),
    "wrong-type-mapping": ("j.yaml", "name: a\nexecutor: local\n", [(2, "executor: must be a mapping")]),
    "wrong-type-bool": ("j.yaml", "name: a\nexecutor: {local: {command: x, inherit_env: yes}}\n",
                        [(2, "executor.local.inherit_env: must be true or false")]),
    "wrong-type-list": ("j.yaml", GOOD + "params: {a: b}\n", [(3, "params: must be a list of params")]),
    "wrong-type-command": ("j.yaml", "name: a\nexecutor: {local: {command: {a: b}}}\n",
                           [(2, "executor.local.command: must be a list of strings or a string")]),
    "bad-name": ("j.yaml", "name: Bad_Name\nexecutor: {local: {command: x}}\n",
                 [(1, "name: must be a lowercase DNS label")]),
    "missing-name": ("j.yaml", "executor: {local: {command: x}}\n", [(1, "name: required")]),
    "bad-duration": ("j.yaml", GOOD + "timeout: 90\n", [(3, "timeout: must be a duration like 90s, 2h, 1h30m")]),
    "negative-duration": ("j.yaml", GOOD + "timeout: -5s\n", [(3, "timeout: must be")]),
    "zero-timeout": ("j.yaml", GOOD + "timeout: 0s\n", [(3, "timeout: must be positive")]),
    "bad-param-name": ("j.yaml", GOOD + "params:\n  - name: 1x\n",
                       [(4, "params[0].name: must match [A-Za-z_][A-Za-z0-9_]*")]),
    "missing-param-name": ("j.yaml", GOOD + "params:\n  - description: d\n",
                           [(4, "params[0].name: must match [A-Za-z_][A-Za-z0-9_]*")]),
    "duplicate-param": ("j.yaml", GOOD + "params:\n  - name: X\n  - name: X\n",
                        [(5, "params[1].name: duplicate param name (also params[0])")]),
    "required-with-default": ("j.yaml", GOOD + "params:\n  - name: X\n    required: true\n    default: a\n",
                              [(6, "params[0].default: a required param cannot have a default")]),
    "default-not-matching": ("j.yaml", GOOD + "params:\n  - name: X\n    default: abc\n    pattern: \"[0-9]+\"\n",
                             [(5, "params[0].default: does not match the pattern")]),
    "bad-regex": ("j.yaml", GOOD + "params:\n  - name: X\n    pattern: \"[a-\"\n",
                  [(5, "params[0].pattern: not a valid ECMAScript regular expression")]),
    "yaml-syntax": ("j.yaml", "name: a\nexecutor: {local: {command: [x, y}}\n", [(2, "invalid YAML: ")]),
    "yaml-syntax-indent": ("j.yaml", "name: a\n  executor: b\n executor: c\n", [(None, "invalid YAML: ")]),
    "missing-executor": ("j.yaml", "name: a\n", [(1, "executor: required")]),
    "empty-executor": ("j.yaml", "name: a\nexecutor: {}\n",
                       [(2, "executor: must set exactly one executor kind (local, docker)")]),
    "missing-command": ("j.yaml", "name: a\nexecutor: {local: {working_dir: /tmp}}\n",
                        [(2, "executor.local.command: required")]),
    "empty-command-string": ("j.yaml", "name: a\nexecutor: {local: {command: \"\"}}\n",
                             [(2, "executor.local.command: must not be empty")]),
    "empty-argv0": ("j.yaml", "name: a\nexecutor: {local: {command: [\"\", x]}}\n",
                    [(2, "executor.local.command[0]: must not be empty")]),
    "bad-env-name": ("j.yaml", "name: a\nexecutor: {local: {command: x, env: {MY-VAR: v}}}\n",
                     [(2, 'executor.local.env["MY-VAR"]: must match [A-Za-z_][A-Za-z0-9_]*')]),
    "bad-label": ("j.yaml", GOOD + "labels: {\"bad key!\": v}\n", [(3, 'labels["bad key!"]: label key must be')]),
    "bad-secret": ("j.yaml", GOOD + "secrets: [\"a-b\"]\n", [(3, "secrets[0]: must match")]),
    "secret-is-param": ("j.yaml", GOOD + "params: [{name: X}]\nsecrets: [X]\n",
                        [(4, "secrets[0]: is also a param name")]),
    "retry-attempts": ("j.yaml", GOOD + "retry: {max_attempts: 0}\n", [(3, "retry.max_attempts: must be at least 1")]),
    "retry-backoff": ("j.yaml", GOOD + "retry: {initial_backoff: 10s, max_backoff: 1s}\n",
                      [(3, "retry.max_backoff: must not be less than initial_backoff")]),
    "retry-multiplier": ("j.yaml", GOOD + "retry: {multiplier: x}\n", [(3, "retry.multiplier: must be a number")]),
    "concurrency-policy": ("j.yaml", GOOD + "concurrency: {limit: 1, policy: drop}\n",
                           [(3, "concurrency.policy: must be one of queue, forbid, replace")]),
    "concurrency-negative": ("j.yaml", GOOD + "concurrency: {limit: -1}\n",
                             [(3, "concurrency.limit: must not be negative")]),
    "log-limit-bytes": ("j.yaml", GOOD + "log_limit: {bytes: 100MB}\n",
                        [(3, "log_limit.bytes: must be a byte size like 4096, 512k, 100Mi, 1G")]),
    "log-limit-action": ("j.yaml", GOOD + "log_limit: {action: stop}\n",
                         [(3, "log_limit.action: must be one of truncate, fail")]),
    "not-a-mapping": ("j.yaml", "- a\n- b\n", [(1, "a job document must be a mapping of fields")]),
    "duplicate-job": ("j.yaml", GOOD + "---\n" + GOOD,
                      [(4, 'name: duplicate job name "ok" (first at line 1)')]),
    "second-doc-bad": ("j.yaml", GOOD + "---\nname: b\ntimeout: 1s\n", [(4, "executor: required")]),
    "several-errors": ("j.yaml", "name: A\nexecutor: {local: {command: x}}\ntimeout: 5\n",
                       [(1, "name: must be a lowercase DNS label"), (3, "timeout: must be a duration")]),
    "no-jobs": ("j.yaml", "# only a comment\n---\n", [(None, "no jobs in file")]),
    "json-bad": ("j.json", '{"name": "a",\n "executor": {"local": {"command": ["x"]}},\n "timeout": 5}\n',
                 [(3, "timeout: must be a duration")]),
    "json-syntax": ("j.json", '{"name": "a",\n "executor": {\n', [(None, "invalid YAML: ")]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_apply_bad_job_file(cli, case):
    fname, text, expected = BAD_FILES[case]
    path = cli.job_file(fname, text)
    r = cli("apply", "-f", path)
    assert r.returncode == 4, f"rc={r.returncode} stderr={r.stderr!r}"
    assert r.stdout == ""
    for line, message in expected:
        if line is None:
            pattern = re.escape(f"{path}") + r"(:\d+)?: " + re.escape(message)
        else:
            pattern = re.escape(f"{path}:{line}: {message}")
        assert re.search(pattern, r.stderr), f"expected {pattern!r} in {r.stderr!r}"
    # Nothing stored, not even the good jobs of the same file.
    assert json.loads(cli.ok("list", "-o", "json").stdout) == []


def test_apply_missing_file(cli):
    r = cli("apply", "-f", cli.tmp / "nope.yaml")
    assert r.returncode != 0 and "nope.yaml" in r.stderr


def test_apply_good_then_bad_file_stores_nothing(cli):
    good = cli.job_file("good.yaml", GOOD)
    bad = cli.job_file("bad.yaml", "name: b\n")
    r = cli("apply", "-f", good, "-f", bad)
    assert r.returncode == 4
    assert json.loads(cli.ok("list", "-o", "json").stdout) == []


# ---------------------------------------------------------------------------
# run: argument errors


def test_run_bad_args(cli):
    cli.apply(PARAM_JOB)
    cases = [
        ([], 4, 'argument "WHO": required'),
        (["WHO=Ada", "FOO=1"], 4, 'argument "FOO": the job has no such param (params: WHO, PLACE)'),
        (["WHO=Ada 1"], 4, 'argument "WHO": value does not match'),
        (["WHO"], 2, 'argument "WHO": expected NAME=VALUE'),
        (["=x", "WHO=Ada"], 2, "expected NAME=VALUE"),
    ]
    for args, rc, message in cases:
        for flags in ([], ["--follow"], ["--wait"]):
            r = cli("run", "greet", *args, *flags)
            assert r.returncode == rc, f"{args} {flags}: rc={r.returncode} {r.stderr!r}"
            assert message in r.stderr, r.stderr
            assert r.stdout == ""
            assert "Ada 1" not in r.stderr, "error messages never repeat the value"
    # Several problems at once, one per line.
    r = cli("run", "greet", "FOO=1")
    assert r.returncode == 4
    assert 'argument "WHO": required' in r.stderr and 'argument "FOO"' in r.stderr
    assert cli.history() == []
    assert not cli.engine_pids(), "a refused run starts no engine"


# ---------------------------------------------------------------------------
# run: modes and exit codes


def test_run_without_flags_prints_only_the_id(cli):
    apply_job(cli, "bg", "echo out-line; echo err-line >&2; echo second")
    r = cli.ok("run", "bg")
    assert ULID.match(r.stdout.strip()), r.stdout
    assert r.stdout.count("\n") == 1 and r.stderr == ""
    exec_id = r.stdout.strip()
    s = cli.wait_final(exec_id)
    assert s["state"] == "SUCCEEDED" and s["attempts"][0]["status"] == "SUCCEEDED"
    assert s["requestedBy"] == "pytest"
    assert len(cli.engine_pids()) == 1, "the execution ran in the background engine"
    logs = cli.logs(exec_id)
    assert logs.stdout == "out-line\nsecond\n"
    assert logs.stderr == "err-line\n"

    # history / status in every format.
    hist = cli.ok("history").stdout.splitlines()
    assert hist[0].split() == ["ID", "JOB", "STATE", "STARTED", "DURATION", "TRIGGER"]
    assert hist[1].split()[:3] == [exec_id, "bg", "succeeded"]
    assert [e["id"] for e in cli.history()] == [exec_id]
    assert re.search(r"^\s*(- )?\s*state: SUCCEEDED$", cli.ok("history", "-o", "yaml").stdout, re.M)
    st = cli.ok("status", exec_id).stdout
    assert re.search(r"^State:\s+succeeded$", st, re.M)
    assert re.search(r"^Requested by:\s+pytest$", st, re.M)
    assert re.search(r"^1\s+succeeded\s", st.split("Attempts:\n")[1].splitlines()[1])
    y = cli.ok("status", exec_id, "-o", "yaml").stdout
    assert re.search(rf"^id: {exec_id}$", y, re.M) and re.search(r"^state: SUCCEEDED$", y, re.M)
    assert cli.ok("history", "bg", "--state", "succeeded", "-o", "json").stdout.count(exec_id) == 1
    assert json.loads(cli.ok("history", "bg", "--state", "failed", "-o", "json").stdout) == []
    # The log from an offset.
    tail = cli.ok("logs", exec_id, "--offset", "9")
    assert "out-line" not in tail.stdout and tail.stdout.endswith("second\n")


def test_state_dir_from_env(cli):
    env = dict(cli.env, AUTOMATE_STATE_DIR=str(cli.state_dir))
    apply_job(cli, "e", "echo from-env")
    r = cli("run", "e", "--follow", state_dir=False, env=env)
    assert r.returncode == 0 and r.stdout == "from-env\n", r.stderr
    assert len(cli.history()) == 1


def test_run_wait(cli):
    apply_job(cli, "w", "echo hi; exit $CODE", "params: [{name: CODE, default: \"0\"}]\n")
    r = cli("run", "w", "--wait")
    assert r.returncode == 0, r.stderr
    exec_id = r.stdout.split()[0]
    assert r.stdout == f"{exec_id} succeeded\n"
    assert f"execution {exec_id}" in r.stderr
    assert "hi" not in r.stdout, "--wait does not print the logs"

    r = cli("run", "w", "CODE=7", "--wait")
    assert r.returncode == 7
    assert re.match(r"^\S+ failed", r.stdout), r.stdout

    r = cli("run", "w", "--wait", "-o", "json")
    assert r.returncode == 0
    e = json.loads(r.stdout)
    assert e["state"] == "SUCCEEDED" and e["args"] == {"CODE": "0"}
    r = cli("run", "w", "--wait", "-o", "yaml")
    assert r.returncode == 0 and re.search(r"^state: SUCCEEDED$", r.stdout, re.M)


@pytest.mark.parametrize("script, extra, rc, state", [
    ("echo before; exit 3", "", 3, "FAILED"),
    ("echo before; kill -KILL $$", "", 137, "FAILED"),
    ("echo before; kill -TERM $$", "", 143, "FAILED"),
    ("echo before; sleep 20", "timeout: 500ms\n", 124, "TIMED_OUT"),
    ("echo before; exit 0", "", 0, "SUCCEEDED"),
], ids=["exit3", "sigkill", "sigterm", "timeout", "ok"])
def test_run_follow_exit_codes(cli, script, extra, rc, state):
    apply_job(cli, "f", script, extra)
    t0 = time.monotonic()
    r = cli("run", "f", "--follow")
    assert r.returncode == rc, f"rc={r.returncode} stderr={r.stderr!r}"
    assert r.stdout == "before\n"
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    assert cli.status(exec_id)["state"] == state
    if rc:
        assert f"automate: execution {exec_id} " in r.stderr
    if state == "TIMED_OUT":
        assert time.monotonic() - t0 < 10


def test_run_follow_streams(cli):
    """--follow prints lines while the job runs, not only at its end."""
    go = cli.tmp / "go"
    apply_job(cli, "stream", f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo last")
    p = cli.popen("run", "stream", "--follow")
    ready, _, _ = select.select([p.stdout], [], [], 15)
    assert ready, "no output within 15s"
    assert p.stdout.readline() == "first\n"  # Arrives while the job still waits.
    assert p.poll() is None
    go.touch()
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out == "last\n"


def test_logs_follow_from_another_process(cli):
    go = cli.tmp / "go"
    script = (f"i=0; while [ ! -e {go} ]; do i=$((i+1)); echo line $i; sleep 0.02; done; "
              "for j in $(seq 1 200); do echo tail $j; done; echo err-end >&2")
    apply_job(cli, "lf", script)
    exec_id = cli.ok("run", "lf").stdout.strip()
    cli.wait_state(exec_id, "RUNNING")
    p = cli.popen("logs", "-f", exec_id)
    # The follower runs while the job keeps writing.
    wait_for(lambda: "line 10\n" in cli.logs(exec_id).stdout, what="ten lines")
    assert p.poll() is None, "logs -f ends only with the execution"
    go.touch()
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert cli.wait_final(exec_id)["state"] == "SUCCEEDED"
    full = cli.logs(exec_id)
    assert out == full.stdout, "logs -f printed the complete output"
    assert out.startswith("line 1\nline 2\n") and out.endswith("tail 200\n")
    assert err == "err-end\n" == full.stderr
    # Following a finished execution prints it all and returns.
    again = cli("logs", "--follow", exec_id, timeout=10)
    assert again.returncode == 0 and again.stdout == full.stdout


def test_cancel_from_another_process(cli):
    pidfile = cli.tmp / "pid"
    apply_job(cli, "long", f"echo started; echo $$ > {pidfile}; sleep 60; echo never")
    p = cli.popen("run", "long", "--follow")
    wait_for(pidfile.exists, what="the job to start")
    exec_id = cli.history()[0]["id"]
    job_pid = int(wait_for(lambda: pidfile.read_text().strip()))
    r = cli.ok("cancel", exec_id)
    assert r.stdout == f"cancel requested for {exec_id}\n"
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130, err
    assert out == "started\n"
    s = cli.status(exec_id)
    assert s["state"] == "CANCELLED"
    assert s["attempts"][-1]["status"] == "CANCELLED"
    wait_for(lambda: not pid_alive(job_pid), timeout=10, what="the job process to end")
    # Cancelling a final execution: conflict.
    r = cli("cancel", exec_id)
    assert r.returncode == 5, r.stderr


def test_run_job_version(cli):
    apply_job(cli, "ver", "echo version-one")
    apply_job(cli, "ver", "echo version-two")
    assert re.search(r"^Version:\s+2 ", cli.ok("describe", "ver").stdout, re.M)
    assert cli.ok("run", "ver", "--follow").stdout == "version-two\n"
    r = cli.ok("run", "ver", "--job-version", "1", "--follow")
    assert r.stdout == "version-one\n"
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    assert int(cli.status(exec_id)["jobVersion"]) == 1
    assert cli("run", "ver", "--job-version", "9").returncode == 3
    assert len(cli.history()) == 2


def test_concurrency_policies(cli):
    go = cli.tmp / "go"
    wait_go = f"while [ ! -e {go} ]; do sleep 0.05; done; echo done"
    apply_job(cli, "q", wait_go, "concurrency: {limit: 1, policy: queue}\n")
    apply_job(cli, "fb", wait_go, "concurrency: {limit: 1, policy: forbid}\n")
    first = cli.ok("run", "q").stdout.strip()
    cli.wait_state(first, "RUNNING")
    second, third = cli.ok("run", "q").stdout.strip(), cli.ok("run", "q").stdout.strip()
    cli.wait_state(second, "QUEUED")
    assert cli.status(third)["state"] in ("PENDING", "QUEUED")
    # Cancel a queued execution: it never runs.
    cli.ok("cancel", second)
    assert cli.wait_final(second)["state"] == "CANCELLED"
    assert cli.status(second).get("attempts", []) == []

    f1 = cli.ok("run", "fb").stdout.strip()
    cli.wait_state(f1, "RUNNING")
    for flags in ([], ["--wait"]):
        r = cli("run", "fb", *flags)
        assert r.returncode == 5, r.stderr
        assert "policy is forbid" in r.stderr
    assert len(cli.history()) == 4, "a refused run stores nothing"

    go.touch()
    for i in (first, third, f1):
        assert cli.wait_final(i)["state"] == "SUCCEEDED"
    assert cli.status(third)["startTime"] >= cli.status(first)["endTime"]


def test_log_limit_fail(cli):
    apply_job(cli, "lf", "seq 1 100000", "log_limit: {bytes: 1Ki, action: fail}\n")
    r = cli("run", "lf", "--follow")
    # 143: stopped by the engine's SIGTERM; 125: seq ended (exit 0) first.
    assert r.returncode in (125, 143), r.stderr
    assert "log limit" in r.stderr
    assert len(r.stdout) <= 1024
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    assert cli.status(exec_id)["state"] == "FAILED"


# ---------------------------------------------------------------------------
# Secrets

SECRET = "hunter2-Xy9"


def test_secrets(cli):
    apply_job(cli, "sec", 'echo "token=$TOKEN"; echo "err $TOKEN" >&2; '
                          f'printf %s "$TOKEN" | md5sum; echo len=${{#TOKEN}}',
              "secrets: [TOKEN]\n")
    # Not set yet: the run is refused, nothing stored.
    r = cli("run", "sec")
    assert r.returncode == 5 and "TOKEN" in r.stderr
    assert cli.history() == []

    r = cli.ok("secret", "set", "TOKEN", input=SECRET + "\n")
    assert r.stdout == "secret TOKEN set\n"
    assert SECRET not in r.stdout + r.stderr
    listing = cli.ok("secret", "list")
    assert listing.stdout.splitlines()[0].split() == ["NAME", "CREATED", "UPDATED"]
    assert listing.stdout.splitlines()[1].split()[0] == "TOKEN"
    for fmt in ("json", "yaml", "table"):
        out = cli.ok("secret", "list", "-o", fmt).stdout
        assert SECRET not in out
    secrets = json.loads(cli.ok("secret", "list", "-o", "json").stdout)
    assert [s["name"] for s in secrets] == ["TOKEN"]
    assert SECRET not in json.dumps(secrets)

    r = cli("run", "sec", "--follow")
    assert r.returncode == 0, r.stderr
    # The job saw the value (its hash matches), though the log masks it.
    assert hashlib.md5(SECRET.encode()).hexdigest() in r.stdout
    assert f"len={len(SECRET)}\n" in r.stdout
    assert "token=****\n" in r.stdout and "err ****" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    logs = cli.logs(exec_id)
    assert SECRET not in logs.stdout + logs.stderr and "token=****" in logs.stdout
    assert SECRET not in cli.ok("status", exec_id, "-o", "json").stdout
    # Nothing in the state dir holds the value in clear text.
    for root, _, files in os.walk(cli.state_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert SECRET.encode() not in fh.read(), f

    # Empty value refused; rm; rm again: not found.
    r = cli("secret", "set", "EMPTY", input="")
    assert r.returncode == 4 and "empty" in r.stderr
    assert cli.ok("secret", "rm", "TOKEN").stdout == "secret TOKEN removed\n"
    assert json.loads(cli.ok("secret", "list", "-o", "json").stdout) == []
    assert cli("secret", "rm", "TOKEN").returncode == 3


# ---------------------------------------------------------------------------
# Retries


def test_retries_succeed_on_third_attempt(cli):
    marker = cli.tmp / "count"
    script = (f'n=$(( $(cat {marker} 2>/dev/null || echo 0) + 1 )); echo $n > {marker}; '
              'if [ $n -le 2 ]; then echo "attempt $n fails" >&2; exit 1; fi; echo "attempt $n ok"')
    apply_job(cli, "flaky", script,
              "retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 200ms}\n")
    r = cli("run", "flaky", "--follow")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "attempt 3 ok\n"
    assert "attempt 1 fails" in r.stderr and "attempt 2 fails" in r.stderr
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    s = cli.status(exec_id)
    assert s["state"] == "SUCCEEDED"
    assert [a["number"] for a in s["attempts"]] == [1, 2, 3]
    assert [a["status"] for a in s["attempts"]] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert [a.get("exitCode") for a in s["attempts"]] == [1, 1, 0]
    table = cli.ok("status", exec_id).stdout.split("Attempts:\n")[1].splitlines()
    assert len(table) == 4 and table[3].split()[:2] == ["3", "succeeded"]


def test_retries_exhausted(cli):
    apply_job(cli, "bad", "exit 9", "retry: {max_attempts: 2, initial_backoff: 50ms}\n")
    r = cli("run", "bad", "--wait", "-o", "json")
    assert r.returncode == 9
    s = json.loads(r.stdout)
    assert s["state"] == "FAILED" and len(s["attempts"]) == 2


# ---------------------------------------------------------------------------
# The background engine


def test_concurrent_runs_one_engine(cli):
    apply_job(cli, "c", "echo run $N", "params: [{name: N}]\n")
    lock = cli.state_dir / "engine.lock"
    holders, max_engines, stop = set(), [0], threading.Event()

    def monitor():
        while not stop.is_set():
            engines = set(cli.engine_pids())
            holders.update(p for p in lock_holders(lock) if p in engines)
            max_engines[0] = max(max_engines[0], len(engines))
            time.sleep(0.01)

    t = threading.Thread(target=monitor)
    t.start()
    try:
        procs = [cli.popen("run", "c", f"N={i}") for i in range(20)]
        results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
        ids = []
        for i, (out, err, rc) in enumerate(results):
            assert rc == 0, f"run {i}: {err}"
            assert ULID.match(out.strip()), out
            ids.append(out.strip())
        assert len(set(ids)) == 20
        states = {i: cli.wait_final(i) for i in ids}
    finally:
        stop.set()
        t.join()
    for n, exec_id in enumerate(ids):
        assert states[exec_id]["state"] == "SUCCEEDED"
        assert cli.logs(exec_id).stdout == f"run {n}\n"
    assert len(cli.history()) == 20
    # One engine did all the work. (A CLI may spawn an engine that finds the
    # lock taken and exits at once; it never holds the lock.)
    assert len(holders) == 1, f"engines that held the lock: {holders} (max alive {max_engines[0]})"
    assert len(cli.engine_pids()) == 1


def test_engine_idle_exit(cli):
    apply_job(cli, "quick", "echo quick")
    cli.ok("list")  # creates the state dir
    engine = cli.popen("engine", "--idle-exit", "1s")
    wait_for(lambda: engine.pid in lock_holders(cli.state_dir / "engine.lock"),
             what="the engine to take the lock")
    r = cli("run", "quick", "--wait")
    assert r.returncode == 0, r.stderr
    assert cli.engine_pids() == [engine.pid], "run used the running engine"
    t0 = time.monotonic()
    out, err = engine.communicate(timeout=10)
    assert engine.returncode == 0, err
    assert time.monotonic() - t0 < 5
    assert not cli.engine_pids()
    # A new run starts a new engine on demand.
    r = cli("run", "quick", "--follow")
    assert r.returncode == 0 and r.stdout == "quick\n"
    assert len(cli.engine_pids()) == 1


def test_second_engine_exits_at_once(cli):
    cli.ok("list")
    first = cli.popen("engine", "--idle-exit", "0")
    wait_for(lambda: first.pid in lock_holders(cli.state_dir / "engine.lock"))
    r = cli("engine", timeout=10)
    assert r.returncode == 0
    assert first.poll() is None


# ---------------------------------------------------------------------------
# Recovery after the engine is killed


@pytest.mark.parametrize("mode", ["--wait", "--follow"])
def test_a_waiting_run_outlives_its_engine(cli, mode):
    """`run --wait` / `run --follow` whose background engine is killed while it
    waits starts the next engine itself (as submitting did), which recovers
    the lost attempt, so the wait ends instead of hanging."""
    pidfile = cli.tmp / "pids"
    apply_job(cli, "long", f"echo $$ >> {pidfile}; echo started; exec sleep 60")
    waiting = cli.popen("run", "long", mode)
    wait_for(lambda: cli.history(), what="the execution")
    exec_id = cli.history()[0]["id"]
    # Its output stored: what the engine had read but not yet written dies
    # with it (then --follow could not print it).
    wait_for(lambda: cli.logs(exec_id).stdout == "started\n", what="the job's output")
    engines = cli.engine_pids()
    assert len(engines) == 1
    os.kill(engines[0], signal.SIGKILL)
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode != 0, (out, err)
    assert "engine restarted" in out + err, (out, err)
    if mode == "--follow":
        assert out == "started\n", out
    assert len(pidfile.read_text().split()) == 1, "the job ran again"
    now = cli.engine_pids()
    assert len(now) == 1 and now != engines, (engines, now)


@pytest.mark.parametrize("max_attempts, restart", [(2, "engine"), (1, "run")],
                         ids=["retried-engine-restart", "single-attempt-run-restart"])
def test_recovery_after_engine_sigkill(cli, max_attempts, restart):
    """kill -9 of the background engine while an attempt runs; the next engine
    (started by hand, or on demand by `run`) reconciles the lost attempt."""
    marker, pidfile = cli.tmp / "marker", cli.tmp / "pids"
    script = (f"echo $$ >> {pidfile}; "
              f"if [ -e {marker} ]; then echo second attempt; exit 0; fi; "
              f"touch {marker}; for i in $(seq 1 50); do echo first $i; done; "
              "echo to-stderr >&2; exec sleep 60")
    apply_job(cli, "long", script,
              f"retry: {{max_attempts: {max_attempts}, initial_backoff: 100ms}}\n")
    apply_job(cli, "short", "for i in $(seq 1 20); do echo short $i; done")

    # Finished executions before the kill, with their logs.
    done_ids = [cli.ok("run", "short").stdout.strip() for _ in range(3)]
    for i in done_ids:
        assert cli.wait_final(i)["state"] == "SUCCEEDED"
    before_logs = {i: cli.logs(i).stdout for i in done_ids}
    assert all(v.endswith("short 20\n") for v in before_logs.values())

    exec_id = cli.ok("run", "long").stdout.strip()
    cli.wait_state(exec_id, "RUNNING")
    wait_for(lambda: "to-stderr" in cli.logs(exec_id).stderr, what="the job's output")
    orphan = int(pidfile.read_text().split()[0])
    long_before = cli.logs(exec_id)
    assert long_before.stdout.endswith("first 50\n")
    status_before = cli.status(exec_id)

    # Followers from other shells, started before the kill.
    follower = cli.popen("logs", "-f", exec_id)
    waiter = cli.popen("status", exec_id)  # (a plain client, for comparison)
    waiter.communicate(timeout=10)

    engines = cli.engine_pids()
    assert len(engines) == 1
    os.kill(engines[0], signal.SIGKILL)
    # Dead, and its lock released: a killed process keeps its files, and so
    # the state dir's flock, until its last thread has exited, which can be
    # a while after its main thread shows as a zombie (a thread waiting for
    # an fdatasync to complete). An engine started before that finds the
    # lock held and leaves the state dir to "the running engine".
    wait_for(lambda: not pid_alive(engines[0])
             and not lock_holders(cli.state_dir / "engine.lock"),
             what="the engine to die and release the state dir")
    assert cli.status(exec_id)["state"] == "RUNNING", "nothing changed without an engine"

    if restart == "engine":
        engine = cli.popen("engine", "--idle-exit", "2s")
    else:
        r = cli("run", "short", "--wait")
        assert r.returncode == 0, r.stderr
        done_ids.append(r.stdout.split()[0])
        before_logs[done_ids[-1]] = cli.logs(done_ids[-1]).stdout
        engine = None
    try:
        s = cli.wait_final(exec_id, timeout=30)
    except AssertionError as e:
        # Say what the engine that should have recovered it did.
        if engine is None:
            raise
        try:
            out, err = engine.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{e}; the engine (pid {engine.pid}) is still running, holders of "
                                 f"the lock: {lock_holders(cli.state_dir / 'engine.lock')}") from e
        raise AssertionError(f"{e}; the engine exited with {engine.returncode}: "
                             f"stdout {out!r}, stderr {err!r}") from e
    first = s["attempts"][0]
    assert first["number"] == 1 and first["status"] == "FAILED"
    assert "engine restarted" in first.get("error", ""), first
    assert first.get("externalId") == status_before["attempts"][0].get("externalId")
    if max_attempts == 2:
        assert s["state"] == "SUCCEEDED", s
        assert [a["status"] for a in s["attempts"]] == ["FAILED", "SUCCEEDED"]
    else:
        assert s["state"] == "FAILED", s
        assert len(s["attempts"]) == 1
        assert "engine restarted" in s.get("error", ""), s
        r = cli("status", exec_id)
        assert re.search(r"^Error:\s+.*engine restarted", r.stdout, re.M), r.stdout

    # Nothing lost: the log written before the kill is intact, the other
    # executions and their logs are still there.
    long_after = cli.logs(exec_id)
    assert long_after.stdout.startswith(long_before.stdout)
    assert long_after.stderr.startswith(long_before.stderr)
    if max_attempts == 2:
        assert long_after.stdout.endswith("second attempt\n")
    f_out, f_err = follower.communicate(timeout=15)
    assert follower.returncode == 0, f_err
    assert f_out == long_after.stdout, "logs -f survived the engine restart"
    for i in done_ids:
        assert cli.status(i)["state"] == "SUCCEEDED"
        assert cli.logs(i).stdout == before_logs[i]
    assert {e["id"] for e in cli.history()} == set(done_ids) | {exec_id}

    # The orphaned attempt of the killed engine is gone.
    def orphan_gone():
        return not pid_alive(orphan) or cli.tag not in read_environ(orphan)
    wait_for(orphan_gone, timeout=10, what=f"orphaned job process {orphan} to end")
    leftovers = [p for p in pids_matching("\0", environ=cli.tag)
                 if p not in cli.engine_pids()]
    assert not leftovers, [(p, read_cmdline(p)) for p in leftovers]
    assert len(cli.engine_pids()) == 1

    if engine is not None:  # The restarted engine goes idle and exits.
        engine.communicate(timeout=15)
        assert engine.returncode == 0


# ---------------------------------------------------------------------------
# The examples


def example_cases():
    cases = []
    for name in sorted(os.listdir(REPO / "examples" / "jobs")):
        cases.append(name)
    return cases


@pytest.mark.parametrize("example", example_cases())
def test_example(cli, example):
    path = REPO / "examples" / "jobs" / example
    r = cli.ok("apply", "-f", path)
    names = re.findall(r"^job (\S+) created", r.stdout, re.M)
    assert names, r.stdout
    for name in names:
        args = []
        marker = None
        if name == "flaky":
            tag = "it-" + uuid.uuid4().hex[:12]
            marker = f"/tmp/automate-flaky-{tag}.count"
            if os.path.exists(marker):
                os.remove(marker)
            args = [f"MARKER={tag}"]
        try:
            r = cli("run", name, *args, "--follow", timeout=60)
        finally:
            if marker and os.path.exists(marker):
                os.remove(marker)
        exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
        s = cli.status(exec_id)
        if name == "slow-sleep":
            assert r.returncode == 124, r.stderr
            assert s["state"] == "TIMED_OUT"
            assert r.stdout.startswith("sleeping 30s")
            continue
        assert r.returncode == 0, f"{name}: rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr}"
        assert s["state"] == "SUCCEEDED"
        if name == "flaky":
            assert len(s["attempts"]) == 3 and "attempt 3: success" in r.stdout
        if name == "hello":
            assert r.stdout == "Hello, world!\n"
            assert cli.ok("run", "hello", "NAME=Ada", "--follow").stdout == "Hello, Ada!\n"
        if name == "chatty":
            assert r.stdout.startswith("1\n2\n") and len(r.stdout) <= 64 * 1024 + 4096
