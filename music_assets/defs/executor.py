"""Every run of this code location executes its steps in one process, `dagster asset materialize`
and the UI's ad hoc materializations included, not only music_adviser_job.

Why: the graph is a chain, so step processes would only add start-up time; and the data folder's
lock (music_assets/data_lock.py) is taken once per run by the `store` resource and held until the
run ends, which covers every step only when they share one process (with a process per step each
would take and release it, and another run could slip in between two of them).
"""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
