"""The docker executor through the CLI: a container job applied, run and
followed like a local one, against the Docker API service that DOCKER_HOST
names (tests/docker/podman-service.sh; .ci/run starts it). Without one these
tests fail: a skip would hide a missing daemon."""

import os
import re
import select
import socket
import ssl
import subprocess
import threading
from pathlib import Path

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


# --- A daemon behind TLS with client certificates, as `dockerd --tlsverify` ---

def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _tls_material(d, ca_name="test-ca"):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, in
    the file names the docker CLI reads from DOCKER_CERT_PATH (ca.pem,
    cert.pem, key.pem) plus the server's own pair."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={ca_name}",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, key, cert in (("server", "server-key.pem", "server-cert.pem"), ("client", "key.pem", "cert.pem")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", key,
                 "-out", f"{who}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", "1", "-extfile", f"{who}.ext", "-out", cert, cwd=d)
    return d


class TlsDaemonProxy:
    """Listens on 127.0.0.1 with TLS, requires a client certificate signed by
    the CA, and relays each connection to the Docker API's unix socket: what
    a daemon started with --tlsverify looks like to its clients."""

    def __init__(self, unix_path, material):
        self.unix_path = unix_path
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(material / "server-cert.pem", material / "server-key.pem")
        self.context.load_verify_locations(material / "ca.pem")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.relayed = 0
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            conn.close()
            return
        self.relayed += 1
        up = socket.socket(socket.AF_UNIX)
        up.connect(self.unix_path)
        # One thread per connection touches its TLS socket: no concurrent
        # reads and writes on one SSL object.
        try:
            while True:
                readable = [tls] if tls.pending() else select.select([tls, up], [], [], 60)[0]
                if not readable:
                    break
                if tls in readable:
                    data = tls.recv(65536)
                    if not data:
                        break
                    up.sendall(data)
                if up in readable:
                    data = up.recv(65536)
                    if not data:
                        break
                    tls.sendall(data)
        except (ssl.SSLError, OSError):
            pass
        finally:
            up.close()
            tls.close()

    def close(self):
        self.listener.close()


def test_tls_daemon_with_client_certificates(cli):
    require_daemon()
    host = os.environ["DOCKER_HOST"]
    assert host.startswith("unix://"), "this test relays to the service's unix socket"
    material = _tls_material(cli.tmp / "tls")
    proxy = TlsDaemonProxy(host[len("unix://"):], material)
    try:
        cli.env.update({"DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}", "DOCKER_TLS_VERIFY": "1",
                        "DOCKER_CERT_PATH": str(material)})
        cli.apply(docker_job("tlsjob", "echo over tls; exit 3"))
        r = cli("run", "tlsjob", "--follow", timeout=120)
        assert r.returncode == 3, r.stderr
        assert r.stdout == "over tls\n"
        assert proxy.relayed > 0 and proxy.refused == 0

        # Certificates of another CA: the client does not trust the daemon
        # (nor the daemon the client); the attempt fails and says which
        # daemon. A second state dir, so that a fresh background engine
        # reads the new settings (the fixture's teardown stops both: their
        # paths share the prefix it looks for).
        other = _tls_material(cli.tmp / "other", ca_name="other-ca")
        cli.env["DOCKER_CERT_PATH"] = str(other)
        first_state_dir = cli.state_dir
        cli.state_dir = Path(f"{first_state_dir}-other-ca")
        try:
            cli.apply(docker_job("tlsjob", "echo over tls; exit 3"))
            r = cli("run", "tlsjob", "--follow", timeout=120)
        finally:
            cli.state_dir = first_state_dir
        assert r.returncode != 0
        assert f"tcp://127.0.0.1:{proxy.port}" in r.stderr, r.stderr
        assert "SSL certificate problem" in r.stderr, r.stderr
        assert "over tls" not in r.stdout
    finally:
        proxy.close()
