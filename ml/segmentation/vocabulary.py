"""The words segment names are made of, read from the feature documentation.

Each column of ``marts.fct_customer_features`` says in its dbt yml how it reads in a segment
name (``meta: {trait: ...}``, see docs/segmentation.md), or why it never does:

- ``{exclude: <why>}``: no behaviour (ids, consent and completeness flags, dates, copies);
- ``{family, high, low, support, label}``: a phrase following "Customers" / "Clients" when
  the segment's mean is high, another when it is low (either may be absent); traits of one
  ``family`` (near-duplicates such as 12-month and lifetime spend) give a name one phrase at
  most; ``support`` names the count the feature is measured on (a share of sessions: the
  sessions), which weighs how far it can be trusted (:mod:`ml.segmentation.profiles`);
- a text column adds ``values`` (code -> ``{en, fr}``) or ``values_from`` (a seed's code and
  label columns): one 0/1 trait per value, ``{value}`` in the phrases replaced by its label.

This module only reads plain data (the columns' ``trait`` mappings and the seeds' rows), so
``ml/`` needs no dbt: the orchestration reads them from the dbt manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cible.ml.segmentation.config import Descriptor, Texts

LANGUAGES = ("en", "fr")


class VocabularyError(ValueError):
    """A column's ``meta.trait`` cannot be read; the message names the column and the fix."""


class Trait(Descriptor):
    """How one profile feature reads in a name: phrases, family, support, and for a value of a
    text column (``column`` = ``value``) the column and value it indicates."""

    family: str
    support: str | None = None
    column: str
    value: str | None = None


Vocabulary = dict[str, Trait]


def indicator_name(column: str, value: str) -> str:
    """The profile feature of one value of a text column: ``region_code=ARA``."""
    return f"{column}={value}"


def read_vocabulary(
    traits: Mapping[str, Any],
    seeds: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
    where: str = "marts.fct_customer_features",
) -> Vocabulary:
    """The vocabulary of the documented features.

    Args:
        traits: column -> its ``meta.trait`` mapping (None when the column has none).
        seeds: seed name -> its rows, for ``values_from``.
        where: where the columns are documented, for error messages.

    Raises:
        VocabularyError: a trait is malformed or names an unknown column or seed.
    """
    try:
        return _read(traits, seeds or {})
    except VocabularyError as error:
        raise VocabularyError(f"{where}, column {error}") from None


def _read(traits: Mapping[str, Any], seeds: Mapping) -> Vocabulary:
    vocabulary: Vocabulary = {}
    for column, trait in traits.items():
        if trait is None:
            raise VocabularyError(
                f"{column}: no meta.trait; give it phrases ({{family, high, low}}) or "
                "{exclude: <why it carries no behaviour>}"
            )
        if not isinstance(trait, Mapping):
            raise VocabularyError(f"{column}: meta.trait must be a mapping, found {trait!r}")
        if "exclude" in trait:
            if not str(trait["exclude"] or "").strip():
                raise VocabularyError(f"{column}: meta.trait.exclude must say why")
            continue
        support = trait.get("support")
        if support is not None and support not in traits:
            raise VocabularyError(
                f"{column}: meta.trait.support names {support!r}, which is not a column of the "
                "features table; name the count the feature is measured on"
            )
        values = _values(column, trait, seeds)
        if values is None:
            vocabulary[column] = _trait(column, trait, column, None, None)
        else:
            for value, label in values.items():
                name = indicator_name(column, value)
                vocabulary[name] = _trait(column, trait, column, value, label)
    return vocabulary


def _values(column: str, trait: Mapping, seeds: Mapping) -> dict[str, Texts] | None:
    """Value -> label of a text column's trait; None for a numeric column."""
    if "values" in trait:
        values = trait["values"]
        if not isinstance(values, Mapping) or not values:
            raise VocabularyError(f"{column}: meta.trait.values must map each value to {{en, fr}}")
        return {str(v): _texts(column, f"values.{v}", label) for v, label in values.items()}
    if "values_from" not in trait:
        return None
    source = trait["values_from"]
    seed = source.get("seed") if isinstance(source, Mapping) else None
    if seed not in seeds:
        raise VocabularyError(
            f"{column}: meta.trait.values_from names the seed {seed!r}, which is not read; "
            "give {seed, code, label} of a seed of the dbt project"
        )
    code, label = source.get("code"), source.get("label")
    rows = seeds[seed]
    if not rows or code not in rows[0] or label not in rows[0]:
        raise VocabularyError(
            f"{column}: meta.trait.values_from: the seed {seed!r} has no columns {code!r} and "
            f"{label!r}"
        )
    labels = {row[code]: row[label] for row in rows if row.get(code)}
    return {value: Texts(en=text, fr=text) for value, text in labels.items()}


def _trait(column: str, trait: Mapping, name: str, value: str | None, label: Texts | None):
    phrases = {}
    for direction in ("label", "high", "low"):
        if trait.get(direction) is not None:
            texts = _texts(column, direction, trait[direction])
            if label is not None:
                texts = Texts(
                    **{
                        language: getattr(texts, language).replace(
                            "{value}", getattr(label, language)
                        )
                        for language in LANGUAGES
                    }
                )
            phrases[direction] = texts
    if "high" not in phrases and "low" not in phrases:
        raise VocabularyError(
            f"{column}: meta.trait has no phrase; give high and/or low {{en, fr}}"
        )
    if label is not None and "label" not in phrases:
        phrases["label"] = label
    return Trait(
        label=phrases.get("label"),
        high=phrases.get("high"),
        low=phrases.get("low") if value is None else None,
        family=str(trait.get("family") or column),
        support=trait.get("support"),
        column=column,
        value=value,
    )


def _texts(column: str, key: str, texts: Any) -> Texts:
    if not isinstance(texts, Mapping) or any(not texts.get(lang) for lang in LANGUAGES):
        raise VocabularyError(f"{column}: meta.trait.{key} needs an English and a French text")
    return Texts(en=str(texts["en"]), fr=str(texts["fr"]))
