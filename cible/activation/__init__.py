"""Activation: audiences declared in config, exported with consent, holdouts and uplift."""
