"""Several Python threads at once: the GIL is released in every blocking
call, so runs from 8 threads overlap, and one Execution or LogStream may be
shared by threads."""

import threading
import time

from conftest import local_job, unique_name


def run_threads(n, target):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
        assert not t.is_alive(), "a thread hung"
    assert not errors, errors


def test_runs_from_8_threads_at_once(backend):
    name = unique_name()
    backend.apply(local_job(name, 'echo "$I"', params=[{"name": "I", "required": True}]))
    per_thread, results = 10, {}
    barrier = threading.Barrier(8)

    def worker(t):
        barrier.wait()
        for i in range(per_thread):
            ex = backend.run(name, I=f"{t}-{i}").wait(timeout=120)
            results[(t, i)] = (ex.id, ex.state, list(ex.logs().lines()))

    run_threads(8, worker)
    assert len(results) == 8 * per_thread
    assert len({id_ for id_, _, _ in results.values()}) == 8 * per_thread
    for (t, i), (_, state, lines) in results.items():
        assert (state, lines) == ("succeeded", [f"{t}-{i}"])
    assert len(backend.history(name, limit=1000)) == 8 * per_thread


def test_waits_in_8_threads_overlap(backend):
    # Each run takes 1 s; 8 threads waiting with the GIL held would take 8 s.
    name = unique_name()
    backend.apply(local_job(name, "sleep 1"))
    t0 = time.monotonic()
    run_threads(8, lambda i: backend.run(name).wait(timeout=60))
    assert time.monotonic() - t0 < 5


def test_other_threads_run_while_one_blocks(backend):
    name = unique_name()
    backend.apply(local_job(name, "echo a; sleep 1; echo b"))
    ticks, stop = [0], threading.Event()

    def ticker():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        ex = backend.run(name)
        before = ticks[0]
        assert [r.data for r in ex.logs(follow=True)] == [b"a\n", b"b\n"]  # ~1 s in follow
        during_follow = ticks[0] - before
        ex2 = backend.run(name)
        before = ticks[0]
        ex2.wait(timeout=30)  # ~1 s in wait
        during_wait = ticks[0] - before
    finally:
        stop.set()
        t.join()
    assert during_follow > 100 and during_wait > 100, (during_follow, during_wait)


def test_one_execution_and_one_log_stream_shared_by_threads(backend):
    name = unique_name()
    backend.apply(local_job(name, "for i in $(seq 1 2000); do echo line-$i; done; sleep 0.5"))
    ex = backend.run(name)
    stream = ex.logs(follow=True)
    seen = [[] for _ in range(4)]

    def reader(i):
        for record in stream:
            seen[i].append((record.offset, record.data))

    def waiter(i):
        assert ex.wait(timeout=60).state == "succeeded"

    run_threads(8, lambda i: reader(i) if i < 4 else waiter(i))
    records = sorted(r for s in seen for r in s)
    offsets = [o for o, _ in records]
    assert len(offsets) == len(set(offsets)), "no record was returned twice"
    assert b"".join(d for _, d in records) == b"".join(
        f"line-{i}\n".encode() for i in range(1, 2001))
    assert ex.state == "succeeded"
