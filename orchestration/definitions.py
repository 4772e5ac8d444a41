"""Composition root of the Cible code location: merges what each room defines.

`dagster dev -m cible.orchestration.definitions` finds `defs` and builds it when it loads the
code location, not when the module is imported.
"""

import os

from cible.orchestration.activation import build_activation_definitions
from cible.orchestration.automation import build_automation_definitions
from cible.orchestration.bi import build_bi_definitions
from cible.orchestration.dbt import build_warehouse_definitions, cible_dbt_project
from cible.orchestration.ingest import build_ingestion_definitions
from cible.orchestration.live import build_live_definitions
from cible.orchestration.privacy import build_privacy_definitions
from cible.orchestration.scoring import build_scoring_definitions
from cible.orchestration.segmentation import build_segmentation_definitions
from dagster import Definitions, definitions

# The definitions `defs` built, with the environment they were built in.
_loaded: tuple[dict[str, str], Definitions] | None = None


def build_definitions(with_demo: bool | None = None) -> Definitions:
    """Every asset, check, job and resource of Cible; the demo generator only `with_demo`
    (by default as `cible.settings.demo_enabled` says)."""
    project = cible_dbt_project()
    return Definitions.merge(
        build_ingestion_definitions(project, with_demo),
        build_privacy_definitions(project),
        build_warehouse_definitions(project),
        build_segmentation_definitions(project),
        build_scoring_definitions(project),
        build_automation_definitions(project),
        build_live_definitions(project),
        build_activation_definitions(project),
        build_bi_definitions(project),
    )


@definitions
def defs() -> Definitions:
    """The code location Dagster loads, built once per process and environment.

    Dagster loads it again in every process of a run (the run worker, then each step process);
    the step processes are forked from a server that loaded it already
    (`cible.orchestration.forkserver`), and so reuse it with its repository and jobs. A change
    of the environment (a test's settings, say) builds it again.
    """
    global _loaded
    environment = dict(os.environ)
    if _loaded is None or _loaded[0] != environment:
        _loaded = (environment, build_definitions())
    return _loaded[1]
