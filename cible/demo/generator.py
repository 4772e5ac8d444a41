"""Generate the demo Maison: every landing source, chunk by chunk, plus the truth files."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from cible.contract import load_contract
from cible.settings import DEMO_MARKER as MARKER

from .context import Context
from .crm import build_customers
from .engagement import (
    build_campaign_events,
    build_consents,
    build_erasure_requests,
    build_partner_enrichment,
    build_survey_answers,
)
from .people import build_people
from .personas import persona_manifest
from .profile import DEFAULT_PROFILE, GeneratorProfile, load_profile
from .reference import load_reference
from .shop import build_orders
from .web import build_events
from .writers import LandingWriter, TruthWriter

# Every source the generator writes, in the order it reports them.
LANDING_NAMES = (
    "customers",
    "orders",
    "order_lines",
    "events",
    "campaign_events",
    "survey_answers",
    "partner_enrichment",
    "consents",
    "erasure_requests",
)
FILE_FORMATS = ("mixed", "parquet")
TRUTH_FILES = (
    "persons.parquet",
    "records.parquet",
    "devices.parquet",
    "outcomes.parquet",
    "defects.json",
    "manifest.json",
)
# Documented defect rates of the built-in profile (README.md). Each row carries at most one.
DEFECT_RATES: dict[str, dict[str, float]] = DEFAULT_PROFILE.defect_rates()
TEXT_SOURCES_WITH_MALFORMED = (
    "customers",
    "orders",
    "campaign_events",
    "survey_answers",
    "consents",
)


def _same_or_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _prepare_folder(folder: Path, generated: set[str], what: str) -> None:
    """Create ``folder`` or clear the demo files of a previous run.

    Raises:
        ValueError: when the folder holds files but no demo marker (it may be user data).
    """
    folder.mkdir(parents=True, exist_ok=True)
    entries = list(folder.iterdir())
    if entries and not (folder / MARKER).exists():
        raise ValueError(
            f"refusing to write the demo {what} into {folder}: the folder is not empty and has "
            f"no {MARKER} marker, so it may hold your own data. Choose an empty folder or "
            f"remove its content first."
        )
    for entry in entries:
        stem = entry.name.split(".", 1)[0]
        if entry.name in generated or stem in generated:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    (folder / MARKER).write_text(
        "Written by `python -m cible.demo`; its files here are replaced on the next run.\n",
        encoding="utf-8",
    )


def _persons_truth(people, shop) -> pa.Table:
    return pa.table(
        {
            "person_id": people["person_id"].to_numpy(dtype=object).astype(str),
            "persona": people["persona_name"].to_numpy(dtype=object).astype(str),
            "purchase_rate_per_year": shop.truth["purchase_rate_per_year"].to_numpy(),
            "mean_order_value": people["mean_order_value"].to_numpy(),
            "p_purchase_30d": shop.truth["p_purchase_30d"].to_numpy(),
            "p_purchase_30d_before_end": shop.truth["p_purchase_30d_before_end"].to_numpy(),
            "expected_orders_90d": shop.truth["expected_orders_90d"].to_numpy(),
            "region": people["region_code"].to_numpy(dtype=object).astype(str),
            "is_prospect": shop.truth["is_prospect"].to_numpy(),
        }
    )


def _outcomes_truth(people, shop) -> pa.Table:
    return pa.table(
        {
            "person_id": people["person_id"].to_numpy(dtype=object).astype(str),
            "orders_next_30d": shop.truth["orders_next_30d"].to_numpy().astype(np.int64),
            "orders_next_90d": shop.truth["orders_next_90d"].to_numpy().astype(np.int64),
            "spend_next_90d": shop.truth["spend_next_90d"].to_numpy(),
        }
    )


RECORDS_SCHEMA = pa.schema(
    [
        ("customer_number", pa.string()),
        ("person_id", pa.string()),
        ("record_kind", pa.string()),
        ("duplicate_variant", pa.string()),
        ("household_of", pa.string()),
    ]
)
DEVICES_SCHEMA = pa.schema(
    [("anonymous_id", pa.string()), ("person_id", pa.string()), ("is_shared", pa.bool_())]
)


def generate(
    landing_dir: str | Path,
    truth_dir: str | Path,
    n_customers: int = 20_000,
    seed: int = 42,
    end_date: date = date(2026, 10, 31),
    file_format: str = "mixed",
    events_per_customer: float = 20.0,
    chunk_size: int = 50_000,
    profile: GeneratorProfile | str | Path | None = None,
) -> dict:
    """Write the demo data set: landing sources into ``landing_dir``, truth into ``truth_dir``.

    The output depends only on the arguments (the seed and the parameters). Persons are
    generated in chunks of ``chunk_size`` so memory stays bounded whatever ``n_customers``.

    Args:
        landing_dir: folder the pipeline reads; must be empty or hold a previous demo run.
        truth_dir: folder for the truth files (never read by the pipeline), same rule.
        n_customers: number of persons (CRM records are about 12% more).
        seed: random seed.
        end_date: last day of the history (inclusive).
        file_format: ``"mixed"`` (CSV, JSONL and Parquet as in real exports) or ``"parquet"``.
        events_per_customer: mean web/app events per person over the last year, anonymous
            visitors' events included.
        chunk_size: persons per chunk.
        profile: the personas, rates and defect levels (`cible.demo.profile`): a
            `GeneratorProfile`, a built-in name (``maison``, ``contrast``) or a YAML file's
            path; None is the built-in ``maison``, the data documented in README.md.

    Returns:
        The manifest (also written to ``truth_dir/manifest.json``).

    Raises:
        ValueError: on a bad argument or a landing/truth folder that may hold user data.
        cible.yaml_config.ConfigError (a ValueError): on an invalid profile.
    """
    started = time.perf_counter()
    profile = load_profile(profile)
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, not {file_format!r}")
    if n_customers < 1 or chunk_size < 1:
        raise ValueError("n_customers and chunk_size must be positive")
    if events_per_customer < 0:
        raise ValueError("events_per_customer must not be negative")
    landing = Path(landing_dir).resolve()
    truth = Path(truth_dir).resolve()
    if _same_or_inside(truth, landing) or _same_or_inside(landing, truth):
        raise ValueError("the truth folder must be outside the landing folder (and vice versa)")
    reference = load_reference()
    profile.check_reference(reference)
    defect_rates = profile.defect_rates()
    _prepare_folder(landing, set(LANDING_NAMES), "landing data")
    _prepare_folder(truth, set(TRUTH_FILES), "truth files")

    contracts = load_contract()
    n_chunks = math.ceil(n_customers / chunk_size)
    global_seed, *chunk_seeds = np.random.SeedSequence(seed).spawn(n_chunks + 1)
    ctx = Context.build(
        reference, contracts, end_date, np.random.default_rng(global_seed), n_chunks, profile
    )
    malformed = {
        source: defect_rates.get(source, {}).get("malformed_line", 0.0) for source in LANDING_NAMES
    }
    landing_writer = LandingWriter(landing, contracts, file_format, malformed)
    truth_writer = TruthWriter(truth)
    counters = Counter()
    defects: dict[str, Counter] = defaultdict(Counter)

    for chunk in range(n_chunks):
        rng = [np.random.default_rng(s) for s in chunk_seeds[chunk].spawn(10)]
        first = chunk * chunk_size
        people = build_people(ctx, rng[0], first, min(chunk_size, n_customers - first))
        crm = build_customers(ctx, people, rng[1], chunk, defect_rates["customers"])
        people = crm.people
        landing_writer.write("customers", crm.columns, rng[9], local_time=True)
        defects["customers"].update(crm.defects)

        shop = build_orders(ctx, people, rng[2], counters["orders"], defect_rates["orders"])
        counters["orders"] += len(shop.orders["order_id"])
        landing_writer.write(
            "orders", shop.orders, rng[9], local_time=True, overrides={"amount": shop.amount_text}
        )
        landing_writer.write("order_lines", shop.lines, rng[9])
        defects["orders"].update(shop.defects)
        defects["order_lines"].update(shop.line_defects)

        web = build_events(
            ctx,
            people,
            shop.web_orders,
            rng[3],
            counters,
            events_per_customer,
            defect_rates["events"],
        )
        landing_writer.write("events", web.columns, rng[9])
        counters["devices"] += web.n_devices
        counters["sessions"] += web.n_sessions
        counters["event_ids"] += web.n_event_ids
        defects["events"].update(web.defects)

        consents, consent_state = build_consents(ctx, people, rng[4], counters["consents"])
        landing_writer.write("consents", consents.columns, rng[9], local_time=True)
        counters["consents"] += consents.ids_used

        campaigns = build_campaign_events(
            ctx,
            people,
            consent_state,
            web.has_app_device,
            rng[5],
            counters["campaign_events"],
            defect_rates["campaign_events"],
        )
        landing_writer.write("campaign_events", campaigns.columns, rng[9])
        counters["campaign_events"] += campaigns.ids_used
        defects["campaign_events"].update(campaigns.defects)

        surveys = build_survey_answers(
            ctx, people, rng[6], counters["answers"], defect_rates["survey_answers"]
        )
        landing_writer.write("survey_answers", surveys.columns, rng[9])
        counters["answers"] += surveys.ids_used
        defects["survey_answers"].update(surveys.defects)

        partners = build_partner_enrichment(ctx, people, rng[7])
        landing_writer.write("partner_enrichment", partners.columns, rng[9])

        erasures = build_erasure_requests(ctx, people, rng[8], counters["erasures"])
        landing_writer.write("erasure_requests", erasures.columns, rng[9], local_time=True)
        counters["erasures"] += erasures.ids_used

        truth_writer.write("persons", _persons_truth(people, shop))
        truth_writer.write("outcomes", _outcomes_truth(people, shop))
        truth_writer.write(
            "records", pa.Table.from_pandas(crm.truth, schema=RECORDS_SCHEMA, preserve_index=False)
        )
        truth_writer.write(
            "devices",
            pa.Table.from_pandas(web.devices, schema=DEVICES_SCHEMA, preserve_index=False),
        )

    sources = landing_writer.close()
    truth_rows = truth_writer.close()
    report: dict = {}
    for source in LANDING_NAMES:
        counts = dict(sorted(defects[source].items()))
        if source in TEXT_SOURCES_WITH_MALFORMED:
            counts["malformed_line"] = sources[source]["malformed_lines"]
        report[source] = counts
    report["rates"] = defect_rates
    report["rows_written"] = {source: sources[source]["rows"] for source in LANDING_NAMES}
    (truth / "defects.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    manifest = {
        "generator": "cible.demo",
        "seed": seed,
        "parameters": {
            "n_customers": n_customers,
            "end_date": end_date.isoformat(),
            "file_format": file_format,
            "events_per_customer": events_per_customer,
            "chunk_size": chunk_size,
        },
        "end_date": end_date.isoformat(),
        "history": {
            "start_date": ctx.timeline.start_date.isoformat(),
            "cutoff_utc": f"{np.datetime64(ctx.timeline.cutoff_sec, 's')}Z",
            "future_days_in_outcomes": ctx.timeline.n_days - ctx.timeline.history_days,
        },
        "sources": {
            source: {
                key: sources[source][key]
                for key in ("path", "format", "rows", "parts", "malformed_lines")
            }
            for source in LANDING_NAMES
        },
        "defects": {source: report[source] for source in LANDING_NAMES},
        "truth": {f"{name}.parquet": rows for name, rows in sorted(truth_rows.items())},
        "campaigns": len(ctx.campaigns),
        "surveys": ctx.surveys["survey_id"].tolist(),
        "profile": {
            "name": profile.name,
            "source": profile.source,
            "settings": profile.model_dump(mode="json"),
        },
        **persona_manifest(
            ctx.personas,
            profile.purchase_model.rate_multiplier_shape,
            profile.purchase_model.order_value_p,
            profile.purchase_model.order_value_q,
        ),
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }
    (truth / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
