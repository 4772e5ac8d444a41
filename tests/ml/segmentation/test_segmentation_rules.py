"""Rule segments: conditions on feature columns, nulls never match, exclusive groups."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation import rules


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "recency_score": pd.array([5, 4, 2, 1, None], dtype="Int32"),
            "frequency_score": pd.array([5, 2, 4, 1, None], dtype="Int32"),
            "lifecycle_stage": ["active", "new", "at_risk", "lapsed", "prospect"],
            "has_email_consent": pd.array([True, False, None, True, False], dtype="boolean"),
            "summer_order_share": [0.9, np.nan, 0.2, 0.5, np.nan],
            "departement_code": ["06", "75", "83", None, "13"],
        }
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"column": "recency_score", "op": ">=", "value": 4}, "ab"),
        ({"column": "recency_score", "op": "<", "value": 3}, "cd"),
        ({"column": "recency_score", "op": "!=", "value": 5}, "bcd"),
        ({"column": "lifecycle_stage", "op": "==", "value": "new"}, "b"),
        ({"column": "lifecycle_stage", "op": "in", "value": ["new", "active"]}, "ab"),
        ({"column": "departement_code", "op": "not_in", "value": ["06", "83"]}, "be"),
        ({"column": "summer_order_share", "op": "between", "value": [0.2, 0.5]}, "cd"),
        ({"column": "summer_order_share", "op": "is_null"}, "be"),
        ({"column": "summer_order_share", "op": "is_not_null"}, "acd"),
        ({"column": "has_email_consent", "op": "is_true"}, "ad"),
        ({"column": "has_email_consent", "op": "is_false"}, "be"),
        ({"column": "has_email_consent", "op": "is_not_true"}, "bce"),
        ({"not": {"column": "recency_score", "op": ">=", "value": 4}}, "cde"),
        (
            {
                "all": [
                    {"column": "recency_score", "op": ">=", "value": 2},
                    {"column": "frequency_score", "op": ">=", "value": 4},
                ]
            },
            "ac",
        ),
        (
            {
                "any": [
                    {"column": "lifecycle_stage", "op": "==", "value": "prospect"},
                    {"column": "summer_order_share", "op": ">", "value": 0.8},
                ]
            },
            "ae",
        ),
    ],
)
def test_conditions_select_the_expected_rows(frame, condition, expected):
    assert rules.condition_problems(condition) == []
    selected = frame.loc[rules.evaluate(condition, frame), "customer_id"]
    assert "".join(selected) == expected


def test_a_null_never_satisfies_a_comparison(frame):
    """Customer e has no scores: neither >= nor < selects them, only `is_null` does."""
    high = rules.evaluate({"column": "recency_score", "op": ">=", "value": 1}, frame)
    low = rules.evaluate({"column": "recency_score", "op": "<", "value": 1}, frame)
    assert not high[4] and not low[4]


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"column": "x", "op": "like", "value": 1}, "unknown operator 'like'"),
        ({"column": "x", "op": ">="}, ">= needs a single value"),
        ({"column": "x", "op": "in", "value": 3}, "in needs a non-empty list"),
        ({"column": "x", "op": "is_null", "value": 3}, "is_null takes no value"),
        ({"op": ">=", "value": 1}, "needs a column name"),
        ({"all": []}, "all needs a non-empty list"),
        ({"all": [{"column": "x", "op": "=", "value": 1}]}, "all[0]: unknown operator '='"),
        ({"colum": "x", "op": "==", "value": 1}, "unknown key(s) colum"),
        ("recency_score >= 4", "a condition must be a mapping"),
    ],
)
def test_malformed_conditions_are_explained(condition, fragment):
    problems = rules.condition_problems(condition)
    assert any(fragment in problem for problem in problems), problems


def test_condition_columns_lists_every_column_read():
    condition = {
        "all": [
            {"column": "a", "op": "==", "value": 1},
            {
                "not": {
                    "any": [
                        {"column": "b", "op": "is_null"},
                        {"column": "c", "op": ">", "value": 0},
                    ]
                }
            },
        ]
    }
    assert rules.condition_columns(condition) == ["a", "b", "c"]


def segment(segment_id, condition):
    return SimpleNamespace(id=segment_id, when=condition)


def test_exclusive_groups_keep_the_first_match_and_others_overlap(frame):
    tiers = SimpleNamespace(
        group="rfm_tier",
        exclusive=True,
        segments=[
            segment("champions", {"column": "frequency_score", "op": ">=", "value": 4}),
            segment("recent", {"column": "recency_score", "op": ">=", "value": 4}),
            segment("sleeping", {"column": "recency_score", "op": "<=", "value": 2}),
        ],
    )
    marketer = SimpleNamespace(
        group="marketer",
        exclusive=False,
        segments=[
            segment("riviera", {"column": "departement_code", "op": "in", "value": ["06", "83"]}),
            segment("emailable", {"column": "has_email_consent", "op": "is_true"}),
        ],
    )
    members = rules.rule_memberships(frame, [tiers, marketer])
    by_customer = members.groupby("customer_id")["segment_id"].apply(sorted).to_dict()
    assert by_customer == {
        "a": ["champions", "emailable", "riviera"],
        "b": ["recent"],
        "c": ["champions", "riviera"],
        "d": ["emailable", "sleeping"],
    }
    tier_counts = members[members["rule_group"] == "rfm_tier"]["customer_id"].value_counts()
    assert (tier_counts == 1).all()


def test_first_match_routes_each_row_once(frame):
    routed = rules.first_match(
        frame,
        [
            segment("no_consent", {"column": "has_email_consent", "op": "is_not_true"}),
            segment("prospects", {"column": "lifecycle_stage", "op": "==", "value": "prospect"}),
        ],
    )
    assert routed.tolist() == [None, "no_consent", "no_consent", None, "no_consent"]
