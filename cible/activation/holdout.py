"""A control group per audience that stays put: stable across exports, stratified by segment.

Each customer gets a uniform draw from a hash of (audience, definition fingerprint, customer
id). A customer keeps the arm they were first drawn in for as long as the definition is
unchanged (the draws are kept in ``activation.audience_holdout``), so only customers who enter
or leave the audience change anything. Entrants are then placed so that each stratum's holdout
share comes back to the setting: sorted by their draw, the first ones fill what the stratum's
holdout lacks. A stratum of n customers can only approach the share to within 1/n.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def draw(audience: str, fingerprint: str, customer_ids: pd.Series) -> np.ndarray:
    """A uniform number in [0, 1) per customer, fixed for the audience definition."""
    prefix = f"{audience}:{fingerprint}:".encode()
    return np.array(
        [
            int.from_bytes(hashlib.sha256(prefix + str(c).encode()).digest()[:8], "big") / 2**64
            for c in customer_ids
        ],
        dtype=float,
    )


def assign(
    members: pd.DataFrame,
    previous: pd.DataFrame,
    audience: str,
    fingerprint: str,
    share: float,
) -> pd.DataFrame:
    """The arm of each member.

    Args:
        members: the exportable customers now (``customer_id``, ``stratum``).
        previous: the draws kept for this definition (``customer_id``, ``is_holdout``), any
            customer drawn before, member now or not.
        share: the holdout share per stratum.

    Returns:
        ``members`` with ``is_holdout`` and ``is_new`` (drawn now, to be kept).
    """
    frame = members[["customer_id", "stratum"]].copy()
    frame["u"] = draw(audience, fingerprint, frame["customer_id"])
    known = dict(zip(previous["customer_id"], previous["is_holdout"], strict=True))
    kept = frame["customer_id"].map(known)
    frame["is_new"] = kept.isna().to_numpy()
    frame["is_holdout"] = kept.eq(True).to_numpy()
    for _, stratum in frame.groupby("stratum", sort=False):
        new = stratum[stratum["is_new"]].sort_values("u")
        if new.empty:
            continue
        target = round(share * len(stratum))
        lacking = target - int(stratum.loc[~stratum["is_new"], "is_holdout"].sum())
        chosen = new.index[: max(0, min(lacking, len(new)))]
        frame.loc[chosen, "is_holdout"] = True
    return frame.drop(columns="u")
