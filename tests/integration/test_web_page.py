"""The web page of automated in a real browser: Debian's headless Chromium,
driven through chromedriver with plain W3C WebDriver calls (HTTP + JSON, no
selenium), against a real daemon.

Needs the Debian packages chromium and chromium-driver (CI installs them);
without them the test fails, it is never skipped.

Environment:
  AUTOMATED_BIN             the daemon (see daemon.py)
  CHROMIUM_BIN              default /usr/bin/chromium
  CHROMEDRIVER_BIN          default /usr/bin/chromedriver
  AUTOMATE_TEST_ARTIFACTS   where screenshots go (default: the test's tmp_path)

Run: /usr/bin/python3 -m pytest -q -s tests/integration/test_web_page.py
"""

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import pids_matching, stop_pids, wait_for
from daemon import AUTOMATED_BIN, Daemon

CHROMIUM = os.environ.get("CHROMIUM_BIN") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C WebDriver's element reference key
JOB = "web-demo"


class WebDriverError(Exception):
    def __init__(self, error, message):
        super().__init__(f"{error}: {message}")
        self.error = error


class Browser:
    """One chromedriver process and one headless Chromium session."""

    def __init__(self, log_path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.session = None
        wait_for(self._ready, timeout=20, interval=0.1, what="chromedriver to listen")
        caps = {"browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-dev-shm-usage",
                    "--window-size=1280,900"]},
                "goog:loggingPrefs": {"browser": "ALL"}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}},
                                  timeout=60)["sessionId"]

    def _ready(self):
        try:
            return self._call("GET", "/status", timeout=2)["ready"]
        except (OSError, WebDriverError):
            return False

    def _call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            value = json.loads(e.read() or b"{}").get("value") or {}
            raise WebDriverError(value.get("error"), value.get("message")) from None

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def visible(self, css):
        """True when css matches an element that is rendered (not hidden)."""
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return !!e && e.getClientRects().length > 0;", css)

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def element(self, css, timeout=15):
        wait_for(lambda: self.visible(css), timeout=timeout, interval=0.1, what=f"{css} to be visible")
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self.cmd("POST", f"/element/{self.element(css)}/click", {})

    def type(self, css, text):
        element = self.element(css)
        self.cmd("POST", f"/element/{element}/clear", {})
        self.cmd("POST", f"/element/{element}/value", {"text": text})

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))
        return path

    def console(self):
        try:
            return [f"{e.get('level')} {e.get('message')}" for e in self.cmd("POST", "/se/log", {"type": "browser"})]
        except (OSError, WebDriverError) as e:
            return [f"(no browser log: {e})"]

    def quit(self):
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}", timeout=20)
        except (OSError, WebDriverError):
            pass
        # chromedriver and the browsers it started are one process group.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.log.close()


def require_browser():
    missing = [package for package, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
               if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"missing Debian package(s) {', '.join(missing)} ({CHROMIUM}, {CHROMEDRIVER}): "
                    f"apt-get install -y {' '.join(missing)}", pytrace=False)


def api(daemon, token, method, path, body=None):
    request = urllib.request.Request(daemon.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture
def artifacts(tmp_path):
    directory = Path(os.environ.get("AUTOMATE_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def daemon(tmp_path):
    assert os.access(AUTOMATED_BIN, os.X_OK), \
        f"automated binary not found: {AUTOMATED_BIN} (build it, or set AUTOMATED_BIN)"
    d = Daemon(tmp_path / "state").start()
    yield d
    d.stop()
    stop_pids(pids_matching(str(tmp_path), environ=f"AUTOMATE_IT_TAG={tmp_path}"), sig=signal.SIGKILL)


@pytest.fixture
def browser(tmp_path):
    require_browser()
    b = Browser(tmp_path / "chromedriver.log")
    yield b
    b.quit()


def test_run_a_job_and_follow_its_log_live(tmp_path, daemon, browser, artifacts):
    token = daemon.token("admin", "admin")
    spec = {
        "description": "Prints <b>five</b> lines, slowly",
        "executor": {"local": {
            "command": ["sh", "-c", 'echo "greeting=$GREETING"; echo "<b>not bold</b>"; '
                                    "for i in 1 2 3 4 5; do echo line-$i; sleep 0.4; done; "
                                    "echo oops-on-stderr >&2"],
            "env": {"AUTOMATE_IT_TAG": str(tmp_path)}}},
        "params": [{"name": "GREETING", "description": "who to greet", "default": "hello"}],
    }
    status, body = api(daemon, token, "PUT", f"/v1/jobs/{JOB}", spec)
    assert status == 201, body

    try:
        # No token yet: the prompt. Then the job list.
        browser.open(daemon.url + "/")
        browser.type("#token-input", token)
        browser.click("#token-save")
        row = f'[data-job="{JOB}"]'
        browser.element(f"{row} .run")
        assert browser.text(f"{row} td:nth-child(2)") == spec["description"]
        assert browser.js("return document.querySelector('#jobs b') === null"), "job description rendered as HTML"

        # Run it with a param value from the form.
        browser.click(f"{row} .run")
        param = '#run-form [name="GREETING"]'
        browser.element(param)
        assert browser.js("return document.querySelector(arguments[0]).value", param) == "hello"
        browser.type(param, "world")
        browser.click("#run-submit")

        # The execution view follows the log live until the end.
        def shown_execution():
            hash_ = browser.js("return location.hash") or ""
            return hash_.removeprefix("#/executions/") if hash_.startswith("#/executions/") else None
        exec_id = wait_for(shown_execution, timeout=15, interval=0.1, what="the execution view")
        seen_live = False
        deadline = time.monotonic() + 40
        while True:
            log = browser.text("#log") or ""
            state = browser.text("#exec-state")
            if "line-1" in log and "line-5" not in log:
                seen_live = True
            if "line-5" in log and state == "SUCCEEDED" and "oops-on-stderr" in log:
                break
            assert time.monotonic() < deadline, f"log/state did not arrive: state={state!r} log={log!r}"
            time.sleep(0.1)
        assert seen_live, "the log was not shown while the job was running"
        assert "greeting=world" in log
        assert "<b>not bold</b>" in log and browser.js("return document.querySelector('#log b') === null")
        assert "oops-on-stderr" in (browser.text("#log .stderr") or ""), "stderr is not marked"
        assert "line-1" not in (browser.text("#log .stderr") or "")
        wait_for(lambda: "end of log" in (browser.text("#log-status") or ""), timeout=10, what="the end event")

        status, execution = api(daemon, token, "GET", f"/v1/executions/{exec_id}")
        assert status == 200 and execution["args"]["GREETING"] == "world", execution
        shot = browser.screenshot(artifacts / "web_page_execution.png")
        print(f"screenshot: {shot}")

        # Back on the list: the execution and the job's last state.
        browser.open(daemon.url + "/#/")
        exec_row = f'[data-execution="{exec_id}"]'
        browser.element(exec_row)
        wait_for(lambda: browser.text(f"{exec_row} .state") == "SUCCEEDED", timeout=10, what="the list")
        assert browser.text(f"{row} .state") == "SUCCEEDED"
        print(f"screenshot: {browser.screenshot(artifacts / 'web_page_list.png')}")

        # Sign out: the prompt, and the token is gone. A bad token: 401, the prompt again.
        browser.click("#sign-out")
        browser.element("#token-input")
        assert browser.js("return localStorage.getItem('automate.token')") is None
        browser.type("#token-input", "atk_not_a_token")
        browser.click("#token-save")
        wait_for(lambda: "401" in (browser.text("#login-error") or ""), timeout=10, what="the 401 prompt")
        assert browser.visible("#token-input") and not browser.visible("#list-view")

        errors = [line for line in browser.console() if "Uncaught" in line or "Content Security Policy" in line]
        assert not errors, "script errors in the page:\n" + "\n".join(errors)
    except BaseException:
        failed = artifacts / "web_page_failure.png"
        try:
            browser.screenshot(failed)
            print(f"screenshot of the failure: {failed}")
        except (OSError, WebDriverError):
            pass
        print("browser console:\n  " + "\n  ".join(browser.console()))
        print(f"daemon log ({daemon.log_path}):\n{daemon.log_path.read_text(errors='replace')[-4000:]}")
        raise
