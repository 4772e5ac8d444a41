"""Cible is one installable distribution: a wheel built from the checkout carries every module
and every file the pipeline reads. That an installed wheel runs the whole pipeline from any
folder without the checkout is the Dagster UI test's (tests/browser/test_dagster_ui.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from packaging_support import build_wheel, tracked

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel"))


def test_the_wheel_carries_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, name in CODE_FOLDERS.items():
        prefix = name.replace(".", "/")
        for path in tracked(folder):
            if path.suffix == ".py":
                expected.add(f"{prefix}/{path.relative_to(folder).as_posix()}")
    for folder, patterns in DATA_FOLDERS.items():
        for path in tracked(folder):
            if any(path.match(pattern) for pattern in patterns):
                expected.add(f"cible/{path.as_posix()}")
    for path in tracked("cible"):
        if any(path.match(pattern) for pattern in PACKAGE_DATA):
            expected.add(path.as_posix())
    assert expected - names == set()
    assert not [name for name in names if "/target/" in name or name.startswith(("ml/", "seeds/"))]


def test_every_folder_shipped_is_a_declared_package(wheel):
    """setup.py lists every folder under the installed ones: a folder setuptools was not told
    of is shipped today with a warning (a page of it per folder, 30 pages at every install)
    and will be left out by a later setuptools."""
    log = (wheel.parent / "build.log").read_text()
    assert "absent from the `packages` configuration" not in log
    shipped = {name.rsplit("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert "cible/dbt_project/models/staging/web" in shipped
    assert "cible/live/static" in shipped
