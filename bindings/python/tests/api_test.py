"""Every method of automate.Engine and automate.Client (the same tests on
both, through the `backend` fixture), and what they return."""

import datetime
import gc
import json
import os
import time
import weakref

import pytest

import automate
from conftest import CliRunner, local_job, unique_name, wait_for


def test_apply_dict_returns_jobs_and_versions(backend):
    name = unique_name()
    spec = local_job(name, ["true"], description="first")
    [job] = backend.apply(spec)
    assert isinstance(job, automate.Job)
    assert (job.name, job.version, job.description) == (name, 1, "first")
    [same] = backend.apply(spec)
    assert same.version == 1, "an unchanged spec keeps its version"
    [changed] = backend.apply(dict(spec, description="second"))
    assert changed.version == 2
    assert isinstance(job.create_time, datetime.datetime)
    assert job.create_time.tzinfo is datetime.timezone.utc


def test_apply_text_path_bytes_and_lists(backend, tmp_path):
    a, b, c, d, e = (unique_name(x) for x in "abcde")
    yaml_text = (f"name: {a}\nexecutor:\n  local:\n    command: [\"true\"]\n---\n"
                 f"name: {b}\nexecutor: {{local: {{command: [\"true\"]}}}}\n")
    assert [j.name for j in backend.apply(yaml_text)] == [a, b]
    json_text = json.dumps(local_job(c, ["true"]))  # One line: JSON is YAML.
    assert [j.name for j in backend.apply(json_text)] == [c]
    path = tmp_path / "d.yaml"
    path.write_text(f"name: {d}\nexecutor:\n  local:\n    command: [\"true\"]\n")
    assert [j.name for j in backend.apply(path)] == [d]  # os.PathLike
    assert backend.apply(str(path))[0].version == 1        # str path, unchanged
    assert [j.name for j in backend.apply(yaml_text.encode())] == [a, b]  # bytes
    jobs = backend.apply([local_job(e, ["true"]), path])
    assert [j.name for j in jobs] == [e, d]
    with pytest.raises(TypeError, match="apply\\(\\) takes a dict"):
        backend.apply(42)


def test_apply_checks_everything_before_applying_anything(backend):
    good, bad = unique_name("good"), unique_name("bad")
    with pytest.raises(automate.ValidationError, match=r"<dict 1>:\d+: executor"):
        backend.apply([local_job(good, ["true"]), {"name": bad}])
    with pytest.raises(automate.NotFound):
        backend.job(good)


def test_jobs_job_versions_and_delete(backend):
    name = unique_name()
    backend.apply(local_job(name, ["true"], description="v1"))
    backend.apply(local_job(name, ["true"], description="v2"))
    assert name in [j.name for j in backend.jobs()]
    assert backend.job(name).version == 2
    assert backend.job(name, 1).description == "v1"
    versions = backend.job_versions(name)
    assert [(v.version, v.description) for v in versions] == [(1, "v1"), (2, "v2")]
    backend.delete_job(name)
    assert name not in [j.name for j in backend.jobs()]
    with pytest.raises(automate.NotFound):
        backend.job(name)
    assert backend.job(name, 1).description == "v1", "old versions stay readable"
    with pytest.raises(automate.NotFound):
        backend.delete_job(name)


def test_job_attributes_and_round_trip(backend):
    name = unique_name()
    spec = local_job(
        name, ["/bin/sh", "-c", "echo $WHO"], description="greets", labels={"team": "sre"},
        params=[{"name": "WHO", "description": "whom", "required": True, "pattern": "^[a-z]+$"},
                {"name": "TIMES", "default": "1"}],
        secrets=["PY_TOKEN"], timeout="30s")
    [job] = backend.apply(spec)
    assert job.labels == {"team": "sre"}
    assert job.secrets == ["PY_TOKEN"]
    assert job.executor == {"local": {"command": ["/bin/sh", "-c", "echo $WHO"]}}
    who, times = job.params
    assert (who.name, who.description, who.required, who.default, who.pattern) == (
        "WHO", "whom", True, None, "^[a-z]+$")
    assert (times.name, times.required, times.default) == ("TIMES", False, "1")
    assert repr(who) == "<automate.Param WHO required>"
    assert job.spec["name"] == name and job.spec["timeout"] == "30s"
    as_dict = job.to_dict()
    assert as_dict["spec"] == job.spec and as_dict["version"] == "1"  # proto3 JSON: int64 as str
    assert not job.deleted
    assert repr(job) == f"<automate.Job {name} version 1>"
    # to_yaml() is a job file document that applies back to the same spec.
    assert f"name: {name}" in job.to_yaml()
    assert backend.apply(job.to_yaml())[0].version == 1


def test_run_params_and_execution_attributes(backend):
    name = unique_name()
    backend.apply(local_job(
        name, "echo \"$WHO $N $FLAG $DASHED $TIMES\"",
        params=[{"name": "WHO", "required": True}, {"name": "N"}, {"name": "FLAG"},
                {"name": "DASHED"}, {"name": "TIMES", "default": "1"}]))
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    ex = backend.run(name, {"DASHED": "d"}, WHO="ada", N=3, FLAG=True)
    assert isinstance(ex, automate.Execution)
    assert len(ex.id) == 26 and ex.job == name and ex.job_version == 1
    assert ex.state in ("pending", "queued", "running", "succeeded")
    assert ex.args == {"WHO": "ada", "N": "3", "FLAG": "true", "DASHED": "d", "TIMES": "1"}
    assert ex.trigger.startswith("manual")  # A server adds its source: "manual:api".
    assert ex.create_time > before
    assert ex.wait() is ex, "wait() returns the execution itself, updated"
    assert (ex.state, ex.exit_code, ex.done, ex.succeeded, ex.error) == (
        "succeeded", 0, True, True, "")
    # Who asked: $USER for an embedded engine (as the CLI), the token's name on a server.
    local = isinstance(backend, automate.Engine)
    assert ex.requested_by == (os.environ.get("USER", "") if local else "py-admin")
    assert ex.duration is not None and 0 <= ex.duration < 30
    assert ex.start_time <= ex.end_time
    assert ex.log_bytes == len("ada 3 true d 1\n")
    assert [line for line in ex.logs().lines()] == ["ada 3 true d 1"]
    [attempt] = ex.attempts
    assert (attempt.number, attempt.executor, attempt.status, attempt.exit_code,
            attempt.signal) == (1, "local", "succeeded", 0, None)
    assert attempt.to_dict()["number"] == 1
    assert ex.job_spec["name"] == name
    assert ex.to_dict()["id"] == ex.id
    assert repr(ex) == f"<automate.Execution {ex.id} job={name} state=succeeded>"
    with pytest.raises(TypeError, match="param N: expected str, int, float or bool"):
        backend.run(name, WHO="x", N=None)
    with pytest.raises(TypeError, match="two values for param WHO"):
        backend.run(name, {"WHO": "a"}, WHO="b")


def test_run_and_wait_arguments(backend):
    # run(job, /, args=None, *, job_version=0, **params) and wait(timeout=None)
    # bind their arguments as Python functions with that signature do.
    name = unique_name()
    backend.apply(local_job(name, "echo hi"))
    assert backend.run(name, args=None, job_version=1).wait(timeout=30).state == "succeeded"
    assert backend.run(name, {}).wait(30).state == "succeeded"
    ex = backend.run(name)
    assert ex.wait(None) is ex
    # "job" is positional-only, so as a keyword it is a param like any other.
    with pytest.raises(automate.ValidationError, match="job"):
        backend.run(name, job="x")
    with pytest.raises(TypeError, match="1 or 2 positional arguments"):
        backend.run()
    with pytest.raises(TypeError, match="1 or 2 positional arguments"):
        backend.run(name, {}, {})
    with pytest.raises(TypeError, match="job must be a str"):
        backend.run(7)
    with pytest.raises(TypeError, match="multiple values for argument 'args'"):
        backend.run(name, {}, args={})
    with pytest.raises(TypeError, match="job_version must be an int"):
        backend.run(name, job_version="1")
    with pytest.raises(TypeError, match="at most 1 argument"):
        ex.wait(1, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'seconds'"):
        ex.wait(seconds=1)
    with pytest.raises(TypeError):
        ex.wait("soon")
    with pytest.raises(TypeError):
        automate.Execution.wait(backend)  # Not an Execution.
    # logs(follow=False, offset=0): the same rules.
    assert [r.data for r in ex.logs(False, 0)] == [b"hi\n"]
    assert [r.data for r in ex.logs(offset=1, follow=True)] == [b"i\n"]
    with pytest.raises(TypeError, match="offset must be an int"):
        ex.logs(offset="1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'since'"):
        ex.logs(since=1)
    with pytest.raises(TypeError, match="multiple values for argument 'follow'"):
        ex.logs(True, follow=True)
    with pytest.raises(TypeError):
        ex.logs(False, 0, 1)


def test_execution_objects(backend):
    # Executions come from an engine only, are hashable by identity, and can
    # be weakly referenced.
    name = unique_name()
    backend.apply(local_job(name, "true"))
    with pytest.raises(TypeError, match="cannot create 'automate.Execution' instances"):
        automate.Execution()
    ex = backend.run(name).wait(30)
    ref = weakref.ref(ex)
    assert ref() is ex
    assert {ex: 1}[ex] == 1 and ex == ex and ex != backend.execution(ex.id)
    del ex
    gc.collect()
    assert ref() is None
    history = backend.history(job=name)
    assert [h.state for h in history] == ["succeeded"]


def test_run_reads_its_engine_from_any_engine_or_client(backend, tmp_path, daemon):
    # run() takes its engine straight from the instance (not through
    # pybind11's caster): subclasses work, other objects and instances whose
    # __init__ never ran are refused with a TypeError.
    name = unique_name()
    backend.apply(local_job(name, "true"))
    if isinstance(backend, automate.Engine):
        class Sub(automate.Engine):
            pass
        sub = Sub(tmp_path / "sub")
    else:
        class Sub(automate.Client):
            pass
        sub = Sub(daemon.url, daemon.tokens["admin"])
    with sub:
        sub.apply(local_job(name, "true"))
        assert sub.run(name).wait(30).state == "succeeded"
    with pytest.raises(TypeError, match="doesn't apply to a 'object' object"):
        automate.BaseEngine.run(object(), name)
    bare = type(backend).__new__(type(backend))
    with pytest.raises(TypeError, match=r"__init__\(\) was not called"):
        bare.run(name)


def test_run_many_is_one_batch_all_or_nothing(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo \"$HOST\"",
                            params=[{"name": "HOST", "required": True, "pattern": "^[a-z0-9-]+$"}]))
    hosts = [f"web-{i}" for i in range(20)]
    with pytest.raises(automate.ValidationError, match=r"^requests\[4\]: .*HOST"):
        backend.run_many(name, [{"HOST": h} for h in hosts[:4]] + [{"HOST": "No Way"}])
    with pytest.raises(automate.NotFound, match=r'requests\[0\]: job "nope-'):
        backend.run_many("nope-" + name, [{}])
    assert backend.history(name) == [], "nothing stored by a refused batch"
    with pytest.raises(TypeError, match=r"args\[1\]: expected a mapping"):
        backend.run_many(name, [{"HOST": "a"}, "HOST=b"])
    with pytest.raises(TypeError, match="iterable of mappings"):
        backend.run_many(name, {"HOST": "a"})
    with pytest.raises(TypeError, match="param HOST: expected str"):
        backend.run_many(name, [{"HOST": None}])
    assert backend.run_many(name, []) == []

    runs = backend.run_many(name, ({"HOST": h} for h in hosts))  # Any iterable.
    assert [ex.args["HOST"] for ex in runs] == hosts
    assert [ex.id for ex in runs] == sorted(ex.id for ex in runs)
    for ex in runs:
        assert ex.wait(60).state == "succeeded"
        assert list(ex.logs().lines()) == [ex.args["HOST"]]
    assert len(backend.history(name)) == len(hosts)
    [past] = backend.run_many(name, [{"HOST": "x"}], job_version=1)
    assert past.job_version == 1 and past.wait(60).succeeded


def test_run_a_past_version(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo one"))
    backend.apply(local_job(name, "echo two"))
    ex = backend.run(name, job_version=1).wait()
    assert ex.job_version == 1
    assert list(ex.logs().lines()) == ["one"]


def test_failures_retries_and_exit_codes(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo attempt; exit 3",
                            retry={"max_attempts": 2, "initial_backoff": "10ms"}))
    ex = backend.run(name).wait(timeout=30)
    assert (ex.state, ex.exit_code, ex.succeeded) == ("failed", 3, False)
    assert [(a.number, a.status, a.exit_code) for a in ex.attempts] == [
        (1, "failed", 3), (2, "failed", 3)]
    assert list(ex.logs().lines(stream="stdout")) == ["attempt", "attempt"]
    assert any("attempt" in line for line in ex.logs().lines(stream="system"))


def test_wait_timeout_cancel_and_refresh(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo started; exec sleep 60"))
    ex = backend.run(name)
    t0 = time.monotonic()
    with pytest.raises(automate.Timeout) as info:
        ex.wait(timeout=0.3)
    assert 0.25 < time.monotonic() - t0 < 5
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert str(info.value) == f"execution {ex.id} is not finished yet"
    wait_for(lambda: ex.refresh().state == "running", what="running")
    assert ex.refresh() is ex
    ex.cancel()
    assert ex.wait(timeout=30).state == "cancelled"
    with pytest.raises(automate.Conflict):
        ex.cancel()
    with pytest.raises(automate.ValidationError, match="timeout"):
        ex.wait(timeout=-1)


def test_logs_records_offsets_follow_and_lines(backend):
    name = unique_name()
    long_line = "x" * 300_000  # Stored in several chunks; lines() joins them.
    backend.apply(local_job(
        name, "echo out1; echo err1 >&2; sleep 0.3; head -c 300000 /dev/zero | tr '\\0' x; "
              "echo; printf tail"))
    ex = backend.run(name)
    followed = list(ex.logs(follow=True))  # Follows until the log ends.
    assert ex.wait(timeout=30).succeeded
    offset = 0
    for record in followed:
        assert isinstance(record, automate.LogRecord)
        assert record.offset == offset, "records are contiguous"
        offset += len(record.data)
        assert record.stream in ("stdout", "stderr", "system")
        assert isinstance(record.time, datetime.datetime)
    assert offset == ex.log_bytes
    stored = list(ex.logs())
    assert [(r.stream, r.offset, r.data) for r in stored] == [
        (r.stream, r.offset, r.data) for r in followed]
    out = b"".join(r.data for r in stored if r.stream == "stdout")
    assert out == b"out1\n" + long_line.encode() + b"\ntail"
    assert b"".join(r.data for r in stored if r.stream == "stderr") == b"err1\n"
    assert list(ex.logs().lines(stream="stdout")) == ["out1", long_line, "tail"]
    assert list(ex.logs().lines(stream="stderr")) == ["err1"]
    assert stored[0].text == stored[0].data.decode()
    assert repr(stored[0]).startswith(f"<automate.LogRecord {stored[0].stream} @0 b")
    # From an offset: the rest, cut at that byte.
    second = stored[1]
    rest = list(ex.logs(offset=second.offset + 1))
    assert rest[0].offset == second.offset + 1 and rest[0].data == second.data[1:]
    # The stream's offset, close() and the context manager.
    with ex.logs() as logs:
        assert logs.offset == 0 and logs.execution_id == ex.id and not logs.follow
        first = next(logs)
        assert logs.offset == len(first.data)
    assert list(logs) == [], "closed: the iterator ends"
    with pytest.raises(automate.ValidationError, match="stream"):
        ex.logs().lines(stream="stdin")


def test_logs_at_and_past_the_end(backend, cli):
    name = unique_name()
    backend.apply(local_job(name, "echo hi"))
    ex = backend.run(name).wait()
    assert list(ex.logs(offset=ex.log_bytes)) == []
    # Past the end of a final log: nothing, as `automate logs ID --offset N`.
    assert list(ex.logs(offset=ex.log_bytes + 100)) == []
    r = cli("logs", ex.id, "--offset", ex.log_bytes + 100)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    with pytest.raises(automate.ValidationError, match="offset: must not be negative"):
        ex.logs(offset=-1)


def test_execution_and_history(backend):
    name, other = unique_name(), unique_name()
    backend.apply(local_job(name, "exit 0"))
    backend.apply(local_job(other, "exit 1"))
    first = backend.run(name).wait()
    second = backend.run(name).wait()
    failed = backend.run(other).wait()
    assert backend.execution(first.id).to_dict() == first.to_dict()
    assert [e.id for e in backend.history(name)] == [second.id, first.id]  # newest first
    assert [e.id for e in backend.history(name, limit=1)] == [second.id]
    assert [e.id for e in backend.history(other, state="failed")] == [failed.id]
    assert backend.history(other, state="succeeded") == []
    ids = [e.id for e in backend.history(limit=1000)]
    assert {first.id, second.id, failed.id} <= set(ids)
    assert [e.id for e in backend.history(job=name)] == [second.id, first.id]
    with pytest.raises(automate.NotFound):
        backend.history(unique_name("never"))
    with pytest.raises(automate.ValidationError):
        backend.history(name, state="bogus")
    with pytest.raises(automate.NotFound):
        backend.execution("01ARZ3NDEKTSV4RRFFQ69G5FAV")


def test_secrets(backend):
    secret, name = f"PY_SECRET_{unique_name('s').replace('-', '_').upper()}", unique_name()
    backend.set_secret(secret, "hunter2")
    listed = {s.name: s for s in backend.secrets()}
    assert secret in listed
    assert isinstance(listed[secret].create_time, datetime.datetime)
    assert repr(listed[secret]) == f"<automate.Secret {secret}>"
    backend.apply(local_job(name, f"echo \"value=${secret}\"", secrets=[secret]))
    ex = backend.run(name).wait()
    assert ex.succeeded
    assert list(ex.logs().lines()) == ["value=****"], "secret values are masked"
    backend.set_secret(secret, b"bytes too")
    backend.delete_secret(secret)
    assert secret not in {s.name for s in backend.secrets()}
    with pytest.raises(automate.NotFound):
        backend.delete_secret(secret)
    with pytest.raises(automate.Conflict, match=f"needs secret {secret}, which is not set"):
        backend.run(name)


def test_close_and_context_manager(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo hi"))
    ex = backend.run(name).wait()
    logs = ex.logs()
    assert not backend.closed
    with backend as same:
        assert same is backend
    assert backend.closed
    kind = type(backend).__name__
    assert "(closed)" in repr(backend)
    for call in (backend.jobs, lambda: backend.job(name), ex.refresh, ex.wait, ex.logs):
        with pytest.raises(automate.Conflict, match=f"^the {kind} is closed$"):
            call()
    # A stream opened before close() still reads what it can (stored data).
    assert [r.data for r in logs] == [b"hi\n"]
    backend.close()  # Idempotent.


def test_the_cli_works_beside_an_engine(engine, tmp_path):
    # The Engine holds the state dir's lock; the CLI is a client of it and
    # what it submits runs in this engine.
    cli = CliRunner(engine, tmp_path)
    name = unique_name()
    engine.apply(local_job(name, "echo from-cli"))
    r = cli("run", name, "--wait")
    assert r.returncode == 0, r.stderr
    exec_id = r.stdout.split()[0]
    ex = engine.execution(exec_id).wait(timeout=30)
    assert ex.succeeded and list(ex.logs().lines()) == ["from-cli"]
    status = cli("status", exec_id, "-o", "json")
    assert json.loads(status.stdout) == ex.to_dict(), "the CLI's JSON is to_dict()"
