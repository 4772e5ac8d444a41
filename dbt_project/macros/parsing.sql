{#
    Parsing text from the raw schema. Raw columns are text; these turn them into typed values
    and return null (never an error) when the text does not parse, so staging can flag the row
    with a reason instead of failing the build.
#}

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
    {{ cible.try_cast('nullif(trim(' ~ column ~ "), '')", api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(column) -%}
    {#- DuckDB's timestamp cast drops an offset silently: go through timestamptz, then UTC. -#}
    cast(timezone('UTC', try_cast(nullif(trim({{ column }}), '') as timestamptz)) as timestamp)
{%- endmacro %}

{% macro spark__parse_timestamp(column) -%}
    {#- Spark honours the offset and renders in the session time zone, set to UTC in the profile. -#}
    try_cast(nullif(trim({{ column }}), '') as timestamp)
{%- endmacro %}


{% macro parse_date(column) -%}
    {{ cible.try_cast('nullif(trim(' ~ column ~ "), '')", 'date') }}
{%- endmacro %}


{% macro parse_integer(column) -%}
    {{ cible.try_cast('nullif(trim(' ~ column ~ "), '')", dbt.type_bigint()) }}
{%- endmacro %}


{# Decimal amounts; both `1250.50` and the French `1250,50` are read. #}
{% macro parse_decimal(column) -%}
    {{ cible.try_cast("replace(nullif(trim(" ~ column ~ "), ''), ',', '.')", 'decimal(18, 4)') }}
{%- endmacro %}


{# Text that is empty or blank becomes null; otherwise trimmed. #}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}


{# A value is present in the source but did not parse. #}
{% macro failed_to_parse(raw_column, parsed_expression) -%}
    ({{ clean_text(raw_column) }} is not null and {{ parsed_expression }} is null)
{%- endmacro %}


{# Timestamp literal for vars such as as_of_date. #}
{% macro timestamp_literal(value) -%}
    cast('{{ value }}' as {{ api.Column.translate_type('timestamp') }})
{%- endmacro %}
