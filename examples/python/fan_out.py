#!/usr/bin/python3
"""Fan out: run one parameterised job over many targets, a few at a time,
show the logs of the ones that failed, and print a summary table.

The same script works on an embedded engine (a local state dir) or on an
automated server; only the line that makes `backend` differs:

    PYTHONPATH=build/dev/python examples/python/fan_out.py --state-dir /tmp/fan-out
    PYTHONPATH=build/dev/python examples/python/fan_out.py \\
        --server http://127.0.0.1:8420 --token "$AUTOMATE_TOKEN"

The job ("check-target") pretends to check a host: it prints what it does,
takes a moment, and fails for every target whose number is a multiple of 7
(as a real fleet has a few broken hosts), also when retried. Exit status: 0 if every target
succeeded, 1 otherwise.
"""

import argparse
import concurrent.futures
import os
import sys
import time
from typing import Any

import automate

JOB: dict[str, Any] = {
    "name": "check-target",
    "description": "Check one target (a demo: multiples of 7 fail)",
    "executor": {"local": {"command": ["/bin/sh", "-c", """
        echo "checking $TARGET on port $PORT"
        sleep 0.2
        n=$(echo "$TARGET" | sed 's/.*-0*//')
        if [ $((n % 7)) -eq 0 ]; then
          echo "$TARGET: connection refused on port $PORT" >&2
          exit 2
        fi
        echo "$TARGET: ok"
    """]}},
    "params": [
        {"name": "TARGET", "required": True, "pattern": "^[a-z0-9-]+$",
         "description": "host to check"},
        {"name": "PORT", "default": "22", "pattern": "^[0-9]+$"},
    ],
    "timeout": "1m",
    "retry": {"max_attempts": 2, "initial_backoff": "100ms"},  # one retry per failure
    "labels": {"example": "fan-out"},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", help="embed an engine on this state dir "
                       "(default: automate.default_state_dir())")
    where.add_argument("--server", default=os.environ.get("AUTOMATE_SERVER"),
                       help="use this automated server (default $AUTOMATE_SERVER)")
    parser.add_argument("--token", default=os.environ.get("AUTOMATE_TOKEN"),
                        help="token for --server (default $AUTOMATE_TOKEN)")
    parser.add_argument("--targets", type=int, default=20, help="how many targets (20)")
    parser.add_argument("--concurrency", type=int, default=4, help="runs at once (4)")
    return parser.parse_args()


def check(backend: automate.BaseEngine, target: str) -> tuple[str, automate.Execution]:
    """Runs the job for one target and waits for it (in a worker thread)."""
    return target, backend.run(JOB["name"], TARGET=target).wait(timeout=300)


def main() -> int:
    args = parse_args()
    # The one line that differs between a local engine and a server:
    backend = (automate.Client(args.server, args.token) if args.server
               else automate.Engine(args.state_dir))
    with backend:
        [job] = backend.apply(JOB)
        print(f"{backend!r}: job {job.name} version {job.version}", file=sys.stderr)
        targets = [f"host-{i:02d}" for i in range(1, args.targets + 1)]
        started = time.monotonic()
        results: dict[str, automate.Execution] = {}
        # Bounded concurrency: at most --concurrency runs in flight. (The job's
        # own `concurrency: {limit: N}` would bound it for every client.)
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = [pool.submit(check, backend, t) for t in targets]
            for future in concurrent.futures.as_completed(futures):
                target, execution = future.result()
                results[target] = execution
                print(f"  {target}: {execution.state}", file=sys.stderr)
        elapsed = time.monotonic() - started

        failed = [t for t in targets if not results[t].succeeded]
        for target in failed:
            execution = results[target]
            print(f"\n--- {target} ({execution.id}) {execution.state} after "
                  f"{len(execution.attempts)} attempts; its output:")
            for record in execution.logs():
                if record.stream != "system":
                    print(f"    {record.stream}: {record.text.rstrip()}")

        print(f"\n{'TARGET':<10} {'STATE':<10} {'EXIT':>4} {'SECONDS':>8} {'ATTEMPTS':>8}  EXECUTION")
        for target in targets:
            e = results[target]
            exit_code = "-" if e.exit_code is None else str(e.exit_code)
            seconds = "-" if e.duration is None else f"{e.duration:.2f}"
            print(f"{target:<10} {e.state:<10} {exit_code:>4} {seconds:>8} {len(e.attempts):>8}  {e.id}")
        print(f"\n{len(targets) - len(failed)} succeeded, {len(failed)} failed, "
              f"{len(targets)} targets in {elapsed:.1f} s with {args.concurrency} at a time")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except automate.Error as e:
        print(f"fan_out: {e}", file=sys.stderr)
        sys.exit(2)
