"""The scoring configuration (`config/scoring.yml`), read and validated before any work: one
pydantic model per section, defaults written once, in the model.

Every problem is raised at once in a :class:`~cible.yaml_config.ConfigError` naming the setting
(``targets.purchase_30d.horizon_days: ...``), so a user fixes the file in one pass instead of
meeting the errors one training run at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from cible import settings
from cible.privacy.consent import is_consent_column
from cible.yaml_config import (
    ConfigError,
    ConfigFile,
    Problems,
    Section,
    at,
    items,
    parse,
    read_yaml,
)

CLASSIFIER_KINDS = ("purchase", "campaign_response", "churn")
DEFAULT_PATH = settings.CONFIG_DIR / "scoring.yml"

ModelFamily = Literal["logistic_regression", "random_forest", "hist_gradient_boosting", "mlp"]
# Settings only some kinds of target read: any other kind refuses them.
KIND_SETTINGS = {
    "response_events": ("campaign_response",),
    "active_window_days": ("churn",),
    "holdout_days": ("lifetime_value",),
    "discount_rate_monthly": ("lifetime_value",),
    "penalizer": ("lifetime_value",),
    "families": CLASSIFIER_KINDS,
    "min_auc": CLASSIFIER_KINDS,
    "max_calibration_error": CLASSIFIER_KINDS,
}


def _all_or_columns(value: Any) -> Any:
    if value is None or value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(column, str) for column in value):
        raise ValueError("must be `all` or a list of column names")
    return value


AllOrColumns = Annotated[tuple[str, ...] | None, BeforeValidator(_all_or_columns)]


class TargetConfig(Section):
    """One thing to predict."""

    # The target's key under `targets` (filled in by ScoringConfig, not written in the YAML).
    name: str = Field(exclude=True)
    kind: Literal["purchase", "campaign_response", "churn", "lifetime_value"]
    horizon_days: StrictInt = Field(ge=1, le=3650)
    response_events: tuple[Literal["open", "click", "conversion"], ...] = Field(
        ("click", "conversion"), min_length=1
    )
    active_window_days: StrictInt = Field(365, ge=1, le=3650)
    holdout_days: StrictInt = Field(90, ge=1, le=3650)
    discount_rate_monthly: StrictFloat = Field(0.01, ge=0, le=1)
    penalizer: StrictFloat = Field(0.0, ge=0, le=100)
    families: tuple[ModelFamily, ...] | None = Field(None, min_length=1)  # None: every family
    min_auc: StrictFloat | None = Field(None, ge=0.5, le=1.0)  # None: gates.min_auc
    max_calibration_error: StrictFloat | None = Field(None, ge=0.0, le=1.0)  # None: the gate's

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> TargetConfig:
        problems = [
            (key, f"applies to {', '.join(kinds)} targets only, not {self.kind}")
            for key, kinds in KIND_SETTINGS.items()
            if key in self.model_fields_set and self.kind not in kinds
        ]
        if problems:
            raise Problems(problems)
        return self

    @property
    def is_classifier(self) -> bool:
        return self.kind in CLASSIFIER_KINDS


class FeaturesConfig(Section):
    include: AllOrColumns = None  # None: every column
    exclude: tuple[str, ...] = ()
    min_category_share: StrictFloat = Field(0.01, ge=0, le=0.5)

    @field_validator("include")
    @classmethod
    def _some_columns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value == ():
            raise ValueError("lists no column; use `all` or name some")
        flags = [column for column in value or () if is_consent_column(column)]
        if flags:
            raise ValueError(
                f"{', '.join(flags)}: consent flags are never model inputs (docs/privacy.md); "
                "remove them"
            )
        return value


class PermutationImportanceConfig(Section):
    n_repeats: StrictInt = Field(3, ge=1, le=100)
    max_rows: StrictInt = Field(3000, ge=100, le=10**7)


class Range(Section):
    """A numeric range a hyperparameter is sampled from (`{low: 0.001, high: 10, log: true}`):
    whole numbers when both ends are, on a log scale when `log`."""

    low: StrictInt | StrictFloat
    high: StrictInt | StrictFloat
    log: StrictBool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise Problems([("high", f"must be above low ({self.low}), found {self.high}")])
        if self.log and self.low <= 0:
            raise Problems([("low", f"must be above 0 on a log scale, found {self.low}")])
        return self

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


def _values_kind(value: Any) -> str:
    # The tag is part of an error's location: none for a list (the common case).
    return "range" if isinstance(value, dict | Range) else ""


# A hyperparameter's values: a list to choose from, or a range (searches other than grid).
Values = Annotated[
    Annotated[list, Field(min_length=1), Tag("")] | Annotated[Range, Tag("range")],
    Discriminator(_values_kind),
]


def _method_shorthand(value: Any) -> Any:
    # `feature_selection: pca` is `{method: pca}` with the method's defaults.
    return {"method": value} if isinstance(value, str) else value


def _count_or_share(value: Any) -> int | float:
    """A number of columns (a whole number, at least 1) or a share of them (0 < share < 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number of columns or a share of them, found {value!r}")
    if isinstance(value, int) and value < 1:
        raise ValueError(f"must be at least 1, found {value}")
    if isinstance(value, float) and not 0 < value < 1:
        raise ValueError(f"a share must be above 0 and below 1 (or a whole number), found {value}")
    return value


def _auto_or(check):
    """`auto`, or a value `check` accepts."""
    return lambda value: value if value == "auto" else check(value)


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"must be auto or a number from 0 to 1, found {value!r}")
    return float(value)


# Single validators rather than unions: a union's error names each of its branches.
CountOrShare = Annotated[int | float, PlainValidator(_count_or_share)]


class MethodSection(Section):
    """A choice of method and the settings of each method; a setting of another method than
    the chosen one is refused, not ignored."""

    # Each setting and the methods that read it.
    SETTINGS: ClassVar[dict[str, tuple[str, ...]]] = {}
    method: str

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        if not isinstance(data, dict):
            return []
        method = data.get("method", cls.model_fields["method"].default)
        if method not in get_args(cls.model_fields["method"].annotation):
            return []  # the method's own problem says it
        return [
            (key, f"applies to {', '.join(methods)} only, not {method}")
            for key, methods in cls.SETTINGS.items()
            if key in data and method not in methods
        ]

    def describe(self) -> dict[str, Any]:
        """The method and the settings it reads (what the registry keeps)."""
        read = [key for key, methods in self.SETTINGS.items() if self.method in methods]
        return {"method": self.method, **{key: getattr(self, key) for key in read}}


class FeatureSelectionConfig(MethodSection):
    """The pipeline step between preprocessing and the model (`ml/scoring/models.py`).

    `l1`: keeps the columns an L1 logistic regression of strength `C` leaves non-zero. `pca`:
    `n_components` components, or as many as explain that share of the variance. `lda`: the
    one discriminant direction of a binary target (a supervised projection, not a selection;
    `shrinkage` regularises its covariance). `rfe`: recursive elimination with a logistic
    regression, `step` columns (or share) removed per round, down to `n_features` columns (or
    share), or to the number cross-validation prefers when `n_features: auto` (RFECV).
    """

    SETTINGS: ClassVar = {
        "C": ("l1",),
        "n_components": ("pca",),
        "shrinkage": ("lda",),
        "n_features": ("rfe",),
        "step": ("rfe",),
    }
    method: Literal["none", "l1", "pca", "lda", "rfe"] = "none"
    C: StrictFloat = Field(0.1, gt=0, le=1000)
    n_components: CountOrShare = 0.95
    shrinkage: Annotated[float | str, PlainValidator(_auto_or(_share))] = "auto"
    n_features: Annotated[int | float | str, PlainValidator(_auto_or(_count_or_share))] = 0.5
    step: CountOrShare = 0.1


class ImputationConfig(MethodSection):
    """How missing numbers are filled in the pipeline (`ml/scoring/models.py`).

    `median_with_indicator` (the default): the median plus a 0/1 column per feature with
    missing values, so "never" differs from 0. `median`: the median alone. `iterative`:
    chained equations (`IterativeImputer`, at most `max_iter` rounds, each feature regressed
    on the `n_nearest_features` most correlated others), with the indicator columns;
    `imputations` above 1 fits the chosen pipeline on that many draws from the imputation's
    posterior and averages their probabilities (multiple imputation).
    """

    SETTINGS: ClassVar = {
        "max_iter": ("iterative",),
        "n_nearest_features": ("iterative",),
        "imputations": ("iterative",),
    }
    method: Literal["median", "median_with_indicator", "iterative"] = "median_with_indicator"
    max_iter: StrictInt = Field(10, ge=1, le=100)
    n_nearest_features: StrictInt = Field(20, ge=1, le=10_000)
    imputations: StrictInt = Field(1, ge=1, le=20)


class TrainingConfig(Section):
    """How classifiers are searched, selected, calibrated and evaluated."""

    test_size: StrictFloat = Field(0.2, ge=0.05, le=0.5)
    cv_folds: StrictInt = Field(5, ge=2, le=20)
    search: Literal["randomized", "grid", "optuna"] = "randomized"
    n_iter: StrictInt = Field(6, ge=1, le=1000)
    # Optuna: trials per model family (the limit), and a time budget per target that stops
    # the studies early if they run long (a safety stop, not the limit).
    n_trials: StrictInt = Field(8, ge=1, le=10_000)
    time_budget_seconds: StrictFloat | StrictInt = Field(900, gt=0, le=86_400)
    scoring: Literal["roc_auc", "average_precision", "neg_brier_score", "neg_log_loss"] = "roc_auc"
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    threshold: Literal["max_f1"] = "max_f1"
    imputation: Annotated[ImputationConfig, BeforeValidator(_method_shorthand)] = Field(
        default_factory=ImputationConfig
    )
    feature_selection: Annotated[FeatureSelectionConfig, BeforeValidator(_method_shorthand)] = (
        Field(default_factory=FeatureSelectionConfig)
    )
    max_training_rows: StrictInt = Field(200_000, ge=100, le=10**9)
    min_positives: StrictInt = Field(50, ge=1, le=10**9)
    min_history_days: StrictInt = Field(365, ge=0, le=3650)
    # Which window labels a classifier: `latest` (the last window whose outcome is known: T =
    # now - horizon) or `same_season_last_year` (T = now - 1 year: the window a year before
    # the one the scores are for, so a model learns the season it is applied in; falls back to
    # `latest`, said in the version's metadata, when the history before T is too short).
    label_window: Literal["latest", "same_season_last_year"] = "latest"
    random_state: StrictInt = Field(42, ge=0, le=2**31)
    permutation_importance: PermutationImportanceConfig = Field(
        default_factory=PermutationImportanceConfig
    )
    # Each family's search space: every hyperparameter maps to the values tried.
    models: dict[ModelFamily, dict[str, Values]] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges_need_sampling(self) -> TrainingConfig:
        if self.search != "grid":
            return self
        problems = [
            (f"models.{family}.{name}", "a range cannot be searched by a grid; list values")
            for family, space in self.models.items()
            for name, values in space.items()
            if isinstance(values, Range)
        ]
        if problems:
            raise Problems(problems)
        return self

    @property
    def permutation_repeats(self) -> int:
        return self.permutation_importance.n_repeats

    @property
    def permutation_max_rows(self) -> int:
        return self.permutation_importance.max_rows


class LifetimeValueGates(Section):
    max_purchase_error: StrictFloat = Field(0.15, ge=0.0, le=10.0)


class GateConfig(Section):
    """Floors a candidate must pass on the hold-out set to be promoted."""

    min_auc: StrictFloat = Field(0.65, ge=0.5, le=1.0)
    max_calibration_error: StrictFloat = Field(0.05, ge=0.0, le=1.0)
    lifetime_value: LifetimeValueGates = Field(default_factory=LifetimeValueGates)

    @property
    def max_ltv_purchase_error(self) -> float:
        return self.lifetime_value.max_purchase_error


class DriftConfig(Section):
    """Population stability thresholds."""

    bins: StrictInt = Field(10, ge=2, le=100)
    psi_warn: StrictFloat = Field(0.1, ge=0.0, le=10.0)
    psi_block: StrictFloat = Field(0.25, ge=0.0, le=10.0)
    blocking_features: AllOrColumns = None  # None: every feature blocks

    @model_validator(mode="after")
    def _block_above_warn(self) -> DriftConfig:
        if self.psi_block < self.psi_warn:
            message = f"must not be below psi_warn ({self.psi_warn}), found {self.psi_block}"
            raise Problems([("psi_block", message)])
        return self


class BatchScoringConfig(Section):
    batch_rows: StrictInt = Field(100_000, ge=100, le=10**8)
    keep_runs: StrictInt = Field(30, ge=1, le=10**6)


class IncrementalConfig(Section):
    """Online models: learnt by partial_fit from each newer labelled window between retrains,
    published as a version of their own when they beat the published one
    (:mod:`ml.scoring.online`)."""

    enabled: StrictBool = True
    targets: tuple[str, ...] = ()
    alpha: StrictFloat = Field(1e-4, ge=0.0, le=10.0)
    epochs: StrictInt = Field(3, ge=1, le=100)
    # False: the online models still learn and are measured, as a shadow, but never publish.
    publish: StrictBool = True
    # How much higher the updated model's AUC must be than the published version's, on the
    # same held-out customers of the newest window, for it to replace that version.
    min_auc_gain: StrictFloat = Field(0.005, ge=0.0, le=1.0)


class ScoringConfig(ConfigFile):
    """The whole file, validated."""

    version: StrictInt = Field(1, ge=1)
    targets: dict[str, TargetConfig] = Field(min_length=1)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    training: TrainingConfig
    gates: GateConfig = Field(default_factory=GateConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    scoring: BatchScoringConfig = Field(default_factory=BatchScoringConfig)
    incremental: IncrementalConfig = Field(default_factory=IncrementalConfig)

    @field_validator("targets", mode="before")
    @classmethod
    def _named_by_their_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            name: {**spec, "name": name} if isinstance(spec, dict) else spec
            for name, spec in value.items()
        }

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        """Families in training.models; at most one lifetime-value target; online models
        for classification targets."""
        targets = at(data, "targets")
        targets = targets if isinstance(targets, dict) else {}
        models = at(data, "training", "models")
        problems = []
        for name, spec in targets.items():
            if isinstance(spec, dict) and "name" in spec:
                problems.append(
                    (f"targets.{name}.name", "unknown setting; a target is named by its key")
                )
            for family in items(at(spec, "families")):
                if isinstance(family, str) and family not in (models or {}):
                    message = f"names {family!r}, which is not in training.models"
                    problems.append((f"targets.{name}.families", message))
        kinds = {name: at(spec, "kind") for name, spec in targets.items()}
        lifetime_value = [name for name, kind in kinds.items() if kind == "lifetime_value"]
        if len(lifetime_value) > 1:
            message = f"one lifetime_value target at most, found {', '.join(lifetime_value)}"
            problems.append(("targets", message))
        for i, name in enumerate(items(at(data, "incremental", "targets"))):
            if not isinstance(name, str) or name not in targets:
                message = f"names {name!r}, which is not a target"
                problems.append((f"incremental.targets[{i}]", message))
            elif kinds[name] not in CLASSIFIER_KINDS:
                message = f"{name!r} is not a classification target"
                problems.append((f"incremental.targets[{i}]", message))
        return problems

    @property
    def feature_include(self) -> tuple[str, ...] | None:
        return self.features.include

    @property
    def feature_exclude(self) -> tuple[str, ...]:
        return self.features.exclude

    @property
    def min_category_share(self) -> float:
        return self.features.min_category_share

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
            message = (
                f"unknown target(s) {', '.join(unknown)}; it defines {', '.join(self.targets)}"
            )
            raise ConfigError([message], self.source)
        targets = {name: target for name, target in self.targets.items() if name in names}
        return self.model_copy(update={"targets": targets})


def parse_scoring_config(data: Any, source: str = "<memory>") -> ScoringConfig:
    """Validate a configuration held as a dict (the parsed YAML).

    Raises:
        ConfigError: listing every problem found.
    """
    return parse(ScoringConfig, data, source)


def load_scoring_config(path: str | Path | None = None) -> ScoringConfig:
    """Read and validate a scoring configuration file (default `config/scoring.yml`)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    hint = f"set {settings.SCORING_CONFIG_ENV} or the run's config_path"
    return parse_scoring_config(read_yaml(path, hint), str(path))
