"""Declarative rule segments: conditions on feature columns, written in the YAML config.

A condition is a mapping, one of::

    {column: recency_score, op: ">=", value: 4}
    {column: lifecycle_stage, op: in, value: [new, active]}
    {column: age, op: between, value: [25, 34]}        # both ends included
    {column: has_profiling_consent, op: is_not_true}   # false or missing
    {all: [<condition>, ...]}   {any: [<condition>, ...]}   {not: <condition>}

A missing value (null) never satisfies a comparison (`==`, `<`, `in`, `between`, ...), as in
SQL; select it with `is_null`. `not` turns every false into true, nulls included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

COMPARISONS = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
LIST_OPERATORS = ("in", "not_in", "between")
UNARY_OPERATORS = ("is_null", "is_not_null", "is_true", "is_false", "is_not_true")
OPERATORS = (*COMPARISONS, *LIST_OPERATORS, *UNARY_OPERATORS)
COMBINATORS = ("all", "any", "not")


def condition_problems(condition: Any, where: str = "") -> list[str]:
    """What is wrong with a condition's shape (unknown operator, missing value, ...)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(condition, Mapping) or not condition:
        return [f"{prefix}a condition must be a mapping such as {{column: x, op: '>=', value: 1}}"]
    combinators = [key for key in COMBINATORS if key in condition]
    if combinators:
        if len(condition) != 1:
            return [f"{prefix}{combinators[0]} must be alone in its mapping"]
        key = combinators[0]
        inner = condition[key]
        if key == "not":
            return condition_problems(inner, f"{where}.not" if where else "not")
        if not isinstance(inner, list) or not inner:
            return [f"{prefix}{key} needs a non-empty list of conditions"]
        problems = []
        for i, item in enumerate(inner):
            problems += condition_problems(item, f"{where}.{key}[{i}]" if where else f"{key}[{i}]")
        return problems
    problems = []
    unknown = sorted(set(condition) - {"column", "op", "value"})
    if unknown:
        problems.append(
            f"{prefix}unknown key(s) {', '.join(unknown)}; a condition has column, op, value "
            f"or one of {', '.join(COMBINATORS)}"
        )
    column, op = condition.get("column"), condition.get("op")
    if not isinstance(column, str) or not column:
        problems.append(f"{prefix}needs a column name")
    if op not in OPERATORS:
        problems.append(f"{prefix}unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
        return problems
    value = condition.get("value")
    if op in UNARY_OPERATORS:
        if "value" in condition:
            problems.append(f"{prefix}{op} takes no value")
    elif op == "between":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
            or value[0] > value[1]
        ):
            problems.append(f"{prefix}between needs [low, high] numbers with low <= high")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            problems.append(f"{prefix}{op} needs a non-empty list of values")
    elif "value" not in condition or value is None or isinstance(value, list | Mapping):
        problems.append(f"{prefix}{op} needs a single value (use is_null for missing values)")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def condition_columns(condition: Mapping[str, Any]) -> list[str]:
    """Every column a (valid) condition reads."""
    if "column" in condition:
        return [condition["column"]]
    inner = condition.get("all") or condition.get("any") or []
    if "not" in condition:
        inner = [condition["not"]]
    return [column for item in inner for column in condition_columns(item)]


def evaluate(condition: Mapping[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The rows of `frame` that satisfy `condition`, as a boolean array."""
    if "all" in condition:
        result = np.ones(len(frame), dtype=bool)
        for item in condition["all"]:
            result &= evaluate(item, frame)
        return result
    if "any" in condition:
        result = np.zeros(len(frame), dtype=bool)
        for item in condition["any"]:
            result |= evaluate(item, frame)
        return result
    if "not" in condition:
        return ~evaluate(condition["not"], frame)

    series = frame[condition["column"]]
    missing = series.isna().to_numpy()
    op = condition["op"]
    if op == "is_null":
        return missing
    if op == "is_not_null":
        return ~missing
    if op in ("is_true", "is_false", "is_not_true"):
        truth = series.astype("boolean").fillna(False).to_numpy(dtype=bool)
        if op == "is_true":
            return truth
        if op == "is_not_true":
            return ~truth
        return ~missing & ~truth
    value = condition["value"]
    if op in ("in", "not_in"):
        inside = series.isin(value).to_numpy()
        return (inside if op == "in" else ~inside) & ~missing
    if op == "between":
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return (numbers >= value[0]) & (numbers <= value[1]) & ~missing
    if _is_number(value):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    else:
        values = series.astype(object).to_numpy()
    with np.errstate(invalid="ignore"):
        compared = COMPARISONS[op](values[~missing], value)
    result = np.zeros(len(frame), dtype=bool)
    result[~missing] = np.asarray(compared, dtype=bool)
    return result


def first_match(frame: pd.DataFrame, segments: Sequence[Any]) -> pd.Series:
    """For each row, the id of the first segment whose condition holds (None when none does).

    Args:
        frame: the features, one row per customer.
        segments: objects with ``id`` and ``when`` (a condition), in priority order.
    """
    result = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    free = np.ones(len(frame), dtype=bool)
    for segment in segments:
        hit = free & evaluate(segment.when, frame)
        result[hit] = segment.id
        free &= ~hit
    return result


def rule_memberships(
    frame: pd.DataFrame, groups: Sequence[Any], id_column: str = "customer_id"
) -> pd.DataFrame:
    """Membership of every customer in every rule segment whose condition holds.

    A customer may belong to several groups; inside an exclusive group (RFM tiers, lifecycle
    stages) only the first matching segment counts.

    Args:
        frame: the features, one row per customer, holding `id_column`.
        groups: objects with ``group``, ``exclusive`` and ``segments`` (each ``id``, ``when``).

    Returns:
        One row per (customer, segment): ``customer_id``, ``segment_id``, ``rule_group``.
    """
    parts = []
    for group in groups:
        if group.exclusive:
            matched = first_match(frame, group.segments)
            hit = matched.notna().to_numpy()
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": frame[id_column].to_numpy()[hit],
                        "segment_id": matched.to_numpy()[hit],
                        "rule_group": group.group,
                    }
                )
            )
            continue
        for segment in group.segments:
            hit = evaluate(segment.when, frame)
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": frame[id_column].to_numpy()[hit],
                        "segment_id": segment.id,
                        "rule_group": group.group,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=object),
                "segment_id": pd.Series(dtype=object),
                "rule_group": pd.Series(dtype=object),
            }
        )
    return pd.concat(parts, ignore_index=True).astype(
        {"customer_id": object, "segment_id": object, "rule_group": object}
    )
