"""Daily partitions of event data, and how a partition becomes dbt vars."""

from datetime import datetime

from dagster import BackfillPolicy, DailyPartitionsDefinition

from cible import settings

# From `CIBLE_EVENT_PARTITIONS_START` (your first event day). Events before it are processed
# only by builds without a window.
event_partitions = DailyPartitionsDefinition(
    start_date=settings.event_partitions_start(), timezone="UTC"
)

# A range of days (a backfill, "Materialize all") runs as one dbt invocation over the whole
# window instead of one run per day. Unpartitioned assets carry the same policy: the CLI runs
# a partition range only when every selected asset does.
event_backfill_policy = BackfillPolicy.single_run()


def event_window_vars(start: datetime, end: datetime) -> dict[str, str]:
    """dbt vars selecting the events that happened in [start, end)."""
    if end <= start:
        raise ValueError(f"empty event window: {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    return {
        "event_window_start": start.strftime("%Y-%m-%d %H:%M:%S"),
        "event_window_end": end.strftime("%Y-%m-%d %H:%M:%S"),
    }


def every_event_partition() -> dict[str, str]:
    """Run tags selecting every event partition in one run, as "Materialize all" does."""
    return {
        "dagster/asset_partition_range_start": event_partitions.get_first_partition_key(),
        "dagster/asset_partition_range_end": event_partitions.get_last_partition_key(),
    }
