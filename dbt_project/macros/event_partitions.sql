{#
    Daily partitions of event data. Dagster runs one day at a time and only the events that
    happened in [start, end) are (re)processed; without a window a build processes every
    event. Re-sent copies of an event share its occurrence time, so deduplicating inside one
    day's window is exact.

    The window is the `event_window_start` / `event_window_end` vars
        dbt build --vars '{event_window_start: 2026-10-31, event_window_end: 2026-11-01}'
    or else the CIBLE_EVENT_WINDOW_START / CIBLE_EVENT_WINDOW_END environment variables, which
    Dagster's daily steps set for their dbt process only: dbt parses the whole project again
    when its vars change (9 s of CPU here), and only the two models reading an environment
    variable when that changes (1 s), so a new day's window costs no full parse.
#}

{% macro event_window() -%}
    {%- set start = var('event_window_start', none) or env_var('CIBLE_EVENT_WINDOW_START', '') -%}
    {%- set end = var('event_window_end', none) or env_var('CIBLE_EVENT_WINDOW_END', '') -%}
    {%- if not start and not end -%}
        {{ return(none) }}
    {%- elif not start or not end -%}
        {{ exceptions.raise_compiler_error(
            "An event window needs both ends: event_window_start and event_window_end (vars, "
            ~ "or CIBLE_EVENT_WINDOW_START and CIBLE_EVENT_WINDOW_END), got start="
            ~ (start or 'nothing') ~ " and end=" ~ (end or 'nothing') ~ ".") }}
    {%- endif -%}
    {{ return([start | string, end | string]) }}
{%- endmacro %}


{% macro is_event_window_run() -%}
    {{ return(cible.event_window() is not none) }}
{%- endmacro %}


{% macro in_event_window(column) -%}
    {%- set window = cible.event_window() -%}
    {%- if window is not none -%}
        ({{ column }} >= {{ cible.timestamp_literal(window[0]) }}
        and {{ column }} < {{ cible.timestamp_literal(window[1]) }})
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


{# Whether a window run replaces rows by key, so a model may also rewrite rows outside its
   window's days (re-attributed events, a visitor's every session): not where a window run
   overwrites whole partitions. #}
{% macro window_replaces_rows() -%}
    {{ return(adapter.dispatch('window_replaces_rows', 'cible')()) }}
{%- endmacro %}

{% macro default__window_replaces_rows() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro spark__window_replaces_rows() -%}
    {{ return(false) }}
{%- endmacro %}


{#
    Valid rows of a source processed by day of occurrence that no run has processed yet (in
    `staging` as valid, under no key of `processed`), one per key, with why:
    - `awaiting_next_run`: it happened after the latest day `processed` holds (a run for an
      earlier partition, or today's rows before the schedule); the next daily run takes it;
    - `later_than_lookback`: its day was processed before it arrived, later than the lookback
      the daily runs reprocess (`CIBLE_EVENT_LOOKBACK_DAYS`): only a backfill of its day
      (`cible backfill`) processes it.
    With `takes_missing_rows`, `processed`'s window runs also take every valid row it does not
    hold, whatever its day (the campaign events' anti-join): the next run takes each such row,
    none waits for a backfill, so every one is `awaiting_next_run`.
    `earliest` columns are carried as their earliest value among the key's copies.
#}
{% macro unprocessed_rows(staging, key, processed, earliest=[], takes_missing_rows=false) -%}
with

valid_rows as (

    select
        {{ key }},
        {%- for column in earliest %}
        min({{ column }}) as {{ column }},
        {%- endfor %}
        min(occurred_at) as occurred_at

    from {{ ref(staging) }}
    where is_valid
    group by {{ key }}

),

processed_keys as (

    select {{ key }} from {{ ref(processed) }}

),

processed_until as (

    select max(occurred_on) as occurred_on from {{ ref(processed) }}

),

unprocessed as (

    select valid_rows.*
    from valid_rows
    left join processed_keys
        on valid_rows.{{ key }} = processed_keys.{{ key }}
    where processed_keys.{{ key }} is null

),

final as (

    select
        unprocessed.{{ key }},
        unprocessed.occurred_at,
        cast(unprocessed.occurred_at as date) as occurred_on,
        {%- for column in earliest %}
        unprocessed.{{ column }},
        {%- endfor %}
        {%- if takes_missing_rows %}
        'awaiting_next_run' as unprocessed_reason
        {%- else %}
        case
            when processed_until.occurred_on is null
                or cast(unprocessed.occurred_at as date) > processed_until.occurred_on
                then 'awaiting_next_run'
            else 'later_than_lookback'
        end as unprocessed_reason
        {%- endif %}

    from unprocessed
    cross join processed_until

)

select * from final
{%- endmacro %}
