"""The preprocessing `Pipeline`: types, imputation, transforms, scaling, encoding, filtering, PCA.

Built from the configuration by :func:`build_preprocessor`, fitted once on the fit sample and
persisted inside the segmentation model, so assignment applies exactly the fitted transform.

Families of features (``features`` in the config):

- ``log``: skewed counts and amounts (orders, revenue, recency). Median-imputed, then
  ``sign(x) * log(1 + |x|)`` so that a customer with 40 orders is not 40 times one with 1.
- ``shares``: rates and shares measured on a number of events (orders, campaigns, sessions).
  Each is shrunk towards the population mean by ``share_shrinkage`` pseudo-events
  (:class:`ShareShrinker`): one order bought in a single category is weak evidence of a taste
  for it, ten orders are strong evidence. A missing share (no event) takes the mean.
- ``numeric``: used as they are, median-imputed.
- ``categorical``: one-hot encoded; categories under 1 % are pooled, unseen ones ignored.

Each numeric family is scaled (standard, min-max or robust scaler, by config); one-hot columns
stay 0/1 so that a rare category does not weigh more than a whole feature. Then near-constant
and redundant columns are dropped (:class:`FeatureFilter`) and PCA optionally projects the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted, validate_data

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def signed_log1p(values):
    """``sign(x) * log(1 + |x|)``: compresses long tails, keeps zero at zero and the sign."""
    array = np.asarray(values, dtype=float)
    return np.sign(array) * np.log1p(np.abs(array))


def to_model_frame(
    frame: pd.DataFrame, numeric: Sequence[str] = (), categorical: Sequence[str] = ()
) -> pd.DataFrame:
    """The columns the model reads, typed for scikit-learn: numbers as float (missing = NaN,
    booleans 0/1) and categories as text (missing = NaN)."""
    numeric, categorical = list(numeric), list(categorical)
    if all(is_numeric_dtype(k) or is_bool_dtype(k) for k in frame.dtypes[numeric]):
        # One conversion for the block (the same floats): column by column cost 2.5 ms of a
        # live micro-batch's segment assignment (2026-12-07).
        values = frame[numeric].to_numpy(dtype="float64", na_value=np.nan)
        out = pd.DataFrame(values, columns=numeric, index=frame.index)
    else:
        out = pd.DataFrame({column: _as_float(frame[column]) for column in numeric}, frame.index)
    for column in categorical:
        series = frame[column].astype(object)
        out[column] = series.where(series.notna(), np.nan)
    return out


def _as_float(series: pd.Series) -> pd.Series:
    if series.dtype == bool or str(series.dtype) == "boolean":
        series = series.astype("Float64")
    return pd.to_numeric(series, errors="coerce").astype(float)


class ShareShrinker(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Shrinks shares towards their population mean in proportion to the evidence behind them.

    With ``weighted=True`` the first column of X is the number of events each share was
    measured on (orders, campaigns, sessions) and is not output; every other column is a share,
    transformed to ``(n * share + shrinkage * mean) / (n + shrinkage)``. A missing share takes
    the mean. With ``weighted=False`` missing shares take the mean and nothing else changes.

    Args:
        shrinkage: pseudo-events at the population mean added to every customer (0 = none).
        weighted: whether the first column holds the event counts.
    """

    def __init__(self, shrinkage: float = 1.0, weighted: bool = True):
        self.shrinkage = shrinkage
        self.weighted = weighted

    def fit(self, X, y=None):
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float)
        shares = X[:, 1:] if self.weighted else X
        with np.errstate(all="ignore"):
            means = np.nanmean(shares, axis=0) if shares.shape[0] else np.zeros(shares.shape[1])
        self.means_ = np.where(np.isnan(means), 0.0, means)
        return self

    def transform(self, X):
        check_is_fitted(self, "means_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float, reset=False)
        shares = X[:, 1:] if self.weighted else X
        shares = np.where(np.isnan(shares), self.means_, shares)
        if not self.weighted or self.shrinkage == 0:
            return shares
        counts = np.clip(np.nan_to_num(X[:, :1], nan=0.0), 0, None)
        return (counts * shares + self.shrinkage * self.means_) / (counts + self.shrinkage)

    def get_feature_names_out(self, input_features=None):
        names = super().get_feature_names_out(input_features)
        return names[1:] if self.weighted else names

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class FeatureFilter(TransformerMixin, BaseEstimator):
    """Drops near-constant columns, then columns redundant with one kept before them.

    Both rules are scale-free, so the filter may sit before or after scaling.

    Args:
        max_dominant_share: a column whose most frequent value covers more than this share of
            rows carries almost no information and is dropped.
        max_abs_correlation: a column whose absolute Pearson correlation with an earlier kept
            column exceeds this is redundant and dropped.

    Attributes:
        keep_: boolean mask of the columns kept.
        dropped_: ``{column name: reason}`` of the columns dropped.
    """

    def __init__(self, max_dominant_share: float = 0.99, max_abs_correlation: float = 0.95):
        self.max_dominant_share = max_dominant_share
        self.max_abs_correlation = max_abs_correlation

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=float)
        names = self._input_names()
        n_rows, n_columns = X.shape
        keep = np.ones(n_columns, dtype=bool)
        dropped: dict[str, str] = {}
        for j in range(n_columns):
            _, counts = np.unique(X[:, j], return_counts=True)
            dominant = counts.max() / n_rows
            if dominant > self.max_dominant_share:
                keep[j] = False
                dropped[names[j]] = f"near-constant: one value in {dominant:.1%} of rows"
        candidates = np.flatnonzero(keep)
        with np.errstate(all="ignore"):
            correlation = np.abs(np.corrcoef(X[:, candidates], rowvar=False))
        correlation = np.nan_to_num(np.atleast_2d(correlation), nan=0.0)
        kept: list[int] = []
        for position, j in enumerate(candidates):
            if kept:
                against = correlation[position, kept]
                worst = int(np.argmax(against))
                if against[worst] > self.max_abs_correlation:
                    keep[j] = False
                    dropped[names[j]] = (
                        f"redundant with {names[candidates[kept[worst]]]} "
                        f"(|r| = {against[worst]:.2f})"
                    )
                    continue
            kept.append(position)
        if not keep.any():
            # Everything looks constant: keep the most varied column rather than nothing.
            keep[int(np.argmax(X.std(axis=0)))] = True
        self.keep_ = keep
        self.dropped_ = dropped
        return self

    def transform(self, X):
        check_is_fitted(self, "keep_")
        X = validate_data(self, X, dtype=float, reset=False)
        return X[:, self.keep_]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "keep_")
        return np.asarray(self._input_names(input_features), dtype=object)[self.keep_]

    def _input_names(self, input_features=None) -> list[str]:
        if input_features is not None:
            return list(input_features)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return list(names)
        return [f"x{i}" for i in range(self.n_features_in_)]


def build_preprocessor(
    log: Sequence[str] = (),
    shares: Sequence[tuple[str | None, Sequence[str]]] = (),
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    *,
    share_shrinkage: float = 1.0,
    scaler: str = "standard",
    near_constant_share: float = 0.99,
    max_abs_correlation: float = 0.95,
    pca_components: float | int | None = None,
    random_state: int | None = None,
) -> Pipeline:
    """The unfitted preprocessing pipeline for these feature families (see the module doc).

    Args:
        shares: ``(weight column or None, share columns)`` blocks.

    Returns:
        A Pipeline taking the features frame and returning the matrix the clusterer sees.
    """
    if scaler not in SCALERS:
        raise ValueError(f"scaler must be one of {', '.join(SCALERS)}, not {scaler!r}")
    numeric_inputs = [*log, *numeric]
    for weight, columns in shares:
        numeric_inputs += [*([weight] if weight else []), *columns]
    numeric_inputs = list(dict.fromkeys(numeric_inputs))

    branches = []
    if log:
        branches.append(
            (
                "log",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
                        ("scale", SCALERS[scaler]()),
                    ]
                ),
                list(log),
            )
        )
    for i, (weight, columns) in enumerate(shares):
        branches.append(
            (
                f"shares_{i}",
                Pipeline(
                    [
                        ("shrink", ShareShrinker(share_shrinkage, weighted=weight is not None)),
                        ("scale", SCALERS[scaler]()),
                    ]
                ),
                [*([weight] if weight else []), *columns],
            )
        )
    if numeric:
        branches.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", SCALERS[scaler]()),
                    ]
                ),
                list(numeric),
            )
        )
    if categorical:
        branches.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="unknown")),
                        (
                            "encode",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                min_frequency=0.01,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                list(categorical),
            )
        )
    steps = [
        (
            "types",
            FunctionTransformer(
                to_model_frame,
                kw_args={"numeric": numeric_inputs, "categorical": list(categorical)},
                feature_names_out=_typed_names,
            ),
        ),
        ("features", ColumnTransformer(branches, verbose_feature_names_out=False)),
        ("filter", FeatureFilter(near_constant_share, max_abs_correlation)),
    ]
    if pca_components is not None:
        steps.append(("pca", PCA(n_components=pca_components, random_state=random_state)))
    return Pipeline(steps)


def _typed_names(transformer, input_features):
    """Feature names after :func:`to_model_frame`: the numeric then categorical columns."""
    kw = transformer.kw_args or {}
    return np.asarray([*kw.get("numeric", ()), *kw.get("categorical", ())], dtype=object)
