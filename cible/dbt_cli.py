"""The dbt CLI of this environment on Cible's dbt project: which `dbt`, with which environment,
and the one way the project is parsed (the CLI, `make dev`, `dagster dev` and the tests use it).

Plain Python, no Dagster: the orchestration layer builds on it, never the reverse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from cible import settings

MANIFEST = "manifest.json"
# dbt's parse state: what lets the next `dbt parse` read only the files that changed.
PARTIAL_PARSE = "partial_parse.msgpack"

# Where dbt reads the files it parses, and the defaults of `dbt_project.yml`'s path settings.
_PARSED_PATHS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
}


# The environment variables Dagster's steps hand an event window to their dbt process in (what
# the `event_window_start` / `event_window_end` vars say, dbt_project/macros/event_partitions.sql).
EVENT_WINDOW_ENV = {
    "event_window_start": "CIBLE_EVENT_WINDOW_START",
    "event_window_end": "CIBLE_EVENT_WINDOW_END",
}
# Environment variables the models read (the as-of date, the event window; nothing else does
# beside profiles.yml): when they change, dbt re-parses the few models reading them (about
# 1 s), where a changed var makes it parse the whole project again (9 s of CPU here).
MODEL_ENV = (settings.AS_OF_ENV, *EVENT_WINDOW_ENV.values())

# The dbt selector of the models a training snapshot rebuilds as of another day (selectors.yml).
SNAPSHOT_SELECTOR = "as_of"


def snapshot_command(variables: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The dbt arguments and extra environment that build a training snapshot (the `dbt vars`
    of its plan: `as_of_date` and `schema_prefix`).

    The prefix stays a var (it names schemas, which dbt settles when it parses); the day goes
    in the dbt process's `CIBLE_AS_OF` (dbt_project/macros/as_of.sql): dbt parses the whole
    project again when its vars change (9 s of CPU here) and only the models reading an
    environment variable when that changes, so a snapshot as of a new day costs no full parse.
    """
    rest = {name: value for name, value in variables.items() if name != "as_of_date"}
    args = ["run", "--selector", SNAPSHOT_SELECTOR, "--vars", json.dumps(rest, sort_keys=True)]
    return args, {settings.AS_OF_ENV: str(variables["as_of_date"])}


def console_script(name: str) -> str:
    """A console script of this environment (`dbt`, `dagster`), else the one on PATH.

    `.venv/bin/cible` and `.venv/bin/dagster dev` run without `.venv/bin` on PATH: the scripts
    installed beside this Python are the ones meant.
    """
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def dbt_executable() -> str:
    """The `dbt` installed beside Cible (the adapters Cible needs are installed with it)."""
    return console_script("dbt")


def dbt_environment(
    warehouse: Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a dbt process: `base` (default: this process's) with the warehouse.

    dbt runs from its project folder and `profiles.yml` reads `CIBLE_WAREHOUSE`: it gets the
    absolute path Cible resolved (`warehouse`, default `settings.warehouse_path()`).
    """
    env = dict(os.environ if base is None else base)
    env[settings.WAREHOUSE_ENV] = str(Path(warehouse) if warehouse else settings.warehouse_path())
    return env


def save_parse_state(parsed: Path, destination: Path) -> None:
    """Copy a command's parse state (`partial_parse.msgpack`) to where the next command starts
    from: copied, then renamed, so a command starting meanwhile reads a whole file."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f"{destination.name}.{os.getpid()}.tmp")
    shutil.copyfile(parsed, staging)
    os.replace(staging, destination)


def manifest_is_current(project_dir: Path, manifest: Path) -> bool:
    """The manifest exists and is newer than every file dbt parses to write it."""
    if not manifest.exists():
        return False
    written = manifest.stat().st_mtime
    config_file = project_dir / "dbt_project.yml"
    config = yaml.safe_load(config_file.read_text()) or {}
    folders = [
        project_dir / folder
        for key, default in _PARSED_PATHS.items()
        for folder in config.get(key, default)
    ]
    files = [config_file, project_dir / "profiles.yml"]
    files += [path for folder in folders if folder.is_dir() for path in folder.rglob("*")]
    return all(path.stat().st_mtime <= written for path in files if path.is_file())


def parse_project(
    project_dir: Path = settings.DBT_PROJECT_DIR,
    target_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """`dbt parse` into a scratch folder, then move its artifacts into the target, manifest last.

    A process loading the Dagster code location while another one parses would otherwise read
    half a manifest: a rename is atomic, so readers see the old manifest or the new one. Two
    processes parsing at once each write their own scratch folder. The profiles are the
    project's own (`profiles.yml` beside `dbt_project.yml`).

    Args:
        target_dir: where the manifest goes (default `settings.dbt_target_dir()`).
        env: the dbt process's environment (default `dbt_environment()`).

    Returns:
        The manifest's path.

    Raises:
        subprocess.CalledProcessError: dbt could not parse the project (it printed why).
    """
    project_dir = Path(project_dir)
    target = Path(target_dir) if target_dir else settings.dbt_target_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as scratch_dir:
        scratch = Path(scratch_dir)
        # Start from the last parse state so dbt parses only what changed.
        if (target / PARTIAL_PARSE).exists():
            shutil.copy2(target / PARTIAL_PARSE, scratch / PARTIAL_PARSE)
        subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                str(project_dir),
                "--target-path",
                str(scratch),
            ],
            check=True,
            env=dict(env) if env is not None else dbt_environment(),
            cwd=project_dir,
        )
        if not (scratch / MANIFEST).exists():
            raise RuntimeError(f"dbt parse of {project_dir} wrote no {MANIFEST} in {scratch}")
        for artifact in sorted(scratch.iterdir(), key=lambda path: path.name == MANIFEST):
            if artifact.is_file():
                os.replace(artifact, target / artifact.name)
    return target / MANIFEST
