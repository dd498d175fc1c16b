"""pytest hooks shared by the Python suites (tests/integration and
bindings/python/tests): a skipped test is a failure. Every test must run (CI
installs what they need), so a skip can only hide a missing dependency.
A conftest.py takes them with `from skips import *`."""

__all__ = ["pytest_runtest_logreport", "pytest_sessionfinish"]

_SKIPPED = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED:
        print(f"\n{len(_SKIPPED)} test(s) skipped, which counts as a failure: {_SKIPPED[:5]}")
        session.exitstatus = 1
