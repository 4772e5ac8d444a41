"""Streamed writing of the landing sources (CSV, JSONL, Parquet) and of the truth tables.

Builders hand over one batch of rows per chunk as plain columns (text as object or bytes
arrays, integers as int64 or float with NaN for missing, amounts as float64, timestamps as
int64 seconds UTC, dates as ``YYYY-MM-DD`` text). The writer types them from the contract for
Parquet, or renders them as text for CSV and JSONL, adds the malformed lines of text formats,
and counts what it wrote.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from cible.contract import SourceSpec

PARIS = "Europe/Paris"
MAX_ROWS_PER_PART = 1_000_000
ARROW_TYPES = {
    "text": pa.string(),
    "integer": pa.int64(),
    "numeric": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}
# Landing format of each source when file_format is "mixed".
MIXED_FORMATS = {
    "customers": "csv",
    "orders": "csv",
    "order_lines": "parquet_parts",
    "events": "parquet_parts",
    "campaign_events": "csv",
    "survey_answers": "jsonl",
    "partner_enrichment": "jsonl",
    "consents": "csv",
    "erasure_requests": "csv",
}
FOLDER_SOURCES = ("order_lines", "events")


def arrow_type(data_type: str) -> pa.DataType:
    return ARROW_TYPES.get(data_type, pa.string())


def contract_schema(contract: SourceSpec) -> pa.Schema:
    return pa.schema([(c, arrow_type(contract.data_types[c])) for c in contract.column_names])


@dataclass(frozen=True)
class Coded:
    """A text column as codes into a vocabulary (-1 for missing): cheap to build and convert."""

    codes: np.ndarray
    vocabulary: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index) -> Coded:
        return Coded(self.codes[index], self.vocabulary)


def _text_array(values) -> pa.Array:
    if isinstance(values, Coded):
        codes = np.asarray(values.codes, dtype=np.int64)
        return pc.take(
            pa.array(list(values.vocabulary), type=pa.string()), pa.array(codes, mask=codes < 0)
        )
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(pa.string())
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return pa.array(values, type=pa.binary()).cast(pa.string())
    return pa.array(values, type=pa.string(), from_pandas=True)


def _int_array(values) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(pa.int64())
    values = np.asarray(values)
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
    if values.dtype == object:
        return pa.array(values, type=pa.int64(), from_pandas=True)
    return pa.array(values.astype(np.int64))


def typed_table(contract: SourceSpec, columns: dict) -> pa.Table:
    """The batch as an Arrow table with the contract's columns, order and types.

    Columns are taken out of ``columns`` as they are converted, to keep memory low.
    """
    arrays = []
    for name in contract.column_names:
        values = columns.pop(name)
        data_type = contract.data_types[name]
        if data_type == "integer":
            arrays.append(_int_array(values))
        elif data_type == "numeric":
            arrays.append(pa.array(np.asarray(values, dtype=np.float64)))
        elif data_type == "timestamp":
            seconds = np.asarray(values, dtype=np.int64)
            arrays.append(pa.array(seconds * 1_000_000, type=pa.timestamp("us", tz="UTC")))
        elif data_type == "date":
            arrays.append(_text_array(values).cast(pa.date32()))
        else:
            arrays.append(_text_array(values))
    return pa.Table.from_arrays(arrays, schema=contract_schema(contract))


def format_timestamps(seconds: np.ndarray, local: bool) -> np.ndarray:
    """ISO 8601 with an offset: UTC as ``...Z``, or Europe/Paris local time as ``...+01:00``."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if not local:
        return np.strings.add(np.datetime_as_string(seconds.astype("datetime64[s]")), "Z")
    utc = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")
    wall = utc.tz_convert(PARIS).tz_localize(None).values.astype("datetime64[s]")
    offset_minutes = (wall.astype(np.int64) - seconds) // 60
    hours, minutes = np.divmod(np.abs(offset_minutes), 60)
    sign = np.where(offset_minutes < 0, "-", "+")
    suffix = np.strings.add(
        np.strings.add(sign, np.strings.zfill(hours.astype(str), 2)),
        np.strings.add(":", np.strings.zfill(minutes.astype(str), 2)),
    )
    return np.strings.add(np.datetime_as_string(wall), suffix)


def format_money(values: np.ndarray) -> pa.Array:
    """Non-negative amounts with two decimals (``1250.00``)."""
    cents = np.round(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    units, rest = np.divmod(cents, 100)
    return pc.binary_join_element_wise(
        pc.cast(pa.array(units), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(rest), pa.string()), 2, "0"),
        ".",
    )


def text_table(
    contract: SourceSpec,
    columns: dict,
    local_time: bool,
    overrides: dict | None = None,
    keep_integers: bool = False,
) -> pa.Table:
    """The batch rendered as text, as it appears in a CSV (or JSONL) file (``columns`` is
    emptied as in ``typed_table``)."""
    overrides = overrides or {}
    arrays = []
    for name in contract.column_names:
        data_type = contract.data_types[name]
        values = columns.pop(name)
        if name in overrides:
            arrays.append(_text_array(overrides[name]))
        elif data_type == "integer":
            array = _int_array(values)
            arrays.append(array if keep_integers else array.cast(pa.string()))
        elif data_type == "numeric":
            arrays.append(format_money(values))
        elif data_type == "timestamp":
            arrays.append(pa.array(format_timestamps(values, local_time), type=pa.string()))
        else:
            arrays.append(_text_array(values))
    return pa.Table.from_arrays(arrays, names=list(contract.column_names))


def render_csv(table: pa.Table) -> bytes:
    """CSV lines without header, minimal quoting."""
    buffer = io.BytesIO()
    try:
        pcsv.write_csv(table, buffer, pcsv.WriteOptions(include_header=False, quoting_style="none"))
        return buffer.getvalue()
    except pa.ArrowInvalid:  # a value needs quotes: let the csv module quote just those
        return (
            table.to_pandas().to_csv(index=False, header=False, lineterminator="\n").encode("utf-8")
        )


def render_jsonl(table: pa.Table) -> bytes:
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if frame.empty:
        return b""
    return frame.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8")


def inject_malformed(
    payload: bytes, rate: float, rng: np.random.Generator, kind: str
) -> tuple[bytes, int]:
    """Insert extra malformed lines among the lines of ``payload``.

    CSV: a copy of a line with one field too many or cut after half its fields (never an
    unterminated quote; the values hold no quotes). JSONL: a copy of a line cut in the middle.

    Returns:
        The new payload and the number of lines inserted.
    """
    if not payload or rate <= 0:
        return payload, 0
    ends = np.flatnonzero(np.frombuffer(payload, dtype=np.uint8) == 10)
    n_lines = len(ends)
    count = int(rng.binomial(n_lines, rate))
    if count == 0:
        return payload, 0
    starts = np.concatenate([[0], ends[:-1] + 1])
    before = np.sort(rng.integers(0, n_lines + 1, count))  # insert before this line
    sources = rng.integers(0, n_lines, count)
    cut_in_half = rng.random(count) < 0.5
    pieces, previous = [], 0
    for position, source, cut in zip(before, sources, cut_in_half, strict=True):
        offset = int(starts[position]) if position < n_lines else len(payload)
        pieces.append(payload[previous:offset])
        line = payload[starts[source] : ends[source]]
        if kind == "jsonl":
            text = line.decode("utf-8")
            bad = text[: max(1, len(text) // 2)].encode("utf-8")
        elif cut:
            fields = line.split(b",")
            bad = b",".join(fields[: max(1, len(fields) // 2)])
        else:
            bad = line + b",unexpected"
        pieces.append(bad + b"\n")
        previous = offset
    pieces.append(payload[previous:])
    return b"".join(pieces), count


@dataclass
class _SourceState:
    path: Path
    kind: str
    rows: int = 0
    malformed: int = 0
    parts: list[str] = field(default_factory=list)
    writer: pq.ParquetWriter | None = None


class LandingWriter:
    """Writes the landing sources chunk by chunk and counts rows and malformed lines."""

    def __init__(
        self,
        landing_dir: Path,
        contracts: dict[str, SourceSpec],
        file_format: str,
        malformed_rates: dict[str, float],
    ) -> None:
        self.landing_dir = Path(landing_dir)
        self.contracts = contracts
        self.malformed_rates = malformed_rates
        self.states: dict[str, _SourceState] = {}
        for source in MIXED_FORMATS:
            kind = (
                MIXED_FORMATS[source]
                if file_format == "mixed"
                else ("parquet_parts" if source in FOLDER_SOURCES else "parquet")
            )
            extension = {
                "csv": ".csv",
                "jsonl": ".jsonl",
                "parquet": ".parquet",
                "parquet_parts": "",
            }[kind]
            self.states[source] = _SourceState(self.landing_dir / f"{source}{extension}", kind)

    def write(
        self,
        source: str,
        columns: dict,
        rng: np.random.Generator,
        *,
        local_time: bool = False,
        overrides: dict | None = None,
    ) -> None:
        """Append one batch of rows of ``source``."""
        state = self.states[source]
        contract = self.contracts[source]
        if len(columns[contract.column_names[0]]) == 0:
            return
        if state.kind in ("csv", "jsonl"):
            table = text_table(
                contract, columns, local_time, overrides, keep_integers=state.kind == "jsonl"
            )
            if table.num_rows == 0:
                return
            payload = render_csv(table) if state.kind == "csv" else render_jsonl(table)
            payload, malformed = inject_malformed(
                payload, self.malformed_rates.get(source, 0.0), rng, state.kind
            )
            mode = "ab" if state.path.exists() else "wb"
            with state.path.open(mode) as handle:
                if mode == "wb" and state.kind == "csv":
                    handle.write((",".join(contract.column_names) + "\n").encode("utf-8"))
                handle.write(payload)
            state.rows += table.num_rows
            state.malformed += malformed
            return
        table = typed_table(contract, columns)
        if table.num_rows == 0:
            return
        if state.kind == "parquet":
            if state.writer is None:
                state.writer = pq.ParquetWriter(state.path, table.schema)
            state.writer.write_table(table)
        else:
            state.path.mkdir(parents=True, exist_ok=True)
            for start in range(0, table.num_rows, MAX_ROWS_PER_PART):
                name = f"part-{len(state.parts):05d}.parquet"
                pq.write_table(table.slice(start, MAX_ROWS_PER_PART), state.path / name)
                state.parts.append(name)
        state.rows += table.num_rows

    def close(self) -> dict[str, dict]:
        """Finish every file (empty sources get a header or an empty Parquet file).

        Returns:
            Per source: rows written, malformed lines added and the landing path.
        """
        summary = {}
        for source, state in self.states.items():
            contract = self.contracts[source]
            if state.kind == "parquet":
                if state.writer is None:
                    pq.write_table(contract_schema(contract).empty_table(), state.path)
                else:
                    state.writer.close()
            elif state.kind == "parquet_parts" and not state.parts:
                state.path.mkdir(parents=True, exist_ok=True)
                pq.write_table(
                    contract_schema(contract).empty_table(), state.path / "part-00000.parquet"
                )
                state.parts.append("part-00000.parquet")
            elif state.kind in ("csv", "jsonl") and not state.path.exists():
                header = ",".join(contract.column_names) + "\n" if state.kind == "csv" else ""
                state.path.write_text(header, encoding="utf-8")
            relative = state.path.relative_to(self.landing_dir).as_posix()
            summary[source] = {
                "rows": state.rows,
                "malformed_lines": state.malformed,
                "path": relative + ("/" if state.kind == "parquet_parts" else ""),
                "format": "parquet" if state.kind.startswith("parquet") else state.kind,
                "parts": len(state.parts) if state.kind == "parquet_parts" else 1,
            }
        return summary


class TruthWriter:
    """Writes truth tables (Parquet), one row group per chunk."""

    def __init__(self, truth_dir: Path) -> None:
        self.truth_dir = Path(truth_dir)
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.truth_dir / f"{name}.parquet", table.schema)
            self.rows[name] = 0
        self.writers[name].write_table(table.cast(self.writers[name].schema))
        self.rows[name] += table.num_rows

    def close(self) -> dict[str, int]:
        for writer in self.writers.values():
            writer.close()
        return dict(self.rows)
