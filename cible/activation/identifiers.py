"""The identifiers an audience file carries: plain e-mail or phone for an e-mail or SMS
service provider, or their keyed hash for an ad platform.

The recipe (docs/activation.md, reproducible by the platform that holds the same key):
normalise, then ``hex(HMAC-SHA256(key, normalised value as UTF-8))``. E-mail: trimmed,
lower-case. Phone: E.164 (``+33612345678``), French national numbers given the +33 prefix, as
the warehouse's ``normalise_phone_e164`` macro does.

The key is not the privacy key (that one never leaves Cible): it is shared with the ad
platforms, and kept outside the warehouse (``CIBLE_ACTIVATION_KEY`` or the file named by
``CIBLE_ACTIVATION_KEY_FILE``).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from cible import settings
from cible.privacy import fingerprints as fp

# The contact each purpose needs, as the column of marts.dim_customers and its kind.
CONTACT = {"email": ("email", "email"), "sms": ("phone_e164", "phone"), "ads": ("email", "email")}


def normalise(kind: str, value: object) -> str | None:
    """The e-mail (trimmed, lower-case, with an @) or phone (E.164) as sent or hashed."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if kind == "email":
        text = text.lower()
        return text if "@" in text else None
    return fp.normalise("phone", text)


def hmac_sha256(key: bytes, kind: str, value: object) -> str | None:
    """The keyed hash of the normalised value (hex), None when there is nothing to hash."""
    normalised = normalise(kind, value)
    if normalised is None:
        return None
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def load_key(purpose: str = "an audience with hashed identifiers") -> bytes:
    """The activation key (``CIBLE_ACTIVATION_KEY`` or ``CIBLE_ACTIVATION_KEY_FILE``).

    Raises:
        PrivacyKeyError: no key is set, the file cannot be read, or it is too short.
    """
    return fp.read_secret_key(
        settings.ACTIVATION_KEY_ENV,
        settings.ACTIVATION_KEY_FILE_ENV,
        settings.activation_key_file(),
        "activation key",
        purpose,
        "Nothing was exported.",
        "shared with the ad platforms, kept outside the warehouse; see docs/activation.md",
    )


def write_demo_key() -> Path | None:
    """The demo's activation key file (random), unless a key is configured."""
    return fp.write_random_key(settings.ACTIVATION_KEY_ENV, settings.activation_key_file())
