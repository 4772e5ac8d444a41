{#
    Daily partitions of event data. Dagster runs one day at a time with
        --vars '{event_window_start: 2026-10-31, event_window_end: 2026-11-01}'
    and only the events that happened in [start, end) are (re)processed; without these vars a
    build processes every event. Re-sent copies of an event share its occurrence time, so
    deduplicating inside one day's window is exact.
#}

{% macro is_event_window_run() -%}
    {{ return(var('event_window_start', none) is not none) }}
{%- endmacro %}


{% macro in_event_window(column) -%}
    {%- if cible.is_event_window_run() -%}
        ({{ column }} >= {{ cible.timestamp_literal(var('event_window_start')) }}
        and {{ column }} < {{ cible.timestamp_literal(var('event_window_end')) }})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}


{# How an incremental model replaces the rows of a window: engines differ. #}
{% macro window_incremental_strategy() -%}
    {{ return(adapter.dispatch('window_incremental_strategy', 'cible')()) }}
{%- endmacro %}

{% macro default__window_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{#- Plain Spark tables (Delta and Iceberg need jars a machine may not be able to download)
    overwrite whole partitions: the days of the window. -#}
{% macro spark__window_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


{# The partition columns of a daily-partitioned table, where the engine's tables have them. #}
{% macro window_partition_by(column) -%}
    {{ return(adapter.dispatch('window_partition_by', 'cible')(column)) }}
{%- endmacro %}

{% macro default__window_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__window_partition_by(column) -%}
    {{ return([column]) }}
{%- endmacro %}
