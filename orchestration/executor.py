"""The executor of Cible's runs: one step at a time, each in its own process."""

from dagster import multi_or_in_process_executor

# What the forkserver imports before forking a step process: Dagster's executor first (as
# Dagster does), then the module that loads the code location (orchestration/forkserver.py).
PRELOADED = ["dagster._core.executor.multiprocess", "cible.orchestration.forkserver"]


def one_step_at_a_time(config: dict) -> dict:
    """Multiprocess runs execute one step at a time unless `max_concurrent` says otherwise,
    in processes forked from a server that has loaded the code location once.

    DuckDB admits one writing process per file, and nearly every step writes the warehouse (dbt
    builds, the loader, segmentation, scoring): two steps of a run in parallel (the training
    features' dbt build beside the segmentation, say) would fail on the file lock. Steps keep
    their own processes, so a crashed step does not take the run down; `forkserver` spares
    each of them importing Dagster, dbt and scikit-learn again (`spawn` took 12 to 15 s between
    two steps on 2 busy cores), and its server loads the definitions once
    (`cible.orchestration.forkserver`) instead of every step process building them again.
    `start_method` in the run config overrides it.
    """
    if "multiprocess" not in config:
        return config
    multiprocess = dict(config["multiprocess"] or {})
    multiprocess["max_concurrent"] = multiprocess.get("max_concurrent") or 1
    multiprocess.setdefault("start_method", {"forkserver": {"preload_modules": PRELOADED}})
    return {"multiprocess": multiprocess}


warehouse_executor = multi_or_in_process_executor.configured(
    one_step_at_a_time,
    name="warehouse_executor",
    config_schema=multi_or_in_process_executor.config_schema,
)
