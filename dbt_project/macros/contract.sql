{#
    The source contract (the `_<source>__sources.yml` files) read from the graph, so models
    that need a source's column list never repeat it by hand.
#}

{% macro source_columns(source_name, table_name) -%}
    {#- Unit tests compile without the sources in the graph: they get no payload. -#}
    {%- if not execute or not graph.get('sources') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(node.columns.keys() | list) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("No source " ~ source_name ~ "." ~ table_name ~ " in the contract") }}
{%- endmacro %}


{# The raw text of a source row as JSON, kept in quarantine as evidence. #}
{% macro raw_payload(source_name, table_name) -%}
    {%- set columns = cible.source_columns(source_name, table_name) -%}
    {%- if columns | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        {{ cible.json_payload(columns) }}
    {%- endif -%}
{%- endmacro %}


{# The text of a row's key, for example `O123` or `C1|income_band|acxiom_fr|2025-01-01`. #}
{% macro raw_key(columns) -%}
    {%- if columns | length == 1 -%}
        cast({{ columns[0] }} as {{ dbt.type_string() }})
    {%- else -%}
        {%- set parts = [] -%}
        {%- for column in columns -%}
            {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '')") -%}
            {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
        {%- endfor -%}
        {{ dbt.concat(parts) }}
    {%- endif -%}
{%- endmacro %}


{# Load metadata every staging model carries, to trace a row back to its file and line. #}
{% macro load_metadata() -%}
        _source_file as source_file,
        _source_line as source_line,
        _loaded_at as loaded_at,
        _load_id as load_id
{%- endmacro %}


{# True when a timestamp lies after the moment its row was loaded (plus a clock-skew margin). #}
{% macro is_in_future(timestamp_column, loaded_at_column='loaded_at') -%}
    ({{ timestamp_column }} > {{ dbt.dateadd('hour', var('future_tolerance_hours'), loaded_at_column) }})
{%- endmacro %}


{#
    True when a timestamp lies before its column's earliest plausible day (#16, point 6): a year
    0001 or 1900 is an export's placeholder, not a date. `column_key` is `<source table>.<column>`;
    the var `earliest_plausible_dates` overrides `earliest_plausible_date` per column, so a house
    with an older history sets one line.
#}
{% macro is_before_earliest_date(timestamp_column, column_key) -%}
    {%- set earliest = var('earliest_plausible_dates', {}).get(column_key, var('earliest_plausible_date')) -%}
    ({{ timestamp_column }} < {{ cible.timestamp_literal(earliest) }})
{%- endmacro %}


{#
    Value rules for text the parse would accept but that cannot be right (#16, point 6).
    An offset beyond ±14:00 or with minutes above 59 (`+25:00`, `+99:99`) would shift the time
    by days: DuckDB accepts it, Spark may not, so the rule comes before the parse's.
#}
{% macro has_impossible_offset(text_column) -%}
    coalesce({{ cible.regexp_matches(
        text_column,
        '.*[0-9][+-]((1[5-9]|[2-9][0-9]):?[0-9]{2}|14:?(0[1-9]|[1-9][0-9])|[0-9]{2}:?[6-9][0-9])'
    ) }}, false)
{%- endmacro %}


{# An identifier in exponent notation (`1,23457E+11`): Excel's rounding of a long number, the
   digits lost. #}
{% macro is_exponent_notation(column) -%}
    coalesce({{ cible.regexp_matches(column, '[+-]?[0-9]+([.,][0-9]+)?[eE][+-]?[0-9]+') }}, false)
{%- endmacro %}


{# A control character (NUL, escape, ...; tab and line ends allowed) in text. chr() and
   dbt.position are portable where a regular expression of control characters is not. #}
{% macro has_control_character(column) -%}
    ({%- for code in range(0, 32) if code not in (9, 10, 13) -%}
        {{ dbt.position('chr(' ~ code ~ ')', column) }} > 0{% if not loop.last %} or {% endif %}
    {%- endfor -%})
{%- endmacro %}
