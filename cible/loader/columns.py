"""Matching a file's column names (or JSON keys) to the contract's columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cible.contract import SourceSpec
from cible.loader.common import LoadError, shorten


def match_columns(
    spec: SourceSpec,
    names: Sequence[str],
    relative: str,
    allow_repeats: bool = False,
    aliases: Mapping[str, str] | None = None,
) -> tuple[dict[str, list[int]], list[str]]:
    """Map contract columns to positions in ``names`` (trimmed, case-insensitive), or through
    ``aliases`` (a file's header, trimmed and lower case -> contract column).

    Returns the positions per contract column and the names that match none. Raises
    LoadError when a required column is missing, or (unless ``allow_repeats``) when two
    names match the same contract column.
    """
    by_key = {name.strip().lower(): name for name in spec.column_names}
    by_key.update(aliases or {})
    matched: dict[str, list[int]] = {}
    extras: list[str] = []
    for position, name in enumerate(names):
        column = by_key.get(name.strip().lower())
        if column is None:
            extras.append(name)
        else:
            matched.setdefault(column, []).append(position)
    repeated = {column: [names[p] for p in ps] for column, ps in matched.items() if len(ps) > 1}
    if repeated and not allow_repeats:
        details = "; ".join(f"{column}: {found}" for column, found in repeated.items())
        raise LoadError(f"{relative}: several columns match one contract column ({details})")
    missing = [column for column in spec.required_columns if column not in matched]
    if missing:
        raise LoadError(
            f"{relative}: missing required column(s) {', '.join(missing)}. Expected the "
            f"columns of '{spec.landing}': {', '.join(spec.column_names)} (required: "
            f"{', '.join(spec.required_columns)}); found: {shorten(', '.join(names)) or 'none'}."
            f" Rename the file's columns, or map them under sources.{spec.landing}.columns in "
            "config/sources.yml"
        )
    return matched, extras


def extras_warning(extras: Sequence[str]) -> list[str]:
    """The warning for columns the contract does not know (none when there are none)."""
    if not extras:
        return []
    listed = ", ".join(repr(name) if not name.strip() else name for name in extras)
    return [f"ignored column(s) not in the contract: {listed}"]
