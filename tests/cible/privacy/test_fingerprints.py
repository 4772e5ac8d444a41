"""Fingerprints: HMAC-SHA256 of the normalised identifier, whatever the key's length, and the
normalisations' shortcuts give what the full normalisation gives."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from cible.privacy import fingerprints as fp


@pytest.mark.parametrize("length", [16, 32, 63, 64, 65, 200])
def test_a_fingerprint_is_the_hmac_of_kind_and_normalised_value(length):
    key = bytes(random.Random(length).randrange(256) for _ in range(length))
    for kind, value, normalised in [
        ("email", " Zoé.Martin@Example.FR ", "zoe.martin@example.fr"),
        ("phone", "06 12 34 56 78", "+33612345678"),
        ("customer_number", "c-0042 ", "C-0042"),
        ("customer_id", "9f1c", "9f1c"),
    ]:
        expected = hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()
        assert fp.fingerprint(key, kind, value) == expected


def test_the_email_shortcut_agrees_with_the_full_normalisation():
    """ASCII text skips the accent stripping; text without "@" is no e-mail, except text whose
    compatibility decomposition gives one (a full-width at sign)."""
    assert fp.normalise("email", "ALICE@EXAMPLE.FR") == "alice@example.fr"
    assert fp.normalise("email", "alice\uff20example.fr") == "alice@example.fr"
    assert fp.normalise("email", "Hélène@exemple.fr") == "helene@exemple.fr"
    assert fp.normalise("email", "2025-03-01T10:00:00") is None
    rng = random.Random(7)
    alphabet = "aZ@.é\uff20 \u00a0-_0"
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        full = fp._strip_accents(value.strip().lower())
        assert fp.normalise("email", value) == (full if "@" in full else None), value
    assert fp.normalise("email_sha256", "A" * 64) == "a" * 64
    assert fp.normalise("email_sha256", "a" * 63) is None
