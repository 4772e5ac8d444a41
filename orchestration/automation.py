"""Jobs, schedules and sensors: what runs when, without anyone clicking.

- `daily_refresh` (every morning, yesterday's event partition): load new landing files,
  build the warehouse, assign segments and score customers with the published models;
- `weekly_recalibration` (Monday night): re-cluster and retrain, then re-score and publish;
- `landing_files_sensor`: new or changed landing files start a load and everything downstream,
  once per file;
- `run_failure_recorder`: every failed run is recorded (a JSON line in `data/ops/`) and posted
  to `CIBLE_ALERT_WEBHOOK` when one is set.
Assets that only the weekly run should touch carry the tag `cible/cadence: weekly`.
"""

import hashlib
import json
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from cible.orchestration.ingest import raw_table_keys
from cible.orchestration.partitions import every_event_partition
from cible.orchestration.segmentation import RECLUSTER_RUN_CONFIG, recluster_selection
from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    run_failure_sensor,
    sensor,
)
from dagster_dbt import DbtProject

from cible import settings
from cible.loader import SUFFIXES

CADENCE_TAG = "cible/cadence"
WEEKLY_ONLY = AssetSelection.tag(CADENCE_TAG, "weekly")
TIME_ZONE = "Europe/Paris"


def build_jobs(
    raw_table_keys: Iterable[AssetKey],
    recluster: AssetSelection,
    recluster_config: dict | None = None,
):
    """The daily, weekly and load-and-build jobs, from asset selections.

    Args:
        raw_table_keys: the loader's assets, where a refresh starts.
        recluster: the segmentation step, which the weekly run refits (the daily run applies
            the published model, and refits only a model past its age).
        recluster_config: run config forcing that refit.
    """
    everything_after_load = AssetSelection.assets(*raw_table_keys).downstream()
    daily = define_asset_job(
        name="daily_refresh",
        selection=everything_after_load - WEEKLY_ONLY,
        description="Load new landing files, build the warehouse for yesterday's events and "
        "score customers with the published models.",
        tags={"dagster/max_retries": "1"},
    )
    weekly = define_asset_job(
        name="weekly_recalibration",
        selection=(WEEKLY_ONLY | recluster).downstream(),
        config=recluster_config,
        description="Re-cluster customers and retrain the scoring models, then publish.",
        tags={"dagster/max_retries": "1"},
    )
    load_and_build = define_asset_job(
        name="load_and_build",
        selection=everything_after_load - WEEKLY_ONLY,
        description="Load the landing files and rebuild everything downstream (every event "
        "partition in one run).",
    )
    return daily, weekly, load_and_build


def build_schedules(daily, weekly) -> list[ScheduleDefinition]:
    return [
        build_schedule_from_partitioned_job(
            daily,
            name="daily_refresh_schedule",
            hour_of_day=6,
            minute_of_hour=0,
            description="Every day at 06:00 (UTC) for the day before.",
            default_status=DefaultScheduleStatus.RUNNING,
        ),
        ScheduleDefinition(
            name="weekly_recalibration_schedule",
            job=weekly,
            cron_schedule="0 3 * * 1",
            execution_timezone=TIME_ZONE,
            description="Every Monday at 03:00 (Paris).",
            default_status=DefaultScheduleStatus.RUNNING,
        ),
    ]


def loaded_since(instance, raw_key: AssetKey) -> float | None:
    """When the run that last loaded the raw tables started (epoch seconds), if ever."""
    event = instance.get_latest_materialization_event(raw_key)
    if event is None:
        return None
    record = instance.get_run_record_by_id(event.run_id)
    return record.start_time if record is not None and record.start_time else event.timestamp


def landing_fingerprints(landing: Path) -> dict[str, str]:
    """Every data file of the landing folder with its size and modification time."""
    if not landing.exists():
        return {}
    fingerprints = {}
    for path in sorted(landing.rglob("*")):
        if path.is_file() and any(path.name.endswith(suffix) for suffix, _ in SUFFIXES):
            stat = path.stat()
            relative = path.relative_to(landing).as_posix()
            fingerprints[relative] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return fingerprints


def new_landing_files(
    previous: dict[str, str], current: dict[str, str], loaded_after: float | None = None
) -> list[str]:
    """Files new or changed since the previous look, and not yet loaded.

    A file written before the last load started (the demo generator's, for one) was loaded by
    it and starts no second run.
    """
    changed = (name for name, print_ in current.items() if previous.get(name) != print_)
    if loaded_after is None:
        return sorted(changed)
    return sorted(name for name in changed if int(current[name].split(":")[1]) / 1e9 > loaded_after)


def build_landing_files_sensor(job, raw_key: AssetKey) -> object:
    @sensor(
        name="landing_files_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="New or changed landing files start a load and everything downstream.",
    )
    def landing_files_sensor(context: SensorEvaluationContext):
        # The demo generator marks its landing folder; the demo assets load it themselves.
        if (settings.landing_dir() / settings.DEMO_MARKER).exists():
            return SkipReason("the landing folder holds the demo, loaded by the demo assets")
        previous = json.loads(context.cursor) if context.cursor else {}
        current = landing_fingerprints(settings.landing_dir())
        arrived = new_landing_files(previous, current, loaded_since(context.instance, raw_key))
        context.update_cursor(json.dumps(current, sort_keys=True))
        if not arrived:
            return SkipReason(f"no new file in {settings.landing_dir()}")
        key = hashlib.sha256(
            json.dumps({name: current[name] for name in arrived}, sort_keys=True).encode()
        ).hexdigest()[:16]
        return RunRequest(
            run_key=f"landing-{key}",
            tags={"cible/landing_files": ", ".join(arrived)[:1000], **every_event_partition()},
        )

    return landing_files_sensor


def failure_record(context: RunFailureSensorContext) -> dict[str, object]:
    """What is kept of a failed run: enough to find it and act."""
    run = context.dagster_run
    failed_steps = [event.step_key for event in context.get_step_failure_events() if event.step_key]
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "job_name": run.job_name,
        "failed_steps": failed_steps,
        "message": context.failure_event.message,
        "tags": {key: value for key, value in run.tags.items() if not key.startswith(".")},
    }


def record_failure(record: dict[str, object]) -> Path:
    """Append a failure record to `<ops dir>/run_failures.jsonl`; post it to the webhook."""
    folder = settings.ops_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "run_failures.jsonl"
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    webhook = settings.alert_webhook()
    if webhook:
        request = urllib.request.Request(
            webhook,
            data=json.dumps(
                {"text": f"Cible run failed: {record['job_name']}", **record}, default=str
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    return log


@run_failure_sensor(
    name="run_failure_recorder",
    default_status=DefaultSensorStatus.RUNNING,
    description="Records every failed run and posts it to CIBLE_ALERT_WEBHOOK when set.",
)
def run_failure_recorder(context: RunFailureSensorContext):
    record_failure(failure_record(context))


def build_automation_definitions(project: DbtProject) -> Definitions:
    """The jobs, their schedules and the sensors, over the assets of the other rooms."""
    raw_keys = list(raw_table_keys(project).values())
    daily, weekly, load_and_build = build_jobs(
        raw_keys, recluster=recluster_selection(project), recluster_config=RECLUSTER_RUN_CONFIG
    )
    return Definitions(
        jobs=[daily, weekly, load_and_build],
        schedules=build_schedules(daily, weekly),
        sensors=[build_landing_files_sensor(load_and_build, raw_keys[0]), run_failure_recorder],
    )
