"""End-to-end tests of automated's HTTP API against the real daemon on a free
loopback port: jobs, executions, logs (plain and SSE, with a forced
disconnect and resume, and 500 concurrent followers), history, secrets,
tokens and audit, the auth matrix, malformed and oversized requests,
/metrics checked by promtool, and SIGTERM + restart with nothing lost.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import BIN as CLI_BIN
from daemon import AUTOMATED_BIN, Daemon

FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}


def job_spec(name, command, **extra):
    spec = {"name": name, "executor": {"local": {"command": command}}}
    spec.update(extra)
    return spec


class Client:
    """A tiny HTTP client: one connection per call, JSON in and out."""

    def __init__(self, url, token=None):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.token = token

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        parsed = None
        if payload and resp.getheader("Content-Type", "").startswith("application/json"):
            parsed = json.loads(payload)
        return resp.status, parsed if parsed is not None else payload, resp

    def ok(self, method, path, body=None, expect=(200, 201, 202, 204)):
        status, payload, _ = self.request(method, path, body)
        assert status in expect, f"{method} {path}: {status} {payload}"
        return payload

    def run(self, job, args=None):
        return self.ok("POST", f"/v1/jobs/{job}/executions", {"args": args or {}})

    def wait(self, exec_id, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            e = self.ok("GET", f"/v1/executions/{exec_id}?wait=10s")
            if e["state"] in FINAL:
                return e
        raise AssertionError(f"{exec_id} not final after {timeout}s")


def sse_events(client, exec_id, offset=0, follow=True, last_event_id=None, stop_after=None,
               timeout=60):
    """Reads the SSE stream; returns (events, raw_bytes). Each event is
    (name, id, data). Stops after `stop_after` log events (dropping the
    connection) if given."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {client.token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    conn.request("GET", f"/v1/executions/{exec_id}/logs?offset={offset}&follow={'true' if follow else 'false'}",
                 headers=headers)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type") == "text/event-stream"
    events, name, eid, data = [], None, None, []
    logs = 0
    while True:
        line = resp.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line == "":
            if name or data:
                events.append((name or "message", eid, "\n".join(data)))
                if name == "log":
                    logs += 1
                if name == "end" or (stop_after is not None and logs >= stop_after):
                    break
            name, eid, data = None, None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "id":
                eid = value
            elif field == "data":
                data.append(value)
    conn.close()
    return events


def log_bytes(events):
    out = b""
    for name, _, data in events:
        if name == "log":
            out += base64.b64decode(json.loads(data)["data"])
    return out


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path / "state")
    admin = d.token("admin", "admin")
    d.start()
    d.admin = Client(d.url, admin)
    yield d
    d.stop()


def test_ping_and_versions(daemon):
    status, info, resp = Client(daemon.url).request("GET", "/ping")
    assert status == 200
    assert info["apiVersion"] == 2
    assert resp.getheader("Automate-Api-Version") == "2"
    status, err, _ = Client(daemon.url).request("GET", "/ping",
                                                 headers={"Automate-Client-Api-Version": "0"})
    assert status == 400 and err["code"] == "FAILED_PRECONDITION"
    assert "upgrade the client" in err["message"]


def test_job_crud_and_run_with_logs(daemon):
    c = daemon.admin
    spec = job_spec("hello", ["sh", "-c", "echo hi $WHO; echo oops >&2"],
                    params=[{"name": "WHO", "default": "world"}])
    job = c.ok("PUT", "/v1/jobs/hello", spec, expect=(201,))
    assert job["version"] == "1"
    assert c.ok("PUT", "/v1/jobs/hello", spec, expect=(200,))["version"] == "1"
    assert [j["spec"]["name"] for j in c.ok("GET", "/v1/jobs")["jobs"]] == ["hello"]
    status, created, resp = c.request("POST", "/v1/jobs/hello/executions", {"args": {"WHO": "you"}})
    assert status == 201
    assert resp.getheader("Location") == f"/v1/executions/{created['id']}"
    done = c.wait(created["id"])
    assert done["state"] == "SUCCEEDED"
    # A final execution is served from the daemon's cache: the same answer.
    assert c.ok("GET", f"/v1/executions/{created['id']}") == done
    assert c.ok("GET", f"/v1/executions/{created['id']}") == done
    status, text, resp = c.request("GET", f"/v1/executions/{created['id']}/logs")
    assert status == 200 and text == b"hi you\noops\n"
    assert resp.getheader("Automate-Log-Next-Offset") == str(len(text))
    events = sse_events(c, created["id"])
    assert log_bytes(events) == b"hi you\noops\n"
    streams = [json.loads(d)["stream"] for n, _, d in events if n == "log"]
    assert streams == ["STDOUT", "STDERR"]
    assert events[-1][0] == "end" and json.loads(events[-1][2])["execution"]["state"] == "SUCCEEDED"
    listed = c.ok("GET", "/v1/executions?job=hello&state=succeeded")
    assert [e["id"] for e in listed["executions"]] == [created["id"]]
    history = c.ok("GET", "/v1/history?window=1h")
    assert history["jobs"][0]["job"] == "hello"
    assert history["jobs"][0]["counts"] == {"succeeded": "1"}
    assert history["jobs"][0]["successRate"] == 1
    assert c.ok("GET", "/v1/jobs/hello/versions")["versions"][0]["version"] == "1"
    c.ok("DELETE", "/v1/jobs/hello", expect=(204,))
    assert c.request("GET", "/v1/jobs/hello")[0] == 404


def test_job_list_follows_changes_from_any_process(daemon, tmp_path):
    # The daemon answers GET /v1/jobs from a cache while no job changes;
    # a change through the API or by another process on the same state dir
    # (the CLI in local mode) shows at once.
    c = daemon.admin
    names = lambda: [j["spec"]["name"] for j in c.ok("GET", "/v1/jobs").get("jobs", [])]
    assert names() == []
    c.ok("PUT", "/v1/jobs/one", job_spec("one", ["true"]), expect=(201,))
    assert names() == ["one"] and names() == ["one"]
    job_file = tmp_path / "side.yaml"
    job_file.write_text("name: side\nexecutor: {local: {command: [\"true\"]}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")}
    cli = [CLI_BIN, "--state-dir", str(daemon.state_dir)]
    r = subprocess.run(cli + ["apply", "-f", str(job_file)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert names() == ["one", "side"]
    r = subprocess.run(cli + ["apply", "-f", str(job_file)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "unchanged" in r.stdout, (r.stdout, r.stderr)
    assert names() == ["one", "side"]
    c.ok("DELETE", "/v1/jobs/one", expect=(204,))
    assert names() == ["side"]


def test_bad_requests_name_the_field(daemon):
    c = daemon.admin
    status, err, _ = c.request("PUT", "/v1/jobs/x", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and err["code"] == "INVALID_ARGUMENT"
    status, err, _ = c.request("PUT", "/v1/jobs/x", {"name": "x", "executor": {"local": {"command": ["true"]}}, "bogus": 1})
    assert status == 400 and "bogus" in err["message"]
    status, err, _ = c.request("PUT", "/v1/jobs/x", {"name": "x", "priority": "high", "executor": {"local": {"command": ["true"]}}})
    assert status == 400 and "priority" in err["message"]
    status, err, _ = c.request("PUT", "/v1/jobs/x", {"name": "y", "executor": {"local": {"command": ["true"]}}})
    assert status == 400 and err["details"][0]["field"] == "name"
    status, err, _ = c.request("PUT", "/v1/jobs/x", {"executor": {"local": {"command": []}}})
    assert status == 400 and any(d["field"] == "executor.local.command" for d in err["details"]), err
    c.ok("PUT", "/v1/jobs/p", job_spec("p", ["true"], params=[{"name": "N", "required": True, "pattern": "[0-9]+"}]))
    status, err, _ = c.request("POST", "/v1/jobs/p/executions", {"args": {"N": "abc"}})
    assert status == 400 and "N" in err["message"]
    status, err, _ = c.request("POST", "/v1/jobs/p/executions", {"args": {"N": 5}})
    assert status == 400
    assert c.request("POST", "/v1/jobs/nope/executions", {})[0] == 404
    assert c.request("GET", "/v1/executions?limit=5000")[0] == 400
    assert c.request("GET", "/v1/executions?state=sleepy")[0] == 400
    assert c.request("GET", "/v1/executions?since=yesterday")[0] == 400
    assert c.request("GET", "/v1/nothing")[0] == 404
    assert c.request("PATCH", "/v1/jobs")[0] == 405
    # Oversized body: 413, and the daemon keeps serving.
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"PUT /v1/jobs/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + c.token.encode() +
                  b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % (2 << 20))
        assert s.recv(100).startswith(b"HTTP/1.1 413")
    # Malformed HTTP: 400 on a raw socket.
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"GARBAGE / HTTP/9.9\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection((c.host, c.port), timeout=5) as s:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 << 10) + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431")
    assert Client(daemon.url).request("GET", "/ping")[0] == 200
    # Nothing stored by the failures.
    assert [j["spec"]["name"] for j in c.ok("GET", "/v1/jobs")["jobs"]] == ["p"]


def test_auth_matrix(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/open", job_spec("open", ["true"]))
    c.ok("PUT", "/v1/jobs/dba-only", job_spec("dba-only", ["true"], allowedGroups=["dba"]))
    run = c.run("open")
    c.wait(run["id"])
    tokens = {
        "viewer": daemon.token("v", "viewer"),
        "operator": daemon.token("o", "operator"),
        "dba-operator": daemon.token("od", "operator", groups=["dba"]),
        "admin": c.token,
    }
    ex = run["id"]
    routes = [  # (method, path, body, minimum role)
        ("GET", "/v1/jobs", None, "viewer"),
        ("GET", "/v1/jobs/open", None, "viewer"),
        ("GET", "/v1/jobs/open/versions", None, "viewer"),
        ("PUT", "/v1/jobs/new", job_spec("new", ["true"]), "admin"),
        ("DELETE", "/v1/jobs/new", None, "admin"),
        ("POST", "/v1/jobs/open/executions", {}, "operator"),
        ("POST", "/v1/executions:batchSubmit", {"requests": [{"job": "open"}]}, "operator"),
        ("GET", "/v1/executions", None, "viewer"),
        ("GET", f"/v1/executions/{ex}", None, "viewer"),
        ("POST", f"/v1/executions/{ex}/cancel", None, "operator"),
        ("GET", f"/v1/executions/{ex}/logs", None, "viewer"),
        ("GET", "/v1/history", None, "viewer"),
        ("GET", "/v1/secrets", None, "admin"),
        ("PUT", "/v1/secrets/S1", {"value": "x"}, "admin"),
        ("DELETE", "/v1/secrets/S1", None, "admin"),
        ("GET", "/v1/tokens", None, "admin"),
        ("POST", "/v1/tokens", {"name": "t-new", "role": "VIEWER"}, "admin"),
        ("GET", "/v1/audit", None, "admin"),
    ]
    rank = {"viewer": 1, "operator": 2, "admin": 3}
    for method, path, body, need in routes:
        for who in (None, "bad", "viewer", "operator", "admin"):
            client = Client(daemon.url, tokens.get(who) if who != "bad" else "atk_tkbogus00000_xxxx")
            if who == "admin" and method in ("PUT", "DELETE", "POST") and "tokens" not in path:
                pass
            status, payload, resp = client.request(method, path, body)
            if who is None or who == "bad":
                assert status == 401, (method, path, who, status)
                assert resp.getheader("WWW-Authenticate", "").startswith("Bearer")
            elif rank[who] < rank[need]:
                assert status == 403, (method, path, who, status, payload)
                assert payload["code"] == "PERMISSION_DENIED"
            else:
                # Allowed: anything but 401/403 (cancel of a finished one is 409).
                assert status not in (401, 403), (method, path, who, status, payload)
    # Groups: only operators in "dba" (and admins) may run dba-only.
    assert Client(daemon.url, tokens["operator"]).request("POST", "/v1/jobs/dba-only/executions", {})[0] == 403
    assert Client(daemon.url, tokens["dba-operator"]).request("POST", "/v1/jobs/dba-only/executions", {})[0] == 201
    assert c.request("POST", "/v1/jobs/dba-only/executions", {})[0] == 201
    batch = {"requests": [{"job": "open"}, {"job": "dba-only"}]}
    status, err, _ = Client(daemon.url, tokens["operator"]).request(
        "POST", "/v1/executions:batchSubmit", batch)
    assert status == 403 and err["message"].startswith("requests[1]: "), err
    assert Client(daemon.url, tokens["dba-operator"]).request(
        "POST", "/v1/executions:batchSubmit", batch)[0] == 201
    # Public routes need nothing.
    for path in ("/ping", "/metrics", "/", "/v1/openapi.json"):
        assert Client(daemon.url).request("GET", path)[0] == 200, path
    # Revoked tokens stop working at once.
    c.ok("DELETE", "/v1/tokens/v", expect=(204,))
    assert Client(daemon.url, tokens["viewer"]).request("GET", "/v1/jobs")[0] == 401


def test_tokens_secrets_and_audit_never_leak(daemon):
    c = daemon.admin
    created = c.ok("POST", "/v1/tokens", {"name": "ci", "role": "OPERATOR", "groups": ["dba"]}, expect=(201,))
    secret = created["secret"]
    assert secret.startswith("atk_")
    listed = c.ok("GET", "/v1/tokens")
    assert secret not in json.dumps(listed)
    assert Client(daemon.url, secret).request("GET", "/v1/jobs")[0] == 200
    c.ok("PUT", "/v1/secrets/DB_PASSWORD", {"value": "hunter2-very-secret"}, expect=(204,))
    c.ok("PUT", "/v1/jobs/uses", job_spec("uses", ["sh", "-c", "echo pw=$DB_PASSWORD"], secrets=["DB_PASSWORD"]))
    e = c.wait(c.run("uses")["id"])
    _, text, _ = c.request("GET", f"/v1/executions/{e['id']}/logs")
    assert b"hunter2" not in text and b"pw=" in text
    everything = json.dumps([c.ok("GET", "/v1/secrets"), c.ok("GET", "/v1/audit?limit=1000"),
                             c.ok("GET", f"/v1/executions/{e['id']}"), c.ok("GET", "/v1/jobs")])
    assert "hunter2" not in everything and secret not in everything
    entries = c.ok("GET", "/v1/audit?limit=1000")["entries"]
    actions = [a["action"] for a in entries]
    for want in ("token.create", "secret.set", "job.put", "execution.submit"):
        assert want in actions, actions
    # The submit's record (stored in the execution's own commit) names it.
    submits = [a for a in entries if a["action"] == "execution.submit"]
    assert [(a["target"], a["detail"], a["httpStatus"]) for a in submits] == [(e["id"], "job uses", 201)], submits
    log = (daemon.state_dir / "automated.out").read_text() if (daemon.state_dir / "automated.out").exists() else ""
    assert "hunter2" not in log and secret not in log


def test_batch_submit_is_all_or_nothing_with_a_record_each(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/fan", job_spec("fan", ["sh", "-c", "echo on $HOST"],
                                         params=[{"name": "HOST", "required": True,
                                                  "pattern": "^[a-z0-9-]+$"}]))
    hosts = [f"web-{i}" for i in range(25)]
    body = {"requests": [{"job": "fan", "args": {"HOST": h}} for h in hosts]}
    before = len(c.ok("GET", "/v1/audit?limit=1000")["entries"])
    # One bad request: 4xx naming it, nothing stored, one record of the refusal.
    body["requests"][9]["args"]["HOST"] = "Not A Host"
    status, err, _ = c.request("POST", "/v1/executions:batchSubmit", body)
    assert status == 400 and err["message"].startswith("requests[9]: "), err
    body["requests"][9]["args"]["HOST"] = hosts[9]
    body["requests"][3]["job"] = "nope"
    status, err, _ = c.request("POST", "/v1/executions:batchSubmit", body)
    assert status == 404 and err["message"] == 'requests[3]: job "nope" not found', err
    for bad, why in (({}, "requests: must hold 1 to 1000"),
                     ({"requests": [{"job": "fan"}] * 1001}, "requests: must hold 1 to 1000"),
                     ({"requests": [{"args": {}}]}, "requests[0]: job: must not be empty"),
                     ({"requests": [{"job": "fan", "bogus": 1}]}, "bogus")):
        status, err, _ = c.request("POST", "/v1/executions:batchSubmit", bad)
        assert status == 400 and why in err["message"], (bad if len(str(bad)) < 200 else "1001", err)
    assert c.request("GET", "/v1/executions?job=fan")[1].get("executions", []) == []
    audit = c.ok("GET", "/v1/audit?limit=1000")["entries"]
    refused = [a for a in audit if a["action"] == "execution.submit"]
    assert len(audit) == before + 6 and len(refused) == 6, audit
    assert all(not a.get("target") and a["detail"].startswith("batch of ") and a["httpStatus"] >= 400
               for a in refused), refused

    body["requests"][3]["job"] = "fan"
    out = c.ok("POST", "/v1/executions:batchSubmit", body, expect=(201,))
    execs = out["executions"]
    assert [e["args"]["HOST"] for e in execs] == hosts
    assert [e["id"] for e in execs] == sorted(e["id"] for e in execs)
    for e in execs:
        assert e["requestedBy"] == "admin" and e["trigger"]["kind"] == "MANUAL"
        done = c.wait(e["id"])
        assert done["state"] == "SUCCEEDED"
        _, text, _ = c.request("GET", f"/v1/executions/{e['id']}/logs")
        assert text == f"on {e['args']['HOST']}\n".encode()
    submits = [a for a in c.ok("GET", "/v1/audit?limit=1000")["entries"]
               if a["action"] == "execution.submit" and a["httpStatus"] == 201]
    assert sorted(a["target"] for a in submits) == sorted(e["id"] for e in execs)


def test_cancel_over_http(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/sleepy", job_spec("sleepy", ["sleep", "60"]))
    e = c.run("sleepy")
    deadline = time.monotonic() + 20
    while c.ok("GET", f"/v1/executions/{e['id']}")["state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert c.request("POST", f"/v1/executions/{e['id']}/cancel")[0] == 202
    assert c.wait(e["id"])["state"] == "CANCELLED"
    status, err, _ = c.request("POST", f"/v1/executions/{e['id']}/cancel")
    assert status == 409 and err["code"] == "FAILED_PRECONDITION"


def test_sse_follow_survives_a_dropped_connection(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/ticker", job_spec(
        "ticker", ["sh", "-c", "i=0; while [ $i -lt 40 ]; do echo tick-$i; i=$((i+1)); sleep 0.05; done"]))
    e = c.run("ticker")
    first = sse_events(c, e["id"], stop_after=5)
    assert len([1 for n, _, _ in first if n == "log"]) == 5
    last_id = [i for n, i, _ in first if n == "log"][-1]
    rest = sse_events(c, e["id"], last_event_id=last_id)
    got = log_bytes(first) + log_bytes(rest)
    assert got == b"".join(b"tick-%d\n" % i for i in range(40))
    assert rest[-1][0] == "end"


def test_500_followers_get_identical_complete_logs(daemon):
    c = daemon.admin
    # About 2 MB over ~2 s while 500 clients follow.
    c.ok("PUT", "/v1/jobs/chatty", job_spec(
        "chatty", ["sh", "-c", "i=0; while [ $i -lt 20 ]; do head -c 100000 /dev/zero | tr '\\0' x; echo; i=$((i+1)); sleep 0.1; done"]))
    e = c.run("chatty")
    results = [None] * 500
    errors = []

    def follow(i):
        try:
            results[i] = log_bytes(sse_events(c, e["id"], timeout=120))
        except Exception as ex:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(ex))

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(500)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors[:3]
    _, stored, _ = c.request("GET", f"/v1/executions/{e['id']}/logs")
    assert len(stored) == 20 * 100001
    assert all(r == stored for r in results)


def test_metrics_pass_promtool(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/m", job_spec("m", ["true"]))
    c.wait(c.run("m")["id"])
    status, text, _ = Client(daemon.url).request("GET", "/metrics")
    assert status == 200
    body = text.decode() if isinstance(text, bytes) else text
    assert 'automate_executions_total{job="m",state="succeeded"} 1' in body
    assert "automate_http_requests_total" in body and "automate_queue_depth" in body
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package"
    check = subprocess.run([promtool, "check", "metrics"], input=body.encode(), capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_sigterm_keeps_everything_and_restart_serves_it(daemon):
    c = daemon.admin
    c.ok("PUT", "/v1/jobs/quick", job_spec("quick", ["sh", "-c", "for i in 1 2 3; do echo q$i; done"]))
    c.ok("PUT", "/v1/jobs/slow", job_spec("slow", ["sh", "-c", "echo start; sleep 2; echo done"],
                                          retry={"maxAttempts": 3, "initialBackoff": "0.1s"}))
    quick = [c.run("quick")["id"] for _ in range(5)]
    for q in quick:
        c.wait(q)
    slow = c.run("slow")["id"]
    deadline = time.monotonic() + 20
    while c.ok("GET", f"/v1/executions/{slow}")["state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    port = urllib.parse.urlparse(daemon.url).port
    assert daemon.stop(signal.SIGTERM) == 0
    daemon.start(port=port)
    c2 = Client(daemon.url, c.token)
    for q in quick:
        e = c2.ok("GET", f"/v1/executions/{q}")
        assert e["state"] == "SUCCEEDED"
        assert c2.request("GET", f"/v1/executions/{q}/logs")[1] == b"q1\nq2\nq3\n"
    done = c2.wait(slow)
    assert done["state"] == "SUCCEEDED", done
    _, text, _ = c2.request("GET", f"/v1/executions/{slow}/logs")
    assert b"start\n" in text and text.endswith(b"done\n")


def test_settings_precedence_and_help(tmp_path):
    out = subprocess.run([AUTOMATED_BIN, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for var in ("AUTOMATE_LISTEN", "AUTOMATE_STATE_DIR", "AUTOMATE_TLS_CERT", "AUTOMATE_MAX_RUNNING"):
        assert var in out.stdout
    cfg = tmp_path / "automated.yaml"
    cfg.write_text("listen: 127.0.0.1:1\nbogus_setting: 3\n")
    bad = subprocess.run([AUTOMATED_BIN, "--config", str(cfg), "--state-dir", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode == 2 and "bogus_setting: unknown setting" in bad.stderr
    # File < env < flag: the file says port 1, the flag says 0 (a free port).
    cfg.write_text("listen: 127.0.0.1:1\nmax_running: 3\n")
    d = Daemon(tmp_path / "s", extra_args=["--config", str(cfg)])
    d.start()  # --listen 127.0.0.1:0 from the fixture wins over the file
    assert not d.url.endswith(":1")
    d.stop()
    env = dict(os.environ, AUTOMATE_MAX_RUNNING="zero")
    bad = subprocess.run([AUTOMATED_BIN, "--state-dir", str(tmp_path / "s2"), "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, env=env, timeout=20)
    assert bad.returncode == 2 and "max-running" in bad.stderr
    # Docker settings are checked at start-up, each named as it was given.
    for args, env_extra, message in (
            (["--docker-api-version", "latest"], {},
             '--docker-api-version: docker API version "latest": must be MAJOR.MINOR, 1.41 or later'),
            (["--docker-host", "ssh://x"], {}, "--docker-host: docker host"),
            ([], {"DOCKER_API_VERSION": "1.40"}, '--docker-api-version: docker API version "1.40"')):
        bad = subprocess.run([AUTOMATED_BIN, "--state-dir", str(tmp_path / "s3"), "--listen", "127.0.0.1:0"]
                             + args, capture_output=True, text=True, env=dict(os.environ, **env_extra),
                             timeout=20)
        assert bad.returncode != 0 and message in bad.stderr, (args, env_extra, bad.stderr)


def test_tls(tmp_path):
    import ssl
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                           "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True)
    assert made.returncode == 0, made.stderr
    d = Daemon(tmp_path / "state", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    token = d.token("admin", "admin")
    d.start()
    try:
        assert d.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        port = urllib.parse.urlparse(d.url).port
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        conn.request("GET", "/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read()) == {}
        conn.close()
        # Plain HTTP to the TLS port is refused, and the daemon keeps serving.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            assert not data.startswith(b"HTTP/1.1 200")
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        conn.request("GET", "/ping")
        assert conn.getresponse().status == 200
    finally:
        d.stop()
    missing = Daemon(tmp_path / "state2", extra_args=["--tls-cert", str(cert)])
    with pytest.raises(AssertionError):
        missing.start(timeout=5)
    assert "tls_key" in missing.log_path.read_text() or "both" in missing.log_path.read_text()


def test_slow_clients_are_cut_off(tmp_path):
    d = Daemon(tmp_path / "state", extra_args=["--read-timeout", "1s", "--idle-timeout", "3s"])
    d.start()
    try:
        port = urllib.parse.urlparse(d.url).port
        # A client trickling its request: closed after the read timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            start = time.monotonic()
            s.sendall(b"GET /ping HTTP/1.1\r\n")
            closed = False
            for _ in range(8):
                time.sleep(0.5)
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    closed = True
                    break
                s.settimeout(0.01)
                try:
                    if s.recv(100) == b"":
                        closed = True
                        break
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    closed = True
                    break
            assert closed and time.monotonic() - start < 3.5
        # An idle keep-alive connection may wait longer than the read timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            time.sleep(1.5)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        assert Client(d.url).request("GET", "/ping")[0] == 200
    finally:
        d.stop()
