"""Today's scores from each target's promoted model, inside `dbt build` (no retraining).

Appends a scoring run (scores, lifetime values, drift) to the `ml` scoring tables exactly as
Dagster's scoring step does, a blocking drift keeping its scores out, and returns one audit
row per target; the score marts, built after this model, read the run. See
`cible/applied/__init__.py`.
"""


def model(dbt, session):
    dbt.config(materialized="table", tags=["scoring"])
    # The features, orders and consent state this run reads (the refs order the build).
    dbt.ref("fct_customer_features")
    dbt.ref("fct_orders")
    dbt.ref("fct_customer_consents")

    from cible.applied import apply_scoring, errors_as_messages

    # A setting to fix shows as one paragraph in dbt's output, not a traceback.
    with errors_as_messages():
        applied = apply_scoring(session)
    return applied
