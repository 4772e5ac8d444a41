"""Privacy: erasure right after the load, retention right after the build, verification after
everything.

`privacy_erasure` applies pending erasure requests between the loader and dbt: every dbt model
that reads a raw table depends on it (`CibleDbtTranslator`), so nothing is built from an erased
person; it purges the BI copy too, which a run failing before its publish step would otherwise
leave holding them. `privacy_retention` erases the customers past retention as soon as the
warehouse that says who they are is built (their last contact, this build's), before any step
that profiles, scores, exports or publishes: a first run on years of history never profiles
them, and a customer whose new contact arrived today is not erased on yesterday's data.
`erasure_verification` runs once every mart is published and scans the whole warehouse, the
model store, the audience files, the online store and the BI copy by fingerprint; its check
fails when anything of an erased person remains. Thin wiring: the work is in `cible/privacy/`.
"""

from cible.orchestration.dbt import ERASURE_KEY, RETENTION_KEY, dbt_assets_for
from cible.orchestration.ingest import raw_table_keys
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.resources import WarehouseResource
from cible.orchestration.scoring import score_models
from cible.orchestration.segmentation import segment_models
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_dbt import DbtProject

from cible import settings

GROUP = "privacy"
# The erasure step's tables, keyed as the dbt source `privacy_store` (schema `privacy`). It
# creates `erasure_verifications` too, which the verification step appends to.
TABLES = ("erasures", "erasure_places", "erasure_verifications", "suppression_list")
# Not the dbt source's key (`privacy_store.erasure_verifications`): dbt reads that table through
# a view, and keying it here would make the dbt step both upstream and downstream of this one.
VERIFICATIONS_KEY = AssetKey(["privacy", "erasure_verification"])
VERIFIED_CHECK = "erasures_verified"


def _apply(context: AssetExecutionContext, warehouse: WarehouseResource, **include):
    """`apply_privacy` on the warehouse, with every place outside it; logs its summary."""
    from cible.privacy.bi_copy import configured_copy
    from cible.privacy.erasure import ErasureError
    from cible.privacy.fingerprints import PrivacyKeyError
    from cible.privacy.online_store import configured_store
    from cible.privacy.run import apply_privacy
    from cible.yaml_config import ConfigError

    try:
        with warehouse.connect() as con:
            # The copy is looked up under the warehouse lock: a publish holds it too.
            report = apply_privacy(
                con,
                models_dir=settings.models_dir(),
                online_store=configured_store(),
                exports_dir=settings.exports_dir(),
                bi_copy=configured_copy(),
                **include,
            )
    except (PrivacyKeyError, ConfigError, ErasureError) as error:
        raise Failure(description=str(error), allow_retries=False) from None
    context.log.info(report.summary())
    return report


def build_privacy_definitions(project: DbtProject) -> Definitions:
    """The erasure step after the loader, retention after the build, and the verification
    after the published marts."""
    raw_keys = list(raw_table_keys(project).values())

    @multi_asset(
        name="privacy_erasure",
        specs=[
            AssetSpec(
                AssetKey(["privacy", "privacy_store", table]),
                deps=raw_keys,
                group_name=GROUP,
                description=f"`privacy.{table}`, written by the erasure step.",
                kinds={"python", "duckdb"},
            )
            for table in TABLES
        ],
        backfill_policy=event_backfill_policy,
    )
    def privacy_erasure(context: AssetExecutionContext, warehouse: WarehouseResource):
        """Erase the persons of pending erasure requests, everywhere."""
        report = _apply(context, warehouse, include_retention=False)
        metadata = {
            "requests_applied": len(report.requests),
            "rows_purged": report.outcome.rows_purged,
            "places": len(report.outcome.rows_by_place),
            "seconds": round(report.outcome.seconds, 2),
            "summary": MetadataValue.text(report.summary()),
        }
        for table in TABLES:
            yield MaterializeResult(
                asset_key=AssetKey(["privacy", "privacy_store", table]),
                metadata=metadata if table == TABLES[0] else {},
            )

    # After every model of the build, not only the contact tables retention reads: its purge
    # deletes raw rows, and a model built after it in the same run (Dagster splits the dbt
    # build into steps around the event models) would count them as lost
    # (`rpt_source_reconciliation`'s `unaccounted_rows`, seen on the 20k demo). Depending on
    # the build's last models (those no other one reads) orders it after all of them, with a
    # few edges in the lineage rather than one per model.
    built = {
        key: assets.asset_deps[key] for assets in dbt_assets_for(project) for key in assets.keys
    }
    read = set().union(*built.values())
    last_models = sorted(set(built) - read, key=lambda key: key.to_user_string())

    @asset(
        key=RETENTION_KEY,
        deps=last_models,
        group_name=GROUP,
        kinds={"python", "duckdb"},
        backfill_policy=event_backfill_policy,
    )
    def privacy_retention(context: AssetExecutionContext, warehouse: WarehouseResource):
        """Erase, everywhere, the customers whose last contact in this build is older than
        the retention period (config/privacy.yml)."""
        report = _apply(context, warehouse, include_requests=False)
        return MaterializeResult(
            metadata={
                "retention_applied": len(report.retention),
                "cutoff": str(report.retention_cutoff or "retention off"),
                "rows_purged": report.outcome.rows_purged,
                "seconds": round(report.outcome.seconds, 2),
                "summary": MetadataValue.text(report.summary()),
            }
        )

    published = [*score_models(project).keys, *segment_models(project).keys]

    @asset(
        key=VERIFICATIONS_KEY,
        deps=[ERASURE_KEY, RETENTION_KEY, *published],
        group_name=GROUP,
        kinds={"python", "duckdb"},
        backfill_policy=event_backfill_policy,
        check_specs=[
            AssetCheckSpec(
                VERIFIED_CHECK,
                asset=VERIFICATIONS_KEY,
                description="Nothing of an erased person remains in any table, view, the model "
                "store, the online store or the BI copy.",
            )
        ],
    )
    def erasure_verification(context: AssetExecutionContext, warehouse: WarehouseResource):
        """Scan every place Cible keeps data for every erased person's fingerprints."""
        from cible.privacy.bi_copy import configured_copy
        from cible.privacy.erasure import ErasureError
        from cible.privacy.online_store import configured_store
        from cible.privacy.run import verify_erasures

        try:
            with warehouse.connect() as con:
                results, seconds = verify_erasures(
                    con,
                    models_dir=settings.models_dir(),
                    online_store=configured_store(),
                    exports_dir=settings.exports_dir(),
                    bi_copy=configured_copy(),
                )
        except ErasureError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        remaining = {r.request_id: r.remaining_places for r in results if r.remaining}
        context.log.info(
            f"erasure verification: {len(results)} erasure(s) scanned in {seconds:.1f} s,"
            f" {len(remaining)} with something left"
        )
        yield MaterializeResult(
            metadata={"erasures_scanned": len(results), "seconds": round(seconds, 2)}
        )
        yield AssetCheckResult(
            check_name=VERIFIED_CHECK,
            passed=not remaining,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "erasures_scanned": len(results),
                "with_remaining_rows": len(remaining),
                "remaining": MetadataValue.json(
                    {request: list(places) for request, places in list(remaining.items())[:20]}
                ),
            },
        )

    return Definitions(assets=[privacy_erasure, privacy_retention, erasure_verification])
