"""Schedules, the landing-files sensor and the run-failure recorder, evaluated for real."""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from cible.orchestration.automation import landing_fingerprints, new_landing_files
from cible.orchestration.definitions import build_definitions
from cible.orchestration.resources import WarehouseResource
from dagster import (
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    materialize,
)
from pipeline_support import SMALL_DATA_SCORING_CONFIG


@pytest.fixture
def definitions(tmp_path, monkeypatch):
    monkeypatch.setenv("CIBLE_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CIBLE_OPS_DIR", str(tmp_path / "ops"))
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CIBLE_SCORING_CONFIG", str(SMALL_DATA_SCORING_CONFIG))
    (tmp_path / "landing").mkdir()
    return build_definitions(with_demo=False)


def test_fingerprints_see_new_and_changed_data_files_only(tmp_path):
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    (landing / "orders.csv").write_text("order_id\n1\n")
    (landing / "events" / "part-1.parquet").write_bytes(b"x")
    (landing / "notes.txt").write_text("not data")
    first = landing_fingerprints(landing)
    assert sorted(first) == ["events/part-1.parquet", "orders.csv"]
    assert new_landing_files({}, first) == ["events/part-1.parquet", "orders.csv"]
    assert new_landing_files(first, first) == []
    (landing / "orders.csv").write_text("order_id\n1\n2\n")
    second = landing_fingerprints(landing)
    assert new_landing_files(first, second) == ["orders.csv"]
    # Written before the last load started: that load read it, no second run.
    written_at = int(second["orders.csv"].split(":")[1]) / 1e9
    assert new_landing_files(first, second, loaded_after=written_at + 1) == []
    assert new_landing_files(first, second, loaded_after=written_at - 1) == ["orders.csv"]


def test_landing_sensor_requests_one_run_per_new_file(definitions, tmp_path):
    sensor = definitions.resolve_sensor_def("landing_files_sensor")
    landing = tmp_path / "landing"
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, definitions=definitions)
        assert isinstance(sensor(context), SkipReason)
        (landing / "customers.csv").write_text("customer_number\nC1\n")
        (landing / "orders.csv").write_text("order_id,customer_number,ordered_at,amount\n")
        first = sensor(context)
        assert isinstance(first, RunRequest)
        assert first.tags["cible/landing_files"] == "customers.csv, orders.csv"
        assert "dagster/asset_partition_range_start" in first.tags
        context = build_sensor_context(
            instance=instance, definitions=definitions, cursor=context.cursor
        )
        assert isinstance(sensor(context), SkipReason), "a file seen once starts no second run"
        (landing / "orders.csv").write_text(
            "order_id,customer_number,ordered_at,amount\nO1,C1,x,1\n"
        )
        second = sensor(context)
        assert isinstance(second, RunRequest)
        assert second.tags["cible/landing_files"] == "orders.csv"
        assert second.run_key != first.run_key
        (landing / ".cible_demo").write_text("")
        (landing / "consents.csv").write_text("consent_event_id\n")
        assert isinstance(sensor(context), SkipReason), "the demo folder is the demo's to load"


def test_daily_schedule_runs_yesterdays_event_partition(definitions):
    schedule = definitions.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [request.partition_key for request in requests] == ["2026-11-02"]
    weekly = definitions.resolve_schedule_def("weekly_recalibration_schedule")
    assert weekly.cron_schedule == "0 3 * * 1"
    assert weekly.execution_timezone == "Europe/Paris"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failed_run_is_recorded_and_posted_to_the_webhook(definitions, tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CIBLE_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    # The landing folder has no orders: the loader fails the run with a clear message.
    (tmp_path / "landing" / "customers.csv").write_text("customer_number\nC1\n")
    raw_tables = next(
        a for a in definitions.assets if getattr(a, "op", None) and a.op.name == "raw_tables"
    )
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [raw_tables],
            resources={"warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))},
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [
            entry.dagster_event
            for entry in instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        ]
        sensor = definitions.resolve_sensor_def("run_failure_recorder")
        context = build_run_status_sensor_context(
            sensor_name="run_failure_recorder",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        sensor(context)
    server.shutdown()
    records = [json.loads(line) for line in (tmp_path / "ops" / "run_failures.jsonl").open()]
    assert [record["run_id"] for record in records] == [result.run_id]
    assert records[0]["failed_steps"] == ["raw_tables"]
    assert len(_Hook.received) == 1
    assert _Hook.received[0]["run_id"] == result.run_id
    assert "Cible run failed" in _Hook.received[0]["text"]


def test_daily_scores_with_published_models_and_weekly_recalibrates(definitions):
    def keys(job_name: str) -> set[str]:
        job = definitions.resolve_job_def(job_name)
        return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}

    daily, weekly = keys("daily_refresh"), keys("weekly_recalibration")
    assert {
        "raw/crm/customers",
        "marts/fct_customer_features",
        "ml/scoring/customer_scores",
        "ml/segmentation/segment_assignments",
        "marts/fct_customer_scores",
    } <= daily
    assert "ml/scoring/model_registry" not in daily, "training is weekly"
    assert {
        "ml/scoring/model_registry",
        "ml/segmentation/segment_assignments",
        "ml/scoring/customer_scores",
        "marts/dim_segments",
    } <= weekly
    assert not any(key.startswith("raw/") for key in weekly)
    # The weekly run refits the segmentation model; the daily one applies the published one.
    assert definitions.resolve_job_def("weekly_recalibration").run_config == {
        "ops": {"customer_segments": {"config": {"refit": True}}}
    }
    assert not definitions.resolve_job_def("daily_refresh").run_config
