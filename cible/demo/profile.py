"""Generator profiles: the personas, the population-wide rates and the defect levels of a demo
data set, as one validated pydantic model that a YAML file can hold.

The built-in profile, ``maison`` (`DEFAULT_PROFILE`), is made from the constants of
``personas.py`` and the defaults below, so it gives exactly the data the generator wrote before
profiles existed. A second profile ships in ``profiles/`` (``contrast``: a younger, online-first
house with noisier data) so that models are checked on data they were not tuned on.

A profile names every persona parameter the generator reads. Keys of the distributions that
depend on the reference seeds (departements, categories, channels, survey interests) are
checked against the seeds when the generator starts (`check_reference`), the others here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from cible.yaml_config import (
    ConfigError,
    ConfigFile,
    Problems,
    Section,
    at,
    items,
    parse,
    read_yaml,
)

from .context import (
    BROWSE_EVENTS,
    CONSENT_PURPOSES,
    DEVICE_TYPES,
    GENDERS,
    PCS_CODES,
    PROMO_TYPES,
    STORE_ZONES,
    TRAFFIC_SOURCES,
)
from .personas import (
    HOUR_PROFILES,
    ORDER_VALUE_P,
    ORDER_VALUE_Q,
    PERSONAS,
    RATE_MULTIPLIER_SHAPE,
    Persona,
)
from .reference import Reference

PROFILES_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE_NAME = "maison"

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
# At most half the rows of a source carry a given defect (the draws assume defects are rare).
Rate = Annotated[float, Field(ge=0.0, le=0.5)]
Answer = Annotated[float, Field(ge=1.0, le=5.0)]
SeasonKey = Literal["base", "gifting", "sales", "vip_event", "summer"]


def _weights_problems(name: str, weights: dict | None) -> list[tuple[str, str]]:
    if weights is not None and not sum(weights.values()) > 0:
        return [(name, "needs at least one positive weight")]
    return []


def _range_problems(name: str, bounds: tuple[float, float] | None) -> list[tuple[str, str]]:
    if bounds is not None and bounds[0] > bounds[1]:
        return [(name, f"the first value must not exceed the second, found {list(bounds)}")]
    return []


class PersonaProfile(Section):
    """One persona: every parameter the generator reads (see ``personas.Persona``)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    share: Annotated[float, Field(gt=0.0, le=1.0)]
    # --- who
    age_mean: Annotated[float, Field(ge=18.0, le=92.0)]
    age_sd: Positive
    gender: dict[Literal[GENDERS], Weight]
    departements: dict[str, Weight] | None = None  # None: spread by density over all
    pcs: dict[Literal[PCS_CODES], Weight]
    household_size: dict[Literal[1, 2, 3, 4, 5, 6], Weight]
    signup_channel: dict[str, Weight]
    signup_period: tuple[Weight, Weight, Weight]
    store_zone: Literal[tuple(STORE_ZONES)] | None = None  # None: the zone of the region
    # --- purchases
    base_rate: Weight
    mean_order_value: Positive
    season: dict[SeasonKey, Weight] = Field(default_factory=lambda: {"base": 1.0})
    categories: dict[str, Weight]
    extra_lines_mean: Weight
    channels: dict[str, Weight]
    promo_share: Share
    decay_years: Positive | None = None
    decay_start_years: tuple[Weight, Weight] | None = None
    # --- web and app
    web_weight: Weight = 1.0
    events_per_session: Annotated[float, Field(ge=1.0)] = 6.0
    event_gap_seconds: tuple[Positive, Positive] = (10.0, 120.0)
    devices: tuple[Weight, Weight, Weight] = (0.5, 0.4, 0.1)
    device_types: dict[Literal[DEVICE_TYPES], Weight]
    traffic_sources: dict[Literal[TRAFFIC_SOURCES], Weight]
    event_mix: dict[Literal[BROWSE_EVENTS], Weight]
    login_share: Share = 0.5
    hour_profile: Literal[tuple(HOUR_PROFILES)] = "evening"
    video_seconds: tuple[Positive, Positive] = (3.0, 60.0)
    scroll_depth: tuple[
        Annotated[int, Field(ge=0, le=100)], Annotated[int, Field(ge=0, le=100)]
    ] = (10, 100)
    # --- campaigns
    open_rate: dict[Literal["email", "push"], Share]
    click_rate: Share = 0.1
    conversion_rate: Share = 0.05
    promo_affinity: dict[Literal[PROMO_TYPES], Weight] = Field(default_factory=dict)
    # --- declared and bought data
    consents: dict[Literal[CONSENT_PURPOSES], Share]
    survey_interests: dict[str, Answer] = Field(default_factory=dict)
    income_band: tuple[Weight, Weight, Weight, Weight, Weight] = (0.2, 0.2, 0.2, 0.2, 0.2)
    property_owner: Share = 0.5
    luxury_affinity: tuple[
        Annotated[float, Field(ge=0.0, le=100.0)], Annotated[float, Field(ge=0.0)]
    ] = (50.0, 15.0)

    @field_validator("pcs", mode="before")
    @classmethod
    def _pcs_as_text(cls, value):
        # YAML reads `3:` as a number; a PCS code is a one-digit text.
        if isinstance(value, dict):
            return {str(k) if isinstance(k, int) else k: v for k, v in value.items()}
        return value

    @field_validator("household_size", mode="before")
    @classmethod
    def _household_as_number(cls, value):
        # JSON (and a quoted YAML key) gives "2": a household size is a number.
        if isinstance(value, dict):
            return {int(k) if str(k).isdigit() else k: v for k, v in value.items()}
        return value

    @field_validator("departements", mode="before")
    @classmethod
    def _departements_as_text(cls, value):
        if isinstance(value, dict):
            numbers = [k for k in value if not isinstance(k, str)]
            if numbers:
                raise ValueError(
                    f"write département codes in quotes ('06', '75', '2A'): YAML reads 06 or 75 "
                    f"as numbers, found {', '.join(map(repr, numbers))}"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PersonaProfile:
        problems = []
        for name in ("gender", "pcs", "household_size", "signup_channel", "categories"):
            problems += _weights_problems(name, getattr(self, name))
        for name in ("channels", "device_types", "traffic_sources", "event_mix", "departements"):
            problems += _weights_problems(name, getattr(self, name))
        for name in ("signup_period", "devices", "income_band"):
            if not sum(getattr(self, name)) > 0:
                problems.append((name, "needs at least one positive weight"))
        for name in ("event_gap_seconds", "video_seconds", "scroll_depth", "decay_start_years"):
            problems += _range_problems(name, getattr(self, name))
        if (self.decay_years is None) != (self.decay_start_years is None):
            problems.append(
                ("decay_years", "set decay_years and decay_start_years together, or neither")
            )
        if problems:
            raise Problems(problems)
        return self

    def to_persona(self) -> Persona:
        """The generator's persona."""
        return Persona(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Persona)})

    @classmethod
    def of(cls, persona: Persona) -> PersonaProfile:
        return cls.model_validate(dataclasses.asdict(persona))


class PurchaseModel(Section):
    """Shared parameters of the purchase process (README "Purchase process")."""

    rate_multiplier_shape: Positive = RATE_MULTIPLIER_SHAPE
    order_value_p: Positive = ORDER_VALUE_P
    order_value_q: Annotated[float, Field(gt=1.0)] = ORDER_VALUE_Q


class Coverage(Section):
    """Shares of the population that each optional source reaches, and tracking gaps."""

    survey_share: Share = 0.30  # persons answering one survey
    partner_share: Share = 0.5  # persons the data partners know
    partner_refetch_share: Share = 0.15  # partner attributes fetched again later
    consent_withdrawal_share: Share = 0.08  # of grants, withdrawn later
    erasure_share: Annotated[float, Field(ge=0.0, le=0.2)] = 0.003  # persons asking for erasure
    anonymous_event_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15  # of all events
    tracked_web_order_share: Share = 0.6  # web/app orders that left a purchase session


class CustomerDefects(Section):
    duplicate_person: Rate = 0.08  # of persons (each gets 1 or 2 extra records)
    household_shared_phone: Rate = 0.01  # of persons
    re_export: Rate = 0.02  # of records
    missing_email: Rate = 0.03  # of primary records, as are the five below
    missing_phone: Rate = 0.10
    missing_birth_date: Rate = 0.05
    missing_postcode: Rate = 0.02
    negative_age: Rate = 0.005
    implausible_age: Rate = 0.005
    malformed_line: Rate = 0.002  # extra CSV lines, of lines written

    @model_validator(mode="after")
    def _disjoint(self) -> CustomerDefects:
        primary = ("missing_email", "missing_phone", "missing_birth_date", "missing_postcode")
        total = sum(getattr(self, k) for k in (*primary, "negative_age", "implausible_age"))
        _at_most_half(total, "the six defects of primary records")
        return self


def _at_most_half(total: float, what: str) -> None:
    """Rates drawn as one share of the rows: past half, the generator cannot place them."""
    if total > 0.5:
        raise Problems([("", f"{what} add up to {total:g}; at most 0.5")])


class OrderDefects(Section):
    future_timestamp: Rate = 0.003
    unknown_customer: Rate = 0.005
    malformed_line: Rate = 0.001


class EventDefects(Section):
    duplicate_event: Rate = 0.02
    late_event: Rate = 0.01
    unknown_event_type: Rate = 0.003
    future_timestamp: Rate = 0.001
    unknown_customer: Rate = 0.002

    @model_validator(mode="after")
    def _disjoint(self) -> EventDefects:
        total = self.duplicate_event + self.late_event + self.future_timestamp
        _at_most_half(total, "duplicate, late and future events")
        return self


class CampaignDefects(Section):
    unknown_customer: Rate = 0.003
    malformed_line: Rate = 0.001


class SurveyDefects(Section):
    malformed_line: Rate = 0.002
    out_of_range: Rate = 0.005


class ConsentDefects(Section):
    malformed_line: Rate = 0.001


class DefectRates(Section):
    """Injected defects per source (README "Injected defects"); each row carries at most one."""

    customers: CustomerDefects = CustomerDefects()
    orders: OrderDefects = OrderDefects()
    events: EventDefects = EventDefects()
    campaign_events: CampaignDefects = CampaignDefects()
    survey_answers: SurveyDefects = SurveyDefects()
    consents: ConsentDefects = ConsentDefects()


class GeneratorProfile(ConfigFile):
    """A whole generator configuration: who the customers are, and how noisy their data is."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=60)
    description: str = ""
    personas: tuple[PersonaProfile, ...] = Field(min_length=1)
    purchase_model: PurchaseModel = PurchaseModel()
    coverage: Coverage = Coverage()
    defects: DefectRates = DefectRates()

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        # Read from the raw mapping, so that a share that does not add up is reported with
        # the personas' own problems, in one pass.
        personas = [
            p if isinstance(p, Mapping) else dict(p)  # a PersonaProfile built in Python
            for p in items(at(data, "personas"))
            if isinstance(p, Mapping | PersonaProfile)
        ]
        shares = [p.get("share") for p in personas]
        problems = []
        if personas and all(type(s) in (int, float) for s in shares):
            total = sum(shares)
            if not math.isclose(total, 1.0, abs_tol=1e-6):
                listed = ", ".join(f"{p.get('name')} {p['share']:g}" for p in personas)
                problems.append(
                    ("personas", f"the shares must add up to 1, found {total:g} ({listed})")
                )
        names = [p.get("name") for p in personas if isinstance(p.get("name"), str)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(("personas", f"persona names must be unique: {', '.join(repeated)}"))
        return problems

    def to_personas(self) -> tuple[Persona, ...]:
        """The generator's personas, in the profile's order."""
        return tuple(p.to_persona() for p in self.personas)

    def defect_rates(self) -> dict[str, dict[str, float]]:
        """``{source: {defect: rate}}``, as ``defects.json`` reports them."""
        return self.defects.model_dump()

    def check_reference(self, reference: Reference) -> None:
        """Raise a :class:`ConfigError` when a persona names a value the seeds do not define
        (a département, category, channel or survey interest): it would be silently ignored."""
        known = {
            "departements": set(reference.departements["departement_code"]),
            "categories": set(reference.categories),
            "channels": set(reference.channels),
            "signup_channel": set(reference.channels),
            "survey_interests": set(reference.survey_questions["interest"]),
        }
        problems = []
        for i, persona in enumerate(self.personas):
            for field, allowed in known.items():
                unknown = sorted(set(getattr(persona, field) or {}) - allowed)
                if unknown:
                    problems.append(
                        f"personas[{i}].{field}: unknown value(s) {', '.join(map(repr, unknown))}"
                        f" ({persona.name}); the seeds define {', '.join(sorted(allowed)[:12])}"
                        + (" ..." if len(allowed) > 12 else "")
                    )
        if problems:
            raise ConfigError(problems, self.source)


def _default_profile() -> GeneratorProfile:
    profile = GeneratorProfile(
        name=DEFAULT_PROFILE_NAME,
        description="The demo Maison: a French luxury house, seven personas (README.md).",
        personas=tuple(PersonaProfile.of(p) for p in PERSONAS),
    )
    profile._source = "built-in profile maison (cible/demo/personas.py)"
    return profile


DEFAULT_PROFILE = _default_profile()


def builtin_profiles() -> list[str]:
    """Names a profile can be given by: the default and the files of ``profiles/``."""
    return [DEFAULT_PROFILE_NAME, *sorted(p.stem for p in PROFILES_DIR.glob("*.yml"))]


def load_profile(profile: GeneratorProfile | str | Path | None) -> GeneratorProfile:
    """The profile given as an object, a built-in name (``maison``, ``contrast``) or the path of
    a YAML file; None is the default. Raises a :class:`ConfigError` naming every problem."""
    if profile is None or isinstance(profile, GeneratorProfile):
        return profile or DEFAULT_PROFILE
    if str(profile) == DEFAULT_PROFILE_NAME:
        return DEFAULT_PROFILE
    path = Path(profile)
    if not path.suffix and not path.exists() and (PROFILES_DIR / f"{path}.yml").exists():
        path = PROFILES_DIR / f"{path}.yml"
    hint = f"give the path of a YAML profile or one of: {', '.join(builtin_profiles())}"
    return parse(GeneratorProfile, read_yaml(path, hint), str(path))
