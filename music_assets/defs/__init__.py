"""The Dagster definitions (orchestration layer), loaded by dg.load_from_defs_folder: assets/ holds
one file per pipeline stage; checks, jobs, schedules, sensors and resources sit beside them."""
