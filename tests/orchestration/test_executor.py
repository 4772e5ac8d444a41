"""The executor of UI and scheduled runs: one step at a time, each step process forked from a
server that has loaded the code location once (orchestration/forkserver.py)."""

import os
import subprocess
import sys
from pathlib import Path

from cible.orchestration.executor import PRELOADED, one_step_at_a_time

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# In a process of its own, as the forkserver: load the code location, then time what a step
# process does with it (its run's job, a selection of assets); `defs` keeps what it built until
# the environment changes.
FORKSERVER = """
import os, time
from cible.orchestration import forkserver
loaded = forkserver.load_code_location()
from dagster import AssetKey
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from cible.orchestration.definitions import defs
repository = ReconstructableRepository.for_module("cible.orchestration.definitions", "defs")
started = time.perf_counter()
job = ReconstructableJob(
    repository, "__ASSET_JOB", asset_selection=frozenset([AssetKey(["marts", "dim_customers"])])
).get_definition()
seconds = time.perf_counter() - started
first = defs()
kept = defs() is first
os.environ["CIBLE_EVENT_LOOKBACK_DAYS"] = "5"
print(loaded, kept, defs() is not first, job.name, f"{seconds:.3f}")
"""


def test_multiprocess_runs_take_one_step_at_a_time_from_a_preloading_forkserver():
    config = one_step_at_a_time({"multiprocess": {}})["multiprocess"]
    assert config["max_concurrent"] == 1
    assert config["start_method"] == {"forkserver": {"preload_modules": PRELOADED}}
    assert "cible.orchestration.forkserver" in PRELOADED
    # What the run config says wins.
    asked = one_step_at_a_time(
        {"multiprocess": {"max_concurrent": 2, "start_method": {"spawn": {}}}}
    )
    assert asked["multiprocess"] == {"max_concurrent": 2, "start_method": {"spawn": {}}}
    assert one_step_at_a_time({"in_process": {}}) == {"in_process": {}}


def test_the_forkserver_loads_the_code_location_a_step_process_then_reuses():
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", FORKSERVER],
        cwd=PROJECT_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded, kept, rebuilt, job, seconds = result.stdout.split()[-5:]
    # The load did not fail (a failure is swallowed so that the server never dies) and `defs`
    # returned what it built: a step process gets its job from the loaded repository. Building
    # it all took 1.7 s here beyond the definitions; the reuse 0.02 to 0.05 s. Other settings
    # (a test's, say) build them again.
    assert (loaded, kept, rebuilt, job) == ("True", "True", "True", "__ASSET_JOB")
    assert float(seconds) < 1.0, seconds
