"""Cible as a user installs it: a wheel built from the checkout's tracked files, installed into
a folder of its own, and the environment of a shell far from the checkout that imports it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline_support import SMALL_DATA_SCORING_CONFIG

ROOT = Path(__file__).resolve().parent.parent


def tracked(folder: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [Path(name) for name in listed]


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of the checkout's tracked files, built in the copy `source` (setuptools writes
    `build/` and `*.egg-info` beside the sources, which must not appear in the checkout); the
    build's output is kept in `out/build.log`."""
    for name in tracked("."):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    # What setuptools said while building (its warnings among it), for test_packaging.py.
    (out / "build.log").write_text(built.stdout + built.stderr)
    (wheel,) = out.glob("cible-*.whl")
    return wheel


def install_wheel(wheel: Path, site: Path) -> dict[str, str]:
    """`pip install` of the wheel (not editable) into `site`; returns the environment of a
    shell using it: nothing of Cible's, Dagster's or dbt's settings from this one, and the
    wheel's copy first on the path (the checkout's editable install must not be imported)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIBLE_", "DAGSTER_", "DBT_", "PYTEST_")) and key != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(site)
    # One cheap candidate per target (as every whole-graph test): the shipped search's minute
    # or more of training proves nothing about packaging; the shipped config file is checked
    # in the wheel (test_packaging.py) and `make demo` runs it.
    env["CIBLE_SCORING_CONFIG"] = str(SMALL_DATA_SCORING_CONFIG)
    return env


def imported_from(folder: Path, env: dict[str, str]) -> str:
    """Where a Python started in `folder` with `env` imports Cible's packages from."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import cible.orchestration, cible.settings as s; "
            "print(cible.orchestration.__file__, s.DBT_PROJECT_DIR)",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
