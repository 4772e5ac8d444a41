"""Cible's machine learning: plain Python and scikit-learn, no Dagster or dbt imports.

Each subpackage takes pandas frames and configuration and returns frames, fitted estimators and
figures, so it can be unit-tested alone and run from any orchestrator.
"""
