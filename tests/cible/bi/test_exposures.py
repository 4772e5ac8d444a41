"""Lineage shows who reads what: the BI tools' exposure names exactly the published marts."""

from cible.orchestration.dbt import cible_dbt_project

from cible.bi.publish import load_manifest, published_models


def test_the_bi_exposure_names_every_published_mart_and_only_them():
    manifest = load_manifest(cible_dbt_project().manifest_path)
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    read = {node.split(".")[-1] for node in exposures["bi_tools"]["depends_on"]["nodes"]}
    assert read == {model.name for model in published_models(manifest)}
    dashboard = {
        node.split(".")[-1] for node in exposures["marketing_dashboard"]["depends_on"]["nodes"]
    }
    assert dashboard <= read, "the dashboard reads the published copy only"
