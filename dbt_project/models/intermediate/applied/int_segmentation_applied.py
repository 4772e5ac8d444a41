"""Today's segments from the published segmentation model, inside `dbt build` (no refit).

Appends an apply run to the `ml` segmentation tables (gates evaluated, ids kept stable),
exactly as Dagster's segmentation step does, and returns its audit row; the segment marts,
built after this model, read the run. See `cible/applied/__init__.py`.
"""


def model(dbt, session):
    dbt.config(materialized="table", tags=["segmentation"])
    # The features and the consent state this run reads (the refs order the build).
    dbt.ref("fct_customer_features")
    dbt.ref("fct_customer_consents")

    from cible.applied import apply_segmentation, errors_as_messages

    # A setting to fix shows as one paragraph in dbt's output, not a traceback.
    with errors_as_messages():
        applied = apply_segmentation(session)
    return applied
