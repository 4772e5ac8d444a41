"""The keyed hashes sent to ad platforms follow the recipe docs/activation.md publishes."""

import pytest

from cible.activation import identifiers
from cible.privacy.fingerprints import PrivacyKeyError

KEY = b"cible-example-activation-key"
# Computed outside Python with the recipe as documented:
#   printf '%s' 'jean.dupont@example.fr' | openssl dgst -sha256 -hmac 'cible-example-activation-key'
EMAIL_VECTOR = "2f4286ff610c977ac30ba5e1154ce0e0bd3099b1e0adc21bed90ea9d98be77e0"
PHONE_VECTOR = "e1b8c391143d24686d9a94de4c61a28284f125ddceb96ce4f3c9fd366c6896aa"


@pytest.mark.parametrize("written", ["jean.dupont@example.fr", "  Jean.Dupont@EXAMPLE.fr "])
def test_email_hash_matches_the_documented_vector(written):
    assert identifiers.hmac_sha256(KEY, "email", written) == EMAIL_VECTOR


@pytest.mark.parametrize("written", ["+33612345678", "06 12 34 56 78", "0033 6 12 34 56 78"])
def test_phone_hash_matches_the_documented_vector(written):
    assert identifiers.hmac_sha256(KEY, "phone", written) == PHONE_VECTOR


def test_nothing_to_hash_gives_none():
    assert identifiers.hmac_sha256(KEY, "email", "not an e-mail") is None
    assert identifiers.hmac_sha256(KEY, "email", "   ") is None
    assert identifiers.hmac_sha256(KEY, "phone", None) is None


def test_another_key_gives_another_hash():
    assert identifiers.hmac_sha256(
        b"another-key-0123456789", "email", "jean.dupont@example.fr"
    ) != (EMAIL_VECTOR)


def test_missing_key_names_both_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("CIBLE_ACTIVATION_KEY", raising=False)
    monkeypatch.setenv("CIBLE_HOME", str(tmp_path))
    monkeypatch.delenv("CIBLE_ACTIVATION_KEY_FILE", raising=False)
    with pytest.raises(PrivacyKeyError) as error:
        identifiers.load_key()
    message = str(error.value)
    assert "CIBLE_ACTIVATION_KEY" in message and "CIBLE_ACTIVATION_KEY_FILE" in message
    assert "Nothing was exported" in message


def test_short_key_is_refused(monkeypatch):
    monkeypatch.setenv("CIBLE_ACTIVATION_KEY", "short")
    with pytest.raises(PrivacyKeyError, match="at least 16"):
        identifiers.load_key()
