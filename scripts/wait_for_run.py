"""Wait for a launched Dagster run to finish; print its step timings and the lines worth reading.

    python scripts/wait_for_run.py RUN_ID [--timeout 1800]

Used by scripts/demo.sh, which launches the job through the instance's run queue (so the run has
an origin and shows in the UI's runs and timeline) and then waits here. Exit status 0 when the
run succeeded, 1 when it failed or was canceled, 2 on time-out.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import dagster as dg

WORTH_READING = re.compile(r"elbow rule chose|published model|built model|model quality of")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    instance = dg.DagsterInstance.get()
    deadline = time.monotonic() + args.timeout
    while True:
        run = instance.get_run_by_id(args.run_id)
        if run is not None and run.is_finished:
            break
        if time.monotonic() > deadline:
            print(f"run {args.run_id} still {run.status.value if run else 'not found'} after {args.timeout:.0f} s",
                  file=sys.stderr)
            return 2
        time.sleep(1.0)
    for record in instance.get_records_for_run(args.run_id).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            print(f"  step {event.step_key} in {event.event_specific_data.duration_ms / 1000:.1f} s")
        elif event is not None and event.event_type == dg.DagsterEventType.STEP_FAILURE:
            print(f"  step {event.step_key} FAILED: {event.event_specific_data.error.message.strip()}", file=sys.stderr)
        elif entry.user_message and WORTH_READING.search(entry.user_message):
            print(f"  {entry.user_message.splitlines()[0]}")
    status = instance.get_run_by_id(args.run_id).status
    print(f"run {args.run_id}: {status.value}")
    return 0 if status == dg.DagsterRunStatus.SUCCESS else 1


if __name__ == "__main__":
    raise SystemExit(main())
