"""The docker executor through the CLI: a container job applied, run and
followed like a local one, against the Docker API service that DOCKER_HOST
names (tests/docker/podman-service.sh; .ci/run starts it). Without one these
tests fail: a skip would hide a missing daemon."""

import os
import re

IMAGE = "localhost/busybox:latest"


def docker_job(name, script, extra=""):
    return (f"name: {name}\nexecutor:\n  docker:\n    image: {IMAGE}\n    network: none\n"
            f"    pull: never\n    command: {script!r}\n{extra}")


def require_daemon():
    host = os.environ.get("DOCKER_HOST", "")
    assert host.startswith("unix://") or host.startswith("tcp://"), (
        "DOCKER_HOST is not set: start tests/docker/podman-service.sh and export what it prints")


def test_container_job_runs_and_follows(cli):
    require_daemon()
    cli.apply(docker_job("greet", 'echo "hello $WHO"; echo warning >&2; exit 4',
                         "params: [{name: WHO, default: world}]\n"))
    r = cli("run", "greet", "WHO=docker", "--follow", timeout=120)
    assert r.returncode == 4, r.stderr
    assert r.stdout == "hello docker\n"
    assert "warning\n" in r.stderr
    exec_id = re.search(r"execution (\S+)", r.stderr).group(1)
    status = cli.status(exec_id)
    assert status["state"] == "FAILED"
    assert status["attempts"][0]["executor"] == "docker"
    assert status["attempts"][0]["externalId"] == f"automate-{exec_id.lower()}-1"


def test_bad_docker_fields_are_refused_with_their_paths(cli):
    r = cli("apply", "-f", cli.job_file("bad.yaml", (
        "name: bad\nexecutor:\n  docker:\n    image: Not An Image\n"
        "    resources: {memory: 1Ki}\n    pull: sometimes\n")))
    assert r.returncode != 0
    assert "bad.yaml:4: executor.docker.image: must be an image reference" in r.stderr
    assert "bad.yaml:5: executor.docker.resources.memory: must be at least 6Mi" in r.stderr
    assert "bad.yaml:6: executor.docker.pull: must be one of always, if-not-present, never" in r.stderr


def test_unreachable_daemon_fails_the_attempt_clearly(cli):
    cli.env["DOCKER_HOST"] = f"unix://{cli.tmp}/no-daemon.sock"
    cli.apply(docker_job("nodaemon", "true"))
    r = cli("run", "nodaemon", "--follow", timeout=60)
    assert r.returncode != 0
    assert f"{cli.tmp}/no-daemon.sock" in r.stderr


def test_bad_docker_api_version_is_refused_before_anything_runs(cli):
    cli.apply("name: hello\nexecutor:\n  local:\n    command: [\"true\"]\n")
    cli.env["DOCKER_API_VERSION"] = "v1.43"
    r = cli("run", "hello", "--wait", timeout=60)
    assert r.returncode != 0
    assert 'DOCKER_API_VERSION: docker API version "v1.43": must be MAJOR.MINOR, 1.41 or later' in r.stderr
    del cli.env["DOCKER_API_VERSION"]
    assert cli.history() == []
