"""Every audience of the bundled config has its dbt exposure, so lineage shows who reads what."""

import yaml

from cible import settings
from cible.activation.config import load_audiences_config

EXPOSURES = settings.DBT_PROJECT_DIR / "models" / "exposures" / "_activation__exposures.yml"


def test_each_audience_has_an_exposure_naming_the_marts_it_reads():
    exposures = {e["name"]: e for e in yaml.safe_load(EXPOSURES.read_text())["exposures"]}
    for audience in load_audiences_config().audiences:
        exposure = exposures.get(f"audience_{audience.name}")
        assert exposure is not None, f"no exposure audience_{audience.name} in {EXPOSURES}"
        reads = set(exposure["depends_on"])
        assert {"ref('fct_segment_memberships')", "ref('fct_customer_consents')"} <= reads
        if any(column.endswith("_decile") for column in audience.columns()):
            assert "ref('fct_customer_scores')" in reads
