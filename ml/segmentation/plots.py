"""A picture of a segmentation for people: segment sizes and a 2-D projection (PNG bytes)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd


def segmentation_png(sizes: pd.Series, projection: pd.DataFrame, title: str = "") -> bytes:
    """Bar chart of the clustering segment sizes beside the 2-D projection of a sample.

    Args:
        sizes: customers by segment id.
        projection: ``x``, ``y``, ``segment_id`` (see ``SegmentationResult.projection``).
    """
    figure, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    ordered = sizes.sort_index()
    colours = {segment: plt.cm.tab10(i % 10) for i, segment in enumerate(ordered.index)}
    bars.barh(
        [str(s) for s in ordered.index],
        ordered.to_numpy(),
        color=[colours[s] for s in ordered.index],
    )
    bars.invert_yaxis()
    bars.set_xlabel("customers")
    bars.set_title("Segment sizes")
    for segment, part in projection.groupby("segment_id", sort=True):
        scatter.scatter(
            part["x"],
            part["y"],
            s=6,
            alpha=0.6,
            label=str(segment),
            color=colours.get(segment, "lightgrey"),
        )
    scatter.set_title("Customers on the first two principal components")
    scatter.set_xticks([])
    scatter.set_yticks([])
    if len(projection):
        scatter.legend(markerscale=3, fontsize=7, loc="best")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
