"""Reference seeds (``seeds/*.csv``) as the generator uses them.

The generator never repeats their content in code: geography, product categories, the
commercial calendar, the tracking plan, the order amount units and the survey questions all
come from these files, so editing a seed changes the demo data accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cible.settings import SEEDS_DIR


@dataclass(frozen=True)
class Reference:
    """The reference seeds, parsed."""

    departements: pd.DataFrame  # departement_code, departement_name, region_code, density_class
    categories: tuple[str, ...]
    calendar: pd.DataFrame  # moment_code, moment_type, starts_on, ends_on (datetime64)
    event_types: tuple[str, ...]
    channels: tuple[str, ...]
    cents_channels: frozenset[str]
    survey_questions: pd.DataFrame  # question_code, interest


def _read(seeds_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(seeds_dir / f"{name}.csv", dtype=str, keep_default_na=False)


def load_reference(seeds_dir: Path | None = None) -> Reference:
    """Load the reference seeds from ``seeds_dir`` (default ``SEEDS_DIR``)."""
    seeds_dir = Path(seeds_dir or SEEDS_DIR)
    departements = _read(seeds_dir, "geo_departements")
    calendar = _read(seeds_dir, "commercial_calendar")
    calendar["starts_on"] = pd.to_datetime(calendar["starts_on"])
    calendar["ends_on"] = pd.to_datetime(calendar["ends_on"])
    units = _read(seeds_dir, "order_amount_units")
    return Reference(
        departements=departements,
        categories=tuple(_read(seeds_dir, "product_categories")["product_category"]),
        calendar=calendar,
        event_types=tuple(_read(seeds_dir, "tracking_plan")["event_type"]),
        channels=tuple(units["channel"]),
        cents_channels=frozenset(units.loc[units["amount_unit"] == "cents", "channel"]),
        survey_questions=_read(seeds_dir, "survey_questions")[["question_code", "interest"]],
    )
