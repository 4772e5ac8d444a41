"""CRM records (``customers``): one primary record per person, plus the planted defects.

Defects are disjoint (a row carries at most one): duplicate records of ~8% of persons, a shared
landline within ~1% of persons (households), re-exported records, missing values and wrong
birth years on primary records. Persons with duplicates or in a household keep a complete
primary record, so every duplicate shares a normalised e-mail or phone with it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .context import Context
from .identity import (
    EMAIL_DOMAINS,
    FIRST_NAMES_F,
    FIRST_NAMES_M,
    LANDLINE_PREFIX,
    PHONE_STYLES_FR,
    as_str,
    digits,
    email_local,
    format_phones,
    levenshtein,
    other_city,
    plain_lower,
    prefixed,
    strip_accents,
    typo,
)
from .timeline import DAY

DUPLICATE_VARIANTS = ("email_case_spaces", "email_accents", "phone_only_new_email", "name_typo")
DUPLICATE_VARIANT_WEIGHTS = (0.3, 0.2, 0.25, 0.25)
TWO_DUPLICATES_SHARE = 0.25
PRIMARY_DEFECTS = (
    "missing_email",
    "missing_phone",
    "missing_birth_date",
    "missing_postcode",
    "negative_age",
    "implausible_age",
)
EMAIL_PATTERN_WEIGHTS = (0.45, 0.15, 0.15, 0.1, 0.15)
ACCENTED_EMAIL_SHARE = 0.3  # of persons whose name has accents, keep them in the e-mail
PHONE_CLASS_WEIGHTS = (0.80, 0.18, 0.01, 0.01)  # FR mobile, FR landline, Swiss, British
STORE_DUPLICATE_SHARE = 0.5  # duplicates created at a boutique (store orders go to them)
MIN_FIRST_NAME_DISTANCE = 3  # household members are clearly different people


@dataclass
class CrmChunk:
    columns: dict
    truth: pd.DataFrame
    defects: Counter
    people: pd.DataFrame  # with primary_number, store_number, store_created_sec, email_key


def _household_pairs(
    rng: np.random.Generator, persona: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a, b) of persons of the same persona who will share a landline."""
    involved = np.flatnonzero(rng.random(len(persona)) < rate)
    involved = involved[np.lexsort((rng.random(len(involved)), persona[involved]))]
    group = pd.Series(persona[involved])
    rank = group.groupby(group).cumcount().to_numpy()
    size = group.map(group.value_counts()).to_numpy()
    return involved[(rank % 2 == 0) & (rank + 1 < size)], involved[rank % 2 == 1]


def _distinct_first_name(rng: np.random.Generator, reference: str, female: bool) -> str:
    names = FIRST_NAMES_F if female else FIRST_NAMES_M
    while True:
        candidate = names[int(rng.integers(0, len(names)))]
        if levenshtein(plain_lower(reference), plain_lower(candidate)) >= MIN_FIRST_NAME_DISTANCE:
            return candidate


def _national_numbers(
    rng: np.random.Generator, phone_class: np.ndarray, number: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """National significant numbers (no trunk 0) for each phone class."""
    eight = as_str(digits(number, 8)).astype(object)
    seven = as_str(digits(number % 10_000_000, 7)).astype(object)
    mobile = np.where(rng.random(len(number)) < 0.7, "6", "7").astype(object)
    landline = pd.Series(region).map(LANDLINE_PREFIX).fillna("9").to_numpy(dtype=object)
    landline = np.where(rng.random(len(number)) < 0.1, "9", landline).astype(object)
    swiss = "7" + (5 + number // 10_000_000).astype(str).astype(object)
    return np.select(
        [phone_class == 0, phone_class == 1, phone_class == 2],
        [mobile + eight, landline + eight, swiss + seven],
        "74" + eight,
    )


def _email_case(rng: np.random.Generator, emails: pd.Series) -> pd.Series:
    choice = rng.integers(0, 3, len(emails))
    out = emails.str.upper()
    out = out.where(choice != 1, emails.str.capitalize())
    return out.where(choice != 2, emails.str.title())


def _with_spaces(rng: np.random.Generator, values: pd.Series) -> pd.Series:
    choice = rng.integers(0, 3, len(values))
    lead = np.where(choice != 1, " ", "")
    trail = np.where(choice != 0, "  ", "")
    return lead + values + trail


def _other_style(rng: np.random.Generator, style: np.ndarray) -> np.ndarray:
    return (style + rng.integers(1, PHONE_STYLES_FR, len(style))) % PHONE_STYLES_FR


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]")).astype(
        object
    )


def build_customers(
    ctx: Context,
    people: pd.DataFrame,
    rng: np.random.Generator,
    chunk_index: int,
    rates: dict[str, float],
) -> CrmChunk:
    """CRM records of a chunk's persons, with their defects and the records truth."""
    people = people.copy()
    n = len(people)
    cutoff = ctx.timeline.cutoff_sec
    person_index = people["person_index"].to_numpy()
    persona = people["persona"].to_numpy()
    defects: Counter = Counter()

    # --- households: same last name and landline, clearly different first name and e-mail
    a, b = _household_pairs(rng, persona, rates["household_shared_phone"])
    household = np.zeros(n, dtype=bool)
    household[a] = household[b] = True
    household_of = np.full(n, None, dtype=object)
    household_of[a] = people["person_id"].to_numpy()[b]
    household_of[b] = people["person_id"].to_numpy()[a]
    for column in ("last_name", "departement", "region_code", "postcode", "city", "zone"):
        people.loc[people.index[b], column] = people[column].to_numpy()[a]
    female = people["gender"].to_numpy()[b] == "F"
    first_names = people["first_name"].to_numpy().copy()
    for i, j, is_female in zip(a, b, female, strict=True):
        first_names[j] = _distinct_first_name(rng, first_names[i], bool(is_female))
    people["first_name"] = first_names
    defects["household_shared_phone"] = 2 * len(a)

    # --- phones
    u = rng.random(n)
    phone_class = np.searchsorted(np.cumsum(PHONE_CLASS_WEIGHTS), u, side="right")
    phone_class = np.minimum(phone_class, 3)
    phone_class[a] = 1
    national = _national_numbers(
        rng, phone_class, ctx.phone_numbers(3 * person_index), people["region_code"].to_numpy()
    )
    national[b] = national[a]
    phone_class[b] = phone_class[a]
    phone_kind = np.select([phone_class <= 1, phone_class == 2], [0, 1], 2)
    style = rng.integers(0, PHONE_STYLES_FR, n)

    # --- duplicate plan (needed before e-mails: some duplicates get a new e-mail)
    first = people["first_name"].astype("str")
    last = people["last_name"].astype("str")
    pattern = rng.choice(len(EMAIL_PATTERN_WEIGHTS), n, p=EMAIL_PATTERN_WEIGHTS)
    domains = np.array(list(EMAIL_DOMAINS), dtype=object)
    domain_weights = np.array(list(EMAIL_DOMAINS.values()))
    domain = rng.choice(len(domains), n, p=domain_weights / domain_weights.sum())
    base_plain = email_local(strip_accents(first), strip_accents(last), pattern)
    base_accented = email_local(first, last, pattern)
    accentable = (base_plain != base_accented).to_numpy()

    eligible = ~household
    p_duplicate = rates["duplicate_person"] * n / max(eligible.sum(), 1)
    has_duplicates = eligible & (rng.random(n) < p_duplicate)
    extra = np.where(has_duplicates, 1 + (rng.random(n) < TWO_DUPLICATES_SHARE), 0)
    dup = np.repeat(np.arange(n), extra)
    slot = 1 + pd.Series(dup).groupby(dup).cumcount().to_numpy()
    variant = rng.choice(len(DUPLICATE_VARIANTS), len(dup), p=DUPLICATE_VARIANT_WEIGHTS)
    impossible = (variant == 1) & ~accentable[dup]
    variant[impossible] = np.where(rng.random(impossible.sum()) < 0.5, 0, 3)
    new_email = np.flatnonzero(variant == 2)
    alt_pattern = (pattern[dup[new_email]] + rng.integers(1, 5, len(new_email))) % 5
    alt_domain = (domain[dup[new_email]] + rng.integers(1, len(domains), len(new_email))) % len(
        domains
    )
    alt_base = email_local(
        strip_accents(first.iloc[dup[new_email]]).reset_index(drop=True),
        strip_accents(last.iloc[dup[new_email]]).reset_index(drop=True),
        alt_pattern,
    )

    # --- e-mails unique per person: a number is added when the address is already taken
    keys = pd.concat(
        [base_plain + "@" + domains[domain], alt_base + "@" + domains[alt_domain]],
        ignore_index=True,
    )
    taken = keys.groupby(keys).cumcount().to_numpy() * ctx.n_chunks + chunk_index
    suffix = np.where(taken == 0, "", taken.astype(str)).astype(object)
    use_accents = accentable & (rng.random(n) < ACCENTED_EMAIL_SHARE)
    local = np.where(use_accents, base_accented, base_plain).astype(object) + suffix[:n]
    email = pd.Series(local + "@" + domains[domain], dtype="str")
    toggled = np.where(use_accents, base_plain, base_accented).astype(object) + suffix[:n]
    alt_email = alt_base.to_numpy(dtype=object) + suffix[n:] + "@" + domains[alt_domain]

    # --- primary records
    primary_number = as_str(prefixed("C", digits(ctx.customer_numbers(3 * person_index), 8)))
    created = people["created_sec"].to_numpy()
    updated = created + (rng.random(n) * 0.9 * (cutoff - created)).astype(np.int64)
    birth = _dates(people["birth_day"].to_numpy())
    primary = {
        "customer_number": primary_number.astype(object),
        "email": email.to_numpy(dtype=object),
        "phone": format_phones(phone_kind, national, style),
        "first_name": people["first_name"].to_numpy(dtype=object),
        "last_name": people["last_name"].to_numpy(dtype=object),
        "birth_date": birth.copy(),
        "gender": people["gender"].to_numpy(dtype=object),
        "postcode": people["postcode"].to_numpy(dtype=object),
        "city": people["city"].to_numpy(dtype=object),
        "country_code": np.full(n, "FR", dtype=object),
        "pcs_code": people["pcs_code"].to_numpy(dtype=object),
        "household_size": people["household_size"].to_numpy(dtype=np.int64),
        "signup_channel": people["signup_channel"].to_numpy(dtype=object),
        "created_at": created,
        "updated_at": updated,
    }

    # --- defects of primary records (disjoint, only on persons without duplicate/household)
    clean_person = ~has_duplicates & ~household
    scale = n / max(clean_person.sum(), 1)
    probabilities = np.array([rates[k] for k in PRIMARY_DEFECTS]) * scale
    draw = np.searchsorted(np.cumsum(probabilities), rng.random(n), side="right")
    defect = np.where(clean_person & (draw < len(PRIMARY_DEFECTS)), draw, -1)
    birth_year = (
        people["birth_day"]
        .to_numpy()
        .astype("datetime64[D]")
        .astype("datetime64[Y]")
        .astype(np.int64)
        + 1970
    )
    defect[(defect == 4) & ~((birth_year >= 1950) & (birth_year <= 1999))] = -1
    defect[(defect == 5) & ~((birth_year >= 1901) & (birth_year <= 1999))] = -1
    for k, key in enumerate(PRIMARY_DEFECTS):
        defects[key] = int((defect == k).sum())
    primary["email"][defect == 0] = None
    primary["phone"][defect == 1] = None
    primary["birth_date"][defect == 2] = None
    primary["postcode"][defect == 3] = None
    for k, century in ((4, "20"), (5, "18")):
        mask = defect == k
        primary["birth_date"][mask] = century + pd.Series(birth[mask], dtype="str").str[
            2:
        ].to_numpy(dtype=object)

    # --- duplicate records
    m = len(dup)
    dup_email = pd.Series(email.to_numpy(dtype=object)[dup], dtype="str")
    emails = _with_spaces(rng, _email_case(rng, dup_email))
    emails = emails.where(
        variant != 1, pd.Series(toggled[dup] + "@" + domains[domain[dup]], dtype="str")
    )
    alt_series = pd.Series(np.empty(m, dtype=object), dtype="str")
    alt_series.iloc[new_email] = alt_email
    emails = emails.where(variant != 2, alt_series)
    keep_case = rng.random(m) < 0.5
    emails = emails.where(variant != 3, dup_email.where(keep_case, _email_case(rng, dup_email)))
    dup_national = national[dup].copy()
    dup_kind = phone_kind[dup].copy()
    dup_style = _other_style(rng, style[dup])
    new_phone = (variant == 1) & (rng.random(m) < 0.4)
    dup_national[new_phone] = _national_numbers(
        rng,
        np.zeros(new_phone.sum(), dtype=np.int64),
        ctx.phone_numbers(3 * person_index[dup[new_phone]] + slot[new_phone]),
        people["region_code"].to_numpy()[dup[new_phone]],
    )
    dup_kind[new_phone] = 0
    dup_style = np.where(variant == 3, rng.integers(0, PHONE_STYLES_FR, m), dup_style)
    dup_first = people["first_name"].to_numpy(dtype=object)[dup].copy()
    dup_last = people["last_name"].to_numpy(dtype=object)[dup].copy()
    misspelt = (variant == 3) | ((variant == 2) & (rng.random(m) < 0.5))
    in_first = rng.random(m) < 0.5
    dup_first[misspelt & in_first] = typo(dup_first[misspelt & in_first], rng)
    dup_last[misspelt & ~in_first] = typo(dup_last[misspelt & ~in_first], rng)
    dup_created = (
        created[dup]
        + DAY
        + (rng.random(m) * np.maximum(cutoff - 2 * DAY - created[dup], 0)).astype(np.int64)
    )
    dup_created = np.minimum(dup_created, cutoff - 3600)
    dup_channel = np.where(
        rng.random(m) < STORE_DUPLICATE_SHARE,
        "store",
        people["signup_channel"].to_numpy(dtype=object)[dup],
    ).astype(object)
    duplicate = {
        "customer_number": as_str(
            prefixed("C", digits(ctx.customer_numbers(3 * person_index[dup] + slot), 8))
        ).astype(object),
        "email": emails.to_numpy(dtype=object),
        "phone": format_phones(dup_kind, dup_national, dup_style),
        "first_name": dup_first,
        "last_name": dup_last,
        "birth_date": birth[dup],
        "gender": primary["gender"][dup],
        "postcode": primary["postcode"][dup],
        "city": primary["city"][dup],
        "country_code": primary["country_code"][dup],
        "pcs_code": primary["pcs_code"][dup],
        "household_size": primary["household_size"][dup],
        "signup_channel": dup_channel,
        "created_at": dup_created,
        "updated_at": dup_created + (rng.random(m) * (cutoff - dup_created)).astype(np.int64),
    }
    defects["duplicate_person"] = m

    # --- re-exports: the same record a second time, updated later
    n_records = n + m
    clean_record = clean_person & (defect < 0)
    p_export = rates["re_export"] * n_records / max(clean_record.sum(), 1)
    again = np.flatnonzero(clean_record & (rng.random(n) < p_export))
    reexport = {key: values[again].copy() for key, values in primary.items()}
    reexport["updated_at"] = (
        updated[again]
        + 1
        + (rng.random(len(again)) * (cutoff - 2 - updated[again])).astype(np.int64)
    )
    moved = rng.random(len(again)) < 0.3
    reexport["city"][moved] = other_city(
        rng, people["departement"].to_numpy()[again[moved]], reexport["city"][moved]
    )
    rephoned = rng.random(len(again)) < 0.3
    renumbered = rephoned & (rng.random(len(again)) < 0.3)
    new_national = national[again].copy()
    new_national[renumbered] = _national_numbers(
        rng,
        np.zeros(renumbered.sum(), dtype=np.int64),
        ctx.phone_numbers(3 * person_index[again[renumbered]] + 1),
        people["region_code"].to_numpy()[again[renumbered]],
    )
    new_kind = np.where(renumbered, 0, phone_kind[again])
    new_style = _other_style(rng, style[again])
    reexport["phone"][rephoned] = format_phones(new_kind, new_national, new_style)[rephoned]
    defects["re_export"] = len(again)

    # --- rows: primaries and duplicates mixed, re-exports at the end of the chunk
    order = rng.permutation(n_records)
    columns = {
        key: np.concatenate([np.concatenate([primary[key], duplicate[key]])[order], reexport[key]])
        for key in primary
    }
    person_of_row = np.concatenate([np.concatenate([np.arange(n), dup])[order], again])
    kind = np.concatenate(
        [
            np.concatenate(
                [np.full(n, "primary", dtype=object), np.full(m, "duplicate_person", dtype=object)]
            )[order],
            np.full(len(again), "re_export", dtype=object),
        ]
    )
    variants = np.concatenate(
        [
            np.concatenate(
                [
                    np.full(n, None, dtype=object),
                    np.array(DUPLICATE_VARIANTS, dtype=object)[variant],
                ]
            )[order],
            np.full(len(again), None, dtype=object),
        ]
    )
    truth = pd.DataFrame(
        {
            "customer_number": columns["customer_number"],
            "person_id": people["person_id"].to_numpy(dtype=object)[person_of_row],
            "record_kind": kind,
            "duplicate_variant": variants,
            "household_of": household_of[person_of_row],
        }
    )

    # --- what the other sources need: record numbers and e-mail keys per person
    people["primary_number"] = primary_number.astype(object)
    store_dup = np.flatnonzero(dup_channel == "store")
    first_store = pd.Series(store_dup).groupby(dup[store_dup]).first()
    store_number = np.full(n, None, dtype=object)
    store_created = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    store_number[first_store.index] = duplicate["customer_number"][first_store.to_numpy()]
    store_created[first_store.index] = dup_created[first_store.to_numpy()]
    people["store_number"] = store_number
    people["store_created_sec"] = store_created
    email_key = strip_accents(email.str.strip().str.lower()).to_numpy(dtype=object)
    email_key[defect == 0] = None
    people["email_key"] = email_key
    return CrmChunk(columns=columns, truth=truth, defects=defects, people=people)
