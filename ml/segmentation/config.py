"""The segmentation configuration (`config/segmentation.yml`), read and validated before any
work: one pydantic model per section, defaults written once, in the model.

Every problem is raised at once in a :class:`~cible.yaml_config.ConfigError` naming the setting
(``algorithm.k_min: ...``), with the columns missing from the features table when they are
given. The priority-grid weights and thresholds are dbt seeds, checked by their dbt tests.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from cible.ml.segmentation import rules
from cible.ml.segmentation.profiles import KEY_FIGURE_COLUMNS
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from cible import settings
from cible.privacy.consent import PROFILING_ALLOWED, is_consent_column
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

DEFAULT_CONFIG_PATH = settings.CONFIG_DIR / "segmentation.yml"

# Segment ids the engine gives itself: cluster ids are `cluster_01`, ..., density noise is
# `noise`. Rule segments may not take them.
RESERVED_ID_PREFIXES = ("cluster_",)
RESERVED_IDS = ("noise",)


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return names


def _condition(condition: Any) -> Any:
    problems = rules.condition_problems(condition)
    if problems:
        raise Problems(("", problem) for problem in problems)
    return condition


ColumnNames = Annotated[tuple[str, ...], AfterValidator(_unique)]
Condition = Annotated[Any, AfterValidator(_condition)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Texts(Section):
    """A text in English and in French."""

    en: Text
    fr: Text


class RuleSegment(Section):
    """A segment defined by a declarative condition on feature columns."""

    id: str
    name: Texts
    description: Texts
    when: Condition
    strategic_fit: StrictInt | None = Field(None, ge=1, le=5)

    @field_validator("id")
    @classmethod
    def _usable_id(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"must be a snake_case identifier, found {value!r}")
        if value in RESERVED_IDS or value.startswith(RESERVED_ID_PREFIXES):
            raise ValueError(f"{value!r} is reserved for clustering segments; choose another id")
        return value


class ExcludedSegment(RuleSegment):
    """A segment taking its customers out of clustering (and, if asked, of rule segments)."""

    skip_rule_segments: StrictBool = False


class Population(Section):
    excluded_segments: tuple[ExcludedSegment, ...] = ()


# Customers the consent state does not allow to be profiled (cible/privacy/consent.py): built
# in, first, and in no configuration, so that no setting can cluster or rule-segment them.
NOT_PROFILED = ExcludedSegment.model_construct(
    id="not_profiled",
    name=Texts.model_construct(
        en="Not profiled (no consent)", fr="Non profilés (sans consentement)"
    ),
    description=Texts.model_construct(
        en="Customers who may not be profiled (no profiling consent, a withdrawal or an "
        "objection): neither clustered, nor scored, nor placed in rule segments.",
        fr="Clients qui ne peuvent pas être profilés (sans consentement au profilage, retrait "
        "ou opposition) : ni clustering, ni scores, ni segments à règles.",
    ),
    when={"column": PROFILING_ALLOWED, "op": "is_not_true"},
    strategic_fit=1,
    skip_rule_segments=True,
)


def with_not_profiled(segments: Iterable[ExcludedSegment]) -> tuple[ExcludedSegment, ...]:
    """The excluded segments with the built-in `not_profiled` first (whatever a configuration
    or a model saved by an earlier Cible says about it)."""
    return (NOT_PROFILED, *(s for s in segments if s.id != NOT_PROFILED.id))


class RuleGroup(Section):
    """Rule segments read together; in an exclusive group the first matching rule wins."""

    group: Text
    exclusive: StrictBool = False
    segments: tuple[RuleSegment, ...] = Field(min_length=1)


class ShareBlock(Section):
    """Rates or shares measured on `weight_column` events (orders, campaigns, sessions)."""

    weight_column: str | None = None
    columns: ColumnNames = ()


class FeatureSpec(Section):
    """Which feature columns are clustered, and how each family is transformed."""

    log: ColumnNames = ()
    shares: tuple[ShareBlock, ...] = ()
    numeric: ColumnNames = ()
    categorical: ColumnNames = ()
    share_shrinkage: StrictFloat = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _something_to_cluster_once(self) -> FeatureSpec:
        columns = self.clustered_columns()
        if not columns:
            raise ValueError("no feature to cluster on: list columns under log, shares, numeric")
        repeated = sorted(column for column, count in Counter(columns).items() if count > 1)
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed in more than one family; keep one")
        return self

    def clustered_columns(self) -> list[str]:
        """The feature columns themselves, weight columns excluded."""
        share_columns = [column for block in self.shares for column in block.columns]
        return [*self.log, *share_columns, *self.numeric, *self.categorical]

    def input_columns(self) -> list[str]:
        """Every column the preprocessing reads (features and share weights)."""
        weights = [block.weight_column for block in self.shares if block.weight_column]
        return list(dict.fromkeys([*self.clustered_columns(), *weights]))


def _pca_components(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(
            "must be null (no PCA), a number of components (>= 1) or a share of variance in "
            f"(0, 1), found {value!r}"
        )
    if value >= 1 and not float(value).is_integer():
        raise ValueError("a share of variance must lie in (0, 1)")
    return int(value) if value >= 1 else float(value)


class PreprocessingConfig(Section):
    scaler: Literal["standard", "minmax", "robust"] = "standard"
    pca_components: Annotated[float | int | None, BeforeValidator(_pca_components)] = None
    near_constant_share: StrictFloat = Field(0.99, ge=0.5, le=1.0)
    max_abs_correlation: StrictFloat = Field(0.95, ge=0.5, le=1.0)


class KMeansConfig(Section):
    n_init: StrictInt = Field(20, ge=1)
    minibatch_above: StrictInt = Field(50_000, ge=1)
    batch_size: StrictInt = Field(4096, ge=16)


class DbscanConfig(Section):
    min_samples: StrictInt = Field(10, ge=2)
    eps: StrictFloat | None = Field(None, gt=0)


class HdbscanConfig(Section):
    min_cluster_size: StrictInt = Field(50, ge=2)
    min_samples: StrictInt | None = Field(None, ge=1)


class AlgorithmConfig(Section):
    name: Literal["kmeans", "dbscan", "hdbscan", "agglomerative"] = "kmeans"
    random_state: StrictInt = Field(42, ge=0)
    threads: StrictInt | None = Field(1, ge=1)
    k_min: StrictInt = Field(2, ge=2)
    k_max: StrictInt = Field(10, ge=2, le=50)
    kmeans: KMeansConfig = Field(default_factory=KMeansConfig)
    dbscan: DbscanConfig = Field(default_factory=DbscanConfig)
    hdbscan: HdbscanConfig = Field(default_factory=HdbscanConfig)

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        """An empty k range, reported even when another algorithm setting is invalid."""
        if not isinstance(data, Mapping):
            return []
        k_min = at(data, "k_min") if "k_min" in data else cls.model_fields["k_min"].default
        k_max = at(data, "k_max") if "k_max" in data else cls.model_fields["k_max"].default
        if type(k_min) is int and type(k_max) is int and k_min > k_max:
            message = (
                f"the k range is empty: k_min ({k_min}) is above k_max ({k_max}); "
                "set k_min <= k_max (equal values fix k)"
            )
            return [("k_min", message)]
        return []

    # The names the clustering code reads, one level up from the YAML's sub-sections.
    @property
    def n_init(self) -> int:
        return self.kmeans.n_init

    @property
    def minibatch_above(self) -> int:
        return self.kmeans.minibatch_above

    @property
    def minibatch_batch_size(self) -> int:
        return self.kmeans.batch_size

    @property
    def dbscan_min_samples(self) -> int:
        return self.dbscan.min_samples

    @property
    def dbscan_eps(self) -> float | None:
        return self.dbscan.eps

    @property
    def hdbscan_min_cluster_size(self) -> int:
        return self.hdbscan.min_cluster_size

    @property
    def hdbscan_min_samples(self) -> int | None:
        return self.hdbscan.min_samples


class ModelConfig(Section):
    refit_after_days: StrictInt = Field(7, ge=0)


class SamplingConfig(Section):
    fit_sample_size: StrictInt = Field(50_000, ge=100)
    k_selection_sample_size: StrictInt = Field(20_000, ge=100)
    silhouette_sample_size: StrictInt = Field(10_000, ge=100)
    hierarchical_sample_size: StrictInt = Field(5_000, ge=100)
    density_sample_size: StrictInt = Field(20_000, ge=100)

    @field_validator("hierarchical_sample_size")
    @classmethod
    def _ward_fits_in_memory(cls, value: int) -> int:
        if value > 20_000:
            raise ValueError("Ward clustering needs n^2/2 distances in memory; use at most 20000")
        return value


class QualityConfig(Section):
    bootstrap_resamples: StrictInt = Field(5, ge=5)
    bootstrap_fraction: StrictFloat = Field(0.8, ge=0.1, le=1.0)
    silhouette_floor: StrictFloat = Field(0.1, ge=-1, le=1)
    min_segment_size: StrictInt = Field(30, ge=1)
    min_segment_share: StrictFloat = Field(0.02, ge=0, le=0.5)
    bootstrap_ari_floor: StrictFloat = Field(0.7, ge=-1, le=1)
    temporal_keep_share_floor: StrictFloat | None = Field(None, ge=0, le=1)

    def minimum_size(self, clustered_customers: int) -> int:
        """The smallest acceptable clustering segment for a population of this size."""
        return max(self.min_segment_size, round(self.min_segment_share * clustered_customers))


class StableIdsConfig(Section):
    max_match_distance: StrictFloat = Field(2.0, gt=0)
    min_shared_customers: StrictInt = Field(30, ge=1)


class Descriptor(Section):
    """How a profile feature reads in a segment name: a label, and phrases when high or low."""

    label: Texts | None = None
    high: Texts | None = None
    low: Texts | None = None
    # Features of one family (near-duplicates) give a name one phrase at most.
    family: str | None = None


class ProfilesConfig(Section):
    # Profiled besides the documented features (ml/segmentation/vocabulary.py).
    features: ColumnNames = ()
    # Phrases of the derived flags, which have no dbt documentation (a generic one without).
    descriptors: dict[str, Descriptor] = Field(default_factory=dict)
    derived_flags: dict[str, Condition] = Field(default_factory=dict)
    top_features: StrictInt = Field(5, ge=1)
    name_traits: StrictInt = Field(2, ge=1, le=4)
    min_standardized_difference: StrictFloat = Field(0.3, ge=0)
    # Pseudo-observations of a share's support: measured on n sessions (orders, campaigns) per
    # member, a segment's difference counts n / (n + support_prior) (docs/segmentation.md).
    support_prior: StrictFloat = Field(3.0, ge=0)


class StrategicFitRule(Section):
    """A cluster segment whose lift on `feature` reaches `min_lift` gets `score`."""

    feature: str
    min_lift: StrictFloat = Field(ge=0)
    score: StrictInt = Field(ge=1, le=5)


class PriorityConfig(Section):
    default_strategic_fit: StrictInt = Field(3, ge=1, le=5)
    strategic_fit_rules: tuple[StrategicFitRule, ...] = ()


class SegmentationConfig(ConfigFile):
    """Everything a segmentation run needs to know, validated."""

    version: StrictInt = Field(1, ge=1)
    population: Population = Field(default_factory=Population)
    features: FeatureSpec
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    stable_ids: StableIdsConfig = Field(default_factory=StableIdsConfig)
    profiles: ProfilesConfig = Field(default_factory=ProfilesConfig)
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    rule_segments: tuple[RuleGroup, ...] = ()

    @property
    def excluded_segments(self) -> tuple[ExcludedSegment, ...]:
        """The built-in `not_profiled`, then the configured excluded segments."""
        return with_not_profiled(self.population.excluded_segments)

    @property
    def rule_groups(self) -> tuple[RuleGroup, ...]:
        return self.rule_segments

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        """Unique segment ids and group names; derived flags that are not feature columns;
        strategic-fit rules on profile features."""
        problems = []
        first_of: dict[str, str] = {}
        for where, segment in _raw_segments(data):
            segment_id = at(segment, "id")
            if segment_id == NOT_PROFILED.id:
                message = (
                    "is built in: customers without profiling consent are left out in code "
                    "(cible/privacy/consent.py, docs/privacy.md); remove this segment"
                )
                problems.append((f"{where}.id", f"{segment_id!r} {message}"))
                continue
            if isinstance(segment_id, str) and segment_id in first_of:
                message = f"{segment_id!r} is already the id of {first_of[segment_id]}"
                problems.append((f"{where}.id", f"{message}; segment ids must be unique"))
            elif isinstance(segment_id, str):
                first_of[segment_id] = where
        groups = [at(group, "group") for group in items(at(data, "rule_segments"))]
        for i, name in enumerate(groups):
            if isinstance(name, str) and name in groups[:i]:
                message = f"{name!r} is already the name of rule_segments[{groups.index(name)}]"
                problems.append((f"rule_segments[{i}].group", f"{message}; names must be unique"))
        features = [
            column
            for column, paths in _column_paths(data).items()
            if any(path.startswith("features.") for path in paths)
        ]
        for column, paths in _column_paths(data).items():
            for path in paths:
                if path.startswith("features.") and is_consent_column(column):
                    message = (
                        f"{column!r} is a consent flag, never a model input (docs/privacy.md); "
                        "remove it from the features"
                    )
                    problems.append((path, message))
        flags = at(data, "profiles", "derived_flags")
        for name in flags if isinstance(flags, Mapping) else ():
            if name in features:
                message = "is a feature column; give the flag another name"
                problems.append((f"profiles.derived_flags.{name}", message))
        profiled = [
            name for name in items(at(data, "profiles", "features")) if isinstance(name, str)
        ]
        for i, rule in enumerate(items(at(data, "priority", "strategic_fit_rules"))):
            feature = at(rule, "feature")
            if isinstance(feature, str) and feature not in profiled:
                message = f"{feature!r} is not a profile feature; add it to profiles.features"
                problems.append((f"priority.strategic_fit_rules[{i}].feature", message))
        return problems

    def column_paths(self) -> dict[str, list[str]]:
        """Each column of the features table the configuration reads, with the settings
        naming it (key figures aside)."""
        return _column_paths(self.model_dump())

    def required_columns(self) -> list[str]:
        """Every column of the features table the configuration reads."""
        return list(dict.fromkeys([*self.column_paths(), *KEY_FIGURE_COLUMNS]))

    def fingerprint(self) -> str:
        """A short hash of all the settings, stored with each run."""
        return _digest(self.model_dump())

    def model_fingerprint(self) -> str:
        """A short hash of the settings that shape the model (population, features,
        preprocessing, algorithm, sampling): when it changes, the model is refitted."""
        parts = {"population", "features", "preprocessing", "algorithm", "sampling"}
        return _digest(self.model_dump(include=parts))

    def segment_texts(self) -> dict[str, tuple[Texts, Texts]]:
        """Name and description of every segment declared in the configuration."""
        declared = [*self.excluded_segments, *(s for g in self.rule_groups for s in g.segments)]
        return {segment.id: (segment.name, segment.description) for segment in declared}


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _raw_segments(data: Any) -> list[tuple[str, Any]]:
    """Every segment of a raw configuration mapping, with its key path."""
    excluded = items(at(data, "population", "excluded_segments"))
    segments = [(f"population.excluded_segments[{i}]", s) for i, s in enumerate(excluded)]
    for g, group in enumerate(items(at(data, "rule_segments"))):
        grouped = items(at(group, "segments"))
        segments += [(f"rule_segments[{g}].segments[{i}]", s) for i, s in enumerate(grouped)]
    return segments


def _column_paths(data: Any) -> dict[str, list[str]]:
    """The columns a configuration mapping names, each with its key paths. Read defensively:
    an invalid mapping's columns are checked too, and reported with its other problems."""
    paths: dict[str, list[str]] = {}

    def add(column: Any, path: str) -> None:
        if isinstance(column, str):
            paths.setdefault(column, []).append(path)

    features = at(data, "features")
    for family in ("log", "numeric", "categorical"):
        for i, column in enumerate(items(at(features, family))):
            add(column, f"features.{family}[{i}]")
    for i, block in enumerate(items(at(features, "shares"))):
        for j, column in enumerate(items(at(block, "columns"))):
            add(column, f"features.shares[{i}].columns[{j}]")
        add(at(block, "weight_column"), f"features.shares[{i}].weight_column")
    flags = at(data, "profiles", "derived_flags")
    flags = flags if isinstance(flags, Mapping) else {}
    conditions = [(f"{where}.when", at(segment, "when")) for where, segment in _raw_segments(data)]
    conditions += [(f"profiles.derived_flags.{name}", flag) for name, flag in flags.items()]
    for where, condition in conditions:
        if not rules.condition_problems(condition):
            for column in rules.condition_columns(condition):
                add(column, where)
    for i, column in enumerate(items(at(data, "profiles", "features"))):
        if isinstance(column, str) and column not in flags:
            add(column, f"profiles.features[{i}]")
    return paths


def _missing_columns(paths: Mapping[str, list[str]], known: Iterable[str]) -> list[str]:
    known = sorted(known)
    problems = []
    for column, where in paths.items():
        if column not in known:
            close = [c for c in known if c.split("_")[0] == column.split("_")[0]][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(
                f"{', '.join(where)}: column {column!r} does not exist in the features "
                f"table{hint}; fix its name or remove it"
            )
    problems += [
        f"column {column!r} does not exist in the features table: every segment's key "
        "figures need it; rebuild marts.fct_customer_features"
        for column in KEY_FIGURE_COLUMNS
        if column not in known
    ]
    return problems


def check_columns(
    config: SegmentationConfig, columns: Mapping[str, str] | Iterable[str]
) -> list[str]:
    """Problems with the columns the configuration names, against the features table.

    Args:
        config: a parsed configuration.
        columns: the features table's column names, or a mapping of name to a type kind
            (``numeric``, ``boolean``, ``text``, ``temporal``) to check types as well.
    """
    kinds = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns, None)
    paths = config.column_paths()
    problems = _missing_columns(paths, kinds)
    categorical = set(config.features.categorical)
    for column in config.features.input_columns():
        kind = kinds.get(column)
        if column not in categorical and kind not in (None, "numeric", "boolean"):
            problems.append(
                f"{paths[column][0]}: column {column!r} is {kind}, not a number; "
                "list it under features.categorical"
            )
    return problems


def parse_segmentation_config(data: Any, source: str = "<memory>") -> SegmentationConfig:
    """Validate a configuration mapping (the parsed YAML).

    Raises:
        ConfigError: listing every problem found.
    """
    return parse(SegmentationConfig, data, source)


def load_segmentation_config(
    path: Path | str = DEFAULT_CONFIG_PATH,
    columns: Mapping[str, str] | Iterable[str] | None = None,
) -> SegmentationConfig:
    """Read, validate and return the configuration; with `columns` (the features table's),
    check the columns it names too.

    Raises:
        ConfigError: the file is missing or unreadable, or any setting is invalid.
    """
    path = Path(path)
    data = read_yaml(path, f"set {settings.SEGMENTATION_CONFIG_ENV} or the run's config_path")
    try:
        config = parse_segmentation_config(data, str(path))
    except ConfigError as error:
        if columns is None:
            raise
        # The columns an invalid file names are reported in the same round as its problems.
        missing = _missing_columns(_column_paths(data), columns)
        raise ConfigError([*error.problems, *missing], str(path)) from None
    problems = check_columns(config, columns) if columns is not None else []
    if problems:
        raise ConfigError(problems, str(path))
    return config
