"""Text files made readable before the parse: transcoded to UTF-8, stray quotes mended line by
line. Both write a copy with the same physical lines, so every line number still points at the
user's file."""

from __future__ import annotations

# The standard library's csv: imports are absolute, this module is `cible.loader.repair`.
import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cible.loader.common import LoadError
from cible.loader.lines import open_file

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252",
    "utf-16": "UTF-16",
}
_LISTED = 10  # line numbers quoted in a warning


@dataclass
class QuoteRepair:
    """What the quote check decided: lines rewritten, lines refused, and what to tell."""

    rewritten: dict[int, str] = field(default_factory=dict)
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)  # line: (detail, text)

    @property
    def changed(self) -> bool:
        return bool(self.rewritten or self.refused)

    def warnings(self, delimiter: str) -> list[str]:
        if not self.rewritten:
            return []
        lines = sorted(self.rewritten)
        listed = ", ".join(str(line) for line in lines[:_LISTED])
        more = f" and {len(lines) - _LISTED} more" if len(lines) > _LISTED else ""
        return [
            f"{len(lines)} line(s) with an unbalanced double quote read one line per record, "
            f"the quote kept as a character and fields split at every {delimiter!r} "
            f"({'line' if len(lines) == 1 else 'lines'} {listed}{more}): check them in the file"
        ]


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A folder for the copies of one file, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cible-load-") as folder:
        yield Path(folder)


def transcode(path: Path, encoding: str, target: Path, relative: str) -> Path:
    """Copy a text file to UTF-8 (``target``), line ends kept, so DuckDB reads it."""
    try:
        with open_file(path) as raw, target.open("w", encoding="utf-8", newline="") as out:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
            while chunk := text.read(1 << 20):
                out.write(chunk.lstrip("\ufeff") if out.tell() == 0 else chunk)
    except UnicodeDecodeError as error:
        name = ENCODING_NAMES.get(encoding, encoding)
        raise LoadError(
            f"{relative}: cannot be read as {name} (byte {error.start} of a block: "
            f"{error.reason}); set its `encoding` in config/sources.yml"
        ) from error
    return target


def check_quotes(
    con: duckdb.DuckDBPyConnection, delimiter: str, width: int, header: int
) -> QuoteRepair:
    """Decide, for each run of lines a quote holds together, whether it is a record.

    ``_cible_open_quotes`` (from :func:`cible.loader.csv.record_starts`) lists the lines that
    end inside a quoted field. A run of such lines that parses as records of ``width`` fields
    is a quoted field over several lines, and is left alone. Otherwise the quote is a stray
    one: each line of the run is read on its own, as a CSV line when it parses as one of
    ``width`` fields, else split at every delimiter (the quote kept as a character) when that
    gives ``width`` fields, else refused with its own line number.
    """
    spans = con.execute(
        "select opened_at, closed_at from _cible_open_quotes order by opened_at"
    ).fetchall()
    (last,) = con.execute("select count(*) from _cible_lines").fetchall()[0]
    repair = QuoteRepair()
    for start, end in _runs(spans, last):
        if end <= header:
            continue
        start = max(start, header + 1)
        rows = con.execute(
            "select ln, coalesce(line, '') from _cible_lines where ln between ? and ? order by ln",
            [start, end],
        ).fetchall()
        if _are_records("\n".join(text for _, text in rows), delimiter, width):
            continue
        for line, text in rows:
            _check_line(repair, line, text, delimiter, width)
    return repair


def _runs(spans: list[tuple[int, int | None]], last: int) -> Iterator[tuple[int, int]]:
    """Chain the open spans into runs of lines, first and last line of each."""
    run: tuple[int, int] | None = None
    for opened, closed in spans:
        end = closed if closed is not None else last
        if run is not None and opened <= run[1]:
            run = (run[0], max(run[1], end))
            continue
        if run is not None:
            yield run
        run = (opened, end)
    if run is not None:
        yield run


def _are_records(text: str, delimiter: str, width: int) -> bool:
    try:
        records = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return all(len(record) == width for record in records if record)


def _check_line(repair: QuoteRepair, line: int, text: str, delimiter: str, width: int) -> None:
    if not text.strip():
        return
    try:
        if len(next(csv.reader([text], delimiter=delimiter, strict=True))) == width:
            return
    except csv.Error:
        pass
    parts = text.rstrip("\r").split(delimiter)
    if len(parts) == width:
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="").writerow(parts)
        repair.rewritten[line] = out.getvalue()
        return
    repair.refused[line] = (
        f"unbalanced double quote: the line alone has {len(parts)} field(s) split at every "
        f"{delimiter!r}, the header {width}",
        text,
    )


def write_repaired(path: Path, repair: QuoteRepair, target: Path) -> Path:
    """Copy ``path`` with the rewritten lines replaced and the refused ones left blank."""
    with open_file(path) as source, target.open("wb") as out:
        for number, raw in enumerate(source, start=1):
            if number in repair.rewritten or number in repair.refused:
                ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else b""
                text = repair.rewritten.get(number, "")
                out.write(text.encode("utf-8") + ending)
            else:
                out.write(raw)
    return target
