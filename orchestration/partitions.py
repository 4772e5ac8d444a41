"""Daily partitions of event data, and how a partition becomes a dbt event window."""

from datetime import UTC, datetime

from dagster import BackfillPolicy, DailyPartitionsDefinition

from cible import settings
from cible.dbt_cli import EVENT_WINDOW_ENV

# From `CIBLE_EVENT_PARTITIONS_START`. The first partition also takes every event before it,
# and the latest every event after it (today's, before the schedule), so that no event in raw
# is left out of the event tables whatever the history's true start (issue #13).
event_partitions = DailyPartitionsDefinition(
    start_date=settings.event_partitions_start(), timezone="UTC"
)
# The open ends of the first and latest windows, as far as every engine's timestamps reach.
OPEN_START = datetime(1900, 1, 1)
OPEN_END = datetime(9999, 1, 1)

# A range of days (a backfill, "Materialize all") runs as one dbt invocation over the whole
# window instead of one run per day. Unpartitioned assets carry the same policy: the CLI runs
# a partition range only when every selected asset does.
event_backfill_policy = BackfillPolicy.single_run()


def event_window_vars(
    start: datetime, end: datetime, today: datetime | None = None
) -> dict[str, str]:
    """dbt vars selecting the events that happened in [start, end); a window from the first
    partition starts at :data:`OPEN_START`, one that reaches today ends at :data:`OPEN_END`.

    A window open at both ends (every partition, as "Materialize all" and a first `cible run`
    select them) is no window: the event models rebuild their tables whole, as a build without
    dbt vars does. At 1M customers (20M events) the window open at both ends ran out of
    DuckDB's 3 GB in `int_events_attributed` where the rebuild passes in about a minute
    (benchmarks/pipeline.py, 2026-12-07).
    """
    if end <= start:
        raise ValueError(f"empty event window: {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    first = datetime.strptime(settings.event_partitions_start(), "%Y-%m-%d")
    today = (today or datetime.now(UTC)).replace(tzinfo=None)
    today = today.replace(hour=0, minute=0, second=0, microsecond=0)
    if start <= first:
        start = OPEN_START
    if end >= today:
        end = OPEN_END
    if (start, end) == (OPEN_START, OPEN_END):
        return {}
    return {
        "event_window_start": start.strftime("%Y-%m-%d %H:%M:%S"),
        "event_window_end": end.strftime("%Y-%m-%d %H:%M:%S"),
    }


def event_window_environment(
    start: datetime, end: datetime, today: datetime | None = None
) -> dict[str, str]:
    """The environment of a dbt process selecting the events that happened in [start, end)
    (the vars of :func:`event_window_vars`, under the names of :data:`EVENT_WINDOW_ENV`)."""
    variables = event_window_vars(start, end, today)
    return {EVENT_WINDOW_ENV[name]: value for name, value in variables.items()}


def every_event_partition() -> dict[str, str]:
    """Run tags selecting every event partition in one run, as "Materialize all" does."""
    return {
        "dagster/asset_partition_range_start": event_partitions.get_first_partition_key(),
        "dagster/asset_partition_range_end": event_partitions.get_last_partition_key(),
    }
