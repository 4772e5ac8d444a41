{#
    dbt's own `get_fixture_sql` (dbt-core 1.11, include/global_project/macros/unit_test_sql),
    with one change, marked below: a fixture standing for a landing table of the `raw` schema
    is typed as text, the type the contract lands. dbt types a fixture by the columns of the
    relation it stands for, and the loader keeps the type of a typed Parquet column
    (cible/loader/parquet.py). Without the change, the staging unit tests, which feed text that does
    not parse ("1980-13-45", "not a date"), would pass or fail depending on which files were
    loaded last. Load metadata (`_source_line`, `_loaded_at`, ...) keeps its type.
    2026-12-03: re-copy this macro when dbt-core's changes (a root-project macro replaces it).
#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
-- Fixture for {{ model.name }}
{% set default_row = {} %}

{%- if not column_name_to_data_types -%}
{#-- Use defer_relation IFF it is available in the manifest and 'this' is missing from the database --#}
{%-   set this_or_defer_relation = defer_relation if (defer_relation and not load_relation(this)) else this -%}
{%-   set columns_in_relation = adapter.get_columns_in_relation(this_or_defer_relation) -%}

{%-   set column_name_to_data_types = {} -%}
{%-   set column_name_to_quoted = {} -%}
{%-   for column in columns_in_relation -%}

{#-- Cible: landing columns of the raw schema are text, whatever the files last loaded --#}
{%-     set data_type = column.data_type -%}
{%-     if this.schema == var('raw_schema', 'raw') and not column.name.startswith('_') -%}
{%-       set data_type = dbt.type_string() -%}
{%-     endif -%}

{#-- This needs to be a case-insensitive comparison --#}
{%-     do column_name_to_data_types.update({column.name|lower: data_type}) -%}
{%-     do column_name_to_quoted.update({column.name|lower: column.quoted}) -%}
{%-   endfor -%}
{%- endif -%}

{%- if not column_name_to_data_types -%}
    {{ exceptions.raise_compiler_error("Not able to get columns for unit test '" ~ model.name ~ "' from relation " ~ this ~ " because the relation doesn't exist") }}
{%- endif -%}

{%- for column_name, column_type in column_name_to_data_types.items() -%}
    {%- do default_row.update({column_name: (safe_cast("null", column_type) | trim )}) -%}
{%- endfor -%}

{{ validate_fixture_rows(rows, row_number) }}

{%- for row in rows -%}
{%-   set formatted_row = format_row(row, column_name_to_data_types) -%}
{%-   set default_row_copy = default_row.copy() -%}
{%-   do default_row_copy.update(formatted_row) -%}
select
{%-   for column_name, column_value in default_row_copy.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%}, {%- endif %}
{%-   endfor %}
{%-   if not loop.last %}
union all
{%    endif %}
{%- endfor -%}

{%- if (rows | length) == 0 -%}
    select
    {%- for column_name, column_value in default_row.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%},{%- endif %}
    {%- endfor %}
    limit 0
{%- endif -%}
{% endmacro %}
