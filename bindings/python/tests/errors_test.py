"""Errors: absl status codes become the automate exception hierarchy, with
the messages the automate CLI prints for the same mistake (compared with
the real CLI, on the same state dir or the same server), and the class
matching the CLI's exit code."""

import socket
import subprocess

import pytest

import automate
from conftest import AUTOMATE_BIN, isolated_env, local_job, unique_name

# The CLI's exit code for each exception class (README, "Exit codes").
EXIT_CODE_OF = {automate.NotFound: 3, automate.ValidationError: 4, automate.Conflict: 5,
                automate.Timeout: 6, automate.PermissionDenied: 1, automate.Unavailable: 1,
                automate.Error: 1}


def cli_error(result):
    """The message of a failed CLI command: its stderr after "automate: "."""
    assert result.returncode != 0, result.stdout
    assert result.stderr.startswith("automate: "), result.stderr
    return result.stderr[len("automate: "):].rstrip("\n")


def check_same(call, cli_result, expected_type):
    """call() raises expected_type with the CLI's message and exit code."""
    with pytest.raises(automate.Error) as info:
        call()
    assert type(info.value) is expected_type, f"{type(info.value).__name__}: {info.value}"
    assert str(info.value) == cli_error(cli_result)
    assert cli_result.returncode == EXIT_CODE_OF[expected_type], cli_result.stderr
    return info.value


def test_hierarchy():
    for cls in (automate.ValidationError, automate.NotFound, automate.PermissionDenied,
                automate.Conflict, automate.Timeout, automate.Unavailable):
        assert issubclass(cls, automate.Error) and cls.__module__ == "automate"
        assert cls.__doc__
    assert issubclass(automate.Error, Exception)
    assert issubclass(automate.ValidationError, ValueError)
    assert issubclass(automate.NotFound, LookupError)
    assert issubclass(automate.Timeout, TimeoutError)
    assert not issubclass(automate.Conflict, (ValueError, LookupError, OSError))


def test_invalid_job_file(backend, cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: Bad_Name\nexecutor:\n  local:\n    command: []\nparams:\n"
                    "  - name: 1x\nunknown_field: 3\n")
    e = check_same(lambda: backend.apply(str(path)), cli("apply", "-f", path),
                   automate.ValidationError)
    assert e.code == "INVALID_ARGUMENT"
    assert f"{path}:1: name:" in str(e) and "unknown_field" in str(e)
    assert len(str(e).splitlines()) >= 3, "one problem per line"
    missing = tmp_path / "missing.yaml"
    check_same(lambda: backend.apply(missing), cli("apply", "-f", missing), automate.NotFound)


def test_not_found(backend, cli):
    name = unique_name("nope")
    check_same(lambda: backend.job(name), cli("describe", name), automate.NotFound)
    check_same(lambda: backend.run(name), cli("run", name), automate.NotFound)
    check_same(lambda: backend.history(name), cli("history", name), automate.NotFound)
    exec_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    check_same(lambda: backend.execution(exec_id), cli("status", exec_id), automate.NotFound)
    check_same(lambda: backend.delete_secret("NO_SUCH_SECRET_PY"),
               cli("secret", "rm", "NO_SUCH_SECRET_PY"), automate.NotFound)


def test_invalid_arguments(backend, cli):
    name = unique_name()
    backend.apply(local_job(name, "true", params=[
        {"name": "DB", "required": True, "pattern": "^[a-z]+$"}]))
    check_same(lambda: backend.run(name), cli("run", name), automate.ValidationError)
    check_same(lambda: backend.run(name, DB="Bad1"), cli("run", name, "DB=Bad1"),
               automate.ValidationError)
    check_same(lambda: backend.run(name, DB="ok", EXTRA="1"), cli("run", name, "DB=ok", "EXTRA=1"),
               automate.ValidationError)
    check_same(lambda: backend.history(name, state="bogus"), cli("history", name, "--state", "bogus"),
               automate.ValidationError)


def test_conflicts(backend, cli):
    name = unique_name()
    backend.apply(local_job(name, "true"))
    ex = backend.run(name).wait()
    e = check_same(ex.cancel, cli("cancel", ex.id), automate.Conflict)
    assert e.code == "FAILED_PRECONDITION"
    # A job with concurrency `forbid` at its limit.
    busy = unique_name("busy")
    backend.apply(local_job(busy, "exec sleep 30", concurrency={"limit": 1, "policy": "forbid"}))
    running = backend.run(busy)
    check_same(lambda: backend.run(busy), cli("run", busy), automate.Conflict)
    running.cancel()
    running.wait(timeout=30)
    # A job whose secret is not set.
    needy = unique_name("needy")
    backend.apply(local_job(needy, "true", secrets=["PY_NEVER_SET"]))
    check_same(lambda: backend.run(needy), cli("run", needy), automate.Conflict)


def test_timeout(backend):
    name = unique_name()
    backend.apply(local_job(name, "exec sleep 30"))
    ex = backend.run(name)
    with pytest.raises(automate.Timeout) as info:
        ex.wait(timeout=0.05)
    assert str(info.value) == f"execution {ex.id} is not finished yet"
    ex.cancel()
    ex.wait(timeout=30)


def test_permission_denied(daemon, tmp_path):
    name = unique_name()
    with automate.Client(daemon.url, daemon.tokens["admin"]) as admin:
        admin.apply(local_job(name, "true"))
    env = isolated_env(tmp_path)
    env["AUTOMATE_SERVER"] = daemon.url

    def cli(token, *args, input=""):
        return subprocess.run([AUTOMATE_BIN, *args], capture_output=True, text=True, timeout=60,
                              env=dict(env, AUTOMATE_TOKEN=token), input=input)

    viewer = automate.Client(daemon.url, daemon.tokens["viewer"])
    e = check_same(lambda: viewer.run(name), cli(daemon.tokens["viewer"], "run", name),
                   automate.PermissionDenied)
    assert e.code == "PERMISSION_DENIED"
    check_same(lambda: viewer.set_secret("PY_X", "y"),
               cli(daemon.tokens["viewer"], "secret", "set", "PY_X", input="y"),
               automate.PermissionDenied)
    assert viewer.jobs(), "a viewer reads"
    # A bad token: the CLI adds a hint line after the server's message.
    bad = automate.Client(daemon.url, "atk_nope_nope")
    with pytest.raises(automate.PermissionDenied) as info:
        bad.jobs()
    assert info.value.code == "UNAUTHENTICATED"
    r = cli("atk_nope_nope", "list")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == f"automate: {info.value}"
    no_token = automate.Client(daemon.url)
    with pytest.raises(automate.PermissionDenied):
        no_token.jobs()


def test_unavailable_and_bad_server(tmp_path):
    env = isolated_env(tmp_path)
    with socket.socket() as s:  # A port nobody listens on.
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = automate.Client(url, "t", timeout=2)
    r = subprocess.run([AUTOMATE_BIN, "--server", url, "--token", "t", "list"], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    check_same(down.jobs, r, automate.Unavailable)
    with pytest.raises(automate.ValidationError) as info:
        automate.Client("ftp://example.com")
    r = subprocess.run([AUTOMATE_BIN, "--server", "ftp://example.com", "list"], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 4 and cli_error(r) == str(info.value)


def test_state_dir_held_by_another_engine(daemon, tmp_path):
    # automated holds its state dir's lock.
    with pytest.raises(automate.Conflict) as info:
        automate.Engine(daemon.state_dir)
    assert str(info.value).startswith(f"another engine is running in {daemon.state_dir} (")
    assert "automate.Client" in str(info.value)
    # So does another Engine, in this process too, until it is closed.
    first = automate.Engine(tmp_path / "s")
    with pytest.raises(automate.Conflict, match="another engine is running"):
        automate.Engine(tmp_path / "s")
    first.close()
    automate.Engine(tmp_path / "s").close()


def test_bad_engine_options(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(automate.Error):
        automate.Engine(tmp_path / "file" / "state")
    with pytest.raises(automate.ValidationError, match="poll_interval"):
        automate.Engine(tmp_path / "a", poll_interval=0)
    with pytest.raises(automate.ValidationError, match="docker_host"):
        automate.Engine(tmp_path / "b", docker_host="ftp://nowhere")
    with pytest.raises(automate.ValidationError, match="timeout"):
        automate.Client("http://127.0.0.1:1", timeout=0)


def test_bad_docker_api_version_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_API_VERSION", "latest")
    with pytest.raises(automate.ValidationError,
                       match='^DOCKER_API_VERSION: docker API version "latest": must be MAJOR.MINOR'):
        automate.Engine(tmp_path / "c")
