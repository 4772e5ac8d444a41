"""Which columns of the feature mart are model inputs, and the preprocessing that turns them
into numbers (imputation, scaling, one-hot encoding) inside the persisted pipeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from cible.ml.scoring.labels import TrainingDataError
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from cible.privacy.consent import is_consent_column

# Never model inputs, whatever the configuration says: keys and timestamps; and the consent
# flags, which decide who is profiled at all (cible/privacy/consent.py), not how.
ALWAYS_EXCLUDED = ("customer_id", "as_of_at")


@dataclass(frozen=True)
class ModelFeatures:
    """A scoring model's inputs by kind; part of the model, so scoring reads the same columns.

    (Named apart from segmentation's `FeatureSpec`: the two packages declare features
    differently, from the configuration there and from the mart's types here.)
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}


def select_features(
    frame: pd.DataFrame, include: Sequence[str] | None, exclude: Sequence[str]
) -> ModelFeatures:
    """The feature columns of `frame` by kind: numbers and booleans are numeric, text is
    categorical, timestamps are left out (their information is in the `*_days` columns).

    Raises:
        TrainingDataError: a configured column is not in the frame.
    """
    wanted = list(frame.columns) if include is None else list(include)
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"feature(s) {', '.join(missing)} listed in features.include are not columns of "
            f"the feature table ({len(frame.columns)} columns, e.g. "
            f"{', '.join(list(frame.columns)[:8])}, ...); fix the list or rebuild the mart"
        )
    dropped = set(exclude) | set(ALWAYS_EXCLUDED)
    numeric, categorical = [], []
    for column in wanted:
        if column in dropped or is_consent_column(column):
            continue
        dtype = frame[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            continue
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        else:
            categorical.append(column)
    if not numeric and not categorical:
        raise TrainingDataError("no feature left after features.include and features.exclude")
    return ModelFeatures(numeric=tuple(numeric), categorical=tuple(categorical))


def check_features(columns: Iterable[str], features: ModelFeatures, where: str) -> None:
    """Stop with a clear message when a feature table's `columns` lack one the model needs."""
    available = set(columns)
    missing = [column for column in features.columns if column not in available]
    if missing:
        raise TrainingDataError(
            f"{where}: the model needs feature(s) {', '.join(missing)}, which the feature "
            "table does not have; rebuild marts.fct_customer_features or retrain the model"
        )


def to_float(values: pd.Series) -> np.ndarray:
    """A column of numbers or booleans (nullable or not) as floats, missing values as NaN."""
    if not (
        pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
    ):
        values = pd.to_numeric(values, errors="coerce")
    return values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def as_float(frame: pd.DataFrame) -> np.ndarray:
    """Numbers and booleans (nullable or not) as a float matrix, missing values as NaN."""
    if not frame.shape[1]:
        return np.empty((len(frame), 0))
    kinds = frame.dtypes
    if all(pd.api.types.is_numeric_dtype(k) or pd.api.types.is_bool_dtype(k) for k in kinds):
        # One conversion for the whole block: column by column cost the live path about
        # 35 ms per model call on a 20-row micro-batch (2026-12-05, docs/live.md).
        return frame.to_numpy(dtype="float64", na_value=np.nan)
    return np.column_stack([to_float(frame[column]) for column in frame.columns])


def as_text(frame: pd.DataFrame) -> np.ndarray:
    """Categories as Python strings, missing values as the category `missing`."""
    # On the values, not through pandas (astype, where, astype): the same strings, 3.3 ms
    # against 0.16 ms a call on a 6-row micro-batch of the live path, half the time on
    # a million rows (2026-12-07).
    values = frame.to_numpy(dtype=object)
    missing = pd.isna(values)
    text = np.full(values.shape, "missing", dtype=object)
    text[~missing] = [str(value) for value in values[~missing]]
    return text


class DropConstantColumns(SelectorMixin, BaseEstimator):
    """Drop the columns that held one value when the model learned.

    A model learns nothing from such a column, but it can still react to it: an MLP's weights
    on a constant input never move from their random start, so values first seen at scoring
    shift its scores. A year-back training on data whose web history is younger than a year
    (the demo's) has every web feature constant; values seen only at scoring moved an MLP's
    scores by up to 0.92 (mean 0.39; logistic regression and boosting: 0; 2026-12-06). Kept
    all when every column is constant (there is nothing to learn either way).
    """

    def fit(self, X, y=None):
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        varies = pd.DataFrame(values).nunique(dropna=False).to_numpy() > 1
        self.varies_ = varies if varies.any() else np.ones_like(varies)
        return self

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.varies_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing value is one more value, not an error
        return tags


def build_model_preprocessor(
    features: ModelFeatures, min_category_share: float
) -> ColumnTransformer:
    """Imputation (median plus a missing indicator, so "never" differs from 0), scaling and
    one-hot encoding (rare categories grouped, unseen ones tolerated at scoring); columns
    constant when the model learned are dropped (:class:`DropConstantColumns`)."""
    numeric = Pipeline(
        [
            ("to_float", FunctionTransformer(as_float, feature_names_out="one-to-one")),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
            ("drop_constant", DropConstantColumns()),
        ]
    )
    categorical = Pipeline(
        [
            ("to_text", FunctionTransformer(as_text, feature_names_out="one-to-one")),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=min_category_share or None,
                    sparse_output=False,
                ),
            ),
            ("drop_constant", DropConstantColumns()),
        ]
    )
    transformers = []
    if features.numeric:
        transformers.append(("numeric", numeric, list(features.numeric)))
    if features.categorical:
        transformers.append(("categorical", categorical, list(features.categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
