{# Surrogate key from several columns (nulls are distinct from empty strings). #}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{# A session's id, `<visitor>#<n>`: events (`int_events_sessionised`) and sessions
   (`int_sessions_aggregated`) must spell it the same way. #}
{% macro session_id(visitor_key, session_number) -%}
    {{ dbt.concat([visitor_key, "'#'", 'cast(' ~ session_number ~ ' as ' ~ dbt.type_string() ~ ')']) }}
{%- endmacro %}


{# Division that is always floating point and null (not an error) when the divisor is zero. #}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as {{ cible.type_double() }}) / nullif({{ denominator }}, 0))
{%- endmacro %}


{# ISO day of week: 1 = Monday ... 7 = Sunday. #}
{% macro iso_day_of_week(timestamp) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'cible')(timestamp)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(timestamp) -%}
    cast(extract(isodow from {{ timestamp }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__iso_day_of_week(timestamp) -%}
    (((dayofweek({{ timestamp }}) + 5) % 7) + 1)
{%- endmacro %}


{% macro hour_of_day(timestamp) -%}
    cast(extract(hour from {{ timestamp }}) as {{ dbt.type_int() }})
{%- endmacro %}


{# Seconds between two timestamps, as a number. #}
{% macro seconds_between(start_timestamp, end_timestamp) -%}
    {{ dbt.datediff(start_timestamp, end_timestamp, 'second') }}
{%- endmacro %}


{# JSON text of a row's raw values, kept in quarantine as evidence. #}
{% macro json_payload(columns) -%}
    {{ return(adapter.dispatch('json_payload', 'cible')(columns)) }}
{%- endmacro %}

{% macro default__json_payload(columns) -%}
    cast(json_object(
        {%- for column in columns %}
        '{{ column }}', {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    ) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__json_payload(columns) -%}
    to_json(named_struct(
        {%- for column in columns %}
        '{{ column }}', {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro postgres__json_payload(columns) -%}
    cast(json_build_object(
        {%- for column in columns %}
        '{{ column }}', {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    ) as text)
{%- endmacro %}


{# A UTC timestamp read in the local time zone of the house (`local_time_zone` var). #}
{% macro to_local_time(timestamp) -%}
    {{ return(adapter.dispatch('to_local_time', 'cible')(timestamp)) }}
{%- endmacro %}

{% macro default__to_local_time(timestamp) -%}
    {{ timestamp }}
{%- endmacro %}

{% macro duckdb__to_local_time(timestamp) -%}
    cast(timezone('{{ var("local_time_zone") }}', timezone('UTC', {{ timestamp }})) as timestamp)
{%- endmacro %}

{% macro spark__to_local_time(timestamp) -%}
    from_utc_timestamp({{ timestamp }}, '{{ var("local_time_zone") }}')
{%- endmacro %}

{% macro postgres__to_local_time(timestamp) -%}
    (({{ timestamp }} at time zone 'UTC') at time zone '{{ var("local_time_zone") }}')
{%- endmacro %}


{# 64-bit floating point, the type of every ratio and rate. #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cible')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}


{#
    Score from 1 to 5 by ascending thresholds [t1, t2, t3, t4]. With `higher_is_better`, a
    value at or above t4 scores 5; otherwise (recency, where less is better) a value at or
    below t1 scores 5. Null stays null.
#}
{% macro score_by_thresholds(expression, thresholds, higher_is_better=true) -%}
    case
        when {{ expression }} is null then null
        {%- if higher_is_better %}
        {%- for threshold in thresholds | reverse %}
        when {{ expression }} >= {{ threshold }} then {{ 5 - loop.index0 }}
        {%- endfor %}
        else 1
        {%- else %}
        {%- for threshold in thresholds %}
        when {{ expression }} <= {{ threshold }} then {{ 5 - loop.index0 }}
        {%- endfor %}
        else 1
        {%- endif %}
    end
{%- endmacro %}
