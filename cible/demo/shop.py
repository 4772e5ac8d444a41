"""Orders and order lines from each person's purchase process, and the future the pipeline
never sees (``outcomes``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .context import FAR_FROM_STORE_FACTOR, STORES, Context, sample_rows
from .identity import as_str, digits, prefixed
from .people import rate_model
from .timeline import DAY, YEAR_DAYS, hour_of_day
from .writers import format_money

MAX_LINES = 6
STORE_OPENING_UTC = (8, 18)  # 9-10 h to 19-20 h in Paris
STORE_RECORD_SHARE = 0.8  # store orders that reference the person's store record, if any
GENERIC_PROMO_CODES = ("WELCOME10", "BIRTHDAY15", "APP10", "NEWSLETTER10", "PRIVATE20")
FUTURE_YEARS = (30, 80)
WEB_HISTORY_DAYS = 365
# Share of web/app orders whose session the tracker saw (cookie refusals, ad blockers).


@dataclass
class ShopChunk:
    orders: dict
    amount_text: pa.Array
    lines: dict
    defects: Counter
    line_defects: Counter
    web_orders: pd.DataFrame  # tracked web/app orders of the last year, for the web events
    truth: pd.DataFrame  # per person: rates, probabilities, outcomes


def channel_probabilities(ctx: Context, people: pd.DataFrame) -> np.ndarray:
    """Persona channel mix, with less store buying for people far from a boutique."""
    channels = list(ctx.reference.channels)
    probabilities = ctx.matrices.channels[people["persona"].to_numpy()].copy()
    if "store" in channels:
        far = people["zone"].to_numpy() == ctx.zones.index("elsewhere")
        store = channels.index("store")
        moved = probabilities[far, store] * (1 - FAR_FROM_STORE_FACTOR)
        probabilities[far, store] -= moved
        probabilities[far, channels.index("web") if "web" in channels else 0] += moved
    return probabilities


def unknown_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Customer numbers the CRM never assigns (``C99`` + 6 digits)."""
    return as_str(prefixed("C99", digits(rng.integers(0, 1_000_000, n), 6))).astype(object)


def build_orders(
    ctx: Context,
    people: pd.DataFrame,
    rng: np.random.Generator,
    first_order: int,
    rates: dict[str, float],
) -> ShopChunk:
    timeline = ctx.timeline
    history = timeline.history_days
    n = len(people)
    model = rate_model(ctx, people)
    persona = people["persona"].to_numpy()
    first_day = people["first_day"].to_numpy()
    end = np.full(n, history)

    # --- the history: counts then days, exactly from the rate
    counts = rng.poisson(model.integral(first_day, end))
    person = np.repeat(np.arange(n), counts)
    day = model.sample_days(rng, person, first_day, end)
    k = len(person)
    channels = np.array(ctx.reference.channels, dtype=object)
    channel = channels[sample_rows(rng, channel_probabilities(ctx, people), person)]
    is_store = channel == "store"
    seconds_in_day = np.where(
        is_store,
        rng.integers(STORE_OPENING_UTC[0] * 3600, STORE_OPENING_UTC[1] * 3600, k),
        hour_of_day(rng, persona[person], ctx.matrices.hours),
    )
    ordered = timeline.day_start(day) + seconds_in_day
    store_code = np.full(k, None, dtype=object)
    zone = people["zone"].to_numpy()[person[is_store]]
    store_code[is_store] = np.array(STORES, dtype=object)[sample_rows(rng, ctx.store_weights, zone)]
    promo_share = np.array([p.promo_share for p in ctx.personas])[persona[person]]
    has_promo = rng.random(k) < promo_share
    sales = ctx.seasonality.sales_moment[day]
    sales_codes = np.array((*ctx.seasonality.sales_codes, ""), dtype=object)
    generic = np.array(GENERIC_PROMO_CODES, dtype=object)[
        rng.integers(0, len(GENERIC_PROMO_CODES), k)
    ]
    promo_code = np.where(sales >= 0, sales_codes[sales], generic)
    promo_code = np.where(has_promo, promo_code, None)

    # --- values (Gamma-Gamma) and lines
    nu = people["order_value_nu"].to_numpy()
    value = rng.gamma(ctx.profile.purchase_model.order_value_p, 1.0 / nu[person])
    extra_mean = np.array([p.extra_lines_mean for p in ctx.personas])[persona[person]]
    n_lines = 1 + np.minimum(rng.poisson(extra_mean), MAX_LINES - 1)
    order_of_line = np.repeat(np.arange(k), n_lines)
    category = sample_rows(rng, ctx.matrices.categories, persona[person[order_of_line]])
    names = list(ctx.reference.categories)
    quantity = np.ones(len(category), dtype=np.int64)
    if "fragrance_beauty" in names:
        beauty = category == names.index("fragrance_beauty")
        quantity[beauty] += rng.binomial(2, 0.25, beauty.sum())
    if "accessories" in names:
        accessories = category == names.index("accessories")
        quantity[accessories] += rng.random(accessories.sum()) < 0.1
    weight = ctx.category_price[category] * rng.gamma(2.0, 1.0, len(category))
    share = weight / np.bincount(order_of_line, weight, minlength=k)[order_of_line]
    unit_euros = np.maximum(5, np.round(value[order_of_line] * share / quantity))
    unit_cents = (unit_euros * 100).astype(np.int64)
    total_cents = (
        np.bincount(order_of_line, unit_cents * quantity, minlength=k).round().astype(np.int64)
    )

    # --- the record each order references
    primary = people["primary_number"].to_numpy(dtype=object)
    store_number = people["store_number"].to_numpy(dtype=object)
    store_created = people["store_created_sec"].to_numpy()
    use_store_record = (
        is_store
        & pd.notna(store_number[person])
        & (ordered >= store_created[person])
        & (rng.random(k) < STORE_RECORD_SHARE)
    )
    customer_number = np.where(use_store_record, store_number[person], primary[person])

    # --- chronological order ids
    order = np.argsort(ordered, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    order_id = as_str(prefixed("O", digits(1_000_000_000 + first_order + rank, 10))).astype(object)

    # --- defects (disjoint)
    defects: Counter = Counter()
    u = rng.random(k)
    future = u < rates["future_timestamp"]
    unknown = (u >= rates["future_timestamp"]) & (
        u < rates["future_timestamp"] + rates["unknown_customer"]
    )
    shift_years = rng.uniform(*FUTURE_YEARS, future.sum())
    written_at = ordered.copy()
    written_at[future] += (shift_years * YEAR_DAYS * DAY).astype(np.int64)
    customer_number = customer_number.copy()
    customer_number[unknown] = unknown_numbers(rng, unknown.sum())
    defects["future_timestamp"] = int(future.sum())
    defects["unknown_customer"] = int(unknown.sum())
    defects["amount_in_cents"] = int(is_store.sum())
    line_defects = Counter(
        {"lines_of_defective_orders": int((future | unknown)[order_of_line].sum())}
    )

    cents_channels = np.isin(channel, list(ctx.reference.cents_channels))
    amount = np.where(cents_channels, total_cents.astype(np.float64), total_cents / 100.0)
    amount_text = pc.if_else(
        pa.array(cents_channels),
        pc.cast(pa.array(total_cents), pa.string()),
        format_money(total_cents / 100.0),
    )
    orders = {
        "order_id": order_id[order],
        "customer_number": customer_number[order],
        "ordered_at": written_at[order],
        "amount": amount[order],
        "currency": np.full(k, "EUR", dtype=object),
        "channel": channel[order],
        "store_code": store_code[order],
        "promo_code": promo_code[order],
    }
    sku_code = ctx.catalogue.sample_codes(rng, category)
    sku = np.array(ctx.catalogue.vocabulary, dtype=object)[sku_code]
    line_order = np.argsort(rank[order_of_line], kind="stable")
    line_number = (
        np.arange(len(order_of_line)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    )
    lines = {
        "order_id": order_id[order_of_line][line_order],
        "line_number": line_number[line_order],
        "product_sku": sku[line_order],
        "product_category": np.array(names, dtype=object)[category][line_order],
        "quantity": quantity[line_order],
        "unit_price": unit_euros[line_order].astype(np.float64),
    }

    # --- web and app orders of the last year (they leave a purchase session in the events)
    first_line = np.cumsum(n_lines) - n_lines
    recent = (
        ~is_store
        & np.isin(channel, ["web", "app"])
        & (ordered >= timeline.cutoff_sec - WEB_HISTORY_DAYS * DAY)
        & (rng.random(k) < ctx.profile.coverage.tracked_web_order_share)
    )
    web_orders = pd.DataFrame(
        {
            "person": person[recent],
            "ordered_sec": ordered[recent],
            "is_app": channel[recent] == "app",
            "sku_code": sku_code[first_line[recent]],
            "category": category[first_line[recent]],
        }
    )

    # --- truth: probabilities and the next 90 days
    in_30 = model.integral(end, end + 30)
    in_90 = model.integral(end, end + 90)
    before = model.integral(np.clip(end - 30, first_day, None), end)
    future_counts = rng.poisson(in_90)
    future_person = np.repeat(np.arange(n), future_counts)
    future_day = model.sample_days(rng, future_person, end, end + 90)
    future_value = rng.gamma(ctx.profile.purchase_model.order_value_p, 1.0 / nu[future_person])
    truth = pd.DataFrame(
        {
            "purchase_rate_per_year": model.rate_on(history - 1),
            "p_purchase_30d": 1.0 - np.exp(-in_30),
            "p_purchase_30d_before_end": 1.0 - np.exp(-before),
            "expected_orders_90d": in_90,
            "is_prospect": counts == 0,
            "orders_next_30d": np.bincount(future_person[future_day < history + 30], minlength=n),
            "orders_next_90d": future_counts,
            "spend_next_90d": np.round(np.bincount(future_person, future_value, minlength=n), 2),
        }
    )
    return ShopChunk(
        orders=orders,
        amount_text=amount_text.take(pa.array(order)),
        lines=lines,
        defects=defects,
        line_defects=line_defects,
        web_orders=web_orders,
        truth=truth,
    )
