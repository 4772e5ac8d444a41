"""The audiences (`config/audiences.yml`), validated on the house's config base
(`cible/yaml_config.py`: every problem listed with its key path).

An audience is a segment, optional filters on feature or score columns (the rule-segment
condition syntax, `ml/segmentation/rules.py`), a purpose whose consent is required, a
destination, a holdout share and a schedule. Segments and columns are checked twice: against
the segmentation config when the file is read, and against the warehouse before an export.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cible import settings
from cible.ml.segmentation import rules
from cible.yaml_config import ConfigError, ConfigFile, Section, at, items, parse, read_yaml

PURPOSES = ("email", "sms", "ads")
# The contact column each purpose needs, and the identifier kind it is normalised as.
CONTACT_COLUMN = {"email": "email", "sms": "phone_e164", "ads": "email"}
# Clustering segments are numbered by the segmentation step (`ml/segmentation/identity.py`);
# whether a number exists is known only from the warehouse (`dim_segments`).
CLUSTER_ID = re.compile(r"cluster_\d{2,}")
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class Destination(Section):
    """Where an audience goes: files for a campaign tool, or an HTTP webhook."""

    type: Literal["file", "webhook"] = "file"
    # plain: the e-mail or phone as is (an e-mail service provider); hmac_sha256: the keyed
    # hash of the normalised value (ad platforms; recipe in docs/activation.md).
    identifier: Literal["plain", "hmac_sha256"] = "plain"
    formats: tuple[Literal["csv", "parquet"], ...] = Field(("csv", "parquet"), min_length=1)
    # Webhook only: the endpoint, or the name of an environment variable holding it.
    url: str | None = None
    url_env: str | None = None
    batch_size: int = Field(500, ge=1, le=100_000)
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_seconds: float = Field(0.5, ge=0, le=60)
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _webhook_has_an_endpoint(self) -> Destination:
        if self.type == "webhook" and not (self.url or self.url_env):
            raise ValueError("a webhook destination needs url or url_env (a variable naming it)")
        if self.type == "file" and (self.url or self.url_env):
            raise ValueError("url and url_env are for type: webhook; remove them or set the type")
        return self

    @property
    def name(self) -> str:
        """How the manifest names it: the endpoint setting or the file formats."""
        if self.type == "webhook":
            return (self.url_env and f"env:{self.url_env}") or str(self.url)
        return "file:" + "+".join(self.formats)


class Audience(Section):
    """One audience: who, for which purpose, where, with which holdout, how often."""

    name: str
    description: str = ""
    segment: str
    # A condition on columns of marts.fct_customer_features or marts.fct_customer_scores.
    filters: dict[str, Any] | None = None
    purpose: Literal["email", "sms", "ads"]
    destination: Destination = Destination()
    mode: Literal["full", "delta"] = "full"
    holdout_share: float = Field(0.1, ge=0, le=0.5)
    schedule: Literal["daily", "weekly"] = "daily"
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(
                f"{value!r}: use lower-case letters, digits and _ (a file and asset name)"
            )
        return value

    @field_validator("filters")
    @classmethod
    def _valid_condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problems = rules.condition_problems(value)
            if problems:
                raise ValueError("; ".join(problems))
        return value

    def columns(self) -> list[str]:
        """The feature or score columns the filters read."""
        return rules.condition_columns(self.filters) if self.filters else []

    def fingerprint(self) -> str:
        """A short hash of what decides membership and the holdout (segment, filters,
        purpose, share): the holdout reshuffles only when it changes."""
        payload = self.model_dump(include={"segment", "filters", "purpose", "holdout_share"})
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class UpliftConfig(Section):
    """How `rpt_audience_uplift` measures a campaign (read by dbt as vars)."""

    window_days: int = Field(30, ge=1, le=365)
    # A comparison with fewer customers per arm, or fewer expected conversions per arm, is
    # flagged too small instead of reported significant.
    min_per_arm: int = Field(100, ge=1)
    min_expected_conversions: float = Field(5, ge=0)


class FilesConfig(Section):
    """How long audience files are kept (personal data: no longer than needed)."""

    keep_days: int = Field(90, ge=1, le=3650)


class AudiencesConfig(ConfigFile):
    version: int = Field(1, ge=1, le=1)
    uplift: UpliftConfig = UpliftConfig()
    files: FilesConfig = FilesConfig()
    audiences: tuple[Audience, ...] = ()

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        seen: dict[str, int] = {}
        problems = []
        for i, audience in enumerate(items(at(data, "audiences"))):
            name = at(audience, "name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(
                        (f"audiences[{i}].name", f"{name!r} is already audiences[{seen[name]}]")
                    )
                seen.setdefault(name, i)
        return problems

    def enabled(self) -> tuple[Audience, ...]:
        return tuple(audience for audience in self.audiences if audience.enabled)


def segment_problems(config: AudiencesConfig, known: Iterable[str]) -> list[str]:
    """Audiences naming a segment that is not in `known` (declared or built segment ids)."""
    known = sorted(set(known))
    problems = []
    for i, audience in enumerate(config.audiences):
        if audience.segment in known:
            continue
        clusters = [s for s in known if CLUSTER_ID.fullmatch(s)]
        hint = f"; known: {', '.join(known)}" if known else ""
        if CLUSTER_ID.fullmatch(audience.segment) and not clusters:
            hint = " (no clustering segment is known yet: run the segmentation first)"
        problems.append(
            f"audiences[{i}].segment: unknown segment {audience.segment!r}{hint}; fix the id "
            "(config/segmentation.yml, marts.dim_segments)"
        )
    return problems


def column_problems(config: AudiencesConfig, columns: Iterable[str]) -> list[str]:
    """Filters naming a column that neither the features nor the scores table has."""
    known = set(columns)
    return [
        f"audiences[{i}].filters: column {column!r} does not exist in "
        "marts.fct_customer_features or marts.fct_customer_scores; fix its name or remove it"
        for i, audience in enumerate(config.audiences)
        for column in audience.columns()
        if column not in known
    ]


def declared_segments(segmentation_path: Path | None = None) -> list[str]:
    """The segment ids the segmentation config declares (rule and excluded segments)."""
    from cible.ml.segmentation.config import load_segmentation_config

    path = segmentation_path or settings.segmentation_config_path()
    return list(load_segmentation_config(path).segment_texts())


def parse_audiences_config(data: Any, source: str = "<memory>") -> AudiencesConfig:
    return parse(AudiencesConfig, data, source)


def load_audiences_config(
    path: str | Path | None = None,
    segments: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
) -> AudiencesConfig:
    """Read and validate the audiences (default ``CIBLE_AUDIENCES_CONFIG``, else
    ``config/audiences.yml``). Segments are checked against `segments` (default: the
    segmentation config's, plus any ``cluster_NN``), filter columns against `columns` when
    given.

    Raises:
        ConfigError: the file is missing, not YAML, or has settings to fix (all listed).
    """
    path = Path(path) if path is not None else settings.audiences_config_path()
    data = read_yaml(path, f"set {settings.AUDIENCES_CONFIG_ENV} or restore config/audiences.yml")
    config = parse_audiences_config(data, str(path))
    if segments is None:
        declared = declared_segments()
        clusters = [a.segment for a in config.audiences if CLUSTER_ID.fullmatch(a.segment)]
        segments = [*declared, *clusters]
    problems = segment_problems(config, segments)
    if columns is not None:
        problems += column_problems(config, columns)
    if problems:
        raise ConfigError(problems, str(path))
    return config


def audience_names(path: str | Path | None = None) -> list[str]:
    """The enabled audiences' names, for the asset graph; none when the file cannot be read
    (the export step then stops with the file's problems)."""
    path = Path(path) if path is not None else settings.audiences_config_path()
    try:
        config = parse_audiences_config(read_yaml(path, "restore config/audiences.yml"), str(path))
    except ConfigError:
        return []
    return [audience.name for audience in config.enabled()]
