"""Predictive scoring: purchase propensity, campaign response, churn risk, lifetime value.

Plain Python and scikit-learn (no Dagster, no dbt): `config` validates `config/scoring.yml`,
`labels` builds point-in-time labels, `models` searches, calibrates and evaluates
classifiers, `lifetime_value` holds BG/NBD and Gamma-Gamma, `registry` versions and gates
models, `drift` computes population stability, `training` and `scoring` are the jobs that the
Dagster assets in `orchestration/scoring.py` call. docs/scoring.md explains the choices.
"""
