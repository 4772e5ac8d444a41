"""JSON lines files: one object per line, keys matched to the contract's columns."""

from __future__ import annotations

from pathlib import Path

from cible.loader.columns import extras_warning, match_columns
from cible.loader.common import Counts, FileJob, LoadError, fetch_one, lit
from cible.loader.formats import normalise
from cible.loader.lines import (
    INVALID_ENCODING,
    encoding_warning,
    open_file,
    register_payloads,
    scan_lines,
)
from cible.loader.reports import insert_rejects
from cible.loader.source_settings import column_aliases


def load_jsonl(job: FileJob) -> Counts:
    """Insert a JSON lines file's objects into the source's table, other lines into rejects."""
    if _starts_with_bracket(job.path, job.relative):
        raise LoadError(
            f"{job.relative}: holds a JSON array; Cible reads JSON lines (one object per line)"
        )
    con = job.con
    set_aside = scan_lines(job, "utf-8", "_cible_lines")
    con.execute(
        """
        create temp table _cible_json as
        select
            ln,
            line,
            error_type,
            error,
            case
                when error is not null then 'unreadable'
                when trim(coalesce(line, ''), ' ' || chr(9) || chr(13)) = '' then 'blank'
                when not json_valid(line) then 'invalid'
                when json_type(line) <> 'OBJECT' then 'not_object'
                else 'object'
            end as status
        from _cible_lines
        """
    )
    objects, invalid, lines = fetch_one(
        con,
        """
        select
            count(*) filter (where status = 'object'),
            count(*) filter (where status in ('invalid', 'not_object')),
            count(*) filter (where status <> 'blank')
        from _cible_json
        """,
    )
    keys = [
        row[0]
        for row in con.execute(
            """
            select distinct key from (
                select unnest(json_keys(line)) as key from _cible_json where status = 'object'
            ) order by key
            """
        ).fetchall()
    ]
    matched: dict[str, list[int]] = {}
    warnings: list[str] = []
    if objects:
        # Keys may differ in case from one line to the next: take whichever is there.
        matched, extras = match_columns(
            job.spec, keys, job.relative, allow_repeats=True, aliases=column_aliases(job.fmt)
        )
        warnings += extras_warning(extras)
    pointers = "[" + ", ".join(lit(_json_pointer(key)) for key in keys) + "]"
    con.execute("set preserve_insertion_order = false")  # each row carries its line number
    values = [
        "coalesce(" + ", ".join(f"v[{p + 1}]" for p in matched[name]) + ")"
        if name in matched
        else "null"
        for name in job.spec.column_names
    ]
    con.execute(
        f"""
        insert into {job.table}
        select {", ".join(values)}, ?, ln, ?, ?
        from (
            select ln, json_extract_string(line, cast({pointers} as varchar[])) as v
            from _cible_json where status = 'object'
        )
        """,
        job.metadata,
    )
    warnings += normalise(job, job.fmt)
    if invalid:
        insert_rejects(
            job,
            """
            select
                ln as source_line,
                'malformed_json' as reason,
                case status
                    when 'invalid' then 'not valid JSON'
                    else 'a JSON ' || case json_type(line)
                        when 'ARRAY' then 'array' when 'VARCHAR' then 'string'
                        when 'BOOLEAN' then 'boolean' when 'NULL' then 'null'
                        else 'number' end || ', not an object'
                end as error_detail,
                line as payload
            from _cible_json where status in ('invalid', 'not_object')
            order by ln
            """,
        )
    if set_aside:
        badly_encoded = con.execute(
            f"""
            select ln, ln, ln + 1 from _cible_json
            where status = 'unreadable' and error_type = '{INVALID_ENCODING}'
            """
        ).fetchall()
        register_payloads(job, badly_encoded)
        insert_rejects(
            job,
            """
            select
                lines.ln as source_line,
                'malformed_line' as reason,
                lines.error as error_detail,
                coalesce(payloads.text, lines.line) as payload
            from _cible_json as lines
            left join _cible_payloads as payloads on payloads.key = lines.ln
            where lines.status = 'unreadable'
            order by lines.ln
            """,
        )
        con.unregister("_cible_payloads")
        if badly_encoded:
            warnings.append(encoding_warning(len(badly_encoded)))
    return Counts(lines, objects, invalid + set_aside, warnings)


def _starts_with_bracket(path: Path, relative: str) -> bool:
    try:
        with open_file(path) as handle:
            head = handle.read(4096)
    except (OSError, EOFError) as error:
        raise LoadError(f"{relative}: cannot read the file: {error}") from error
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")
