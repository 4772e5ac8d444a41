"""Privacy by construction: the consent every profiling use obeys (:mod:`cible.privacy.consent`).
How it works and the settings: docs/privacy.md."""
