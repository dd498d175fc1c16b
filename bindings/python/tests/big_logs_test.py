"""100 MB of logs iterated in bounded memory: records are read about 1 MiB
at a time, so the process's resident size stays far below the log's size."""

import pytest

from conftest import local_job, unique_name, vm_rss_bytes

MB100 = 100 * 1024 * 1024
# 100 MiB of 'a' in lines of 1,000 characters (the last one without '\n').
COMMAND = f"head -c {MB100} /dev/zero | tr '\\0' a | fold -w 1000"
LINES = -(-MB100 // 1000)
LOG_BYTES = MB100 + LINES - 1
BOUND = 48 * 1024 * 1024  # Growth allowed while iterating: under half the log.


def iterate(stream, sample_every=2000):
    """Counts bytes of data and 'a's; returns (bytes, a's, records, peak RSS growth)."""
    base = peak = vm_rss_bytes()
    total = letters = records = 0
    for record in stream:
        data = record.data
        total += len(data)
        letters += data.count(b"a")
        records += 1
        if records % sample_every == 0:
            peak = max(peak, vm_rss_bytes())
    return total, letters, records, max(peak, vm_rss_bytes()) - base


@pytest.fixture
def big_job(backend):
    name = unique_name("big")
    backend.apply(local_job(name, COMMAND, log_limit={"bytes": "200Mi", "action": "fail"}))
    return name


def test_100_mb_stored_log(backend, big_job):
    ex = backend.run(big_job).wait(timeout=300)
    assert ex.state == "succeeded", ex.error
    assert ex.log_bytes == LOG_BYTES
    total, letters, records, growth = iterate(ex.logs())
    assert (total, letters) == (LOG_BYTES, MB100)
    assert records >= LINES
    assert growth < BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over a 100 MiB log"


def test_100_mb_followed_live(backend, big_job):
    ex = backend.run(big_job)
    total, letters, records, growth = iterate(ex.logs(follow=True))
    assert (total, letters) == (LOG_BYTES, MB100)
    assert growth < BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over a 100 MiB log"
    assert ex.wait(timeout=300).state == "succeeded"


def test_100_mb_as_lines(backend, big_job):
    ex = backend.run(big_job).wait(timeout=300)
    base = vm_rss_bytes()
    count = 0
    for line in ex.logs().lines():
        count += 1
        assert line == "a" * 1000 or count == LINES
    assert count == LINES
    assert vm_rss_bytes() - base < BOUND
