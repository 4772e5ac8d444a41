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
