"""Cible is one installable distribution: a wheel built from the checkout carries every module
and every file the pipeline reads, and runs the demo from any folder without the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import duckdb
import pytest
from pipeline_support import SMALL_DATA_SCORING_CONFIG

ROOT = Path(__file__).resolve().parent.parent
# Import name of each top-level folder that holds Python code (pyproject's package-dir).
CODE_FOLDERS = {"cible": "cible", "ml": "cible.ml", "orchestration": "cible.orchestration"}
# Folders shipped as data inside the package, and the files of each the pipeline reads.
DATA_FOLDERS = {
    "dbt_project": ("*.sql", "*.yml", "*.md"),
    "seeds": ("*.csv",),
    "config": ("*.yml", "*.yaml"),
}
# Data files inside the `cible` package itself (pyproject's package-data), by pattern.
PACKAGE_DATA = ("cible/demo/profiles/*.yml",)


def _tracked(folder: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [Path(name) for name in listed]


def test_every_python_folder_is_a_declared_package():
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder, name in CODE_FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert found - declared == set(), "add these to [tool.setuptools] packages in pyproject.toml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the checkout's files, built in a copy (setuptools writes `build/` and
    `*.egg-info` beside the sources, which must not appear in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in _tracked("."):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
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
    )
    (built,) = out.glob("cible-*.whl")
    return built


def test_the_wheel_carries_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, name in CODE_FOLDERS.items():
        prefix = name.replace(".", "/")
        for path in _tracked(folder):
            if path.suffix == ".py":
                expected.add(f"{prefix}/{path.relative_to(folder).as_posix()}")
    for folder, patterns in DATA_FOLDERS.items():
        for path in _tracked(folder):
            if any(path.match(pattern) for pattern in patterns):
                expected.add(f"cible/{path.as_posix()}")
    for path in _tracked("cible"):
        if any(path.match(pattern) for pattern in PACKAGE_DATA):
            expected.add(path.as_posix())
    assert expected - names == set()
    assert not [name for name in names if "/target/" in name or name.startswith(("ml/", "seeds/"))]


@pytest.mark.e2e
def test_an_installed_wheel_runs_the_demo_from_another_folder(wheel, tmp_path):
    """`pip install` of the wheel (not editable), run far from the checkout: the demo builds."""
    site = tmp_path / "site"
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
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIBLE_", "DAGSTER_", "DBT_", "PYTEST_")) and key != "PYTHONPATH"
    }
    # The wheel's copy first: the checkout's editable install must not be the one imported.
    env["PYTHONPATH"] = str(site)
    # One cheap candidate per target (as every whole-graph test): the shipped search's minute
    # or more of training proves nothing about packaging; the shipped config file is checked in
    # the wheel above and `make demo` runs it.
    env["CIBLE_SCORING_CONFIG"] = str(SMALL_DATA_SCORING_CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "cible", "demo", "--customers", "2000"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    warehouse = elsewhere / "data" / "warehouse" / "cible.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        customers = con.execute("select count(*) from marts.dim_customers").fetchall()[0][0]
        segments = con.execute("select count(*) from marts.dim_segments").fetchall()[0][0]
        scored = con.execute("select count(*) from marts.fct_customer_scores").fetchall()[0][0]
        # The demo's erasure requests are applied (with the demo's key, made in that folder).
        erased = con.execute(
            "select count(*) from privacy.erasures where crm_records_found > 0"
        ).fetchall()[0][0]
    assert erased > 0 and customers == 2000 - erased
    assert (elsewhere / "data" / "secrets" / "privacy.key").is_file()
    assert segments > 0 and scored > 0
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cible.orchestration, cible.settings as s; "
            "print(cible.orchestration.__file__, s.DBT_PROJECT_DIR)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(site) in imported and str(ROOT) not in imported
    # Nothing was written into the checkout or the installed package but the bytecode.
    assert not (site / "cible" / "dbt_project" / "target").exists()
