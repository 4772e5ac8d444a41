"""The live settings (`config/live.yml`), validated with pydantic before anything starts.

Every problem is reported at once, each naming its setting (``collector.burst: ...``); an
unknown setting is an error, not a silent default.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cible import settings


class LiveConfigError(ValueError):
    """The live configuration cannot be used; the message lists every problem found."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectorConfig(_Section):
    api_keys_file: str = "data/live/api_keys.json"
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_events_per_batch: int = Field(500, ge=1)
    requests_per_second_per_key: float = Field(200, gt=0)
    burst: int = Field(400, ge=1)
    max_text_length: int = Field(256, ge=16)
    future_tolerance_hours: float = Field(24, ge=0)
    earliest_plausible_date: date = date(1990, 1, 1)

    def api_keys_path(self) -> Path:
        path = Path(self.api_keys_file).expanduser()
        return path if path.is_absolute() else settings.home() / path


class BrokerConfig(_Section):
    queues: int = Field(4, ge=1, le=64)
    prefetch: int = Field(2000, ge=1)


class WorkerConfig(_Section):
    max_batch_events: int = Field(500, ge=1)
    landing_flush_events: int = Field(2000, ge=1)
    landing_flush_seconds: float = Field(1.0, gt=0)
    dedup_days: float = Field(7, gt=0)
    half_lives_hours: tuple[float, ...] = (1.0, 24.0, 168.0)

    @field_validator("half_lives_hours")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(h <= 0 for h in value) or len(set(value)) != len(value):
            raise ValueError("give one or more distinct positive numbers of hours")
        return value


class StoreConfig(_Section):
    key_prefix: str = Field("cible", pattern=r"^[A-Za-z0-9_.-]+$")
    anonymous_ttl_days: float = Field(395, gt=0, le=395)
    session_timeout_minutes: int = Field(30, ge=1)
    local_time_zone: str = "Europe/Paris"

    @field_validator("local_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value


class LiveConfig(_Section):
    version: int = Field(1, ge=1, le=1)
    collector: CollectorConfig = CollectorConfig()
    broker: BrokerConfig = BrokerConfig()
    worker: WorkerConfig = WorkerConfig()
    store: StoreConfig = StoreConfig()


def load_live_config(path: str | Path | None = None) -> LiveConfig:
    """Read and validate the live settings (default: ``CIBLE_LIVE_CONFIG``, else
    ``config/live.yml``).

    Raises:
        LiveConfigError: the file is missing, is not YAML, or has settings to fix (all listed).
    """
    path = Path(path) if path is not None else settings.live_config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise LiveConfigError(f"cannot read the live settings {path}: {error}") from error
    except yaml.YAMLError as error:
        raise LiveConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise LiveConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return LiveConfig.model_validate(data)
    except ValidationError as error:
        problems = [
            f"  {'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        ]
        raise LiveConfigError(f"{path} has settings to fix:\n" + "\n".join(problems)) from None
