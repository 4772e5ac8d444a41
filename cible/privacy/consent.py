"""Consent enforced in code: who may be profiled, read from the one consent state.

`marts.fct_customer_consents` (dbt) decides each customer's consent per purpose: the latest
event wins, an objection is a withdrawal, and the `consent_when_absent` setting decides for
customers without an event. Every profiling use reads its population through this module:
segmentation fit and assignment (:mod:`cible.ml.segmentation.store`), rule segments, scoring's
training and scored populations and lifetime value (:mod:`cible.ml.scoring.store`), the live
path. No configuration switches it off; a missing consent state stops the run.

The `has_<purpose>_consent` flags of the features mart say who can be reached (profiles, rule
segments of contactable customers); they are never model inputs (:func:`is_consent_column`).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from cible import warehouse

CONSENT_STATE = "marts.fct_customer_consents"
PROFILING = "profiling"
# The column a profiling step's population carries: allowed by the consent state today.
PROFILING_ALLOWED = "is_profiling_allowed"


class ConsentStateError(RuntimeError):
    """The consent state is missing: nothing may be profiled until the warehouse is built."""


def is_consent_column(name: str) -> bool:
    """Whether a column is a consent flag (`has_<purpose>_consent`): never a model input."""
    return name.startswith("has_") and name.endswith("_consent")


def profiling_allowed_sql(column: str = "customer_id") -> str:
    """A SQL condition true when `column` holds a customer whom the consent state allows to
    be profiled (false for unknown customers)."""
    return (
        f"coalesce({column} in (select customer_id from {CONSENT_STATE} "
        f"where purpose = '{PROFILING}' and is_allowed), false)"
    )


def require_consent_state(con: duckdb.DuckDBPyConnection) -> None:
    """Stop a profiling step when there is no consent state to obey.

    Raises:
        ConsentStateError: `marts.fct_customer_consents` does not exist.
    """
    if not warehouse.table_exists(con, CONSENT_STATE):
        raise ConsentStateError(
            f"{CONSENT_STATE} does not exist, and Cible profiles no one without a consent "
            "state: build the warehouse first (dbt build, or materialize the warehouse assets)"
        )


def consent_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Customers per purpose and rule applied (`purpose`, `rule_applied`, `legal_basis`,
    `is_allowed`, `customers`): what a run reports so that the rule it applied is visible."""
    require_consent_state(con)
    return con.execute(
        f"select purpose, rule_applied, legal_basis, is_allowed, count(*) as customers "
        f"from {CONSENT_STATE} group by purpose, rule_applied, legal_basis, is_allowed "
        "order by purpose, rule_applied"
    ).df()


def describe(summary: pd.DataFrame) -> str:
    """One line saying how profiling consent was decided, loudly when no event decided it."""
    rows = summary[summary["purpose"] == PROFILING]
    allowed = int(rows.loc[rows["is_allowed"], "customers"].sum())
    total = int(rows["customers"].sum())
    parts = [f"{r.customers} {r.rule_applied}" for r in rows.itertuples()]
    line = f"profiling consent: {allowed} of {total} customers allowed ({', '.join(parts)})"
    assumed = rows[rows["rule_applied"] == "absent_granted"]
    if not assumed.empty:
        line += (
            f"; {int(assumed['customers'].sum())} customers have no consent event and are "
            "profiled under legitimate interest (consent_when_absent.profiling): they must be "
            "informed and able to object"
        )
    return line
