"""Plots of a model version (ROC, calibration, lift) as PNG bytes, drawn off-screen."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def performance_png(curves: pd.DataFrame, title: str) -> bytes:
    """ROC, calibration and lift by decile side by side, from `metrics.curves` rows."""
    figure, (roc, calibration, lift) = plt.subplots(1, 3, figsize=(12, 3.6))
    points = curves[curves["curve"] == "roc"]
    roc.plot(points["x"], points["y"], color="tab:blue")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    points = curves[curves["curve"] == "calibration"]
    top = max(points["x"].max(), points["y"].max(), 0.05) * 1.05
    calibration.plot([0, top], [0, top], color="grey", linestyle=":")
    calibration.plot(points["x"], points["y"], marker="o", color="tab:green")
    calibration.set(title="Calibration", xlabel="mean predicted", ylabel="observed rate")
    points = curves[curves["curve"] == "lift"]
    lift.bar(points["x"], points["y"], color="tab:orange")
    lift.axhline(1.0, color="grey", linestyle=":")
    lift.set(title="Lift by decile (1 = top)", xlabel="decile", ylabel="lift")
    figure.suptitle(title)
    return _png(figure)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown embedding a PNG inline (Dagster shows it in the materialization)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
