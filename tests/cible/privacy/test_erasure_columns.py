"""The erasure scan and the personal data register agree; fingerprints normalise as the
warehouse does."""

import pytest

from cible.privacy import erasure
from cible.privacy import fingerprints as fp
from cible.privacy.personal_data import personal_columns

KEY = b"a-test-key-of-enough-bytes"


def test_every_tagged_personal_column_is_scanned_or_declared_descriptive():
    classified = {
        *erasure.COLUMN_KINDS,
        *erasure.TEXT_COLUMNS,
        *erasure.DESCRIPTIVE_COLUMNS,
        *erasure.KEPT_BY_DESIGN,
    }
    unclassified = sorted({c.name for c in personal_columns()} - classified)
    assert not unclassified, (
        f"{unclassified} are tagged personal but the erasure scan does not know them: add each "
        "to COLUMN_KINDS, TEXT_COLUMNS, DESCRIPTIVE_COLUMNS or KEPT_BY_DESIGN in "
        "cible/privacy/erasure.py"
    )


@pytest.mark.parametrize(
    "written",
    ["06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678", "612345678",
     "+33 (0)6 12 34 56 78"],
)  # fmt: skip
def test_a_phone_has_one_fingerprint_however_it_is_written(written):
    assert fp.fingerprint(KEY, "phone", written) == fp.fingerprint(KEY, "phone", "+33612345678")


def test_an_email_is_trimmed_lowered_and_accent_free_like_the_requests_hash():
    assert fp.fingerprint(KEY, "email", " Hélène.Dupré@Exemple.FR ") == fp.fingerprint(
        KEY, "email", "helene.dupre@exemple.fr"
    )
    assert fp.email_sha256(" Hélène.Dupré@Exemple.FR ") == (
        __import__("hashlib").sha256(b"helene.dupre@exemple.fr").hexdigest()
    )


def test_fingerprints_depend_on_the_key_and_the_kind():
    assert fp.fingerprint(KEY, "customer_number", "C1") != fp.fingerprint(
        b"another-key-of-enough-bytes", "customer_number", "C1"
    )
    assert fp.fingerprint(KEY, "customer_number", "C1") != fp.fingerprint(KEY, "anonymous_id", "C1")
    assert fp.fingerprint(KEY, "email", "   ") is None


def test_a_short_key_is_refused_with_the_setting_named(monkeypatch):
    monkeypatch.setenv(fp.KEY_ENV, "short")
    with pytest.raises(fp.PrivacyKeyError, match=r"CIBLE_PRIVACY_KEY.*at least 16"):
        fp.load_key()


def test_privacy_settings_are_validated_with_every_problem_named(tmp_path):
    from cible.privacy.config import PrivacyConfigError, load_privacy_config

    path = tmp_path / "privacy.yml"
    path.write_text("retention: {months_without_contact: 0, keep_forever: true}\n")
    with pytest.raises(PrivacyConfigError) as raised:
        load_privacy_config(path)
    assert "retention.months_without_contact: must be at least 1" in str(raised.value)
    assert "retention.keep_forever: unknown setting" in str(raised.value)
    assert load_privacy_config().retention.months_without_contact == 36
