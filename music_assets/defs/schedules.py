"""The daily refresh. Schedules fire only while the dagster-daemon runs (docs/operations.md).

Its time comes from MUSIC_ADVISER_REFRESH_CRON (default 04:00 UTC), so operators choose it without
editing code, and the tests run the real schedule through a real daemon on a one-minute cron.
"""

import dagster as dg

from music_assets.defs.jobs import music_adviser_job
from music_assets.settings import Settings, SettingsError

DAILY_CRON = Settings.from_env().refresh_cron

try:
    daily_refresh = dg.ScheduleDefinition(
        name="daily_refresh", job=music_adviser_job, cron_schedule=DAILY_CRON, execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Refresh the whole graph every day (MUSIC_ADVISER_REFRESH_CRON, default 04:00 UTC); "
                    "unchanged inputs only cost a reread.",
    )
except dg.DagsterInvalidDefinitionError as exc:
    raise SettingsError(f"MUSIC_ADVISER_REFRESH_CRON={DAILY_CRON!r} is not a cron schedule: {exc}") from None
