"""The privacy settings (`config/privacy.yml`), validated on the house's config base
(`cible/yaml_config.py`: every problem listed with its key path)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from cible import settings
from cible.yaml_config import ConfigError, ConfigFile, Section, parse, read_yaml

PrivacyConfigError = ConfigError


class RetentionConfig(Section):
    enabled: bool = True
    months_without_contact: int = Field(36, ge=1, le=240)
    campaign_contact_events: tuple[str, ...] = ("click", "conversion")


class PrivacyConfig(ConfigFile):
    version: int = Field(1, ge=1, le=1)
    retention: RetentionConfig = RetentionConfig()


def load_privacy_config(path: str | Path | None = None) -> PrivacyConfig:
    """Read and validate the privacy settings (default: ``CIBLE_PRIVACY_CONFIG``, else
    ``config/privacy.yml``).

    Raises:
        ConfigError: the file is missing, is not YAML, or has settings to fix (all listed).
    """
    path = Path(path) if path is not None else settings.privacy_config_path()
    data = read_yaml(path, f"set {settings.PRIVACY_CONFIG_ENV} or restore config/privacy.yml")
    return parse(PrivacyConfig, data, str(path))
