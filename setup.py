"""The list of packages, computed: every other setting is in pyproject.toml.

Cible installs four folders of the checkout under `cible` (`package-dir` in pyproject.toml). The
data folders inside them (dbt models by layer, the dashboard's templates, the tracker's static
files) are packages too for setuptools, which ships their files only if it is told each one:
a fixed list in pyproject.toml would miss the next dbt folder.
"""

from setuptools import find_namespace_packages, setup

# Build output and caches in the checkout, never shipped.
NOT_SHIPPED = ["target", "target.*", "logs", "logs.*", "*__pycache__*", "*.egg-info*"]
# Each installed package and the folder holding it (as `package-dir` in pyproject.toml).
FOLDERS = {
    "cible": "cible",
    "cible.ml": "ml",
    "cible.orchestration": "orchestration",
    "cible.dbt_project": "dbt_project",
    "cible.seeds": "seeds",
    "cible.config": "config",
}


def packages() -> list[str]:
    found = []
    for package, folder in FOLDERS.items():
        found.append(package)
        found += [
            f"{package}.{sub}"
            for sub in find_namespace_packages(folder, exclude=NOT_SHIPPED)
            if f"{package}.{sub}" not in FOLDERS
        ]
    return sorted(set(found))


setup(packages=packages())
