"""The physical lines of a text file (CSV or JSON lines), numbered, and the raw text of the
badly encoded ones, which rejects keep as their payload."""

from __future__ import annotations

import codecs
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cible.loader.common import FileJob, fetch_one, lit

# Separator of the line scans: four control characters in a row never occur in text, so each
# physical line comes back whole as one field.
LINE_SEP = "\x1f\x1e\x1d\x1c"
INVALID_ENCODING = "INVALID ENCODING"  # `error_type` of DuckDB's CSV rejects
_UNDECODED = re.compile("[\udc80-\udcff]+")
# The temporary tables a line scan (and the CSV record starts after it) leave behind.
SCAN_TABLES = (
    "_cible_scan",
    "_cible_scan_rejects",
    "_cible_scan_rejects_scan",
    "_cible_numbers",
    "_cible_lines",
    "_cible_open_quotes",
    "_cible_records",
)


def open_file(path: Path):
    """The file for reading bytes, through gzip when its name ends in ``.gz``."""
    return (gzip.open if path.name.lower().endswith(".gz") else open)(path, "rb")


def scan_lines(job: FileJob, encoding: str, table: str) -> int:
    """Create ``table(ln, line, error_type, error)``: every physical line of the file, numbered.

    A blank line comes back as null. A line DuckDB cannot read (not UTF-8, longer than its
    maximum line size) is set aside in its rejects table with its line number (without quotes
    a record is a line) and its text, with ``?`` for bad bytes and cut at 10,000 characters;
    it is put back in place with the error. Returns how many lines were set aside.
    """
    con = job.con
    con.execute(
        f"""
        create temp table _cible_scan as
        select line from read_csv(
            {job.file}, columns = {{'line': 'VARCHAR'}}, header = false,
            delim = {lit(LINE_SEP)}, quote = '', escape = '', auto_detect = false,
            strict_mode = false, encoding = {lit(encoding)}, store_rejects = true,
            rejects_table = '_cible_scan_rejects', rejects_scan = '_cible_scan_rejects_scan'
        )"""
    )
    set_aside, kept = fetch_one(
        con,
        "select (select count(distinct line) from _cible_scan_rejects), "
        "(select count(*) from _cible_scan)",
    )
    # Rows keep the file's order (insertion order is preserved) but rowid values do not start
    # at 0 inside a transaction: number the lines by position, skipping the set-aside ones.
    if not set_aside:
        con.execute(
            f"""
            create temp table {table} as
            select
                numbers.range + 1 as ln,
                scan.line,
                cast(null as varchar) as error_type,
                cast(null as varchar) as error
            from _cible_scan as scan positional join range({kept}) as numbers
            """
        )
        return 0
    con.execute(
        f"""
        create temp table _cible_numbers as
        select range + 1 as ln from range({kept + set_aside})
        where range + 1 not in (select line from _cible_scan_rejects)
        order by ln
        """
    )
    con.execute(
        f"""
        create temp table {table} as
        select
            numbers.ln,
            scan.line,
            cast(null as varchar) as error_type,
            cast(null as varchar) as error
        from _cible_scan as scan positional join _cible_numbers as numbers
        union all
        select
            cast(line as bigint),
            trim(min(csv_line), chr(13) || chr(10)),
            min(error_type),
            min(lower(error_type) || coalesce(': ' || error_message, ''))
        from _cible_scan_rejects
        group by line
        """
    )
    return set_aside


def register_payloads(job: FileJob, spans: Sequence[tuple[int, int, int]]) -> None:
    """Register ``_cible_payloads(key, text)``: the raw text of badly encoded lines.

    DuckDB shows the bytes it cannot decode as ``?``, and its latin-1 reader refuses a whole
    file for one byte in 0x80-0x9F (so it cannot be asked either, duckdb 2.0.1, 2025-11).
    The lines are few: read them from the file here, each span ``(key, first line, end line
    exclusive)``, valid UTF-8 kept and other bytes read as Windows-1252, the usual culprit.
    """
    wanted = {line for _, start, end in spans for line in range(start, end)}
    raw = physical_lines(job.path, wanted)
    keys, texts = [], []
    for key, start, end in spans:
        keys.append(key)
        texts.append("\n".join(decode_mixed(raw.get(line, b"")) for line in range(start, end)))
    payloads = pa.table({"key": pa.array(keys, pa.int64()), "text": pa.array(texts, pa.string())})
    job.con.register("_cible_payloads", payloads)


def physical_lines(path: Path, wanted: set[int], chunk_size: int = 1 << 20) -> dict[int, bytes]:
    """The bytes of the given physical lines (1-based), found by counting newlines by chunk."""
    targets = sorted(wanted)
    found: dict[int, bytes] = {}
    first = 1  # number of the line that `carry` starts
    carry = b""
    index = 0
    with open_file(path) as handle:
        while index < len(targets):
            chunk = handle.read(chunk_size)
            if not chunk:
                if carry and targets[index] == first:
                    found[first] = carry.rstrip(b"\r")
                break
            data = carry + chunk
            complete = data.count(b"\n")
            if targets[index] < first + complete:
                lines = data.split(b"\n")
                while index < len(targets) and targets[index] < first + complete:
                    found[targets[index]] = lines[targets[index] - first].rstrip(b"\r")
                    index += 1
            carry = data[data.rfind(b"\n") + 1 :] if complete else data
            first += complete
    return found


@dataclass(frozen=True)
class ByteScan:
    """What a plain byte scan of a file tells, before any CSV or JSON parse.

    ``lines`` counts physical lines by their newline bytes (a last line without one counts
    too), whatever quotes the file holds: the count that reconciliation trusts.
    """

    lines: int
    valid_utf8: bool
    utf8_multibyte: bool
    bom: str | None

    @property
    def encoding_guess(self) -> str | None:
        """``cp1252`` when no byte sequence could be UTF-8 text, else None (decided by the BOM or
        UTF-8)."""
        if self.bom is not None or self.valid_utf8 or self.utf8_multibyte:
            return None
        return "cp1252"


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def scan_bytes(path: Path, chunk_size: int = 1 << 20) -> ByteScan:
    """Count a file's physical lines and tell whether it reads as UTF-8, in one pass."""
    lines = 0
    last = b""
    head = b""
    multibyte = False
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    valid = True
    with open_file(path) as handle:
        while chunk := handle.read(chunk_size):
            if not head:
                head = chunk[:4]
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
            # A sequence cut between two chunks is missed: the guess needs only one.
            multibyte = multibyte or _UTF8_MULTIBYTE.search(chunk) is not None
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if last not in (b"", b"\n"):
        lines += 1
    bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    return ByteScan(lines=lines, valid_utf8=valid, utf8_multibyte=multibyte, bom=bom)


def decode_mixed(raw: bytes) -> str:
    """Bytes as text: valid UTF-8 as it is, any other byte read as Windows-1252."""
    text = raw.decode("utf-8", errors="surrogateescape")
    return _UNDECODED.sub(
        lambda match: bytes(ord(c) - 0xDC00 for c in match.group()).decode(
            "cp1252", errors="replace"
        ),
        text,
    )


def encoding_warning(lines: int) -> str:
    return (
        f"{lines} line(s) not valid UTF-8, rejected: if the file was saved as Windows-1252 "
        "or latin-1, save it as UTF-8"
    )
