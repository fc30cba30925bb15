"""The job that refreshes everything: one run of the whole graph.

Why one run, with a schedule and a sensor rather than declarative automation: the blocking checks
must gate publishing within the run that built the model, so a failure leaves the previous model
serving; asset-by-asset automation would publish from partial runs. The graph is a chain, so
separate processes per step would only add start-up time: the job runs in process.
"""

import dagster as dg

music_adviser_job = dg.define_asset_job(
    "music_adviser_job", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor,
    description="Refresh everything: chart rows -> features -> clean tracks -> model -> checks -> published bundle.",
)
