"""The contracts of the dbt sources yml: the landing files, and the tables Python writes.

The dbt sources files (``models/staging/*/_*__sources.yml``) are the single source of truth
for the landing files. A table takes part in the landing contract when it carries
``meta.cible.landing`` (tables without it, such as the ML outputs read back as sources, are
not landing files and are skipped). Per table the contract holds:

- ``meta.cible.landing``: the landing name (``<landing>/<name>.csv`` or a folder ``<name>/``);
- ``meta.cible.required``: whether the pipeline refuses to run without it;
- ``meta.cible.key``: the columns identifying a row;
- the columns in order, each with ``data_type``, ``description`` and
  ``meta.cible.required`` (a file lacking a required column is refused).

The tables the Python steps write (schema ``ml``) are declared in the same files, as the
sources dbt reads back: :func:`load_tables` reads them (every column with a ``data_type``;
``meta.cible.required: false`` marks a column a writer may leave out, written as nulls). The
stores create and shape their tables from it and the staging models cast from it, so each
column is declared once.

The yml is read with plain PyYAML: Jinja in descriptions (``{{ doc('...') }}``) is kept as
text, and :func:`contract_markdown` resolves ``doc()`` references from the project's
``{% docs %}`` blocks when it is given them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cible import settings

SOURCES_GLOB = "models/staging/*/_*__sources.yml"

# Columns every raw table carries after the contract's; a contract column may not take these.
LOAD_METADATA_COLUMNS = ("_source_file", "_source_line", "_loaded_at", "_load_id")

_DOC_REF = re.compile(r"\{\{\s*doc\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")
_DOC_BLOCK = re.compile(r"\{%-?\s*docs\s+(\w+)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}", re.DOTALL)


class ContractError(ValueError):
    """The sources yml does not describe a usable contract (a bug in the project, not the data)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One contract column, as declared in the sources yml."""

    name: str
    data_type: str
    description: str
    required: bool


class _DeclaredColumns:
    """Views of the ``columns`` of a declared table."""

    columns: tuple[ColumnSpec, ...]
    source_name: str
    table_name: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def data_types(self) -> dict[str, str]:
        """Each column's declared data type, by column name."""
        return {column.name: column.data_type for column in self.columns}

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    @property
    def dbt_source(self) -> str:
        """How a staging model names it: ``source('<source_name>', '<table_name>')``."""
        return f"source('{self.source_name}', '{self.table_name}')"


@dataclass(frozen=True)
class SourceSpec(_DeclaredColumns):
    """One landing source: a dbt source table with ``meta.cible`` settings."""

    landing: str
    source_name: str
    table_name: str
    description: str
    required: bool
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    yml_path: Path | None = None


# The types a Python-written table may declare: DuckDB's spelling, which the stores create
# their tables with; `portable_type` in macros/ml_sources.sql maps each for dbt.
TABLE_DATA_TYPES = ("varchar", "integer", "bigint", "double", "timestamp", "boolean")


@dataclass(frozen=True)
class TableSpec(_DeclaredColumns):
    """A table a Python step writes, declared as the dbt source that reads it back."""

    schema: str
    source_name: str
    table_name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    yml_path: Path | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table_name}"

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame's columns in declared order, checked against the declaration.

        Raises:
            ContractError: a column is not declared, or a required one is missing.
        """
        undeclared = [column for column in frame.columns if column not in self.data_types]
        missing = [column for column in self.required_columns if column not in frame.columns]
        if undeclared or missing:
            problems = []
            if undeclared:
                problems.append(f"columns {undeclared} are not declared")
            if missing:
                problems.append(f"required columns {missing} are missing")
            raise ContractError(
                f"{self.relation}: {' and '.join(problems)}; the table is declared in "
                f"{self.yml_path} (source {self.source_name}): declare the column there (a "
                "column a writer may leave out carries `meta: {cible: {required: false}}`) "
                "or fix the writer"
            )
        return frame[[column for column in self.column_names if column in frame.columns]]


def sources_yml_paths(dbt_project_dir: Path | None = None) -> list[Path]:
    """The sources yml files of the project, in a stable order."""
    project = Path(dbt_project_dir) if dbt_project_dir is not None else settings.DBT_PROJECT_DIR
    return sorted(project.glob(SOURCES_GLOB))


def load_contract(dbt_project_dir: Path | None = None) -> dict[str, SourceSpec]:
    """Read the source contract from the dbt sources yml files.

    Args:
        dbt_project_dir: the dbt project; defaults to ``settings.DBT_PROJECT_DIR``.

    Returns:
        The landing sources keyed by landing name, in file then declaration order.

    Raises:
        ContractError: no sources file, a landing name used twice, a malformed ``meta.cible``.
    """
    paths = sources_yml_paths(dbt_project_dir)
    if not paths:
        project = dbt_project_dir or settings.DBT_PROJECT_DIR
        raise ContractError(f"no sources yml found under {project}/{SOURCES_GLOB}")
    contract: dict[str, SourceSpec] = {}
    for path in paths:
        for spec in _specs_from_yml(path):
            if spec.landing in contract:
                other = contract[spec.landing]
                raise ContractError(
                    f"landing name {spec.landing!r} is declared twice: in {other.yml_path} "
                    f"({other.source_name}.{other.table_name}) and in {path} "
                    f"({spec.source_name}.{spec.table_name})"
                )
            contract[spec.landing] = spec
    return contract


def _sources(path: Path) -> list[Mapping[str, Any]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ContractError(f"{path}: not valid YAML: {error}") from error
    return document.get("sources") or []


def load_tables(schema: str, dbt_project_dir: Path | None = None) -> dict[str, TableSpec]:
    """The tables of `schema` (e.g. ``ml``) declared in the sources yml files.

    Returns:
        The tables keyed by table name, in file then declaration order.

    Raises:
        ContractError: a table declared twice, without columns, or a column without one of
            :data:`TABLE_DATA_TYPES`.
    """
    tables: dict[str, TableSpec] = {}
    for path in sources_yml_paths(dbt_project_dir):
        for source in _sources(path):
            if source.get("schema") != schema:
                continue
            for table in source.get("tables") or []:
                spec = _declared_table(path, schema, source, table)
                if spec.table_name in tables:
                    raise ContractError(
                        f"{schema}.{spec.table_name} is declared twice: in "
                        f"{tables[spec.table_name].yml_path} and in {path}"
                    )
                tables[spec.table_name] = spec
    if not tables:
        project = dbt_project_dir or settings.DBT_PROJECT_DIR
        raise ContractError(f"no source of schema {schema!r} under {project}/{SOURCES_GLOB}")
    return tables


def _declared_table(
    path: Path, schema: str, source: Mapping[str, Any], table: Mapping[str, Any]
) -> TableSpec:
    where = f"{path}: {source.get('name')}.{table.get('name')}"
    # What a Python step writes is complete unless a column says otherwise.
    columns = tuple(
        _column_spec(where, column, required_by_default=True)
        for column in table.get("columns") or []
    )
    if not columns:
        raise ContractError(f"{where}: a table written by Python needs its columns listed")
    for column in columns:
        if column.data_type not in TABLE_DATA_TYPES:
            raise ContractError(
                f"{where}.{column.name}: data_type {column.data_type!r} is not one of "
                f"{', '.join(TABLE_DATA_TYPES)}"
            )
    return TableSpec(
        schema=schema,
        source_name=str(source["name"]),
        table_name=str(table["name"]),
        description=_text(table.get("description")),
        columns=columns,
        yml_path=path,
    )


def _specs_from_yml(path: Path) -> Iterable[SourceSpec]:
    for source in _sources(path):
        for table in source.get("tables") or []:
            cible = _cible_meta(table)
            if cible.get("landing") is None:
                continue
            yield _table_spec(path, source, table, cible)


def _cible_meta(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``meta.cible`` of a table or column; dbt 1.10+ also accepts ``config.meta``."""
    meta = dict((node.get("config") or {}).get("meta") or {})
    meta.update(node.get("meta") or {})
    cible = meta.get("cible") or {}
    if not isinstance(cible, Mapping):
        raise ContractError(f"meta.cible of {node.get('name')!r} must be a mapping")
    return cible


def _table_spec(
    path: Path, source: Mapping[str, Any], table: Mapping[str, Any], cible: Mapping[str, Any]
) -> SourceSpec:
    where = f"{path}: {source.get('name')}.{table.get('name')}"
    landing = str(cible["landing"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", landing):
        raise ContractError(f"{where}: landing name {landing!r} must be lowercase snake_case")
    columns = tuple(_column_spec(where, column) for column in table.get("columns") or [])
    if not columns:
        raise ContractError(f"{where}: a landing source needs its columns listed")
    names = [column.name for column in columns]
    normalised = [name.strip().lower() for name in names]
    duplicates = sorted({name for name in normalised if normalised.count(name) > 1})
    if duplicates:
        raise ContractError(f"{where}: columns declared twice (case-insensitive): {duplicates}")
    clashes = sorted(set(normalised) & set(LOAD_METADATA_COLUMNS))
    if clashes:
        raise ContractError(f"{where}: columns {clashes} are reserved for load metadata")
    key = cible.get("key") or []
    key = (key,) if isinstance(key, str) else tuple(str(column) for column in key)
    unknown_key = [column for column in key if column not in names]
    if unknown_key:
        raise ContractError(f"{where}: key columns {unknown_key} are not among its columns")
    return SourceSpec(
        landing=landing,
        source_name=str(source["name"]),
        table_name=str(table["name"]),
        description=_text(table.get("description")),
        required=_flag(where, "required", cible.get("required", False)),
        key=key,
        columns=columns,
        yml_path=path,
    )


def _column_spec(
    where: str, column: Mapping[str, Any], required_by_default: bool = False
) -> ColumnSpec:
    if not column.get("name"):
        raise ContractError(f"{where}: a column has no name")
    name = str(column["name"])
    required = _cible_meta(column).get("required", required_by_default)
    return ColumnSpec(
        name=name,
        data_type=str(column.get("data_type") or "text"),
        description=_text(column.get("description")),
        required=_flag(f"{where}.{name}", "required", required),
    )


def _flag(where: str, what: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ContractError(f"{where}: meta.cible.{what} must be true or false, not {value!r}")
    return value


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def load_doc_blocks(dbt_project_dir: Path | None = None) -> dict[str, str]:
    """The ``{% docs name %}`` blocks of the project's models folder, keyed by name."""
    project = Path(dbt_project_dir) if dbt_project_dir is not None else settings.DBT_PROJECT_DIR
    blocks: dict[str, str] = {}
    for path in sorted((project / "models").rglob("*.md")):
        for name, body in _DOC_BLOCK.findall(path.read_text(encoding="utf-8")):
            blocks[name] = _text(body)
    return blocks


def render_description(description: str, docs: Mapping[str, str] | None = None) -> str:
    """A description with ``{{ doc('x') }}`` replaced by block ``x`` (or its name if unknown)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if docs is not None and name in docs:
            return docs[name]
        return f"(see `{name}`)"

    return " ".join(_DOC_REF.sub(replace, description).split())


def contract_markdown(
    contract: Mapping[str, SourceSpec], docs: Mapping[str, str] | None = None
) -> str:
    """The contract as Markdown: a section and a column table per landing source.

    Args:
        contract: the output of :func:`load_contract`.
        docs: ``{% docs %}`` blocks to resolve ``doc()`` references (see
            :func:`load_doc_blocks`); without them a reference shows the block's name.
    """
    lines = [
        "# Source contract",
        "",
        "Drop one file per source in the landing folder (`<name>.csv`, `.csv.gz`, `.parquet` "
        "or `.jsonl`), or a folder `<name>/` of such files. Columns land as text in the `raw` "
        "schema, except a column a Parquet file stores with a type that holds the contract's "
        "(a timestamp, a date, a number), which keeps it; the type says how staging reads the "
        "text. A file without a required column is refused; other columns may be absent.",
        "",
    ]
    for spec in contract.values():
        lines += [
            f"## `{spec.landing}`",
            "",
            f"dbt source `{spec.source_name}.{spec.table_name}`; "
            + ("**required**" if spec.required else "optional")
            + (f"; key: {', '.join(f'`{column}`' for column in spec.key)}" if spec.key else ""),
            "",
        ]
        if spec.description:
            lines += [render_description(spec.description, docs), ""]
        lines += ["| column | type | required | description |", "|---|---|---|---|"]
        for column in spec.columns:
            description = render_description(column.description, docs).replace("|", "\\|")
            required = "yes" if column.required else ""
            lines.append(f"| `{column.name}` | {column.data_type} | {required} | {description} |")
        lines.append("")
    return "\n".join(lines)
