"""Settings read from the environment: the demo switch and the first event partition."""

import pytest

from cible import settings


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, True),
        ({"CIBLE_LANDING_DIR": "/data/mine"}, False),
        ({"CIBLE_LANDING_DIR": "/data/mine", "CIBLE_DEMO": "1"}, True),
        ({"CIBLE_DEMO": "0"}, False),
    ],
)
def test_demo_is_on_only_for_the_default_landing_folder(monkeypatch, environment, expected):
    monkeypatch.delenv("CIBLE_LANDING_DIR", raising=False)
    monkeypatch.delenv("CIBLE_DEMO", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert settings.demo_enabled() is expected


def test_a_malformed_first_event_partition_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CIBLE_EVENT_PARTITIONS_START", "2026-10-01")
    assert settings.event_partitions_start() == "2026-10-01"
    monkeypatch.setenv("CIBLE_EVENT_PARTITIONS_START", "01/10/2026")
    with pytest.raises(
        ValueError, match=r"CIBLE_EVENT_PARTITIONS_START must be a day as YYYY-MM-DD"
    ):
        settings.event_partitions_start()


@pytest.mark.parametrize("value", ["-1", "three", "2.5", "400"])
def test_a_malformed_event_lookback_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("CIBLE_EVENT_LOOKBACK_DAYS", "7")
    assert settings.event_lookback_days() == 7
    monkeypatch.delenv("CIBLE_EVENT_LOOKBACK_DAYS")
    assert settings.event_lookback_days() == 3
    monkeypatch.setenv("CIBLE_EVENT_LOOKBACK_DAYS", value)
    with pytest.raises(ValueError, match=r"CIBLE_EVENT_LOOKBACK_DAYS must be a whole number"):
        settings.event_lookback_days()


def test_a_warehouse_setting_is_resolved_against_the_home(monkeypatch, tmp_path):
    monkeypatch.setenv("CIBLE_HOME", str(tmp_path))
    monkeypatch.setenv("CIBLE_WAREHOUSE", "from/env.duckdb")
    assert settings.warehouse_path() == tmp_path / "from" / "env.duckdb"
    # A resource's own value wins over the environment.
    assert settings.warehouse_path("given.duckdb") == tmp_path / "given.duckdb"
    elsewhere = tmp_path.parent / "elsewhere.duckdb"
    assert settings.warehouse_path(str(elsewhere)) == elsewhere
