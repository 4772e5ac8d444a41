"""People's identifiers: names, e-mails, phones, postcodes, cities and record numbers.

Everything here is vectorised over numpy/pandas arrays, except typos, which are applied to the
few duplicate records that need one.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FIRST_NAMES_F = (
    "Marie",
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Emma",
    "Jade",
    "Louise",
    "Alice",
    "Lina",
    "Zoé",
    "Juliette",
    "Clémence",
    "Élodie",
    "Hélène",
    "Céline",
    "Isabelle",
    "Nathalie",
    "Sophie",
    "Valérie",
    "Sandrine",
    "Stéphanie",
    "Aurélie",
    "Émilie",
    "Mélanie",
    "Laetitia",
    "Anaïs",
    "Margaux",
    "Pauline",
    "Lucie",
    "Charlotte",
    "Mathilde",
    "Noémie",
    "Océane",
    "Agathe",
    "Capucine",
    "Éléonore",
    "Béatrice",
    "Françoise",
    "Brigitte",
    "Catherine",
    "Christine",
    "Monique",
    "Sylvie",
    "Martine",
    "Agnès",
    "Geneviève",
    "Colette",
    "Anne",
    "Claire",
    "Diane",
    "Constance",
    "Victoire",
    "Apolline",
    "Solène",
    "Maëlys",
    "Joséphine",
    "Bérénice",
)
FIRST_NAMES_M = (
    "Thomas",
    "Nicolas",
    "Julien",
    "Maxime",
    "Alexandre",
    "Antoine",
    "Hugo",
    "Lucas",
    "Louis",
    "Gabriel",
    "Arthur",
    "Raphaël",
    "Mathéo",
    "Théo",
    "Nathan",
    "Léo",
    "Jules",
    "Adam",
    "Paul",
    "Pierre",
    "Jean",
    "Jean-Pierre",
    "Jean-Luc",
    "François",
    "Philippe",
    "Michel",
    "Alain",
    "Bernard",
    "Patrick",
    "Éric",
    "Stéphane",
    "Laurent",
    "Olivier",
    "Christophe",
    "Frédéric",
    "Sébastien",
    "Jérôme",
    "Cédric",
    "Benoît",
    "Hervé",
    "Thierry",
    "Gérard",
    "Henri",
    "Xavier",
    "Guillaume",
    "Baptiste",
    "Timothée",
    "Noé",
    "Maël",
    "Côme",
    "Aurélien",
    "Grégoire",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Bourgeois",
    "Hébert",
    "Bénard",
    "Ménard",
    "Léger",
    "Séguin",
    "Chrétien",
    "Leclerc",
    "Payet",
    "Rolland",
    "Lecomte",
    "Berger",
    "Carpentier",
)
EMAIL_DOMAINS = {
    "gmail.com": 0.32,
    "orange.fr": 0.16,
    "hotmail.fr": 0.12,
    "free.fr": 0.1,
    "yahoo.fr": 0.08,
    "outlook.fr": 0.08,
    "icloud.com": 0.08,
    "laposte.net": 0.06,
}
# A city or two per département (chef-lieu first); a département missing here falls back to
# its name from the seed.
CITIES = {
    "01": ("Bourg-en-Bresse",),
    "02": ("Laon",),
    "03": ("Moulins",),
    "04": ("Digne-les-Bains",),
    "05": ("Gap",),
    "06": ("Nice", "Cannes", "Antibes", "Menton"),
    "07": ("Privas",),
    "08": ("Charleville-Mézières",),
    "09": ("Foix",),
    "10": ("Troyes",),
    "11": ("Carcassonne",),
    "12": ("Rodez",),
    "13": ("Marseille", "Aix-en-Provence"),
    "14": ("Caen",),
    "15": ("Aurillac",),
    "16": ("Angoulême",),
    "17": ("La Rochelle",),
    "18": ("Bourges",),
    "19": ("Tulle",),
    "21": ("Dijon",),
    "22": ("Saint-Brieuc",),
    "23": ("Guéret",),
    "24": ("Périgueux",),
    "25": ("Besançon",),
    "26": ("Valence",),
    "27": ("Évreux",),
    "28": ("Chartres",),
    "29": ("Quimper", "Brest"),
    "2A": ("Ajaccio",),
    "2B": ("Bastia",),
    "30": ("Nîmes",),
    "31": ("Toulouse", "Blagnac"),
    "32": ("Auch",),
    "33": ("Bordeaux", "Mérignac"),
    "34": ("Montpellier",),
    "35": ("Rennes", "Saint-Malo"),
    "36": ("Châteauroux",),
    "37": ("Tours",),
    "38": ("Grenoble",),
    "39": ("Lons-le-Saunier",),
    "40": ("Mont-de-Marsan",),
    "41": ("Blois",),
    "42": ("Saint-Étienne",),
    "43": ("Le Puy-en-Velay",),
    "44": ("Nantes",),
    "45": ("Orléans",),
    "46": ("Cahors",),
    "47": ("Agen",),
    "48": ("Mende",),
    "49": ("Angers",),
    "50": ("Saint-Lô",),
    "51": ("Reims", "Châlons-en-Champagne"),
    "52": ("Chaumont",),
    "53": ("Laval",),
    "54": ("Nancy",),
    "55": ("Bar-le-Duc",),
    "56": ("Vannes",),
    "57": ("Metz",),
    "58": ("Nevers",),
    "59": ("Lille", "Roubaix"),
    "60": ("Beauvais",),
    "61": ("Alençon",),
    "62": ("Arras",),
    "63": ("Clermont-Ferrand",),
    "64": ("Pau", "Biarritz", "Bayonne"),
    "65": ("Tarbes",),
    "66": ("Perpignan",),
    "67": ("Strasbourg",),
    "68": ("Colmar",),
    "69": ("Lyon", "Villeurbanne"),
    "70": ("Vesoul",),
    "71": ("Mâcon",),
    "72": ("Le Mans",),
    "73": ("Chambéry",),
    "74": ("Annecy", "Megève"),
    "75": ("Paris",),
    "76": ("Rouen",),
    "77": ("Melun",),
    "78": ("Versailles", "Saint-Germain-en-Laye", "Le Vésinet"),
    "79": ("Niort",),
    "80": ("Amiens",),
    "81": ("Albi",),
    "82": ("Montauban",),
    "83": ("Toulon", "Saint-Tropez", "Hyères"),
    "84": ("Avignon",),
    "85": ("La Roche-sur-Yon",),
    "86": ("Poitiers",),
    "87": ("Limoges",),
    "88": ("Épinal",),
    "89": ("Auxerre",),
    "90": ("Belfort",),
    "91": ("Évry-Courcouronnes",),
    "92": ("Neuilly-sur-Seine", "Boulogne-Billancourt", "Levallois-Perret", "Nanterre"),
    "93": ("Bobigny",),
    "94": ("Créteil",),
    "95": ("Cergy",),
    "971": ("Basse-Terre",),
    "972": ("Fort-de-France",),
    "973": ("Cayenne",),
    "974": ("Saint-Denis",),
    "976": ("Mamoudzou",),
}
# First digits of landlines by region (ARCEP zones); other regions use 09 (VoIP).
LANDLINE_PREFIX = {
    "IDF": "1",
    "NOR": "2",
    "BRE": "2",
    "PDL": "2",
    "CVL": "2",
    "HDF": "3",
    "GES": "3",
    "BFC": "3",
    "ARA": "4",
    "PAC": "4",
    "COR": "4",
    "NAQ": "5",
    "OCC": "5",
}
PHONE_STYLES_FR = 7  # see format_phones
PHONE_STYLES_FOREIGN = 3
PHONE_MODULUS = 50_000_000


@dataclass(frozen=True)
class Permutation:
    """A bijection k -> (a * k + b) mod m: shuffled-looking, unique numbers in O(1) memory."""

    modulus: int
    multiplier: int
    offset: int

    @classmethod
    def random(cls, rng: np.random.Generator, modulus: int) -> Permutation:
        multiplier = int(rng.integers(modulus // 3, modulus - 1))
        while math.gcd(multiplier, modulus) != 1:
            multiplier += 1
        return cls(modulus, multiplier, int(rng.integers(0, modulus)))

    def __call__(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.int64)
        if k.size and int(k.max()) >= self.modulus:
            raise ValueError("too many identifiers for this permutation")
        # Split the product to stay within int64 whatever the modulus.
        high, low = np.divmod(k, 1 << 20)
        product = (high * ((self.multiplier << 20) % self.modulus)) % self.modulus
        product = (product + low * self.multiplier) % self.modulus
        return (product + self.offset) % self.modulus


def hex64(k: np.ndarray, multiplier: int, offset: int) -> np.ndarray:
    """An odd-multiplier affine map modulo 2**64 (a bijection), as 16 hex digits (bytes)."""
    values = np.asarray(k, dtype=np.uint64) * np.uint64(multiplier | 1) + np.uint64(offset)
    octets = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    nibbles = np.empty((len(values), 16), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 15
    return np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles].view("S16").ravel()


def digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, as bytes of fixed width."""
    numbers = np.asarray(numbers, dtype=np.int64)
    out = np.empty((len(numbers), width), dtype=np.uint8)
    rest = numbers.copy()
    for position in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, position] = digit + 48
    return out.view(f"S{width}").ravel()


def prefixed(prefix: str, body: np.ndarray) -> np.ndarray:
    """Prefix a bytes array: ``prefixed("C", digits(n, 8))`` gives ``b"C00012345"``."""
    return np.char.add(prefix.encode(), body)


def as_str(values: np.ndarray) -> np.ndarray:
    """Bytes array to a numpy unicode array."""
    return values.astype(str)


def strip_accents(values: pd.Series) -> pd.Series:
    """Remove accents (é -> e): Unicode NFKD, then drop the combining marks."""
    array = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    plain = pc.replace_substring_regex(pc.utf8_normalize(array, "NFKD"), r"\p{Mn}", "")
    return pd.Series(plain.to_numpy(zero_copy_only=False), index=values.index, dtype="str")


@functools.lru_cache(maxsize=4096)
def plain_lower(value: str) -> str:
    """One value without accents, lower-cased (for the few comparisons made in Python)."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", value.lower()) if not unicodedata.combining(c)
    )


def normalise_email(values: pd.Series) -> pd.Series:
    """The e-mail matching key: trimmed, lower-cased, accents removed."""
    return strip_accents(values.str.strip().str.lower())


def email_local(first: pd.Series, last: pd.Series, pattern: np.ndarray) -> pd.Series:
    """Local part of an e-mail from lower-case names, one of five common patterns."""
    first = first.str.lower().str.replace(" ", "", regex=False)
    last = last.str.lower().str.replace(" ", "", regex=False)
    candidates = [
        first + "." + last,
        first + last,
        first.str[0] + "." + last,
        first + "_" + last,
        last + "." + first,
    ]
    out = candidates[0].copy()
    for index, candidate in enumerate(candidates[1:], start=1):
        out = out.where(pattern != index, candidate)
    return out


def typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One-character typo (a substitution, a deletion or a doubled letter) in each value."""
    n = len(values)
    ops, where, letters = rng.integers(0, 3, n), rng.random(n), rng.integers(0, 26, n)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    out = np.empty(n, dtype=object)
    for i, (value, op, u, letter) in enumerate(zip(values, ops, where, letters, strict=True)):
        positions = [j for j, c in enumerate(value) if c.isalpha()]
        j = positions[int(u * len(positions))]
        if op == 1 and len(positions) > 3:
            out[i] = value[:j] + value[j + 1 :]
        elif op == 2:
            out[i] = value[: j + 1] + value[j] + value[j + 1 :]
        else:
            new = alphabet[letter]
            if new == value[j].lower():
                new = alphabet[(letter + 1) % 26]
            out[i] = value[:j] + (new.upper() if value[j].isupper() else new) + value[j + 1 :]
    return out


def format_phones(kind: np.ndarray, national: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Write phones as people type them.

    Args:
        kind: 0 French, 1 Swiss, 2 British.
        national: national significant number without the trunk 0 (9 digits for France and
            Switzerland, 10 for the UK), as strings.
        style: 0..6 for French numbers (``06 12 34 56 78``, ``0612345678``,
            ``+33 6 12 34 56 78``, ``+33612345678``, ``0033 6 12 34 56 78``,
            ``06.12.34.56.78``, ``06-12-34-56-78``), taken modulo 3 abroad (``+41 79 123 45 67``,
            ``+41791234567``, ``0041 79 123 45 67``).
    """
    d = pd.Series(np.asarray(national, dtype=object), dtype="str")
    kind = np.asarray(kind)
    style = np.asarray(style)
    pairs = [d.str[0]] + [d.str[i : i + 2] for i in (1, 3, 5, 7)]  # 6 12 34 56 78
    spaced = pairs[0] + " " + pairs[1] + " " + pairs[2] + " " + pairs[3] + " " + pairs[4]
    french = {
        0: "0"
        + pairs[0]
        + pairs[1].radd(" ")
        + pairs[2].radd(" ")
        + pairs[3].radd(" ")
        + pairs[4].radd(" "),
        1: "0" + d,
        2: "+33 " + spaced,
        3: "+33" + d,
        4: "0033 " + spaced,
        5: "0"
        + pairs[0]
        + pairs[1].radd(".")
        + pairs[2].radd(".")
        + pairs[3].radd(".")
        + pairs[4].radd("."),
        6: "0"
        + pairs[0]
        + pairs[1].radd("-")
        + pairs[2].radd("-")
        + pairs[3].radd("-")
        + pairs[4].radd("-"),
    }
    swiss_body = d.str[0:2] + " " + d.str[2:5] + " " + d.str[5:7] + " " + d.str[7:9]
    uk_body = d.str[0:4] + " " + d.str[4:10]
    foreign = {
        (1, 0): "+41 " + swiss_body,
        (1, 1): "+41" + d,
        (1, 2): "0041 " + swiss_body,
        (2, 0): "+44 " + uk_body,
        (2, 1): "+44" + d,
        (2, 2): "0044 " + uk_body,
    }
    out = np.empty(len(d), dtype=object)
    for s, text in french.items():
        mask = (kind == 0) & (style == s)
        out[mask] = text[mask].to_numpy(dtype=object)
    for (k, s), text in foreign.items():
        mask = (kind == k) & (style % PHONE_STYLES_FOREIGN == s)
        out[mask] = text[mask].to_numpy(dtype=object)
    return out


def e164(kind: np.ndarray, national: np.ndarray) -> np.ndarray:
    codes = np.array(["+33", "+41", "+44"], dtype=object)
    return codes[np.asarray(kind)] + np.asarray(national, dtype=object)


def postcodes(rng: np.random.Generator, departement: np.ndarray) -> np.ndarray:
    """A five-digit postcode consistent with each département code."""
    departement = np.asarray(departement, dtype=object)
    n = len(departement)
    tens = rng.integers(0, 100, n) * 10
    out = departement + pd.Series(tens).map("{:03d}".format).to_numpy(dtype=object)
    paris = departement == "75"
    out[paris] = "750" + pd.Series(rng.integers(1, 21, paris.sum())).map("{:02d}".format).to_numpy(
        dtype=object
    )
    for code, base, count in (("2A", 20000, 20), ("2B", 20200, 10)):
        mask = departement == code
        out[mask] = (base + 10 * rng.integers(0, count, mask.sum())).astype(str).astype(object)
    overseas = (pd.Series(departement, dtype="str").str.len() == 3).to_numpy()
    out[overseas] = departement[overseas] + pd.Series(rng.integers(0, 10, overseas.sum()) * 10).map(
        "{:02d}".format
    ).to_numpy(dtype=object)
    return out


def cities(rng: np.random.Generator, departement: np.ndarray, names: dict[str, str]) -> np.ndarray:
    """A city of each département (the département's name when no city is known)."""
    departement = np.asarray(departement, dtype=object)
    out = np.empty(len(departement), dtype=object)
    u = rng.random(len(departement))
    for code in pd.unique(departement):
        mask = departement == code
        options = np.array(CITIES.get(code, (names.get(code, code),)), dtype=object)
        # The first city (chef-lieu) is the most likely.
        weights = np.array([2.0] + [1.0] * (len(options) - 1))
        cumulative = np.cumsum(weights) / weights.sum()
        out[mask] = options[np.minimum(np.searchsorted(cumulative, u[mask]), len(options) - 1)]
    return out


def other_city(rng: np.random.Generator, departement: np.ndarray, city: np.ndarray) -> np.ndarray:
    """Another city of the same département, or the same name written in capitals."""
    out = np.array([c.upper() for c in city], dtype=object)
    for i, (code, current) in enumerate(zip(departement, city, strict=True)):
        options = [c for c in CITIES.get(code, ()) if c != current]
        if options:
            out[i] = options[int(rng.integers(0, len(options)))]
    return out


def levenshtein(left: str, right: str) -> int:
    """Edit distance (used on the few household pairs only)."""
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, start=1):
        current = [i]
        for j, b in enumerate(right, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]
