"""``config/sources.yml``: how each source's files are written (encoding, separator, decimal
and thousands separators, date format, column names, value maps), validated before a load.
See docs/your_data.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from cible import settings
from cible.contract import SourceSpec
from cible.yaml_config import ConfigError, ConfigFile, Section, parse, read_yaml

Encoding = Literal["auto", "utf-8", "cp1252", "latin-1", "utf-16"]
Separator = Literal["auto", ",", ";", "\t", "|"]


class SourceFormat(Section):
    """How one source's files are written."""

    encoding: Encoding = "auto"
    separator: Separator = "auto"
    decimal_separator: Literal["auto", ".", ","] = "auto"
    thousands_separator: Literal["auto", "none", " ", ".", ",", "'"] = "auto"
    date_format: Literal["auto", "YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY"] = "auto"
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    # The currency of rows that leave `currency` empty (or of a file without the column);
    # staging treats an empty one as EUR.
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")


class Guards(Section):
    """When a load of a required source is refused as a likely failed export."""

    # Share of the rows a required source may lose since its last load.
    max_shrink_share: float = Field(default=0.5, ge=0, le=1)


class SourcesConfig(ConfigFile):
    """``config/sources.yml``: settings per landing source name, and the load guards."""

    sources: dict[str, SourceFormat] = Field(default_factory=dict)
    guards: Guards = Field(default_factory=Guards)

    def of(self, landing: str) -> SourceFormat:
        return self.sources.get(landing) or SourceFormat()

    def check(self, contract: Mapping[str, SourceSpec]) -> None:
        """Refuse names the contract does not know, every problem at once."""
        by_landing = {spec.landing: spec for spec in contract.values()}
        problems = []
        for name, fmt in self.sources.items():
            spec = by_landing.get(name)
            if spec is None:
                problems.append(
                    f"sources.{name}: not a source of the contract; one of "
                    f"{', '.join(sorted(by_landing))}"
                )
                continue
            for header, column in fmt.columns.items():
                if column not in spec.column_names:
                    problems.append(
                        f"sources.{name}.columns.{header}: {column!r} is not a column of "
                        f"{name}; one of {', '.join(spec.column_names)}"
                    )
            if fmt.currency is not None and "currency" not in spec.column_names:
                problems.append(f"sources.{name}.currency: {name} has no currency column")
            problems += [
                f"sources.{name}.values.{column}: not a column of {name}"
                for column in fmt.values
                if column not in spec.column_names
            ]
        if problems:
            raise ConfigError(problems, self.source)


def load_sources_config(path: Path | None = None) -> SourcesConfig:
    """Read ``config/sources.yml`` (or ``CIBLE_SOURCES_CONFIG``); absent means all ``auto``."""
    path = path if path is not None else settings.sources_config_path()
    if not path.exists():
        return SourcesConfig()
    data = read_yaml(path, f"set {settings.SOURCES_CONFIG_ENV}")
    return parse(SourcesConfig, data, str(path))


def column_aliases(fmt: SourceFormat) -> dict[str, str]:
    """File header (trimmed, lower case) -> contract column, from the settings."""
    return {header.strip().lower(): column for header, column in fmt.columns.items()}
