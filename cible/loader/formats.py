"""How each source's files are written (``config/sources.yml``): encoding, separator, decimal
and thousands separators, date format, column names and value maps, and the normalisation of
a loaded file's values to the contract's forms.

Every setting defaults to ``auto``: the loader detects what a file makes unambiguous and says
what it detected in the load's warnings; a file it cannot decide is refused with the setting
to add. ``raw`` then holds contract forms (``1234.50``, ``2025-12-31``, ``F``), while a
rejected line's payload keeps the file's text.
"""

from __future__ import annotations

from cible.loader.common import FileJob, LoadError, fetch_one, ident, lit
from cible.loader.source_settings import SourceFormat

DATE_FORMATS = {"DD/MM/YYYY": (r"\2", r"\1"), "MM/DD/YYYY": (r"\1", r"\2")}  # (month, day)
NUMERIC_TYPES = ("numeric", "integer", "bigint", "double", "decimal", "float")
DATE_TYPES = ("timestamp", "date")
# Spaces Excel writes between thousands: plain, no-break and narrow no-break.
_SPACES = " \u00a0\u202f"
_DAY_FIRST = r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(.*)$"


def normalise(job: FileJob, fmt: SourceFormat) -> list[str]:
    """Rewrite one file's rows in its raw table to the contract's forms; returns what was
    detected and done, for the load's warnings. Raises LoadError when undecidable."""
    notes: list[str] = []
    types = job.spec.data_types
    where = f"_source_file = {lit(job.relative)}"
    if fmt.currency is not None:
        job.con.execute(
            f"update {job.table} set currency = {lit(fmt.currency)} "
            f"where {where} and nullif(trim(currency), '') is null"
        )
    for column, mapping in fmt.values.items():
        cases = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in mapping.items())
        col = ident(column)
        job.con.execute(
            f"update {job.table} set {col} = case {col} {cases} else {col} end where {where}"
        )
    numeric = [c for c in job.spec.column_names if types.get(c, "").lower() in NUMERIC_TYPES]
    dates = [c for c in job.spec.column_names if types.get(c, "").lower() in DATE_TYPES]
    decimal = fmt.decimal_separator
    if decimal == "auto":
        decimal = _detect_decimal(job, numeric, where, notes)
    if decimal == "," or fmt.thousands_separator not in ("auto", "none"):
        _rewrite_numbers(job, numeric, where, decimal, fmt.thousands_separator)
    date_format = fmt.date_format
    if date_format == "auto":
        date_format = _detect_dates(job, dates, where, notes)
    if date_format in DATE_FORMATS:
        month, day = DATE_FORMATS[date_format]
        iso = "\\3-" + month + "-" + day + "\\4"
        for column in dates:
            col = ident(column)
            job.con.execute(
                f"update {job.table} set {col} = regexp_replace({col}, {lit(_DAY_FIRST)}, "
                f"{lit(iso)}) where {where} "
                f"and regexp_matches({col}, {lit(_DAY_FIRST)})"
            )
    return notes


def _values(job: FileJob, column: str, where: str, pattern: str, limit: int = 3) -> list[str]:
    col = ident(column)
    rows = job.con.execute(
        f"select min(_source_line), {col} from {job.table} where {where} "
        f"and regexp_matches({col}, {lit(pattern)}) group by {col} order by 1, 2 limit {limit}"
    ).fetchall()
    return [row[1] for row in rows]


def _count(job: FileJob, column: str, where: str, pattern: str) -> int:
    col = ident(column)
    (count,) = fetch_one(
        job.con,
        f"select count(*) from {job.table} where {where} and regexp_matches({col}, {lit(pattern)})",
    )
    return count


def _detect_decimal(job: FileJob, numeric: list[str], where: str, notes: list[str]) -> str:
    """``,`` when some number has a decimal comma that cannot be a thousands separator."""
    comma_any = "^[+-]?[0-9." + _SPACES + "]*[0-9],[0-9]+$"
    comma_three = r"^[+-]?[0-9]{1,3},[0-9]{3}$"
    decided: list[str] = []
    for column in numeric:
        with_comma = _count(job, column, where, comma_any)
        if not with_comma:
            continue
        if with_comma == _count(job, column, where, comma_three):
            examples = ", ".join(_values(job, column, where, comma_three))
            raise LoadError(
                f"{job.relative}: cannot tell whether the comma in {column} ({examples}) is a "
                f"decimal or a thousands separator; set `decimal_separator: ','` (or '.' "
                f"with `thousands_separator: ','`) under sources.{job.spec.landing} in "
                "config/sources.yml"
            )
        decided.append(f"{column} ({', '.join(_values(job, column, where, comma_any))})")
    if not decided:
        return "."
    notes.append(
        f"decimal comma detected in {'; '.join(decided)}: read as decimals; set "
        f"`decimal_separator: ','` under sources.{job.spec.landing} in config/sources.yml to "
        "make it explicit"
    )
    return ","


def _rewrite_numbers(
    job: FileJob, numeric: list[str], where: str, decimal: str, thousands: str
) -> None:
    """Drop thousands separators and make the decimal a point, for values of that shape only
    (any other stays as written and staging quarantines it)."""
    groups = {"auto": _SPACES + ".", "none": ""}.get(thousands, thousands)
    groups = "".join("\\" + c if c in "]\\^-." else c for c in groups)
    point = "\\" + decimal
    grouped = rf"[0-9]{{1,3}}([{groups}][0-9]{{3}})+" if groups else "[0-9]+"
    shape = rf"^[+-]?({grouped}|[0-9]+)({point}[0-9]+)?$"
    strip = f"[{groups}]" if groups else "$^"
    for column in numeric:
        col = ident(column)
        job.con.execute(
            f"update {job.table} set {col} = replace(regexp_replace({col}, {lit(strip)}, '', "
            f"'g'), {lit(decimal)}, '.') where {where} and regexp_matches({col}, {lit(shape)})"
        )


def _detect_dates(job: FileJob, dates: list[str], where: str, notes: list[str]) -> str:
    """Day first or month first, when some date in the file shows it (a part above 12)."""
    day_first = r"^(1[3-9]|2[0-9]|3[01])[/.][0-9]{1,2}[/.][0-9]{4}"
    month_first = r"^[0-9]{1,2}[/.](1[3-9]|2[0-9]|3[01])[/.][0-9]{4}"
    seen = [c for c in dates if _count(job, c, where, _DAY_FIRST)]
    if not seen:
        return "YYYY-MM-DD"
    days = sum(_count(job, c, where, day_first) for c in seen)
    months = sum(_count(job, c, where, month_first) for c in seen)
    setting = f"under sources.{job.spec.landing} in config/sources.yml"
    if bool(days) == bool(months):
        examples = ", ".join(_values(job, seen[0], where, _DAY_FIRST))
        why = "both orders appear" if days else "no day above 12 shows the order"
        raise LoadError(
            f"{job.relative}: cannot tell the date format of {', '.join(seen)} ({examples}; "
            f"{why}); set `date_format: DD/MM/YYYY` or `date_format: MM/DD/YYYY` {setting}"
        )
    chosen = "DD/MM/YYYY" if days else "MM/DD/YYYY"
    shown = day_first if days else month_first
    examples = ", ".join(v for c in seen for v in _values(job, c, where, shown))
    notes.append(
        f"dates in {', '.join(seen)} read as {chosen} (such as {examples}); set "
        f"`date_format: {chosen}` {setting} to make it explicit"
    )
    return chosen
