"""CSV files: the parse, and each row's physical line number worked out beside it.

A CSV takes two reads to know each row's physical line (DuckDB's CSV reader has no row
number): the parse itself and a scan of the raw lines, from which the lines where records
start are worked out (see :func:`record_starts`); the k-th row parsed is the k-th record
neither blank nor rejected.
"""

from __future__ import annotations

# The standard library's csv: imports are absolute, this module is `cible.loader.csv`.
import csv
from dataclasses import replace
from pathlib import Path

import duckdb

from cible.loader.columns import extras_warning, match_columns
from cible.loader.common import Counts, FileJob, LoadError, fetch_one, lit
from cible.loader.formats import normalise
from cible.loader.lines import (
    INVALID_ENCODING,
    SCAN_TABLES,
    ByteScan,
    encoding_warning,
    open_file,
    register_payloads,
    scan_bytes,
    scan_lines,
)
from cible.loader.repair import (
    ENCODING_NAMES,
    check_quotes,
    scratch_folder,
    transcode,
    write_repaired,
)
from cible.loader.reports import insert_reject_rows, insert_rejects
from cible.loader.source_settings import column_aliases

DELIMITERS = (",", ";", "\t", "|")


def load_csv(job: FileJob) -> Counts:
    """Insert a CSV file's rows into the source's table, its bad records into the rejects."""
    scan = scan_bytes(job.path)
    with scratch_folder() as scratch:
        return _load_readable(job, scan, scratch)


def _load_readable(job: FileJob, scan: ByteScan, scratch: Path) -> Counts:
    warnings: list[str] = []
    fmt = job.fmt
    encoding = scan.bom if scan.bom == "utf-16" else scan.encoding_guess
    why = "its byte-order mark" if scan.bom else "no line is valid UTF-8"
    if fmt.encoding != "auto":
        encoding, why = fmt.encoding, f"sources.{job.spec.landing}.encoding"
    if encoding not in (None, "utf-8"):
        job = replace(job, path=transcode(job.path, encoding, scratch / "utf8.csv", job.relative))
        scan = scan_bytes(job.path)
        warnings.append(f"read as {ENCODING_NAMES.get(encoding, encoding)} ({why})")
    head = csv_head(job.path, job.relative, None if fmt.separator == "auto" else fmt.separator)
    if head is None:
        return Counts(0, 0, 0, ["no header line (blank file)"], lines_in_file=scan.lines)
    skip, delimiter, names = head
    matched, extras = match_columns(job.spec, names, job.relative, aliases=column_aliases(fmt))
    warnings += extras_warning(extras)
    con = job.con
    header = skip + 1
    # 1. The physical lines (only quotes and line ends matter here), and where records start.
    #    DuckDB numbers records (`line` in its rejects) counting blank lines, and a record
    #    spanning lines once.
    scan_lines(job, "utf-8", "_cible_lines")
    record_starts(con, delimiter)
    # 2. A quote that holds lines together but does not make records of them is a stray one:
    #    mend or refuse those lines one by one in a copy, then look at the copy again.
    repair = check_quotes(con, delimiter, len(names), header)
    if repair.changed:
        job = replace(job, path=write_repaired(job.path, repair, scratch / "repaired.csv"))
        for name in SCAN_TABLES:
            con.execute(f"drop table if exists temp.main.{name}")
        scan_lines(job, "utf-8", "_cible_lines")
        record_starts(con, delimiter)
        warnings += repair.warnings(delimiter)
        insert_reject_rows(
            job,
            [
                (line, "malformed_line", detail, text)
                for line, (detail, text) in sorted(repair.refused.items())
            ],
        )
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    # 3. Parse with a fixed dialect: DuckDB's sniffer, fed a dirty file, may pick no quote at
    #    all (then every quoted comma splits a field). Bad records go to the rejects table.
    con.execute(
        f"""
        create temp table _cible_parsed as
        select * from read_csv(
            {job.file}, header = true, skip = {skip}, delim = {lit(delimiter)}, quote = '"',
            escape = '"', auto_detect = false, strict_mode = true, columns = {columns},
            store_rejects = true, rejects_table = '_cible_rejects',
            rejects_scan = '_cible_rejects_scan'
        )"""
    )
    # DuckDB lists an error per missing column, and may list a line twice: one row per record,
    # with the first message of each kind of error.
    con.execute(
        f"""
        create temp table _cible_bad as
        with errors as (
            select
                cast(line as bigint) as record,
                error_type,
                arg_min(error_message, column_idx) as message,
                min(csv_line) as csv_line
            from _cible_rejects
            group by line, error_type
        )
        select
            errors.record,
            records.ln,
            next_record.ln as next_ln,
            string_agg(
                lower(errors.error_type) || coalesce(': ' || errors.message, ''), '; '
                order by errors.error_type
            ) as detail,
            bool_or(errors.error_type = '{INVALID_ENCODING}') as bad_encoding,
            trim(min(errors.csv_line), chr(13) || chr(10)) as csv_line,
            coalesce(bool_or(records.blank), true) or errors.record <= {header} as unmapped
        from errors
        left join _cible_records as records on records.r = errors.record
        left join _cible_records as next_record on next_record.r = errors.record + 1
        group by errors.record, records.ln, next_record.ln
        """
    )
    # 4. The k-th parsed row is the k-th record that is neither blank, the header nor rejected.
    con.execute(
        f"""
        create temp table _cible_accepted as
        select ln from _cible_records
        where not blank and r > {header} and r not in (select record from _cible_bad)
        order by r
        """
    )
    parsed, accepted, rejected, unmapped, records, lines, bad_encoding = fetch_one(
        con,
        f"""
        select
            (select count(*) from _cible_parsed),
            (select count(*) from _cible_accepted),
            (select count(*) from _cible_bad),
            (select count(*) from _cible_bad where unmapped),
            (select count(*) from _cible_records where not blank and r > {header}),
            (select count(*) from _cible_lines),
            (select coalesce(bool_or(bad_encoding), false) from _cible_bad)
        """,
    )
    # The records by the byte scan's line count: the lines DuckDB's scan saw that hold no
    # record start (header, blanks, the rest of a quoted field over lines) are taken off, the
    # refused lines (blank in the copy) put back. A line the parse lost shows as a difference.
    rows_in_file = scan.lines - (lines - records) + len(repair.refused)
    mapped = parsed == accepted and unmapped == 0
    if not mapped:
        warnings.append(
            f"line numbers unknown (_source_line is null): {records} records counted, "
            f"{parsed} parsed and {rejected} rejected (an unbalanced quote?)"
        )
    values = [
        f"p.c{matched[name][0]}" if name in matched else "null" for name in job.spec.column_names
    ]
    rows = "_cible_parsed as p"
    if mapped:
        rows += " positional join _cible_accepted as a"
    # The positional join pairs the two tables in their stored order whatever this setting;
    # writing without keeping order is a third faster.
    con.execute("set preserve_insertion_order = false")
    con.execute(
        f"""
        insert into {job.table}
        select {", ".join(values)}, ?, {"a.ln" if mapped else "cast(null as bigint)"}, ?, ?
        from {rows}
        """,
        job.metadata,
    )
    warnings += normalise(job, fmt)
    if rejected:
        _insert_rejects(job, mapped, bad_encoding)
    if bad_encoding:
        (badly_encoded,) = fetch_one(con, "select count(*) from _cible_bad where bad_encoding")
        warnings.append(encoding_warning(badly_encoded))
    return Counts(
        rows_in_file, parsed, rejected + len(repair.refused), warnings, lines_in_file=scan.lines
    )


def _insert_rejects(job: FileJob, mapped: bool, bad_encoding: bool) -> None:
    payload = "bad.csv_line"
    if bad_encoding and mapped:
        spans = job.con.execute(
            """
            select record, ln, coalesce(next_ln, ln + 1) from _cible_bad
            where bad_encoding and not unmapped
            """
        ).fetchall()
        register_payloads(job, spans)
        payload = (
            "coalesce((select text from _cible_payloads as p where p.key = bad.record), "
            "bad.csv_line)"
        )
    insert_rejects(
        job,
        f"""
        select
            {"bad.ln" if mapped else "cast(null as bigint)"} as source_line,
            'malformed_line' as reason,
            {"bad.detail" if mapped else "'record ' || bad.record || ': ' || bad.detail"}
                as error_detail,
            {payload} as payload
        from _cible_bad as bad
        order by bad.record
        """,
    )
    if bad_encoding and mapped:
        job.con.unregister("_cible_payloads")


def csv_head(
    path: Path, relative: str, delimiter: str | None = None
) -> tuple[int, str, list[str]] | None:
    """Leading blank lines, delimiter (the one given, else the most frequent outside quotes)
    and column names of a CSV (None if it has no header)."""
    skip = 0
    try:
        with open_file(path) as handle:
            while True:
                raw = handle.readline(1 << 20)
                if not raw:
                    return None
                if raw.strip():
                    break
                skip += 1
    except (OSError, EOFError) as error:
        raise LoadError(f"{relative}: cannot read the file: {error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.rstrip("\r\n")
    if delimiter is None:
        delimiter = max(DELIMITERS, key=lambda candidate: _count_unquoted(text, candidate))
    try:
        names = next(csv.reader([text], delimiter=delimiter))
    except csv.Error as error:
        raise LoadError(f"{relative}: cannot read the header line: {error}") from error
    return skip, delimiter, names


def _count_unquoted(text: str, character: str) -> int:
    return sum(part.count(character) for part in text.split('"')[::2])


def record_starts(con: duckdb.DuckDBPyConnection, delimiter: str) -> None:
    """Build ``_cible_records(ln, blank, r)``: the physical lines where records start.

    A physical line continues the previous record when the record is inside a quoted field
    at the line's start. Each line holding a quote is a function of that state (an open
    field may close, a closed one open); the regular expressions below tell, for both start
    states, whether the line ends inside a quote, following DuckDB's strict reader (a quote
    opens a field only at its start, ``""`` is an escaped quote, text after a closing quote
    runs to the next delimiter). The states then chain along the file with window sums over
    the few lines holding quotes. Where this disagrees with the parse, the counts do not
    reconcile and the caller gives up on line numbers rather than guess.
    """
    d = "\\t" if delimiter == "\t" else "\\" + delimiter
    content = '(?:[^"]|"")*'
    after_close = f'(?:[^{d}"][^{d}]*)?'
    field = f'(?:[^{d}"][^{d}]*|"{content}"{after_close})?'
    opens_from_outside = f'(?:{field}{d})*"{content}'
    stays_open_from_inside = f'{content}|{content}"{after_close}{d}(?:{field}{d})*"{content}'
    con.execute(
        f"""
        create temp table _cible_open_quotes as
        with quoted as (
            select
                ln,
                regexp_full_match(line, {lit(opens_from_outside)}) as from_outside,
                regexp_full_match(line, {lit(stays_open_from_inside)}) as from_inside
            from _cible_lines
            where contains(line, '"')
        ),
        chained as (
            select
                ln,
                from_outside,
                from_inside,
                lead(ln) over (order by ln) as next_ln,
                sum(case when from_outside and not from_inside then 1 else 0 end)
                    over running as flips,
                max(case when from_outside = from_inside then ln * 2 + from_outside::int end)
                    over running as last_reset
            from quoted
            window running as (order by ln rows between unbounded preceding and current row)
        ),
        states as (
            select
                ln,
                next_ln,
                (
                    coalesce(last_reset % 2, 0) + flips
                    - coalesce(max(case when from_outside = from_inside then flips end)
                        over running, 0)
                ) % 2 = 1 as open_after
            from chained
            window running as (order by ln rows between unbounded preceding and current row)
        )
        select ln as opened_at, next_ln as closed_at from states where open_after
        """
    )
    (open_spans,) = fetch_one(con, "select count(*) from _cible_open_quotes")
    if open_spans == 0:
        con.execute(
            """
            create temp table _cible_records as
            select ln, coalesce(line, '') = '' as blank, ln as r from _cible_lines
            """
        )
        return
    # The lines after one that ends inside a quote, up to the next line holding a quote (or
    # the end of the file), continue a record. (An ASOF join here ran for minutes on 100k
    # spans with duckdb 2.0.1, 2025-11; the anti join takes a second.)
    con.execute(
        """
        create temp table _cible_records as
        select lines.ln, lines.blank, row_number() over (order by lines.ln) as r
        from (
            select ln, coalesce(line, '') = '' as blank from _cible_lines
        ) as lines
        anti join (
            select unnest(range(
                opened_at + 1,
                coalesce(closed_at, (select count(*) from _cible_lines)) + 1
            )) as ln
            from _cible_open_quotes
        ) as continued on lines.ln = continued.ln
        """
    )
