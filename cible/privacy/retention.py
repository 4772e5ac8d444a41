"""Retention: prospects and former customers without contact for too long are erased.

The CNIL's référentiel on commercial management keeps a prospect's (and a former customer's)
data 3 years from the last contact coming from the person. A contact is something the person
did: an order, a visit while logged in, a consent choice, a survey answer, a campaign click or
conversion (``retention.campaign_contact_events``), or creating the account; opening an e-mail
is not one. Persons past the limit are erased exactly as by a request (:mod:`.erasure`), under a
request id derived from their fingerprint, so the bookkeeping holds no identifier.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

import duckdb
import pandas as pd

from cible.privacy import fingerprints as fp
from cible.privacy.config import RetentionConfig
from cible.privacy.erasure import RETENTION, ErasureRequest
from cible.warehouse import table_exists

# (relation, customer column, time column, extra condition) of each kind of contact, read from
# the previous build's intermediate tables.
CONTACTS = (
    ("intermediate.int_customers_merged", "customer_id", "created_at", ""),
    ("intermediate.int_orders_attributed", "customer_id", "ordered_at", ""),
    ("intermediate.int_consents_attributed", "customer_id", "occurred_at", ""),
    ("intermediate.int_survey_answers_attributed", "customer_id", "answered_at", ""),
    ("intermediate.int_events_attributed", "login_customer_id", "occurred_at", ""),
    ("intermediate.int_campaign_events_attributed", "customer_id", "occurred_at", "campaign"),
)


def last_contacts(con: duckdb.DuckDBPyConnection, config: RetentionConfig) -> pd.DataFrame:
    """``customer_id``, ``last_contact_at`` for every customer of the last build."""
    parts = []
    for relation, customer, moment, condition in CONTACTS:
        if not table_exists(con, relation):
            continue
        where = f"{customer} is not null"
        if condition == "campaign":
            kinds = ", ".join(f"'{kind}'" for kind in config.campaign_contact_events) or "null"
            where += f" and event_type in ({kinds})"
        parts.append(
            f"select {customer} as customer_id, cast({moment} as timestamp) as contact_at "
            f"from {relation} where {where}"
        )
    if not parts or not table_exists(con, "intermediate.int_customers_merged"):
        return pd.DataFrame({"customer_id": [], "last_contact_at": []})
    union = " union all ".join(parts)
    return con.execute(
        f"""
        select customers.customer_id, max(contacts.contact_at) as last_contact_at
        from intermediate.int_customers_merged as customers
        left join ({union}) as contacts on contacts.customer_id = customers.customer_id
        group by customers.customer_id
        """
    ).df()


def cutoff(config: RetentionConfig, today: date) -> date:
    """The first day still within retention: a last contact before it is too old."""
    return (pd.Timestamp(today) - pd.DateOffset(months=config.months_without_contact)).date()


def stale_customers(
    con: duckdb.DuckDBPyConnection, config: RetentionConfig, today: date
) -> list[str]:
    """Customers whose last contact is before :func:`cutoff` (none when retention is off).

    A customer without any dated contact is kept: nothing says how old they are (their
    account's creation date is missing), and a purge cannot be undone.
    """
    if not config.enabled:
        return []
    contacts = last_contacts(con, config)
    if contacts.empty:
        return []
    limit = pd.Timestamp(cutoff(config, today))
    last = pd.to_datetime(contacts["last_contact_at"])
    return sorted(
        str(c) for c in contacts.loc[last.notna() & (last.dt.normalize() < limit), "customer_id"]
    )


def requests_for(
    customer_ids: list[str], today: date, key: bytes, taken: Collection[str] = ()
) -> list[ErasureRequest]:
    """Erasure requests for stale customers, named by the day and their fingerprint (no
    identifier). A person the landing files bring back while still stale is erased again, under
    a new request: the report shows the source still holds them. Brought back on the day of an
    earlier erasure (a second run that day), the id gets a suffix (``-2``, ``-3``) instead of
    matching a request in ``taken``, which would leave them profiled until the next day."""
    received = datetime.combine(today, datetime.min.time())
    digests = fp.fingerprints(key, "customer_id", customer_ids)
    requests = []
    for customer_id, digest in digests.items():
        base = request_id = f"retention-{today:%Y%m%d}-{digest[:16]}"
        copies = 1
        while request_id in taken:
            copies += 1
            request_id = f"{base}-{copies}"
        requests.append(
            ErasureRequest(
                request_id=request_id,
                origin=RETENTION,
                received_at=received,
                customer_id=customer_id,
            )
        )
    return requests
