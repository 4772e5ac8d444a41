"""Cible: warehouse-native audience segmentation (settings, source contract, loader, CLI)."""
