"""Imported by the forkserver of a multiprocess run, before it forks the step processes.

Each step process of a run launched from the UI or a schedule is forked from one server
process per run (`forkserver`). Dagster has that server import the code location's module; the
step process then built the definitions, the repository and the job again before its step
started: 2 to 4 s a step here (up to 10 s on 2 busy cores), about twenty times a run. Loaded
once in the server (`defs` keeps what it built for its process), they reach every step process
with the fork: between a step process's start and its step, 75 s in all over the 21 steps of a
whole demo run before, 6 s after (600 customers, 2 busy cores, 2026-12-06).

Nothing here may stop the server: a failure only leaves each step process to load the
definitions itself, as before.
"""

import os


def load_code_location() -> bool:
    """Load the code location as a step process would; False when it could not be."""
    try:
        from cible.orchestration import definitions
        from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
        from dagster._core.definitions.reconstruct import ReconstructableRepository

        # Dagster's own path (the step process takes it with its run's job and selection):
        # `defs` keeps what it built, the repository keeps its resolved asset graph and jobs;
        # the job of every asset resolves the whole graph.
        repository = ReconstructableRepository.for_module(
            definitions.__name__, "defs", working_directory=os.getcwd()
        )
        repository.get_reconstructable_job(IMPLICIT_ASSET_JOB_NAME).get_definition()
    except Exception:  # the step processes load it themselves then
        return False
    return True


load_code_location()
