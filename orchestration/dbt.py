"""The dbt project as Dagster assets: every model and seed an asset, every dbt test a check."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from cible import settings

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR
)
# Under `dagster dev`, parse the project so the manifest matches the code; elsewhere (CLI
# materializations, CI) the manifest is built beforehand by `dbt parse`.
dbt_project.prepare_if_dev()

# Models that read what Python steps write (segments, scores) are built by their own dbt
# assets, downstream of those steps; the warehouse build leaves them out.
ML_PUBLISHED_TAGS = ("segmentation", "scoring")
WAREHOUSE_EXCLUDE = " ".join(f"tag:{tag}" for tag in ML_PUBLISHED_TAGS)


def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """`staging`, `intermediate` or `marts` for models: the first folder under `models/`."""
    fqn = dbt_resource_props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else "warehouse"


class CibleDbtTranslator(DagsterDbtTranslator):
    """Groups assets by warehouse layer; a dbt source is keyed by its schema (`raw`, `ml`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(
                [
                    dbt_resource_props["schema"],
                    dbt_resource_props["source_name"],
                    dbt_resource_props["name"],
                ]
            )
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return "reference"
        if resource_type == "source":
            return "ingestion" if dbt_resource_props["schema"] == "raw" else None
        return _layer(dbt_resource_props)


translator = CibleDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude=WAREHOUSE_EXCLUDE,
)
def warehouse_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Build the dbt models and seeds selected, running their tests as asset checks."""
    yield from build_selected(context, dbt)


def build_selected(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the models a Dagster selection holds, against Cible's warehouse."""
    # dbt runs from its project folder: hand it the absolute warehouse path Cible resolved.
    os.environ[settings.WAREHOUSE_ENV] = str(settings.warehouse_path())
    yield from dbt.cli(["build"], context=context).stream()
