"""Consents, campaign events, survey answers, partner enrichment and erasure requests."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .context import CAMPAIGN_CHANNELS, CONSENT_PURPOSES, PROMO_TYPES, Context
from .identity import as_str, digits, prefixed
from .shop import unknown_numbers
from .timeline import DAY, YEAR_DAYS

GRANT_PROOFS = {
    "web": "web_form:v3",
    "app": "app_onboarding:v2",
    "store": "store_tablet:v2",
    "call_centre": "call_centre_script:v1",
}
WITHDRAWAL_PROOFS = {"email": "unsubscribe_link:v1", "sms": "sms_stop:v1"}
DEFAULT_WITHDRAWAL_PROOF = "preference_centre:v4"
CAMPAIGN_EVENT_TYPES = ("send", "open", "click", "conversion")
SEND_SPREAD_SECONDS = 1800
OPEN_DELAY_MEAN_HOURS = 6.0
SMS_CLICK_FACTOR = 0.5  # SMS have no open: clicks are drawn on sends, at half the rate
MAX_PROBABILITY = 0.95
SURVEY_ANSWER_SD = 0.8
OUT_OF_RANGE_VALUES = (0, 6, 7, 8, 9)
PARTNER_PROVIDERS = {"acxiom_fr": 0.6, "experian_fr": 0.4}
PARTNER_ATTRIBUTES = ("income_band", "is_property_owner", "has_children", "luxury_affinity")
ERASURE_EMAIL_ONLY_SHARE = 0.35


@dataclass
class Batch:
    columns: dict
    defects: Counter
    ids_used: int


def _ids(prefix: str, first: int, count: int, width: int = 10) -> np.ndarray:
    return as_str(prefixed(prefix, digits(first + np.arange(count), width))).astype(object)


def _sorted(columns: dict, key: str) -> dict:
    order = np.argsort(columns[key], kind="stable")
    return {name: np.asarray(values)[order] for name, values in columns.items()}


@dataclass
class ConsentState:
    granted_sec: np.ndarray  # persons x purposes, int64 max when never granted
    withdrawn_sec: np.ndarray  # idem for withdrawals

    def allows(self, purpose: str, at: int) -> np.ndarray:
        j = CONSENT_PURPOSES.index(purpose)
        return (self.granted_sec[:, j] <= at) & (self.withdrawn_sec[:, j] > at)


def build_consents(
    ctx: Context, people: pd.DataFrame, rng: np.random.Generator, first_id: int
) -> tuple[Batch, ConsentState]:
    """Grants at sign-up (persona-dependent), some withdrawn later."""
    n, k = len(people), len(CONSENT_PURPOSES)
    never = np.iinfo(np.int64).max
    cutoff = ctx.timeline.cutoff_sec
    created = people["created_sec"].to_numpy()
    granted = rng.random((n, k)) < ctx.matrices.consents[people["persona"].to_numpy()]
    grant_at = created[:, None] + np.arange(k)[None, :] * 2
    withdrawn = granted & (rng.random((n, k)) < ctx.profile.coverage.consent_withdrawal_share)
    withdraw_at = (
        grant_at
        + DAY
        + (rng.random((n, k)) * np.maximum(cutoff - 2 * DAY - grant_at, 0)).astype(np.int64)
    )
    state = ConsentState(
        np.where(granted, grant_at, never), np.where(withdrawn, withdraw_at, never)
    )
    person_g, purpose_g = np.nonzero(granted)
    person_w, purpose_w = np.nonzero(withdrawn)
    purposes = np.array(CONSENT_PURPOSES, dtype=object)
    primary = people["primary_number"].to_numpy(dtype=object)
    signup = people["signup_channel"].to_numpy(dtype=object)
    count = len(person_g) + len(person_w)
    columns = _sorted(
        {
            "consent_event_id": np.zeros(count, dtype=object),
            "customer_number": np.concatenate([primary[person_g], primary[person_w]]),
            "purpose": np.concatenate([purposes[purpose_g], purposes[purpose_w]]),
            "status": np.array(
                ["granted"] * len(person_g) + ["withdrawn"] * len(person_w), dtype=object
            ),
            "occurred_at": np.concatenate(
                [grant_at[person_g, purpose_g], withdraw_at[person_w, purpose_w]]
            ),
            "proof": np.concatenate(
                [
                    pd.Series(signup[person_g])
                    .map(GRANT_PROOFS)
                    .fillna("web_form:v3")
                    .to_numpy(dtype=object),
                    pd.Series(purposes[purpose_w])
                    .map(WITHDRAWAL_PROOFS)
                    .fillna(DEFAULT_WITHDRAWAL_PROOF)
                    .to_numpy(dtype=object),
                ]
            ),
        },
        "occurred_at",
    )
    columns["consent_event_id"] = _ids("CNS-", first_id, count)
    return Batch(columns, Counter(), count), state


def build_campaign_events(
    ctx: Context,
    people: pd.DataFrame,
    consents: ConsentState,
    has_app: np.ndarray,
    rng: np.random.Generator,
    first_id: int,
    rates: dict[str, float],
) -> Batch:
    """Sends to a random share of consenting persons, then opens, clicks and conversions."""
    personas = ctx.personas
    persona = people["persona"].to_numpy()
    created = people["created_sec"].to_numpy()
    cutoff = ctx.timeline.cutoff_sec
    open_rate = np.array([[p.open_rate.get(c, 0.0) for c in CAMPAIGN_CHANNELS] for p in personas])
    affinity = np.array([[p.promo_affinity.get(t, 1.0) for t in PROMO_TYPES] for p in personas])
    click_rate = np.array([p.click_rate for p in personas])
    conversion_rate = np.array([p.conversion_rate for p in personas])
    primary = people["primary_number"].to_numpy(dtype=object)
    parts: dict[str, list] = {k: [] for k in ("campaign", "person", "type", "at")}
    for c, campaign in enumerate(ctx.campaigns.itertuples()):
        sent = int(campaign.sent_sec)
        if campaign.channel == "push":
            eligible = has_app & (created <= sent)
        else:
            eligible = consents.allows(campaign.channel, sent) & (created <= sent)
        who = np.flatnonzero(eligible & (rng.random(len(people)) < campaign.share))
        p = persona[who]
        boost = affinity[p, campaign.promo_index]
        send_at = sent + rng.integers(0, SEND_SPREAD_SECONDS, len(who))
        if campaign.channel == "sms":
            opened = np.zeros(len(who), dtype=bool)
            clicked = rng.random(len(who)) < np.minimum(
                click_rate[p] * SMS_CLICK_FACTOR * boost, MAX_PROBABILITY
            )
        else:
            opened = rng.random(len(who)) < open_rate[p, campaign.channel_index]
            clicked = opened & (
                rng.random(len(who)) < np.minimum(click_rate[p] * boost, MAX_PROBABILITY)
            )
        delay = np.minimum(rng.exponential(OPEN_DELAY_MEAN_HOURS * 3600, len(who)), 7 * DAY)
        open_at = send_at + delay.astype(np.int64)
        click_at = open_at + rng.integers(10, 600, len(who))
        converted = clicked & (
            rng.random(len(who)) < np.minimum(conversion_rate[p] * boost, MAX_PROBABILITY)
        )
        convert_at = click_at + rng.integers(60, 2 * DAY, len(who))
        for step, (mask, at) in enumerate(
            (
                (np.ones(len(who), dtype=bool), send_at),
                (opened, open_at),
                (clicked, click_at),
                (converted, convert_at),
            )
        ):
            mask = mask & (at < cutoff)
            parts["campaign"].append(np.full(mask.sum(), c))
            parts["person"].append(who[mask])
            parts["type"].append(np.full(mask.sum(), step))
            parts["at"].append(at[mask])
    campaign = np.concatenate(parts["campaign"]).astype(np.int64)
    person = np.concatenate(parts["person"]).astype(np.int64)
    count = len(person)
    plan = ctx.campaigns
    columns = _sorted(
        {
            "campaign_event_id": np.zeros(count, dtype=object),
            "campaign_id": plan["campaign_id"].to_numpy(dtype=object)[campaign],
            "channel": plan["channel"].to_numpy(dtype=object)[campaign],
            "promo_type": plan["promo_type"].to_numpy(dtype=object)[campaign],
            "customer_number": primary[person],
            "event_type": np.array(CAMPAIGN_EVENT_TYPES, dtype=object)[
                np.concatenate(parts["type"]).astype(np.int64)
            ],
            "occurred_at": np.concatenate(parts["at"]).astype(np.int64),
        },
        "occurred_at",
    )
    columns["campaign_event_id"] = _ids("CE", first_id, count)
    unknown = rng.random(count) < rates["unknown_customer"]
    columns["customer_number"][unknown] = unknown_numbers(rng, unknown.sum())
    return Batch(columns, Counter({"unknown_customer": int(unknown.sum())}), count)


def build_survey_answers(
    ctx: Context,
    people: pd.DataFrame,
    rng: np.random.Generator,
    first_id: int,
    rates: dict[str, float],
) -> Batch:
    """About 30% of persons answer one survey: every question, 1 to 5, persona-dependent."""
    surveys = ctx.surveys
    questions = ctx.reference.survey_questions
    n, q = len(people), len(questions)
    created = people["created_sec"].to_numpy()
    launched = surveys["launched_sec"].to_numpy()
    open_to = launched[None, :] >= created[:, None]
    keys = np.where(open_to, rng.random((n, len(launched))), -1.0)
    choice = keys.argmax(axis=1)
    answers = open_to.any(axis=1) & (rng.random(n) < ctx.profile.coverage.survey_share)
    who = np.flatnonzero(answers)
    survey = choice[who]
    start = launched[survey] + (rng.random(len(who)) * 14 * DAY).astype(np.int64)
    person = np.repeat(who, q)
    question = np.tile(np.arange(q), len(who))
    steps = rng.integers(5, 40, (len(who), q)).cumsum(axis=1).ravel()
    mean = ctx.matrices.survey[people["persona"].to_numpy()[person], question]
    value = np.clip(np.round(rng.normal(mean, SURVEY_ANSWER_SD)), 1, 5).astype(np.int64)
    out_of_range = rng.random(len(person)) < rates["out_of_range"]
    value[out_of_range] = np.array(OUT_OF_RANGE_VALUES)[
        rng.integers(0, len(OUT_OF_RANGE_VALUES), out_of_range.sum())
    ]
    count = len(person)
    columns = {
        "answer_id": _ids("ANS-", first_id, count),
        "customer_number": people["primary_number"].to_numpy(dtype=object)[person],
        "survey_id": surveys["survey_id"].to_numpy(dtype=object)[np.repeat(survey, q)],
        "question_code": questions["question_code"].to_numpy(dtype=object)[question],
        "answer_value": value,
        "answered_at": np.repeat(start, q) + steps,
    }
    return Batch(columns, Counter({"out_of_range": int(out_of_range.sum())}), count)


def build_partner_enrichment(ctx: Context, people: pd.DataFrame, rng: np.random.Generator) -> Batch:
    """Four attributes for about half of the persons; some fetched again later."""
    n = len(people)
    cutoff = ctx.timeline.cutoff_sec
    who = np.flatnonzero(rng.random(n) < ctx.profile.coverage.partner_share)
    providers = np.array(list(PARTNER_PROVIDERS), dtype=object)
    provider = rng.choice(len(providers), len(who), p=list(PARTNER_PROVIDERS.values()))
    since = np.maximum(people["created_sec"].to_numpy()[who], cutoff - int(2 * YEAR_DAYS * DAY))
    fetched = since + (rng.random(len(who)) * (cutoff - since)).astype(np.int64)
    values = {
        "income_band": people["income_band"].to_numpy()[who].astype(np.int64),
        "is_property_owner": people["is_property_owner"].to_numpy()[who].astype(np.int64),
        "has_children": people["has_children"].to_numpy()[who].astype(np.int64),
        "luxury_affinity": people["luxury_affinity"].to_numpy()[who].astype(np.int64),
    }
    k = len(PARTNER_ATTRIBUTES)
    person = np.repeat(np.arange(len(who)), k)
    attribute = np.tile(np.arange(k), len(who))
    value = np.column_stack([values[a] for a in PARTNER_ATTRIBUTES]).ravel()
    at = np.repeat(fetched, k)
    again = rng.random(len(person)) < ctx.profile.coverage.partner_refetch_share
    new_at = (
        at[again]
        + DAY
        + (rng.random(again.sum()) * np.maximum(cutoff - 2 * DAY - at[again], 0)).astype(np.int64)
    )
    new_value = value[again].copy()
    new_attribute = attribute[again]
    jitter = rng.integers(-1, 2, again.sum())
    flip = rng.random(again.sum()) < 0.1
    band = new_attribute == 0
    new_value[band] = np.clip(new_value[band] + jitter[band], 1, 5)
    boolean = (new_attribute == 1) | (new_attribute == 2)
    new_value[boolean & flip] = 1 - new_value[boolean & flip]
    affinity = new_attribute == 3
    new_value[affinity] = np.clip(new_value[affinity] + rng.integers(-8, 9, affinity.sum()), 0, 100)
    person = np.concatenate([person, person[again]])
    attribute = np.concatenate([attribute, new_attribute])
    value = np.concatenate([value, new_value])
    at = np.concatenate([at, new_at])
    is_boolean = (attribute == 1) | (attribute == 2)
    text = np.where(is_boolean, np.where(value == 1, "true", "false"), value.astype(str))
    columns = _sorted(
        {
            "customer_number": people["primary_number"].to_numpy(dtype=object)[who[person]],
            "attribute": np.array(PARTNER_ATTRIBUTES, dtype=object)[attribute],
            "value": text.astype(object),
            "provider": providers[provider[person]],
            "fetched_at": at,
        },
        "fetched_at",
    )
    return Batch(columns, Counter(), 0)


def build_erasure_requests(
    ctx: Context, people: pd.DataFrame, rng: np.random.Generator, first_id: int
) -> Batch:
    """A few right-to-erasure requests, some naming only a hashed e-mail."""
    n = len(people)
    cutoff = ctx.timeline.cutoff_sec
    who = np.flatnonzero(rng.random(n) < ctx.profile.coverage.erasure_share)
    email_key = people["email_key"].to_numpy(dtype=object)[who]
    email_only = pd.notna(email_key) & (rng.random(len(who)) < ERASURE_EMAIL_ONLY_SHARE)
    since = np.maximum(people["created_sec"].to_numpy()[who], cutoff - 180 * DAY)
    requested = since + (rng.random(len(who)) * (cutoff - since)).astype(np.int64)
    number = people["primary_number"].to_numpy(dtype=object)[who].copy()
    number[email_only] = None
    digest = np.full(len(who), None, dtype=object)
    digest[email_only] = [
        hashlib.sha256(key.encode("utf-8")).hexdigest() for key in email_key[email_only]
    ]
    columns = _sorted(
        {
            "request_id": np.zeros(len(who), dtype=object),
            "customer_number": number,
            "email_sha256": digest,
            "requested_at": requested,
        },
        "requested_at",
    )
    columns["request_id"] = _ids("RGPD-", first_id, len(who), width=8)
    return Batch(columns, Counter(), len(who))
