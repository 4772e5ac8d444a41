"""The preprocessing pipeline and its custom transformers."""

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation.preprocessing import (
    FeatureFilter,
    ShareShrinker,
    build_preprocessor,
    signed_log1p,
    to_model_frame,
)
from sklearn.utils.estimator_checks import parametrize_with_checks


@parametrize_with_checks([ShareShrinker(), ShareShrinker(shrinkage=0.0), FeatureFilter()])
def test_transformers_follow_scikit_learn_conventions(estimator, check):
    check(estimator)


def test_signed_log1p_compresses_tails_and_keeps_the_sign():
    values = signed_log1p([-9.0, 0.0, 1.0, 1e6])
    assert values[1] == 0.0
    assert values[0] == pytest.approx(-np.log(10))
    assert values[3] == pytest.approx(np.log1p(1e6))


def test_shares_are_shrunk_towards_the_mean_in_proportion_to_evidence():
    counts = np.array([1.0, 10.0, 0.0, 4.0])
    shares = np.array([1.0, 1.0, np.nan, 0.0])
    shrinker = ShareShrinker(shrinkage=1.0).fit(np.column_stack([counts, shares]))
    mean = np.nanmean(shares)
    assert shrinker.means_ == pytest.approx([mean])
    out = shrinker.transform(np.column_stack([counts, shares]))[:, 0]
    # One order in a single category is worth half as much as the prior; ten orders outweigh it.
    assert out[0] == pytest.approx((1 * 1 + mean) / 2)
    assert out[1] == pytest.approx((10 * 1 + mean) / 11)
    assert out[2] == pytest.approx(mean)
    assert out[3] == pytest.approx(mean / 5)
    assert out[1] > out[0] > mean


def test_the_filter_drops_near_constant_and_redundant_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    frame = pd.DataFrame(
        {
            "x": x,
            "x_again": 2 * x + 0.01 * rng.normal(size=500),
            "constant": np.where(np.arange(500) < 498, 1.0, 2.0),
            "other": rng.normal(size=500),
        }
    )
    filt = FeatureFilter(max_dominant_share=0.99, max_abs_correlation=0.95).fit(frame)
    assert filt.get_feature_names_out().tolist() == ["x", "other"]
    assert "near-constant" in filt.dropped_["constant"]
    assert "redundant with x" in filt.dropped_["x_again"]
    assert filt.transform(frame).shape == (500, 2)


def test_the_pipeline_types_imputes_transforms_and_encodes():
    frame = pd.DataFrame(
        {
            "orders": pd.array([0, 3, 10, None], dtype="Int32"),
            "share": [np.nan, 0.5, 1.0, 0.0],
            "flag": pd.array([True, False, None, True], dtype="boolean"),
            "region": ["IDF", None, "PAC", "IDF"],
        }
    )
    pipeline = build_preprocessor(
        log=["orders"],
        shares=[("orders", ["share"])],
        numeric=["flag"],
        categorical=["region"],
        near_constant_share=1.0,
        max_abs_correlation=1.0,
    )
    out = pipeline.fit_transform(frame)
    names = pipeline.get_feature_names_out().tolist()
    assert names[:3] == ["orders", "share", "flag"]
    assert {"region_IDF", "region_PAC", "region_unknown"} <= set(names)
    assert not np.isnan(out).any()
    # Standard-scaled numeric families, one-hot left as 0/1.
    assert out[:, 0].mean() == pytest.approx(0.0, abs=1e-12)
    assert set(np.unique(out[:, names.index("region_IDF")])) == {0.0, 1.0}


@pytest.mark.parametrize("scaler", ["standard", "minmax", "robust"])
def test_the_scaler_is_chosen_by_config(scaler):
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2})
    pipeline = build_preprocessor(numeric=["a", "b"], scaler=scaler, max_abs_correlation=1.0)
    out = pipeline.fit_transform(frame)
    if scaler == "minmax":
        assert out.min() == 0.0 and out.max() == 1.0
    elif scaler == "standard":
        assert out.std(axis=0) == pytest.approx([1.0, 1.0])
    else:
        assert np.median(out, axis=0) == pytest.approx([0.0, 0.0])


def test_pca_is_optional():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(100, 6)), columns=list("abcdef"))
    pipeline = build_preprocessor(numeric=list("abcdef"), pca_components=3, random_state=0)
    assert pipeline.fit_transform(frame).shape == (100, 3)
    with pytest.raises(ValueError, match="scaler must be one of"):
        build_preprocessor(numeric=["a"], scaler="zscore")


def test_transform_applies_the_fitted_state_without_refitting():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    pipeline = build_preprocessor(numeric=["a"]).fit(frame)
    shifted = pd.DataFrame({"a": [101.0, 102.0]})
    # A refit would centre the new values on 0; the fitted scaler keeps them far from it.
    assert pipeline.transform(shifted).min() > 50


def _mixed_frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "count": pd.array(rng.choice([1, 2, None], rows), dtype="Int64"),
            "flag": pd.array(rng.choice([True, False, None], rows), dtype="boolean"),
            "plain_flag": rng.choice([True, False], rows),
            "share": rng.choice([0.25, np.nan], rows),
            "amount": pd.array(rng.choice([1.5, None], rows), dtype="Float64"),
            "orders": rng.integers(0, 9, rows),
            "channel": pd.array(rng.choice(["web", None], rows), dtype="string"),
            "typed_as_text": pd.Series(rng.choice(["3", "x", None], rows), dtype=object),
        },
        index=pd.RangeIndex(5, 5 + rows),  # not 0..n-1: the index is kept
    )


@pytest.mark.parametrize(
    "numeric",
    [["count", "flag", "plain_flag", "share", "amount", "orders"], ["count", "typed_as_text"]],
)
def test_model_frame_types_each_number_as_its_own_conversion_would(numeric):
    """Numbers come out as float, booleans 0/1, missing values NaN, numbers written as text
    read (others NaN), the index kept: the block conversion of all-numeric columns gives what
    each column's own conversion gives."""
    frame = _mixed_frame()
    typed = to_model_frame(frame, numeric, ["channel"])
    assert list(typed.columns) == [*numeric, "channel"]
    assert (typed.index == frame.index).all()
    for column in numeric:
        source = frame[column]
        if str(source.dtype) in ("bool", "boolean"):
            source = source.astype("Float64")
        expected = pd.to_numeric(source, errors="coerce").astype(float)
        pd.testing.assert_series_equal(typed[column], expected, check_names=False)
    assert typed["channel"].dtype == object
    assert typed["channel"].isna().equals(frame["channel"].isna())
    assert set(typed["channel"].dropna()) == {"web"}
