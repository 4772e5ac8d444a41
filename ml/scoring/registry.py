"""The model registry: every trained version kept with its metrics, promoted only when its
gates pass, and the current version per target changeable back to an earlier one.

Files live under `<models_dir>/scoring/<target>/<version>/` (the fitted model as
`model.joblib`, `metadata.json`, and evaluation tables); the index, one row per version with
its status, is the warehouse table `ml.model_registry`, read and written through the step's
:class:`~ml.scoring.store.ScoringStore` (its connection holds the warehouse lock, so two
processes never promote at once).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cible.ml.scoring.store import ScoringStore

STATUSES = ("candidate", "promoted", "rejected", "retired")


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
    def from_row(cls, row: pd.Series, artefact_path: Path) -> ModelVersion:
        return cls(
            model_version=row["model_version"],
            target=row["target"],
            status=row["status"],
            is_current=bool(row["is_current"]),
            artefact_path=artefact_path,
        )


class ModelRegistry:
    """Versioned artefacts on disk, their index in the warehouse.

    Args:
        root: the models folder (`cible.settings.models_dir()`); files go to `root/scoring`.
        store: the step's store, through which the index `ml.model_registry` is read and
            written.
    """

    def __init__(self, root: Path, store: ScoringStore):
        self.root = Path(root) / "scoring"
        self.store = store

    # ---------- index

    def versions(self, target: str | None = None) -> pd.DataFrame:
        """The index, oldest first (all targets, or one)."""
        return self.store.registry_rows(target)

    def _folder(self, target: str, model_version: str) -> Path:
        """Where this registry keeps a version's files."""
        return self.root / target / model_version

    def _version(self, row: pd.Series) -> ModelVersion:
        """The version of an index row. The index keeps the absolute path a version was saved
        to; a home copied or moved elsewhere (a restored backup, a staging copy) must read and
        update its own files, not the original's: this registry's folder first, when it holds
        the version, else the registered path."""
        here = self._folder(row["target"], row["model_version"])
        return ModelVersion.from_row(row, here if here.is_dir() else Path(row["artefact_path"]))

    def get(self, model_version: str) -> ModelVersion:
        rows = self.versions()
        rows = rows[rows["model_version"] == model_version]
        if rows.empty:
            raise RegistryError(f"no model version {model_version!r} in ml.model_registry")
        return self._version(rows.iloc[0])

    def current(self, target: str) -> ModelVersion | None:
        """The version that scores `target`, or None before any promotion."""
        rows = self.versions(target)
        rows = rows[rows["is_current"].fillna(False).astype(bool)]
        return None if rows.empty else self._version(rows.iloc[-1])

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
        version = f"{target}-v{len(self.versions(target)) + 1:04d}"
        folder = self._folder(target, version)
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
        self.store.add_registry_row(
            {
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
        if failures:
            self.store.update_registry_row(
                model_version,
                status="rejected",
                gates_passed=False,
                gate_failures="; ".join(failures),
                status_changed_at=now,
                status_reason="gates failed",
            )
        else:
            self._make_current(version, now, "gates passed")
            self.store.update_registry_row(model_version, gates_passed=True, gate_failures=None)
        return self.get(model_version)

    def _make_current(self, version: ModelVersion, now: pd.Timestamp, reason: str) -> None:
        current = self.current(version.target)
        if current is not None:
            self.store.update_registry_row(
                current.model_version,
                status="retired",
                is_current=False,
                status_changed_at=now,
                status_reason=f"replaced by {version.model_version}",
            )
        promoted_at = (
            self.versions().set_index("model_version").loc[version.model_version, "promoted_at"]
        )
        self.store.update_registry_row(
            version.model_version,
            status="promoted",
            is_current=True,
            promoted_at=now if pd.isna(promoted_at) else promoted_at,
            status_changed_at=now,
            status_reason=reason,
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
        self._make_current(self.get(to_version), now, "rolled back")
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
