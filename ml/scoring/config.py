"""The scoring configuration (`config/scoring.yml`), read and validated before any work.

Every problem is reported at once, each naming its setting, so a user fixes the file in one
pass instead of meeting the errors one training run at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cible import settings

CLASSIFIER_KINDS = ("purchase", "campaign_response", "churn")
TARGET_KINDS = (*CLASSIFIER_KINDS, "lifetime_value")
MODEL_FAMILIES = ("logistic_regression", "random_forest", "hist_gradient_boosting")
CAMPAIGN_EVENTS = ("open", "click", "conversion")
DEFAULT_PATH = settings.CONFIG_DIR / "scoring.yml"


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class TargetConfig:
    """One thing to predict."""

    name: str
    kind: str
    horizon_days: int
    response_events: tuple[str, ...] = ("click", "conversion")
    active_window_days: int = 365
    holdout_days: int = 90
    discount_rate_monthly: float = 0.01
    penalizer: float = 0.0
    families: tuple[str, ...] | None = None  # None: every family of training.models
    min_auc: float | None = None  # None: gates.min_auc
    max_calibration_error: float | None = None  # None: gates.max_calibration_error

    @property
    def is_classifier(self) -> bool:
        return self.kind in CLASSIFIER_KINDS


@dataclass(frozen=True)
class TrainingConfig:
    """How classifiers are searched, selected, calibrated and evaluated."""

    test_size: float = 0.2
    cv_folds: int = 5
    search: str = "randomized"
    n_iter: int = 6
    scoring: str = "roc_auc"
    calibration: str = "isotonic"
    threshold: str = "max_f1"
    feature_selection: str = "none"
    max_training_rows: int = 200_000
    min_positives: int = 50
    min_history_days: int = 365
    random_state: int = 42
    permutation_repeats: int = 3
    permutation_max_rows: int = 3000
    models: Mapping[str, Mapping[str, list]] = field(default_factory=dict)


@dataclass(frozen=True)
class GateConfig:
    """Floors a candidate must pass on the hold-out set to be promoted."""

    min_auc: float = 0.65
    max_calibration_error: float = 0.05
    max_ltv_purchase_error: float = 0.15


@dataclass(frozen=True)
class DriftConfig:
    """Population stability thresholds."""

    bins: int = 10
    psi_warn: float = 0.1
    psi_block: float = 0.25
    blocking_features: tuple[str, ...] | None = None  # None: every feature blocks


@dataclass(frozen=True)
class ScoringRunConfig:
    batch_rows: int = 100_000
    keep_runs: int = 30


@dataclass(frozen=True)
class IncrementalConfig:
    enabled: bool = True
    targets: tuple[str, ...] = ()
    alpha: float = 1e-4
    epochs: int = 3


@dataclass(frozen=True)
class ScoringConfig:
    """The whole file, validated."""

    targets: Mapping[str, TargetConfig]
    feature_include: tuple[str, ...] | None  # None: every column
    feature_exclude: tuple[str, ...]
    min_category_share: float
    training: TrainingConfig
    gates: GateConfig
    drift: DriftConfig
    scoring: ScoringRunConfig
    incremental: IncrementalConfig
    source: str = "<dict>"

    @property
    def classifier_targets(self) -> list[TargetConfig]:
        return [target for target in self.targets.values() if target.is_classifier]

    @property
    def lifetime_value_target(self) -> TargetConfig | None:
        return next((t for t in self.targets.values() if t.kind == "lifetime_value"), None)

    def subset(self, names: list[str] | None) -> ScoringConfig:
        """The same configuration restricted to some targets (all when `names` is empty)."""
        if not names:
            return self
        unknown = sorted(set(names) - set(self.targets))
        if unknown:
            raise ConfigError(
                f"unknown target(s) {', '.join(unknown)}; {self.source} defines "
                f"{', '.join(self.targets)}"
            )
        return ScoringConfig(
            **{
                **self.__dict__,
                "targets": {name: self.targets[name] for name in self.targets if name in names},
            }
        )


def load_config(path: str | Path | None = None) -> ScoringConfig:
    """Read and validate a scoring configuration file (default `config/scoring.yml`)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.exists():
        raise ConfigError(f"scoring configuration not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    return parse_config(raw, source=str(path))


def parse_config(raw: Mapping[str, Any], source: str = "<dict>") -> ScoringConfig:
    """Validate a configuration held as a dict (the parsed YAML)."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the file must hold a mapping, not {type(raw).__name__}")

    def section(name: str) -> Mapping[str, Any]:
        value = raw.get(name) or {}
        if not isinstance(value, Mapping):
            problems.append(f"`{name}` must be a mapping")
            return {}
        return value

    def number(where: str, value: Any, low: float, high: float, integer: bool = False) -> Any:
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            problems.append(f"`{where}` must be {'an integer' if integer else 'a number'}")
            return low
        if not low <= value <= high:
            problems.append(f"`{where}` must be between {low} and {high}, not {value}")
        return value

    def choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            problems.append(f"`{where}` must be one of {', '.join(allowed)}, not {value!r}")
        return value

    targets: dict[str, TargetConfig] = {}
    raw_targets = section("targets")
    if not raw_targets:
        problems.append("`targets` must name at least one target")
    for name, spec in raw_targets.items():
        where = f"targets.{name}"
        if not isinstance(spec, Mapping):
            problems.append(f"`{where}` must be a mapping")
            continue
        unknown = set(spec) - {
            "kind",
            "horizon_days",
            "response_events",
            "active_window_days",
            "holdout_days",
            "discount_rate_monthly",
            "penalizer",
            "families",
            "min_auc",
            "max_calibration_error",
        }
        if unknown:
            problems.append(f"`{where}` has unknown setting(s): {', '.join(sorted(unknown))}")
        kind = choice(f"{where}.kind", spec.get("kind"), TARGET_KINDS)
        horizon = number(f"{where}.horizon_days", spec.get("horizon_days"), 1, 3650, True)
        events = tuple(spec.get("response_events", ("click", "conversion")) or ())
        for event in events:
            choice(f"{where}.response_events", event, CAMPAIGN_EVENTS)
        if kind == "campaign_response" and not events:
            problems.append(f"`{where}.response_events` must name at least one event")
        targets[name] = TargetConfig(
            name=name,
            kind=kind,
            horizon_days=horizon,
            response_events=events,
            active_window_days=number(
                f"{where}.active_window_days", spec.get("active_window_days", 365), 1, 3650, True
            ),
            holdout_days=number(
                f"{where}.holdout_days", spec.get("holdout_days", 90), 1, 3650, True
            ),
            discount_rate_monthly=number(
                f"{where}.discount_rate_monthly", spec.get("discount_rate_monthly", 0.01), 0, 1
            ),
            penalizer=number(f"{where}.penalizer", spec.get("penalizer", 0.0), 0, 100),
            families=tuple(spec["families"]) if spec.get("families") else None,
            min_auc=None
            if spec.get("min_auc") is None
            else number(f"{where}.min_auc", spec["min_auc"], 0.5, 1.0),
            max_calibration_error=None
            if spec.get("max_calibration_error") is None
            else number(f"{where}.max_calibration_error", spec["max_calibration_error"], 0.0, 1.0),
        )
    if sum(1 for target in targets.values() if target.kind == "lifetime_value") > 1:
        problems.append("`targets` may hold one `lifetime_value` target at most")

    features = section("features")
    include = features.get("include", "all")
    if include == "all" or include is None:
        feature_include = None
    elif isinstance(include, list) and include and all(isinstance(c, str) for c in include):
        feature_include = tuple(include)
    else:
        problems.append("`features.include` must be `all` or a list of column names")
        feature_include = None
    exclude = features.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(c, str) for c in exclude):
        problems.append("`features.exclude` must be a list of column names")
        exclude = []
    min_share = number(
        "features.min_category_share", features.get("min_category_share", 0.01), 0, 0.5
    )

    training = section("training")
    models = training.get("models") or {}
    for target in targets.values():
        for family in target.families or ():
            if family not in (models if isinstance(models, Mapping) else {}):
                problems.append(
                    f"`targets.{target.name}.families` names {family!r}, which is not in "
                    "`training.models`"
                )
    if not isinstance(models, Mapping) or not models:
        problems.append("`training.models` must name at least one model family")
        models = {}
    for family, space in models.items():
        choice("training.models", family, MODEL_FAMILIES)
        if not isinstance(space, Mapping) or not all(
            isinstance(values, list) and values for values in space.values()
        ):
            problems.append(
                f"`training.models.{family}` must map each hyperparameter to a non-empty list"
            )
    importance = training.get("permutation_importance") or {}
    training_config = TrainingConfig(
        test_size=number("training.test_size", training.get("test_size", 0.2), 0.05, 0.5),
        cv_folds=number("training.cv_folds", training.get("cv_folds", 5), 2, 20, True),
        search=choice(
            "training.search", training.get("search", "randomized"), ("randomized", "grid")
        ),
        n_iter=number("training.n_iter", training.get("n_iter", 6), 1, 1000, True),
        scoring=choice(
            "training.scoring",
            training.get("scoring", "roc_auc"),
            ("roc_auc", "average_precision", "neg_brier_score", "neg_log_loss"),
        ),
        calibration=choice(
            "training.calibration", training.get("calibration", "isotonic"), ("isotonic", "sigmoid")
        ),
        threshold=choice("training.threshold", training.get("threshold", "max_f1"), ("max_f1",)),
        feature_selection=choice(
            "training.feature_selection", training.get("feature_selection", "none"), ("none", "l1")
        ),
        max_training_rows=number(
            "training.max_training_rows",
            training.get("max_training_rows", 200_000),
            100,
            10**9,
            True,
        ),
        min_positives=number(
            "training.min_positives", training.get("min_positives", 50), 1, 10**9, True
        ),
        min_history_days=number(
            "training.min_history_days", training.get("min_history_days", 365), 0, 3650, True
        ),
        random_state=number(
            "training.random_state", training.get("random_state", 42), 0, 2**31, True
        ),
        permutation_repeats=number(
            "training.permutation_importance.n_repeats",
            importance.get("n_repeats", 3),
            1,
            100,
            True,
        ),
        permutation_max_rows=number(
            "training.permutation_importance.max_rows",
            importance.get("max_rows", 3000),
            100,
            10**7,
            True,
        ),
        models={family: dict(space) for family, space in models.items()},
    )

    gates = section("gates")
    ltv_gates = gates.get("lifetime_value") or {}
    gate_config = GateConfig(
        min_auc=number("gates.min_auc", gates.get("min_auc", 0.65), 0.5, 1.0),
        max_calibration_error=number(
            "gates.max_calibration_error", gates.get("max_calibration_error", 0.05), 0.0, 1.0
        ),
        max_ltv_purchase_error=number(
            "gates.lifetime_value.max_purchase_error",
            ltv_gates.get("max_purchase_error", 0.15),
            0.0,
            10.0,
        ),
    )

    drift = section("drift")
    blocking = drift.get("blocking_features", "all")
    if blocking == "all" or blocking is None:
        blocking_features = None
    elif isinstance(blocking, list):
        blocking_features = tuple(blocking)
    else:
        problems.append("`drift.blocking_features` must be `all` or a list of column names")
        blocking_features = None
    drift_config = DriftConfig(
        bins=number("drift.bins", drift.get("bins", 10), 2, 100, True),
        psi_warn=number("drift.psi_warn", drift.get("psi_warn", 0.1), 0.0, 10.0),
        psi_block=number("drift.psi_block", drift.get("psi_block", 0.25), 0.0, 10.0),
        blocking_features=blocking_features,
    )
    if drift_config.psi_block < drift_config.psi_warn:
        problems.append("`drift.psi_block` must not be below `drift.psi_warn`")

    scoring = section("scoring")
    scoring_config = ScoringRunConfig(
        batch_rows=number(
            "scoring.batch_rows", scoring.get("batch_rows", 100_000), 100, 10**8, True
        ),
        keep_runs=number("scoring.keep_runs", scoring.get("keep_runs", 30), 1, 10**6, True),
    )

    incremental = section("incremental")
    online_targets = tuple(incremental.get("targets") or ())
    for name in online_targets:
        if name not in targets:
            problems.append(f"`incremental.targets` names {name!r}, which is not a target")
        elif not targets[name].is_classifier:
            problems.append(f"`incremental.targets`: {name!r} is not a classification target")
    incremental_config = IncrementalConfig(
        enabled=bool(incremental.get("enabled", True)),
        targets=online_targets,
        alpha=number("incremental.alpha", incremental.get("alpha", 1e-4), 0.0, 10.0),
        epochs=number("incremental.epochs", incremental.get("epochs", 3), 1, 100, True),
    )

    if problems:
        raise ConfigError(
            f"{source} has {len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems)
        )
    return ScoringConfig(
        targets=targets,
        feature_include=feature_include,
        feature_exclude=tuple(exclude),
        min_category_share=min_share,
        training=training_config,
        gates=gate_config,
        drift=drift_config,
        scoring=scoring_config,
        incremental=incremental_config,
        source=source,
    )
