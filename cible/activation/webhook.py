"""The webhook destination: an audience POSTed in batches, each exactly once.

Each batch is a JSON body ``{"audience", "export_id", "batch", "batches", "identifier_type",
"members": [{"customer_id", "identifier"[, "change"]}]}`` with the header ``Idempotency-Key``
(SHA-256 of the export id and the batch number: the same on every retry of the batch, so a
receiver that saw it already ignores the repeat). A connection error, a timeout, a 429 or a
5xx is retried with exponential backoff (``backoff_seconds`` doubled per attempt, at most
``max_attempts`` calls); another 4xx is final. Every batch's outcome is kept in
``activation.webhook_batches``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pandas as pd

RETRIED_STATUS = {408, 425, 429}


@dataclass(frozen=True)
class BatchOutcome:
    batch_number: int
    idempotency_key: str
    rows: int
    attempts: int
    status_code: int | None
    outcome: str  # sent | failed
    error: str | None
    finished_at: datetime


def idempotency_key(export_id: str, batch_number: int) -> str:
    return hashlib.sha256(f"{export_id}:{batch_number}".encode()).hexdigest()


def _retried(status: int) -> bool:
    return status >= 500 or status in RETRIED_STATUS


def post_batches(
    url: str,
    rows: pd.DataFrame,
    header: dict,
    export_id: str,
    batch_size: int,
    max_attempts: int,
    backoff_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[BatchOutcome]:
    """POST `rows` (one dict per member) in batches; returns each batch's outcome."""
    records = rows.to_dict(orient="records")
    batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
    outcomes = []
    with httpx.Client(timeout=timeout_seconds) as client:
        for number, members in enumerate(batches, start=1):
            key = idempotency_key(export_id, number)
            body = {**header, "export_id": export_id, "batch": number,
                    "batches": len(batches), "members": members}  # fmt: skip
            status, error, attempts = None, None, 0
            while attempts < max_attempts:
                if attempts:
                    sleep(backoff_seconds * 2 ** (attempts - 1))
                attempts += 1
                try:
                    response = client.post(url, json=body, headers={"Idempotency-Key": key})
                except httpx.HTTPError as failure:
                    status, error = None, f"{type(failure).__name__}: {failure}"
                    continue
                status = response.status_code
                if status < 300:
                    error = None
                    break
                error = f"HTTP {status}: {response.text[:200]}"
                if not _retried(status):
                    break
            outcomes.append(
                BatchOutcome(
                    number,
                    key,
                    len(members),
                    attempts,
                    status,
                    "sent" if error is None else "failed",
                    error,
                    datetime.now(UTC).replace(tzinfo=None),
                )
            )
    return outcomes
