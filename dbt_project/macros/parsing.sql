{#
    Parsing text from the raw schema. Raw columns are text, with one exception on DuckDB: the
    loader keeps the type of a typed Parquet column (timestamps, dates, numbers; see
    `cible/loader/parquet.py`). These macros turn either into typed values and return null (never an
    error) when text does not parse, so staging can flag the row with a reason instead of
    failing the build. On DuckDB the choice between the two readings is made per column when
    the query is planned (`typeof` is a constant there), so a typed column costs nothing.
#}

{#
    `text_sql` when the raw column is text, `typed_sql` when it arrived typed. Engines whose raw
    schema is all text (Spark: the user fills it) take `text_sql`.
#}
{% macro if_text(column, text_sql, typed_sql) -%}
    {{ return(adapter.dispatch('if_text', 'cible')(column, text_sql, typed_sql)) }}
{%- endmacro %}

{% macro default__if_text(column, text_sql, typed_sql) -%}
    {{ text_sql }}
{%- endmacro %}

{% macro duckdb__if_text(column, text_sql, typed_sql) -%}
    (case when typeof({{ column }}) = 'VARCHAR' then {{ text_sql }} else {{ typed_sql }} end)
{%- endmacro %}


{#
    A raw column as text. Both branches of `if_text` must bind whatever the column's type, so
    text functions get an explicit cast (a no-op on a text column).
#}
{% macro raw_text(column) -%}
    {{ return(adapter.dispatch('raw_text', 'cible')(column)) }}
{%- endmacro %}

{% macro default__raw_text(column) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__raw_text(column) -%}
    cast({{ column }} as varchar)
{%- endmacro %}


{#
    Cast that gives null instead of an error. dbt's own `safe_cast` falls back to a plain cast
    on adapters that do not override it (dbt-duckdb 1.11 among them), hence this one.
#}
{% macro try_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'cible')(expression, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, data_type) -%}
    {{ dbt.safe_cast(expression, data_type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro spark__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}


{# Text -> UTC timestamp. An offset in the text is honoured; text without one is read as UTC. #}
{% macro parse_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'cible')(column)) }}
{%- endmacro %}

{% macro default__parse_timestamp(column) -%}
    {{ cible.try_cast(cible.clean_text(column), api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(column) -%}
    {#- DuckDB's timestamp cast drops an offset silently: go through timestamptz, then UTC. A
        typed timestamp without a zone is UTC too (the profile's session time zone). -#}
    cast(timezone('UTC', {{ cible.if_text(
        column,
        'try_cast(' ~ cible.clean_text(column) ~ ' as timestamptz)',
        'try_cast(' ~ column ~ ' as timestamptz)'
    ) }}) as timestamp)
{%- endmacro %}

{% macro spark__parse_timestamp(column) -%}
    {#- Spark honours the offset and renders in the session time zone, set to UTC in the profile. -#}
    try_cast({{ cible.clean_text(column) }} as timestamp)
{%- endmacro %}


{% macro parse_date(column) -%}
    {{ cible.parse_as(column, cible.clean_text(column), 'date') }}
{%- endmacro %}


{% macro parse_integer(column) -%}
    {{ cible.parse_as(column, cible.clean_text(column), dbt.type_bigint()) }}
{%- endmacro %}


{# Decimal amounts; both `1250.50` and the French `1250,50` are read. #}
{% macro parse_decimal(column) -%}
    {{ cible.parse_as(column, "replace(" ~ cible.clean_text(column) ~ ", ',', '.')", 'decimal(18, 4)') }}
{%- endmacro %}


{# `text_sql` (the column's text, prepared) cast to `data_type`, or the typed column cast. #}
{% macro parse_as(column, text_sql, data_type) -%}
    {{ cible.if_text(
        column,
        cible.try_cast(text_sql, data_type),
        cible.try_cast(column, data_type)
    ) }}
{%- endmacro %}


{# Text that is empty or blank becomes null; otherwise trimmed. A typed column is printed. #}
{% macro clean_text(column) -%}
    nullif(trim({{ cible.raw_text(column) }}), '')
{%- endmacro %}


{#
    The text the parse of a column read, for `failed_to_parse`: as `clean_text`, but null when
    the column arrived typed, since a typed value cannot fail to parse (and printing 20M
    timestamps only to check them costs seconds).
#}
{% macro text_to_parse(column) -%}
    {{ cible.if_text(column, cible.clean_text(column), 'cast(null as ' ~ dbt.type_string() ~ ')') }}
{%- endmacro %}


{# A value is present in the source but did not parse. #}
{% macro failed_to_parse(raw_column, parsed_expression) -%}
    ({{ clean_text(raw_column) }} is not null and {{ parsed_expression }} is null)
{%- endmacro %}


{# Timestamp literal for vars such as as_of_date. #}
{% macro timestamp_literal(value) -%}
    cast('{{ value }}' as {{ api.Column.translate_type('timestamp') }})
{%- endmacro %}
