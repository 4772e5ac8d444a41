"""The model registry: every trained version kept with its metrics, promoted only when its
gates pass, and the current version per target changeable back to an earlier one.

Files live under `<models_dir>/scoring/<target>/<version>/` (the fitted estimator as
`model.joblib`, `metadata.json`, and evaluation tables); the index, one row per version with
its status, is the warehouse table `ml.model_registry`, updated under the warehouse lock so
that two processes never promote at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from cible import warehouse as wh

REGISTRY_TABLE = "ml.model_registry"
STATUSES = ("candidate", "promoted", "rejected", "retired")
REGISTRY_COLUMNS = {
    "model_version": "varchar",
    "target": "varchar",
    "target_kind": "varchar",
    "model_family": "varchar",
    "status": "varchar",
    "is_current": "boolean",
    "trained_at": "timestamp",
    "training_cutoff_at": "timestamp",
    "horizon_days": "integer",
    "training_rows": "bigint",
    "positive_labels": "bigint",
    "training_data_fingerprint": "varchar",
    "code_version": "varchar",
    "artefact_path": "varchar",
    "gates_passed": "boolean",
    "gate_failures": "varchar",
    "promoted_at": "timestamp",
    "status_changed_at": "timestamp",
    "status_reason": "varchar",
}


class RegistryError(ValueError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


def fingerprint(X: pd.DataFrame, y: pd.Series | None = None) -> str:
    """SHA-256 of the training rows (index, values, labels): the same data, the same print."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, X.columns)).encode())
    digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    if y is not None:
        digest.update(pd.util.hash_pandas_object(y, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def code_version(root: Path | None = None) -> str:
    """The git commit of the code that trained (with `-dirty` for uncommitted changes), or the
    installed distribution's version outside a checkout."""
    root = root or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "ml"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        try:
            return f"cible-{importlib.metadata.version('cible')}"
        except importlib.metadata.PackageNotFoundError:
            return "unknown"
    return commit + ("-dirty" if dirty else "")


def _json_default(value: Any):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as its index row says."""

    model_version: str
    target: str
    status: str
    is_current: bool
    artefact_path: Path

    @classmethod
    def from_row(cls, row: pd.Series) -> ModelVersion:
        return cls(
            model_version=row["model_version"],
            target=row["target"],
            status=row["status"],
            is_current=bool(row["is_current"]),
            artefact_path=Path(row["artefact_path"]),
        )


class ModelRegistry:
    """Versioned artefacts on disk, their index in the warehouse.

    Args:
        root: the models folder (`cible.settings.models_dir()`); files go to `root/scoring`.
        warehouse: the DuckDB file holding `ml.model_registry` (default: Cible's warehouse).
    """

    def __init__(self, root: Path, warehouse: Path | None = None):
        self.root = Path(root) / "scoring"
        self.warehouse = warehouse

    # ---------- index

    def _ensure(self, con) -> None:
        columns = ", ".join(f"{name} {kind}" for name, kind in REGISTRY_COLUMNS.items())
        con.execute("create schema if not exists ml")
        con.execute(f"create table if not exists {REGISTRY_TABLE} ({columns})")

    def versions(self, target: str | None = None) -> pd.DataFrame:
        """The index, oldest first (all targets, or one)."""
        with wh.connect(self.warehouse) as con:
            self._ensure(con)
            sql = f"select * from {REGISTRY_TABLE}"
            params: list = []
            if target is not None:
                sql += " where target = ?"
                params.append(target)
            return con.execute(sql + " order by trained_at, model_version", params).df()

    def get(self, model_version: str) -> ModelVersion:
        rows = self.versions()
        rows = rows[rows["model_version"] == model_version]
        if rows.empty:
            raise RegistryError(f"no model version {model_version!r} in {REGISTRY_TABLE}")
        return ModelVersion.from_row(rows.iloc[0])

    def current(self, target: str) -> ModelVersion | None:
        """The version that scores `target`, or None before any promotion."""
        rows = self.versions(target)
        rows = rows[rows["is_current"].fillna(False).astype(bool)]
        return None if rows.empty else ModelVersion.from_row(rows.iloc[-1])

    # ---------- writing

    def register(
        self,
        target: str,
        target_kind: str,
        model_family: str,
        artefact: Any,
        metadata: dict,
        tables: dict[str, pd.DataFrame] | None = None,
        extra_artefacts: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Store a trained model as a new `candidate` version of `target`.

        Args:
            artefact: the fitted estimator, persisted whole with joblib.
            metadata: JSON-serialisable facts (metrics, parameters, cutoff, fingerprint...).
            tables: evaluation tables saved beside it as Parquet (`<name>.parquet`).
            extra_artefacts: other fitted objects (`<name>.joblib`), e.g. the online model.
        """
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        with wh.connect(self.warehouse) as con:
            self._ensure(con)
            count = con.execute(
                f"select count(*) from {REGISTRY_TABLE} where target = ?", [target]
            ).fetchall()[0][0]
            version = f"{target}-v{count + 1:04d}"
            folder = self.root / target / version
            folder.mkdir(parents=True, exist_ok=False)
            joblib.dump(artefact, folder / "model.joblib")
            for name, extra in (extra_artefacts or {}).items():
                joblib.dump(extra, folder / f"{name}.joblib")
            for name, table in (tables or {}).items():
                table.to_parquet(folder / f"{name}.parquet", index=False)
            metadata = {**metadata, "model_version": version, "target": target, "trained_at": now}
            (folder / "metadata.json").write_text(
                json.dumps(metadata, indent=2, default=_json_default, sort_keys=True)
            )
            row = {
                "model_version": version,
                "target": target,
                "target_kind": target_kind,
                "model_family": model_family,
                "status": "candidate",
                "is_current": False,
                "trained_at": now,
                "training_cutoff_at": pd.Timestamp(metadata.get("training_cutoff_at")),
                "horizon_days": metadata.get("horizon_days"),
                "training_rows": metadata.get("training_rows"),
                "positive_labels": metadata.get("positive_labels"),
                "training_data_fingerprint": metadata.get("training_data_fingerprint"),
                "code_version": metadata.get("code_version", "unknown"),
                "artefact_path": str(folder),
                "gates_passed": None,
                "gate_failures": None,
                "promoted_at": None,
                "status_changed_at": now,
                "status_reason": "registered",
            }
            placeholders = ", ".join("?" for _ in REGISTRY_COLUMNS)
            con.execute(
                f"insert into {REGISTRY_TABLE} ({', '.join(REGISTRY_COLUMNS)}) "
                f"values ({placeholders})",
                [row[name] for name in REGISTRY_COLUMNS],
            )
        return self.get(version)

    def decide(self, model_version: str, failures: list[str]) -> ModelVersion:
        """Promote a candidate whose gates all passed (no failures), else reject it.

        A rejected candidate never scores; the current version, if any, stays current.
        """
        version = self.get(model_version)
        if version.status != "candidate":
            raise RegistryError(f"{model_version} is {version.status}, not a candidate")
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        with wh.connect(self.warehouse) as con:
            if failures:
                con.execute(
                    f"update {REGISTRY_TABLE} set status = 'rejected', gates_passed = false, "
                    "gate_failures = ?, status_changed_at = ?, status_reason = ? "
                    "where model_version = ?",
                    ["; ".join(failures), now, "gates failed", model_version],
                )
            else:
                self._make_current(con, version.target, model_version, now, "gates passed")
                con.execute(
                    f"update {REGISTRY_TABLE} set gates_passed = true, gate_failures = null "
                    "where model_version = ?",
                    [model_version],
                )
        return self.get(model_version)

    def _make_current(self, con, target: str, model_version: str, now, reason: str) -> None:
        con.execute(
            f"update {REGISTRY_TABLE} set status = 'retired', is_current = false, "
            "status_changed_at = ?, status_reason = ? where target = ? and is_current",
            [now, f"replaced by {model_version}", target],
        )
        con.execute(
            f"update {REGISTRY_TABLE} set status = 'promoted', is_current = true, "
            "promoted_at = coalesce(promoted_at, ?), status_changed_at = ?, status_reason = ? "
            "where model_version = ?",
            [now, now, reason, model_version],
        )

    def rollback(self, target: str, to_version: str | None = None) -> ModelVersion:
        """Make an earlier version current again (by default the one promoted before the
        current one). Only versions that once passed their gates may come back."""
        rows = self.versions(target)
        current = rows[rows["is_current"].fillna(False).astype(bool)]
        once_promoted = rows[
            rows["promoted_at"].notna() & ~rows["is_current"].fillna(False).astype(bool)
        ]
        if to_version is None:
            if current.empty:
                raise RegistryError(f"{target} has no current version to roll back from")
            earlier = once_promoted[once_promoted["promoted_at"] < current["promoted_at"].iloc[-1]]
            if earlier.empty:
                raise RegistryError(
                    f"{target}: no version was promoted before {current['model_version'].iloc[-1]}"
                )
            to_version = earlier.sort_values("promoted_at")["model_version"].iloc[-1]
        chosen = rows[rows["model_version"] == to_version]
        if chosen.empty:
            raise RegistryError(f"no model version {to_version!r} for target {target}")
        if chosen["promoted_at"].isna().iloc[0]:
            raise RegistryError(
                f"{to_version} never passed its gates ({chosen['status'].iloc[0]}); "
                "only a version that was once promoted can be rolled back to"
            )
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        with wh.connect(self.warehouse) as con:
            self._make_current(con, target, to_version, now, "rolled back")
        return self.get(to_version)

    # ---------- reading artefacts

    def load(self, model_version: str) -> tuple[Any, dict]:
        """The fitted estimator and its metadata (never refitted)."""
        folder = self.get(model_version).artefact_path
        return joblib.load(folder / "model.joblib"), self.metadata(model_version)

    def metadata(self, model_version: str) -> dict:
        folder = self.get(model_version).artefact_path
        return json.loads((folder / "metadata.json").read_text())

    def load_extra(self, model_version: str, name: str) -> Any | None:
        path = self.get(model_version).artefact_path / f"{name}.joblib"
        return joblib.load(path) if path.exists() else None

    def save_extra(self, model_version: str, name: str, artefact: Any) -> Path:
        """Replace a side artefact of a version (the online model after an update)."""
        path = self.get(model_version).artefact_path / f"{name}.joblib"
        joblib.dump(artefact, path)
        return path

    def table(self, model_version: str, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.get(model_version).artefact_path / f"{name}.parquet")
