"""Helpers of the loader tests: a small contract of their own, files, queries and checks."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cible.loader import LoadReport

# A small contract of our own, so that these tests do not move with the project's.
DEMO_SOURCES = """
version: 2
sources:
  - name: crm
    tables:
      - name: customers
        meta: {cible: {landing: customers, required: true, key: [customer_number]}}
        columns:
          - {name: customer_number, data_type: text, meta: {cible: {required: true}}}
          - {name: email, data_type: text}
          - {name: city, data_type: text}
          - {name: created_at, data_type: timestamp}
  - name: shop
    tables:
      - name: orders
        meta: {cible: {landing: orders, required: true, key: [order_id]}}
        columns:
          - {name: order_id, data_type: text, meta: {cible: {required: true}}}
          - {name: customer_number, data_type: text, meta: {cible: {required: true}}}
          - {name: amount, data_type: numeric}
          - {name: currency, data_type: text}
  - name: web
    tables:
      - name: events
        meta: {cible: {landing: events, required: false, key: [event_id]}}
        columns:
          - {name: event_id, data_type: text, meta: {cible: {required: true}}}
          - {name: event_type, data_type: text}
          - {name: occurred_at, data_type: timestamp}
          - {name: received_at, data_type: timestamp}
          - {name: duration_ms, data_type: integer}
          - {name: scroll_depth_pct, data_type: numeric}
"""


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def rejects(warehouse: Path, source: str) -> list[tuple]:
    return query(
        warehouse,
        "select source_file, source_line, reason, payload from raw._load_rejects "
        f"where source = '{source}' order by source_file, source_line",
    )


def assert_reconciled(report: LoadReport) -> None:
    for source in report.sources:
        for file in source.files:
            assert file.rows_in_file == file.rows_loaded + file.rows_rejected, file
