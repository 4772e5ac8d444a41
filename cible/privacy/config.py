"""The privacy settings (`config/privacy.yml`), validated with pydantic."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cible import settings
from cible.config_files import load_yaml_model


class PrivacyConfigError(ValueError):
    """The privacy configuration cannot be used; the message lists every problem found."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionConfig(_Section):
    enabled: bool = True
    months_without_contact: int = Field(36, ge=1, le=240)
    campaign_contact_events: tuple[str, ...] = ("click", "conversion")


class PrivacyConfig(_Section):
    version: int = Field(1, ge=1, le=1)
    retention: RetentionConfig = RetentionConfig()


def load_privacy_config(path: str | Path | None = None) -> PrivacyConfig:
    """Read and validate the privacy settings (default: ``CIBLE_PRIVACY_CONFIG``, else
    ``config/privacy.yml``)."""
    path = Path(path) if path is not None else settings.privacy_config_path()
    return load_yaml_model(path, PrivacyConfig, PrivacyConfigError, "privacy settings")
