"""wait_for(), shared by the CLI/daemon suite (tests/integration) and the
Python bindings' suite (bindings/python/tests), which has this directory on
sys.path."""
import time


def wait_for(predicate, timeout=15.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value and returns that;
    fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
