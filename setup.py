"""The list of packages, computed: every other setting is in pyproject.toml.

Cible installs folders of the checkout under `cible` (`package-dir` in pyproject.toml). The
data folders inside them (dbt models by layer, the dashboard's templates, the tracker's static
files) are packages too for setuptools, which ships their files only if it is told each one:
a fixed list in pyproject.toml would miss the next dbt folder.
"""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

# Build output and caches in the checkout, never shipped.
NOT_SHIPPED = ["target", "target.*", "logs", "logs.*", "*__pycache__*", "*.egg-info*"]


def packages() -> list[str]:
    """Each installed package of `package-dir` and every folder under it."""
    settings = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())
    found = []
    for package, folder in settings["tool"]["setuptools"]["package-dir"].items():
        found.append(package)
        subfolders = find_namespace_packages(folder, exclude=NOT_SHIPPED)
        found += [f"{package}.{sub}" for sub in subfolders]
    return sorted(found)


setup(packages=packages())
