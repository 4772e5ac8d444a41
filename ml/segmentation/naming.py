"""Readable names and one-sentence descriptions of clustering segments, in English and French.

A segment is described by its most distinguishing features (:mod:`ml.segmentation.profiles`,
ranked by difference times reliability), each read through the phrases of the feature
documentation (:mod:`ml.segmentation.vocabulary`; ``profiles.descriptors`` for derived flags):
a phrase that follows "Customers" / "Clients" when the feature is high, another when it is
low, one per family. For example "Clients à panier élevé, adeptes d'horlogerie". Features
without the needed phrase fall back to "with above-average <label>" / "avec <label> au-dessus
de la moyenne".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

NOUN = {"en": "Customers", "fr": "Clients"}
FALLBACK = {
    "en": {"high": "with above-average {label}", "low": "with below-average {label}"},
    "fr": {"high": "avec {label} au-dessus de la moyenne", "low": "avec {label} sous la moyenne"},
}
NO_TRAIT = {"en": "close to the average customer", "fr": "proches du client moyen"}
AND = {"en": "and", "fr": "et"}
NOISE_TEXTS = {
    "name": {"en": "Unclassified customers", "fr": "Clients non classés"},
    "description": {
        "en": "Customers too far from every dense group to be assigned to a segment "
        "(density-based clustering noise).",
        "fr": "Clients trop éloignés de tout groupe dense pour être rattachés à un segment "
        "(bruit du clustering par densité).",
    },
}


DESCRIPTION_TRAITS = 3


def family(feature: str, descriptors: Mapping) -> str:
    """The family of a feature (near-duplicates share one); the feature itself by default."""
    return getattr(descriptors.get(feature), "family", None) or feature


def one_per_family(traits: Sequence[tuple], descriptors: Mapping) -> list[tuple]:
    """The best-ranked trait of each family, in rank order: lifetime and 12-month spend never
    both take a place in a name."""
    seen: set[str] = set()
    kept = []
    for trait in traits:
        if family(trait[0], descriptors) not in seen:
            seen.add(family(trait[0], descriptors))
            kept.append(trait)
    return kept


def readable_traits(traits: Sequence[tuple], descriptors: Mapping, wanted: int) -> list[tuple]:
    """The traits worth a phrase, one per family: those with a phrase in their direction (a
    large share of watches reads well, a small share of home goods does not), topped up with
    the others, in rank order, when fewer than `wanted` have one."""
    traits = list(traits)
    phrased = [t for t in traits if getattr(descriptors.get(t[0]), t[1], None) is not None]
    explicit = one_per_family(phrased, descriptors)[:wanted]
    used = {family(t[0], descriptors) for t in explicit}
    others = [
        t
        for t in one_per_family([t for t in traits if t not in phrased], descriptors)
        if family(t[0], descriptors) not in used
    ]
    chosen = explicit + others[: max(0, wanted - len(explicit))]
    return sorted(chosen, key=traits.index)


def trait_phrase(feature: str, direction: str, descriptors: Mapping, language: str) -> str:
    """The phrase of one trait (``direction`` is ``high`` or ``low``)."""
    descriptor = descriptors.get(feature)
    phrase = getattr(descriptor, direction, None) if descriptor is not None else None
    if phrase is not None:
        return getattr(phrase, language)
    label = getattr(getattr(descriptor, "label", None), language, None) or feature
    return FALLBACK[language][direction].format(label=label.replace("_", " "))


def enumerate_phrases(phrases: Sequence[str], language: str) -> str:
    """``a``, ``a and b``, ``a, b and c`` (``et`` in French)."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} {AND[language]} {phrases[-1]}"


def format_number(value: float, language: str, decimals: int = 0) -> str:
    """1,234.5 in English, 1 234,5 in French (non-breaking spaces)."""
    text = f"{value:,.{decimals}f}"
    if language == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def segment_name(
    traits: Sequence[tuple[str, str, float, float | None]],
    descriptors: Mapping,
    language: str,
    n_traits: int,
) -> str:
    """ "Customers with high baskets, into watches": the noun and the first traits."""
    chosen = readable_traits(list(traits), descriptors, n_traits)
    phrases = [trait_phrase(f, d, descriptors, language) for f, d, _, _ in chosen]
    if not phrases:
        phrases = [NO_TRAIT[language]]
    return f"{NOUN[language]} {', '.join(phrases)}"


def segment_description(
    traits: Sequence[tuple[str, str, float, float | None]],
    descriptors: Mapping,
    language: str,
    customers: int,
    share: float,
    average_order_value: float | None,
    orders_per_customer: float | None,
) -> str:
    """One sentence: size, what sets the segment apart, basket and frequency."""
    chosen = readable_traits(list(traits), descriptors, DESCRIPTION_TRAITS)
    phrases = [trait_phrase(f, d, descriptors, language) for f, d, _, _ in chosen]
    traits_text = enumerate_phrases(phrases, language) if phrases else NO_TRAIT[language]
    count = format_number(customers, language)
    percent = format_number(100 * share, language, 1)
    if language == "fr":
        sentence = f"{count} clients ({percent}\u00a0% de la base) {traits_text}"
        extras = []
        if average_order_value is not None:
            extras.append(f"un panier moyen de {format_number(average_order_value, 'fr')}\u00a0€")
        if orders_per_customer is not None:
            plural = "s" if round(orders_per_customer, 1) >= 2 else ""
            extras.append(
                f"{format_number(orders_per_customer, 'fr', 1)} commande{plural} sur 12 mois"
            )
        return sentence + (f", avec {enumerate_phrases(extras, 'fr')}." if extras else ".")
    sentence = f"{count} customers ({percent}% of the base) {traits_text}"
    extras = []
    if average_order_value is not None:
        extras.append(f"an average order of €{format_number(average_order_value, 'en')}")
    if orders_per_customer is not None:
        plural = "" if round(orders_per_customer, 1) == 1 else "s"
        extras.append(f"{format_number(orders_per_customer, 'en', 1)} order{plural} in 12 months")
    return sentence + (f", with {enumerate_phrases(extras, 'en')}." if extras else ".")


def unique_names(names: Mapping[str, str], more: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Names made unique: a repeated name takes the next trait phrase, then a number.

    Args:
        names: segment id -> name.
        more: segment id -> further phrases to append, in order.
    """
    result = dict(names)
    for _ in range(3):
        seen: dict[str, list[str]] = {}
        for segment_id, name in result.items():
            seen.setdefault(name, []).append(segment_id)
        clashes = [ids for ids in seen.values() if len(ids) > 1]
        if not clashes:
            return result
        for ids in clashes:
            for segment_id in ids:
                extra = list(more.get(segment_id, ()))
                if extra:
                    result[segment_id] = f"{result[segment_id]}, {extra.pop(0)}"
                    more = {**more, segment_id: extra}
    counts: dict[str, int] = {}
    for segment_id in sorted(result):
        name = result[segment_id]
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > 1:
            result[segment_id] = f"{name} ({counts[name]})"
    return result
