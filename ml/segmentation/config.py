"""The segmentation configuration (`config/segmentation.yml` and the priority-grid seeds), read
and validated before any work.

Every problem found is collected and raised at once in a :class:`ConfigError` whose message
names the setting, what is wrong with it and how to fix it, so a marketer editing the YAML
sees everything to fix in one go instead of one error per run.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from cible.ml.segmentation import rules
from cible.ml.segmentation.profiles import KEY_FIGURE_COLUMNS

from cible import settings

DEFAULT_CONFIG_PATH = settings.CONFIG_DIR / "segmentation.yml"
DEFAULT_WEIGHTS_SEED = settings.SEEDS_DIR / "priority_grid_weights.csv"
DEFAULT_THRESHOLDS_SEED = settings.SEEDS_DIR / "priority_grid_thresholds.csv"

ALGORITHMS = ("kmeans", "dbscan", "hdbscan", "agglomerative")
SCALERS = ("standard", "minmax", "robust")
PRIORITY_CRITERIA = (
    "size",
    "expected_conversion",
    "profitability",
    "data_accessibility",
    "strategic_fit",
)
LANGUAGES = ("en", "fr")
# Segment ids the engine gives itself: cluster ids are `cluster_01`, ..., density noise is
# `noise`. Rule segments may not take them.
RESERVED_ID_PREFIXES = ("cluster_",)
RESERVED_IDS = ("noise",)


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem and how to fix it."""

    def __init__(self, problems: Iterable[str], source: str = "segmentation config"):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"{source}: {len(self.problems)} problem(s), nothing was run. Fix:\n{lines}"
        )


@dataclass(frozen=True)
class Texts:
    """A text in English and in French."""

    en: str
    fr: str


@dataclass(frozen=True)
class RuleSegment:
    """A segment defined by a declarative condition on feature columns."""

    id: str
    name: Texts
    description: Texts
    when: Mapping[str, Any]
    strategic_fit: int | None = None
    skip_rule_segments: bool = False


@dataclass(frozen=True)
class RuleGroup:
    """Rule segments read together; in an exclusive group the first matching rule wins."""

    group: str
    exclusive: bool
    segments: tuple[RuleSegment, ...]


@dataclass(frozen=True)
class ShareBlock:
    """Rates or shares measured on `weight_column` events (orders, campaigns, sessions)."""

    weight_column: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """Which feature columns are clustered, and how each family is transformed."""

    log: tuple[str, ...]
    shares: tuple[ShareBlock, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    share_shrinkage: float

    def clustered_columns(self) -> list[str]:
        """The feature columns themselves, weight columns excluded."""
        share_columns = [column for block in self.shares for column in block.columns]
        return [*self.log, *share_columns, *self.numeric, *self.categorical]

    def input_columns(self) -> list[str]:
        """Every column the preprocessing reads (features and share weights)."""
        weights = [block.weight_column for block in self.shares if block.weight_column]
        return list(dict.fromkeys([*self.clustered_columns(), *weights]))


@dataclass(frozen=True)
class PreprocessingConfig:
    scaler: str
    pca_components: float | int | None
    near_constant_share: float
    max_abs_correlation: float


@dataclass(frozen=True)
class AlgorithmConfig:
    name: str
    random_state: int
    k_min: int
    k_max: int
    n_init: int
    minibatch_above: int
    minibatch_batch_size: int
    dbscan_min_samples: int
    dbscan_eps: float | None
    hdbscan_min_cluster_size: int
    hdbscan_min_samples: int | None
    threads: int | None = 1


@dataclass(frozen=True)
class ModelConfig:
    refit_after_days: int


@dataclass(frozen=True)
class SamplingConfig:
    fit_sample_size: int
    k_selection_sample_size: int
    silhouette_sample_size: int
    hierarchical_sample_size: int
    density_sample_size: int


@dataclass(frozen=True)
class QualityConfig:
    bootstrap_resamples: int
    bootstrap_fraction: float
    silhouette_floor: float
    min_segment_size: int
    min_segment_share: float
    bootstrap_ari_floor: float
    temporal_keep_share_floor: float | None

    def minimum_size(self, clustered_customers: int) -> int:
        """The smallest acceptable clustering segment for a population of this size."""
        return max(self.min_segment_size, round(self.min_segment_share * clustered_customers))


@dataclass(frozen=True)
class StableIdsConfig:
    max_match_distance: float
    min_shared_customers: int


@dataclass(frozen=True)
class Descriptor:
    """How a profile feature reads in a segment name: a label, and phrases when high or low."""

    label: Texts
    high: Texts | None
    low: Texts | None


@dataclass(frozen=True)
class ProfilesConfig:
    features: tuple[str, ...]
    descriptors: Mapping[str, Descriptor]
    derived_flags: Mapping[str, Mapping[str, Any]]
    top_features: int
    name_traits: int
    min_standardized_difference: float


@dataclass(frozen=True)
class StrategicFitRule:
    """A cluster segment whose lift on `feature` reaches `min_lift` gets `score`."""

    feature: str
    min_lift: float
    score: int


@dataclass(frozen=True)
class PriorityConfig:
    default_strategic_fit: int
    strategic_fit_rules: tuple[StrategicFitRule, ...]


@dataclass(frozen=True)
class PriorityGrid:
    """The priority-grid seeds: a weight and four ascending thresholds per criterion."""

    weights: Mapping[str, float]
    thresholds: Mapping[str, tuple[float, float, float, float]]


@dataclass(frozen=True)
class SegmentationConfig:
    """Everything a segmentation run needs to know, validated."""

    version: int
    excluded_segments: tuple[RuleSegment, ...]
    features: FeatureSpec
    preprocessing: PreprocessingConfig
    algorithm: AlgorithmConfig
    model: ModelConfig
    sampling: SamplingConfig
    quality: QualityConfig
    stable_ids: StableIdsConfig
    profiles: ProfilesConfig
    priority: PriorityConfig
    rule_groups: tuple[RuleGroup, ...]
    grid: PriorityGrid | None = None
    source: str = field(default="<memory>", compare=False)

    def required_columns(self) -> list[str]:
        """Every column of the features table the configuration reads."""
        columns = list(self.features.input_columns())
        conditions = [segment.when for segment in self.excluded_segments]
        conditions += [s.when for group in self.rule_groups for s in group.segments]
        conditions += list(self.profiles.derived_flags.values())
        for condition in conditions:
            columns += rules.condition_columns(condition)
        derived = set(self.profiles.derived_flags)
        columns += [name for name in self.profiles.features if name not in derived]
        columns += KEY_FIGURE_COLUMNS
        return list(dict.fromkeys(columns))

    def fingerprint(self) -> str:
        """A short hash of all the settings, stored with each run."""
        return _digest(asdict(self))

    def model_fingerprint(self) -> str:
        """A short hash of the settings that shape the model (population, features,
        preprocessing, algorithm, sampling): when it changes, the model is refitted."""
        return _digest(
            [
                asdict(self)[part]
                for part in (
                    "excluded_segments",
                    "features",
                    "preprocessing",
                    "algorithm",
                    "sampling",
                )
            ]
        )

    def segment_texts(self) -> dict[str, tuple[Texts, Texts]]:
        """Name and description of every segment declared in the configuration."""
        declared = [*self.excluded_segments, *(s for g in self.rule_groups for s in g.segments)]
        return {segment.id: (segment.name, segment.description) for segment in declared}


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Reader:
    """Reads a nested mapping, recording problems instead of raising on the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def section(self, data: Any, where: str, allowed: Iterable[str]) -> Mapping[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            self.problem(where, f"expected a mapping of settings, found {type(data).__name__}")
            return {}
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                self.problem(
                    f"{where}.{key}" if where else str(key),
                    f"unknown setting; expected one of {', '.join(allowed)} (check the spelling)",
                )
        return data

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: Any = None,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
        optional: bool = False,
    ) -> Any:
        value = data.get(key, default)
        path = f"{where}.{key}"
        if value is None:
            if not optional:
                self.problem(path, "is required")
            return None
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(path, f"must be {kind}, found {value!r}")
            return default
        if integer and not float(value).is_integer():
            self.problem(path, f"must be a whole number, found {value!r}")
            return default
        if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
            bound = "greater than" if exclusive_minimum else "at least"
            self.problem(path, f"must be {bound} {minimum}, found {value!r}")
        if maximum is not None and value > maximum:
            self.problem(path, f"must be at most {maximum}, found {value!r}")
        return int(value) if integer else float(value)

    def choice(self, data: Mapping[str, Any], key: str, where: str, choices, default) -> str:
        value = data.get(key, default)
        if value not in choices:
            self.problem(
                f"{where}.{key}", f"unknown value {value!r}; use one of {', '.join(choices)}"
            )
            return default
        return value

    def names(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}.{key}", "must be a list of column names")
            return ()
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            self.problem(f"{where}.{key}", f"lists {', '.join(duplicates)} more than once")
        return tuple(dict.fromkeys(value))

    def texts(self, data: Any, where: str, required: bool = True) -> Texts | None:
        if data is None and not required:
            return None
        if not isinstance(data, Mapping) or any(
            not isinstance(data.get(lang), str) or not data.get(lang).strip() for lang in LANGUAGES
        ):
            self.problem(where, "needs a text in English and in French: {en: ..., fr: ...}")
            return Texts(en="", fr="")
        self.section(data, where, LANGUAGES)
        return Texts(en=data["en"].strip(), fr=data["fr"].strip())

    def condition(self, data: Any, where: str) -> Mapping[str, Any]:
        for message in rules.condition_problems(data):
            self.problem(where, message)
        return data if isinstance(data, Mapping) else {}

    def rule_segment(self, data: Any, where: str, excluded: bool = False) -> RuleSegment | None:
        if not isinstance(data, Mapping):
            self.problem(where, "expected {id, name, description, when}")
            return None
        keys = ("id", "name", "description", "when", "strategic_fit")
        self.section(data, where, (*keys, "skip_rule_segments") if excluded else keys)
        skip = data.get("skip_rule_segments", False)
        if not isinstance(skip, bool):
            self.problem(f"{where}.skip_rule_segments", "must be true or false")
            skip = False
        segment_id = data.get("id")
        if not isinstance(segment_id, str) or not segment_id.replace("_", "").isalnum():
            self.problem(f"{where}.id", f"must be a snake_case identifier, found {segment_id!r}")
            segment_id = str(segment_id)
        elif segment_id in RESERVED_IDS or segment_id.startswith(RESERVED_ID_PREFIXES):
            self.problem(
                f"{where}.id",
                f"{segment_id!r} is reserved for clustering segments; choose another id",
            )
        fit = self.number(
            data, "strategic_fit", where, integer=True, minimum=1, maximum=5, optional=True
        )
        return RuleSegment(
            id=segment_id,
            name=self.texts(data.get("name"), f"{where}.name"),
            description=self.texts(data.get("description"), f"{where}.description"),
            when=self.condition(data.get("when"), f"{where}.when"),
            strategic_fit=fit,
            skip_rule_segments=skip,
        )


TOP_LEVEL = (
    "version",
    "population",
    "features",
    "preprocessing",
    "algorithm",
    "model",
    "sampling",
    "quality",
    "stable_ids",
    "profiles",
    "priority",
    "rule_segments",
)


def parse_config(data: Any, source: str = "<memory>") -> SegmentationConfig:
    """Validate a configuration mapping (the parsed YAML) into a :class:`SegmentationConfig`.

    Raises:
        ConfigError: listing every problem found.
    """
    r = _Reader()
    top = r.section(data, "", TOP_LEVEL)
    if not isinstance(data, Mapping):
        raise ConfigError(r.problems or ["the file is empty"], source)
    version = r.number(top, "version", "version", 1, integer=True, minimum=1)

    population = r.section(top.get("population"), "population", ("excluded_segments",))
    excluded_raw = population.get("excluded_segments") or []
    if not isinstance(excluded_raw, list):
        r.problem("population.excluded_segments", "must be a list of segments")
        excluded_raw = []
    excluded = tuple(
        segment
        for i, item in enumerate(excluded_raw)
        if (segment := r.rule_segment(item, f"population.excluded_segments[{i}]", excluded=True))
    )

    features = _parse_features(r, top.get("features"))
    preprocessing = _parse_preprocessing(r, top.get("preprocessing"))
    algorithm = _parse_algorithm(r, top.get("algorithm"))
    model_section = r.section(top.get("model"), "model", ("refit_after_days",))
    model = ModelConfig(
        refit_after_days=r.number(
            model_section, "refit_after_days", "model", 7, integer=True, minimum=0
        )
        or 0
    )
    sampling = _parse_sampling(r, top.get("sampling"))
    quality = _parse_quality(r, top.get("quality"))
    stable = r.section(
        top.get("stable_ids"), "stable_ids", ("max_match_distance", "min_shared_customers")
    )
    stable_ids = StableIdsConfig(
        max_match_distance=r.number(
            stable, "max_match_distance", "stable_ids", 2.0, minimum=0, exclusive_minimum=True
        ),
        min_shared_customers=r.number(
            stable, "min_shared_customers", "stable_ids", 30, integer=True, minimum=1
        ),
    )
    profiles = _parse_profiles(r, top.get("profiles"))
    priority = _parse_priority(r, top.get("priority"))
    rule_groups = _parse_rule_groups(r, top.get("rule_segments"))

    ids = [s.id for s in excluded] + [s.id for g in rule_groups for s in g.segments]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        r.problem("rule_segments", f"segment ids must be unique; repeated: {', '.join(duplicates)}")
    groups = [g.group for g in rule_groups]
    if len(set(groups)) != len(groups):
        r.problem("rule_segments", "group names must be unique")
    overlap = set(features.clustered_columns()) & set(profiles.derived_flags)
    if overlap:
        r.problem("profiles.derived_flags", f"{', '.join(sorted(overlap))} are feature columns")
    if r.problems:
        raise ConfigError(r.problems, source)
    return SegmentationConfig(
        version=version,
        excluded_segments=excluded,
        features=features,
        preprocessing=preprocessing,
        algorithm=algorithm,
        model=model,
        sampling=sampling,
        quality=quality,
        stable_ids=stable_ids,
        profiles=profiles,
        priority=priority,
        rule_groups=rule_groups,
        source=source,
    )


def _parse_features(r: _Reader, data: Any) -> FeatureSpec:
    where = "features"
    section = r.section(data, where, ("log", "shares", "numeric", "categorical", "share_shrinkage"))
    shares = []
    raw_blocks = section.get("shares") or []
    if not isinstance(raw_blocks, list):
        r.problem(f"{where}.shares", "must be a list of {weight_column, columns} blocks")
        raw_blocks = []
    for i, block in enumerate(raw_blocks):
        block_where = f"{where}.shares[{i}]"
        block = r.section(block, block_where, ("weight_column", "columns"))
        weight = block.get("weight_column")
        if weight is not None and not isinstance(weight, str):
            r.problem(f"{block_where}.weight_column", "must be a column name or null")
            weight = None
        shares.append(
            ShareBlock(weight_column=weight, columns=r.names(block, "columns", block_where))
        )
    spec = FeatureSpec(
        log=r.names(section, "log", where),
        shares=tuple(shares),
        numeric=r.names(section, "numeric", where),
        categorical=r.names(section, "categorical", where),
        share_shrinkage=r.number(section, "share_shrinkage", where, 1.0, minimum=0),
    )
    columns = spec.clustered_columns()
    if not columns:
        r.problem(where, "no feature to cluster on: list columns under log, shares, numeric")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        r.problem(where, f"{', '.join(repeated)} listed in more than one family; keep one")
    return spec


def _parse_preprocessing(r: _Reader, data: Any) -> PreprocessingConfig:
    where = "preprocessing"
    section = r.section(
        data, where, ("scaler", "pca_components", "near_constant_share", "max_abs_correlation")
    )
    pca = section.get("pca_components")
    if pca is not None:
        if isinstance(pca, bool) or not isinstance(pca, int | float) or pca <= 0:
            r.problem(
                f"{where}.pca_components",
                f"must be null (no PCA), a number of components (>= 1) or a share of variance "
                f"in (0, 1), found {pca!r}",
            )
            pca = None
        elif isinstance(pca, float) and pca >= 1 and not pca.is_integer():
            r.problem(f"{where}.pca_components", "a share of variance must lie in (0, 1)")
            pca = None
        elif pca >= 1:
            pca = int(pca)
    return PreprocessingConfig(
        scaler=r.choice(section, "scaler", where, SCALERS, "standard"),
        pca_components=pca,
        near_constant_share=r.number(
            section, "near_constant_share", where, 0.99, minimum=0.5, maximum=1.0
        ),
        max_abs_correlation=r.number(
            section, "max_abs_correlation", where, 0.95, minimum=0.5, maximum=1.0
        ),
    )


def _parse_algorithm(r: _Reader, data: Any) -> AlgorithmConfig:
    where = "algorithm"
    section = r.section(
        data,
        where,
        ("name", "random_state", "threads", "k_min", "k_max", "kmeans", "dbscan", "hdbscan"),
    )
    name = r.choice(section, "name", where, ALGORITHMS, "kmeans")
    kmeans = r.section(
        section.get("kmeans"), f"{where}.kmeans", ("n_init", "minibatch_above", "batch_size")
    )
    dbscan = r.section(section.get("dbscan"), f"{where}.dbscan", ("min_samples", "eps"))
    hdbscan = r.section(
        section.get("hdbscan"), f"{where}.hdbscan", ("min_cluster_size", "min_samples")
    )
    k_min = r.number(section, "k_min", where, 2, integer=True, minimum=2)
    k_max = r.number(section, "k_max", where, 10, integer=True, minimum=2)
    if k_min is not None and k_max is not None and k_min > k_max:
        r.problem(
            f"{where}.k_min",
            f"the k range is empty: k_min ({k_min}) is above k_max ({k_max}); "
            "set k_min <= k_max (equal values fix k)",
        )
    if k_max is not None and k_max > 50:
        r.problem(f"{where}.k_max", f"{k_max} segments is not a segmentation; use at most 50")
    return AlgorithmConfig(
        name=name,
        random_state=r.number(section, "random_state", where, 42, integer=True, minimum=0),
        k_min=k_min or 2,
        k_max=k_max or 10,
        n_init=r.number(kmeans, "n_init", f"{where}.kmeans", 20, integer=True, minimum=1),
        minibatch_above=r.number(
            kmeans, "minibatch_above", f"{where}.kmeans", 50_000, integer=True, minimum=1
        ),
        minibatch_batch_size=r.number(
            kmeans, "batch_size", f"{where}.kmeans", 4096, integer=True, minimum=16
        ),
        dbscan_min_samples=r.number(
            dbscan, "min_samples", f"{where}.dbscan", 10, integer=True, minimum=2
        ),
        dbscan_eps=r.number(
            dbscan, "eps", f"{where}.dbscan", None, minimum=0, exclusive_minimum=True, optional=True
        ),
        hdbscan_min_cluster_size=r.number(
            hdbscan, "min_cluster_size", f"{where}.hdbscan", 50, integer=True, minimum=2
        ),
        hdbscan_min_samples=r.number(
            hdbscan, "min_samples", f"{where}.hdbscan", None, integer=True, minimum=1, optional=True
        ),
        threads=r.number(section, "threads", where, 1, integer=True, minimum=1, optional=True),
    )


def _parse_sampling(r: _Reader, data: Any) -> SamplingConfig:
    where = "sampling"
    keys = (
        "fit_sample_size",
        "k_selection_sample_size",
        "silhouette_sample_size",
        "hierarchical_sample_size",
        "density_sample_size",
    )
    defaults = (50_000, 20_000, 10_000, 5_000, 20_000)
    section = r.section(data, where, keys)
    values = {
        key: r.number(section, key, where, default, integer=True, minimum=100)
        for key, default in zip(keys, defaults, strict=True)
    }
    if (values["hierarchical_sample_size"] or 0) > 20_000:
        r.problem(
            f"{where}.hierarchical_sample_size",
            "Ward clustering needs n^2/2 distances in memory; use at most 20000",
        )
    return SamplingConfig(**{k: v if v is not None else 100 for k, v in values.items()})


def _parse_quality(r: _Reader, data: Any) -> QualityConfig:
    where = "quality"
    section = r.section(
        data,
        where,
        (
            "bootstrap_resamples",
            "bootstrap_fraction",
            "silhouette_floor",
            "min_segment_size",
            "min_segment_share",
            "bootstrap_ari_floor",
            "temporal_keep_share_floor",
        ),
    )
    return QualityConfig(
        bootstrap_resamples=r.number(
            section, "bootstrap_resamples", where, 5, integer=True, minimum=5
        ),
        bootstrap_fraction=r.number(
            section, "bootstrap_fraction", where, 0.8, minimum=0.1, maximum=1.0
        ),
        silhouette_floor=r.number(section, "silhouette_floor", where, 0.1, minimum=-1, maximum=1),
        min_segment_size=r.number(section, "min_segment_size", where, 30, integer=True, minimum=1),
        min_segment_share=r.number(
            section, "min_segment_share", where, 0.02, minimum=0, maximum=0.5
        ),
        bootstrap_ari_floor=r.number(
            section, "bootstrap_ari_floor", where, 0.7, minimum=-1, maximum=1
        ),
        temporal_keep_share_floor=r.number(
            section, "temporal_keep_share_floor", where, None, minimum=0, maximum=1, optional=True
        ),
    )


def _parse_profiles(r: _Reader, data: Any) -> ProfilesConfig:
    where = "profiles"
    section = r.section(
        data,
        where,
        (
            "features",
            "descriptors",
            "derived_flags",
            "top_features",
            "name_traits",
            "min_standardized_difference",
        ),
    )
    descriptors = {}
    raw = section.get("descriptors") or {}
    if not isinstance(raw, Mapping):
        r.problem(f"{where}.descriptors", "must map a feature to {label, high, low}")
        raw = {}
    for feature, item in raw.items():
        item_where = f"{where}.descriptors.{feature}"
        item = r.section(item, item_where, ("label", "high", "low"))
        descriptors[feature] = Descriptor(
            label=r.texts(item.get("label"), f"{item_where}.label"),
            high=r.texts(item.get("high"), f"{item_where}.high", required=False),
            low=r.texts(item.get("low"), f"{item_where}.low", required=False),
        )
    flags = section.get("derived_flags") or {}
    if not isinstance(flags, Mapping):
        r.problem(f"{where}.derived_flags", "must map a flag name to a condition")
        flags = {}
    derived = {
        name: r.condition(cond, f"{where}.derived_flags.{name}") for name, cond in flags.items()
    }
    features = r.names(section, "features", where)
    missing = sorted(set(features) - set(descriptors))
    if missing:
        r.problem(
            f"{where}.features",
            f"{', '.join(missing)} have no descriptor; add them under profiles.descriptors",
        )
    return ProfilesConfig(
        features=features,
        descriptors=descriptors,
        derived_flags=derived,
        top_features=r.number(section, "top_features", where, 5, integer=True, minimum=1),
        name_traits=r.number(section, "name_traits", where, 2, integer=True, minimum=1, maximum=4),
        min_standardized_difference=r.number(
            section, "min_standardized_difference", where, 0.3, minimum=0
        ),
    )


def _parse_priority(r: _Reader, data: Any) -> PriorityConfig:
    where = "priority"
    section = r.section(data, where, ("default_strategic_fit", "strategic_fit_rules"))
    items = section.get("strategic_fit_rules") or []
    if not isinstance(items, list):
        r.problem(f"{where}.strategic_fit_rules", "must be a list of {feature, min_lift, score}")
        items = []
    fit_rules = []
    for i, item in enumerate(items):
        item_where = f"{where}.strategic_fit_rules[{i}]"
        item = r.section(item, item_where, ("feature", "min_lift", "score"))
        feature = item.get("feature")
        if not isinstance(feature, str):
            r.problem(f"{item_where}.feature", "must name a profile feature")
        fit_rules.append(
            StrategicFitRule(
                feature=str(feature),
                min_lift=r.number(item, "min_lift", item_where, minimum=0) or 0.0,
                score=r.number(item, "score", item_where, integer=True, minimum=1, maximum=5) or 3,
            )
        )
    return PriorityConfig(
        default_strategic_fit=r.number(
            section, "default_strategic_fit", where, 3, integer=True, minimum=1, maximum=5
        ),
        strategic_fit_rules=tuple(fit_rules),
    )


def _parse_rule_groups(r: _Reader, data: Any) -> tuple[RuleGroup, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        r.problem("rule_segments", "must be a list of groups {group, exclusive, segments}")
        return ()
    groups = []
    for i, item in enumerate(data):
        where = f"rule_segments[{i}]"
        item = r.section(item, where, ("group", "exclusive", "segments"))
        name = item.get("group")
        if not isinstance(name, str) or not name:
            r.problem(f"{where}.group", "needs a name")
            name = f"group_{i}"
        exclusive = item.get("exclusive", False)
        if not isinstance(exclusive, bool):
            r.problem(f"{where}.exclusive", "must be true or false")
            exclusive = False
        raw_segments = item.get("segments") or []
        if not isinstance(raw_segments, list) or not raw_segments:
            r.problem(f"{where}.segments", "must list at least one segment")
            raw_segments = []
        segments = tuple(
            segment
            for j, raw in enumerate(raw_segments)
            if (segment := r.rule_segment(raw, f"{where}.segments[{j}]"))
        )
        groups.append(RuleGroup(group=name, exclusive=exclusive, segments=segments))
    return tuple(groups)


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
    problems = []
    known = sorted(kinds)
    for column in config.required_columns():
        if column not in kinds:
            close = [c for c in known if c.split("_")[0] == column.split("_")[0]][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(
                f"column {column!r} does not exist in the features table{hint}; "
                "fix its name or remove it"
            )
    numeric = [
        *config.features.log,
        *(c for b in config.features.shares for c in b.columns),
        *(b.weight_column for b in config.features.shares if b.weight_column),
        *config.features.numeric,
    ]
    for column in numeric:
        kind = kinds.get(column)
        if kind is not None and kind not in {"numeric", "boolean"}:
            problems.append(
                f"features: {column!r} is {kind}, not a number; list it under categorical"
            )
    profile_names = set(config.profiles.features)
    for rule in config.priority.strategic_fit_rules:
        if rule.feature not in profile_names:
            problems.append(
                f"priority.strategic_fit_rules: {rule.feature!r} is not a profile feature; "
                "add it to profiles.features or fix the name"
            )
    return problems


def load_priority_grid(
    weights_path: Path = DEFAULT_WEIGHTS_SEED, thresholds_path: Path = DEFAULT_THRESHOLDS_SEED
) -> PriorityGrid:
    """Read and check the priority-grid seeds.

    Raises:
        ConfigError: unknown or missing criteria, negative or all-zero weights, thresholds that
            are not four ascending numbers.
    """
    problems: list[str] = []
    weights: dict[str, float] = {}
    thresholds: dict[str, tuple[float, float, float, float]] = {}
    for path in (weights_path, thresholds_path):
        if not Path(path).exists():
            problems.append(f"{path}: file not found")
    if problems:
        raise ConfigError(problems, "priority grid")

    with open(weights_path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{Path(weights_path).name} line {line}"
            criterion = (row.get("criterion") or "").strip()
            if criterion not in PRIORITY_CRITERIA:
                problems.append(
                    f"{where}: unknown criterion {criterion!r}; use {', '.join(PRIORITY_CRITERIA)}"
                )
                continue
            if criterion in weights:
                problems.append(f"{where}: {criterion} has a weight already; keep one row")
            try:
                weight = float(row.get("weight", ""))
            except ValueError:
                problems.append(f"{where}: weight {row.get('weight')!r} is not a number")
                continue
            if weight < 0 or weight != weight or weight == float("inf"):
                problems.append(f"{where}: weight of {criterion} must be >= 0, found {weight}")
            weights[criterion] = weight
    missing = [c for c in PRIORITY_CRITERIA if c not in weights]
    if missing:
        problems.append(
            f"{Path(weights_path).name}: no weight for {', '.join(missing)}; add a row each "
            "(0 to ignore a criterion)"
        )
    elif sum(weights.values()) <= 0:
        problems.append(f"{Path(weights_path).name}: the weights sum to 0; give one a weight > 0")

    with open(thresholds_path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{Path(thresholds_path).name} line {line}"
            criterion = (row.get("criterion") or "").strip()
            if criterion not in PRIORITY_CRITERIA:
                problems.append(f"{where}: unknown criterion {criterion!r}")
                continue
            try:
                values = tuple(float(row[f"threshold_{i}"]) for i in range(1, 5))
            except (KeyError, TypeError, ValueError):
                problems.append(f"{where}: threshold_1 to threshold_4 must be numbers")
                continue
            if list(values) != sorted(values) or len(set(values)) != 4:
                problems.append(
                    f"{where}: thresholds of {criterion} must be strictly ascending, found {values}"
                )
            thresholds[criterion] = values  # type: ignore[assignment]
    missing = [c for c in PRIORITY_CRITERIA if c not in thresholds]
    if missing:
        problems.append(f"{Path(thresholds_path).name}: no thresholds for {', '.join(missing)}")
    if problems:
        raise ConfigError(problems, "priority grid")
    return PriorityGrid(weights=weights, thresholds=thresholds)


def _raw_feature_columns(data: Any) -> list[str]:
    """The feature columns an unparseable configuration names, as far as they can be read."""
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, Mapping):
        return []
    names: list[Any] = []
    for family in ("log", "numeric", "categorical"):
        names += features.get(family) or []
    for block in features.get("shares") or []:
        if isinstance(block, Mapping):
            names += [block.get("weight_column"), *(block.get("columns") or [])]
    return [name for name in dict.fromkeys(names) if isinstance(name, str)]


def load_config(
    path: Path | str = DEFAULT_CONFIG_PATH,
    columns: Mapping[str, str] | Iterable[str] | None = None,
    weights_path: Path | None = DEFAULT_WEIGHTS_SEED,
    thresholds_path: Path | None = DEFAULT_THRESHOLDS_SEED,
) -> SegmentationConfig:
    """Read, validate and return the configuration; with `columns`, check them too.

    Raises:
        ConfigError: the file is missing or unreadable, or any setting is invalid.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path} does not exist"], "segmentation config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError([f"{path} is not valid YAML: {error}"], str(path)) from error
    try:
        config = parse_config(data, str(path))
    except ConfigError as error:
        # Report the unknown feature columns in the same round as the other problems.
        missing = [
            f"column {column!r} does not exist in the features table; fix its name or remove it"
            for column in _raw_feature_columns(data)
            if columns is not None and column not in set(columns)
        ]
        raise ConfigError([*error.problems, *missing], str(path)) from None
    problems = check_columns(config, columns) if columns is not None else []
    grid = None
    if weights_path is not None and thresholds_path is not None:
        try:
            grid = load_priority_grid(weights_path, thresholds_path)
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems, str(path))
    return replace(config, grid=grid)
